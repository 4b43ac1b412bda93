# The two commands a new machine needs: `make demo` and `make test`. Both build .venv first.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON312 ?= $(shell ./scripts/find-python312)
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/conveyor_sandbox
# The sandbox refuses to start outside DEBUG without a secret key. The demo, `make serve` and the benchmarks
# share one kept in $(SECRET_KEY_FILE) (made on first use, not committed), so the links `make demo` prints
# open under `make serve`; set SECRET_KEY yourself to use another (tests/settings.py makes one when none is set).
SECRET_KEY_FILE ?= build/sandbox-secret-key
ifndef SECRET_KEY
SECRET_KEY := $(shell test -s $(SECRET_KEY_FILE) || { mkdir -p $(dir $(SECRET_KEY_FILE)) && (umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > $(SECRET_KEY_FILE)); }; cat $(SECRET_KEY_FILE))
endif
export SECRET_KEY
PYTEST_ARGS ?=

.PHONY: venv test lint demo serve bench bench-delivery test-saleor clean

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

# The sandbox served on the demo's data (web server + Celery worker with beat): open the links `make demo` printed.
serve: venv
	$(PY) scripts/ensure_database.py
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py conveyor_serve $(SERVE_ARGS)

# Each benchmark creates, migrates and uses a database of its own (conveyor_bench, conveyor_bench_delivery,
# conveyor_bench_api, conveyor_bench_measures, conveyor_bench_console on DATABASE_URL's server; BENCH_DATABASE_URL overrides):
# never the demo's.
bench: venv
	$(PY) -m benchmarks.record_order $(BENCH_ARGS)

bench-delivery: venv
	$(PY) benchmarks/delivery.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info

# rulePerformance, stageFlow and cohorts on generated shops of 10,000 and 100,000 customers (its own database).
.PHONY: bench-measures
bench-measures: venv
	$(PY) -m benchmarks.measures $(BENCH_ARGS)

# The staff console's pages (server time, SQL statements) at 10,000 and 100,000 customers (its own database).
.PHONY: bench-console
bench-console: venv
	$(PY) -m benchmarks.console $(BENCH_ARGS)

# GraphQL API under load vs a plain Django JSON view on the same server (its own database, see above).
.PHONY: bench-api
bench-api: venv
	$(PY) benchmarks/api_load.py $(BENCH_ARGS)

# --- The Saleor tier: tests/saleor/ and benchmarks/saleor/ run inside an EXISTING Saleor environment ---
# (`import saleor` must work with SALEOR_PYTHON). Nothing here installs Saleor; the repo is put on the
# path by the tier's pytest.ini, and only the plugin's own extra dependencies (django-prices, pygal) are added if
# missing. The first run creates Saleor's test database (all of Saleor's migrations: a few minutes).
SALEOR_PYTHON ?=
SALEOR_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/conveyor_saleortier
SALEOR_BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/conveyor_saleor_bench
SALEOR_INSTALL ?= $(SALEOR_PYTHON) -m pip install
.PHONY: saleor-env bench-saleor

saleor-env:
	@test -n "$(SALEOR_PYTHON)" || { echo "Saleor tier skipped: set SALEOR_PYTHON=/path/to/saleor/venv/bin/python" >&2; exit 2; }
	@$(SALEOR_PYTHON) -c "import saleor" 2>/dev/null || { echo "Saleor tier skipped: 'import saleor' fails with $(SALEOR_PYTHON)" >&2; exit 2; }
	@$(SALEOR_PYTHON) -c "import django_prices" 2>/dev/null || $(SALEOR_INSTALL) --no-deps django-prices==2.4.0
	@$(SALEOR_PYTHON) -c "import pygal" 2>/dev/null || $(SALEOR_INSTALL) --no-deps pygal==3.1.3

test-saleor: saleor-env
	cd tests/saleor && DATABASE_URL=$(SALEOR_DATABASE_URL) $(SALEOR_PYTHON) -m pytest $(PYTEST_ARGS)

bench-saleor: saleor-env
	cd benchmarks/saleor && DATABASE_URL=$(SALEOR_BENCH_DATABASE_URL) $(SALEOR_PYTHON) -m pytest saleor_order_created.py saleor_backfill.py $(PYTEST_ARGS)
