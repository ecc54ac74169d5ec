# YanXun: `make run` serves the embedded default, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
HOST   ?= 127.0.0.1
FLASK  := $(BIN)/flask --app webapp

.PHONY: run test install assets translations migrate seed lint extract-messages clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "YanXun needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

install: $(VENV)/.installed

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

webapp/static/vendor/.copied: node_modules/.package-lock.json package-lock.json
	mkdir -p webapp/static/vendor/bootstrap webapp/static/vendor/htmx webapp/static/vendor/bpmn-js \
	         webapp/static/vendor/fonts webapp/static/vendor/echarts
	cp node_modules/bootstrap/dist/css/bootstrap.min.css node_modules/bootstrap/dist/js/bootstrap.bundle.min.js \
	   webapp/static/vendor/bootstrap/
	cp node_modules/htmx.org/dist/htmx.min.js webapp/static/vendor/htmx/
	cp node_modules/bpmn-js/dist/bpmn-navigated-viewer.production.min.js \
	   node_modules/bpmn-js/dist/assets/diagram-js.css node_modules/bpmn-js/dist/assets/bpmn-js.css \
	   webapp/static/vendor/bpmn-js/
	cp node_modules/@expo-google-fonts/noto-sans-sc/400Regular/NotoSansSC_400Regular.ttf \
	   node_modules/@expo-google-fonts/noto-sans-sc/700Bold/NotoSansSC_700Bold.ttf \
	   node_modules/@expo-google-fonts/noto-sans-sc/LICENSE_FONT webapp/static/vendor/fonts/
	cp node_modules/echarts/dist/echarts.common.min.js node_modules/echarts/LICENSE webapp/static/vendor/echarts/
	@touch $@

assets: webapp/static/vendor/.copied

translations: install
	$(BIN)/pybabel compile --statistics -d webapp/translations

migrate: install
	$(FLASK) db upgrade

seed: migrate
	$(FLASK) rules load rules
	$(FLASK) rubrics load rubrics
	$(FLASK) workflows deploy workflows
	$(FLASK) seed-demo-if-empty

run: install assets translations seed
	@echo "YanXun on http://$(HOST):$(PORT)/ (demo logins in README.md)"
	$(FLASK) run --host $(HOST) --port $(PORT)

# pytest through tests/servers.py: throw-away PostgreSQL and Redis unless YANXUN_TEST_* name servers already.
test: install assets translations
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m tests.servers $(PYTEST_ARGS)

extract-messages: install
	$(BIN)/pybabel extract -F babel.cfg --ignore-dirs=".* node_modules" -k _l -k lazy_gettext -o webapp/translations/messages.pot --no-location --sort-output --width 120 .
	$(BIN)/pybabel update -i webapp/translations/messages.pot -d webapp/translations --no-fuzzy-matching --width 120

clean:
	rm -rf $(VENV) node_modules webapp/static/vendor webapp/translations/*/LC_MESSAGES/*.mo
