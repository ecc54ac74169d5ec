# syntax=docker/dockerfile:1
# YanXun production image: gunicorn serving webapp:create_app() on port 8000. See docs/operations.md.

# --- Front-end packages: the same files `make assets` copies into webapp/static/vendor. ---
FROM node:20-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error \
 && mkdir -p vendor/bootstrap vendor/htmx \
 && cp node_modules/bootstrap/dist/css/bootstrap.min.css node_modules/bootstrap/dist/js/bootstrap.bundle.min.js \
       vendor/bootstrap/ \
 && cp node_modules/htmx.org/dist/htmx.min.js vendor/htmx/

# --- The application. ---
FROM python:3.11-slim
# The source tree in /app is what runs (PYTHONPATH): migrations/ and workflows/ live beside the package,
# and Flask puts the instance folder (uploads) at /app/instance.
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
 && mkdir -p /app/instance \
 && chown yanxun:yanxun /app/instance

USER yanxun
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-", "webapp:create_app()"]
