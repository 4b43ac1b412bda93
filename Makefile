# The two commands a new machine needs: `make demo` and `make test`. Both build .venv first.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON312 ?= $(shell ./scripts/find-python312)
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/conveyor_sandbox
PYTEST_ARGS ?=

.PHONY: venv test lint demo bench bench-delivery test-saleor clean

$(VENV)/.installed: setup.cfg pyproject.toml
	@test -n "$(PYTHON312)" || { echo "Python 3.12 was not found: install it (pyenv install 3.12) or set PYTHON312=/path/to/python3.12" >&2; exit 1; }
	@echo "creating $(VENV) with $(PYTHON312)"
	rm -rf $(VENV)
	$(PYTHON312) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

lint: venv
	$(VENV)/bin/ruff check .

test: venv lint
	$(PY) -m pytest $(PYTEST_ARGS)

demo: venv
	$(PY) scripts/ensure_database.py
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py conveyor_demo $(DEMO_ARGS)

bench: venv
	$(PY) scripts/ensure_database.py
	$(PY) manage.py migrate --noinput -v 0
	$(PY) -m benchmarks.record_order

bench-delivery: venv
	$(PY) scripts/ensure_database.py
	$(PY) manage.py migrate --noinput -v 0
	$(PY) benchmarks/delivery.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info

# GraphQL API under load vs a plain Django JSON view on the same server (its own database: BENCH_DATABASE_URL).
.PHONY: bench-api
bench-api: venv
	$(PY) benchmarks/api_load.py $(BENCH_ARGS)
