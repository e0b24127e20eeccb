# Every target sets itself up from a clean clone: it needs only Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BOOTSTRAP := .state/bootstrap
UV := $(BOOTSTRAP)/bin/uv
# The browser tests and `resilience export-png` drive Debian's Chromium; `make test` installs it.
CHROMIUM := /usr/bin/chromium
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run status test lint format bench sample clean

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

# axe-core for the accessibility test, from the npm registry at the version the lock file pins.
AXE := tests/axe/node_modules/axe-core/axe.min.js

$(AXE): tests/axe/package.json tests/axe/package-lock.json
	cd tests/axe && npm ci --no-audit --no-fund
	touch $@

## test: lint, then the whole test suite (browser and server tests included)
test: $(CHROMIUM) $(VENV)/.synced $(AXE) lint
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

## sample: regenerate the committed sample data
sample: $(VENV)/.synced
	$(VENV)/bin/resilience sample --responses 3000 --teams 40 --waves 3 --seed 20251 --out data/sample

clean:
	rm -rf build .state/prefect
