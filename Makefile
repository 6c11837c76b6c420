# Two commands do everything on a fresh machine:
#   make run   — set up .venv, validate, build the series, import the demo list, rehearse the whole
#                schedule (the real scheduler on an accelerated clock, sending all 30 days to the local
#                outbox, each message dated at its scheduled time), show the status table. Idempotent.
#   make test  — install the test dependencies and run the suite (make test-fast: the quick subset; make lint)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
CAMPAIGN := $(VENV)/bin/campaign

.PHONY: run test test-fast lint install bench bench-build bench-studio explain golden clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,lint]'
	touch $@

install: $(VENV)/.installed

run: install
	$(CAMPAIGN) validate
	$(CAMPAIGN) plan
	$(CAMPAIGN) build --out build
	$(CAMPAIGN) subscribers import content/demo_subscribers.csv
	$(CAMPAIGN) run --rehearse
	$(CAMPAIGN) status
	@echo "Look at build/index.html (the series) and outbox/ (one .eml per subscriber per day)."

test: install
	$(PY) -m pytest -n 2

# The edit–test loop: no slow or browser tests, both cores.
test-fast: install
	$(PY) -m pytest -n 2 -m "not slow and not browser"

# ruff (lint + format) and mypy over the package; CI runs this before the tests.
lint: install
	$(VENV)/bin/ruff check campaign tests bench
	$(VENV)/bin/ruff format --check campaign tests bench
	$(VENV)/bin/mypy

# SQLite 1 worker and PostgreSQL 1/2/4 workers, 100k and 1M subscribers (bench/RESULTS.md); ~40 minutes.
bench: install
	$(PY) bench/send_bench.py

# campaign build of the 30 days against the official MJML 5 CLI (npm) compiling 30 comparable files; ~1 minute.
bench-build: install
	$(PY) bench/build_bench.py

# The studio's live check: p95 of one day's re-check + re-render over 200 edits (target 150 ms); ~1 minute.
bench-studio: install
	$(PY) bench/studio_bench.py

# EXPLAIN (ANALYZE) of every hot query of a send on a 1M-subscriber PostgreSQL ledger -> bench/EXPLAIN.md
explain: install
	$(PY) bench/explain.py

# Regenerate the golden files after a deliberate template change; review the diff before committing.
golden: install
	$(PY) -m tests.golden --write

clean:
	rm -rf build outbox campaign.db campaign.db-wal campaign.db-shm
