# Every target sets itself up from a clean clone: it needs only Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BOOTSTRAP := .state/bootstrap
UV := $(BOOTSTRAP)/bin/uv
# The browser tests and `resilience export-png` drive Debian's Chromium; `make test` installs it.
CHROMIUM := /usr/bin/chromium
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Compiled once at install: this environment sets PYTHONDONTWRITEBYTECODE, so without it every
# process (each run, each test worker) compiles Prefect, Great Expectations and pandas again.
export UV_COMPILE_BYTECODE := 1

.PHONY: run status test lint format bench bench-serving sample clean

$(UV):
	$(PYTHON) -m venv $(BOOTSTRAP)
	$(BOOTSTRAP)/bin/pip install --quiet --disable-pip-version-check "uv>=0.13,<0.14"

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

## run: the whole nightly job on data/sample/, writing build/
run: $(VENV)/.synced
	$(VENV)/bin/resilience run

## status: the last runs and what is published
status: $(VENV)/.synced
	$(VENV)/bin/resilience status

$(CHROMIUM):
	sh scripts/provision-chromium

# The single sign-on tests run a real OpenID provider (the npm package oidc-provider) with Node.
OIDC_PROVIDER := tests/oidc/node_modules/.installed

# Without npm, stop at once saying what is missing rather than half-way through the tests.
NPM_CI := (command -v npm >/dev/null || { echo "make test needs Node.js and npm (for example: apt-get install -y nodejs npm)" >&2; exit 1; }) && npm ci --no-audit --no-fund

$(OIDC_PROVIDER): tests/oidc/package.json tests/oidc/package-lock.json
	cd tests/oidc && $(NPM_CI)
	touch $@

# axe-core for the accessibility test, from the npm registry at the version the lock file pins.
AXE := tests/axe/node_modules/axe-core/axe.min.js

$(AXE): tests/axe/package.json tests/axe/package-lock.json
	cd tests/axe && $(NPM_CI)
	touch $@

## test: lint, then the whole test suite (browser and server tests included)
test: $(CHROMIUM) $(VENV)/.synced $(OIDC_PROVIDER) $(AXE) lint
	$(VENV)/bin/pytest

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.synced
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## bench: the pipeline stage by stage on generated exports, against bare DuckDB (python -m benchmarks --help)
bench: $(VENV)/.synced
	$(VENV)/bin/python -m benchmarks

## bench-serving: resilience serve under 20 signed-in clients and a publish (needs make run first)
bench-serving: $(VENV)/.synced
	$(VENV)/bin/python -m benchmarks.serving

## sample: regenerate the committed sample data
sample: $(VENV)/.synced
	$(VENV)/bin/resilience sample --responses 3000 --teams 40 --waves 3 --seed 20251 --out data/sample

clean:
	rm -rf build .state/prefect
