# syntax=docker/dockerfile:1
# YanXun production image: gunicorn serving webapp:create_app() on port 8000 (the default command), and the
# Celery worker and beat (`celery -A webapp.worker worker|beat`, see docker-compose.yml). See docs/operations.md.

# --- Front-end packages: the same files `make assets` copies into webapp/static/vendor. ---
FROM node:20-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error \
 && mkdir -p vendor/bootstrap vendor/htmx vendor/bpmn-js vendor/fonts vendor/echarts \
 && cp node_modules/bootstrap/dist/css/bootstrap.min.css node_modules/bootstrap/dist/js/bootstrap.bundle.min.js \
       vendor/bootstrap/ \
 && cp node_modules/htmx.org/dist/htmx.min.js vendor/htmx/ \
 && cp node_modules/bpmn-js/dist/bpmn-navigated-viewer.production.min.js \
       node_modules/bpmn-js/dist/assets/diagram-js.css node_modules/bpmn-js/dist/assets/bpmn-js.css \
       vendor/bpmn-js/ \
 && cp node_modules/@expo-google-fonts/noto-sans-sc/400Regular/NotoSansSC_400Regular.ttf \
       node_modules/@expo-google-fonts/noto-sans-sc/700Bold/NotoSansSC_700Bold.ttf \
       node_modules/@expo-google-fonts/noto-sans-sc/LICENSE_FONT vendor/fonts/ \
 && cp node_modules/echarts/dist/echarts.common.min.js node_modules/echarts/LICENSE vendor/echarts/

# --- The application. ---
FROM python:3.11-slim
# The source tree in /app is what runs (PYTHONPATH): migrations/ and workflows/ live beside the package.
# Writable by the app user: /app/instance (Flask's instance folder), /app/evidence (YANXUN_EVIDENCE_DIR, a volume
# shared by web and workers) and /app/beat (beat's schedule file); a fresh named volume takes this ownership.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# Dependencies first, in their own layer, so a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

COPY . .
COPY --from=assets /src/vendor webapp/static/vendor
RUN pybabel compile --use-fuzzy -d webapp/translations \
 && pip install --no-deps . \
 && useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin yanxun \
 && mkdir -p /app/instance /app/evidence /app/beat \
 && chown yanxun:yanxun /app/instance /app/evidence /app/beat

USER yanxun
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-", "webapp:create_app()"]
