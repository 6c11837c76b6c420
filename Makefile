# Two commands do everything on a fresh machine:
#   make run   — set up .venv, validate, build the series, import the demo list, rehearse the whole
#                schedule (the real scheduler on an accelerated clock, sending all 30 days to the local
#                outbox, each message dated at its scheduled time), show the status table. Idempotent.
#   make test  — install the test dependencies and run the suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
CAMPAIGN := $(VENV)/bin/campaign

.PHONY: run test install bench golden clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
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
	$(PY) -m pytest

bench: install
	$(PY) bench/send_bench.py

# Regenerate the golden files after a deliberate template change; review the diff before committing.
golden: install
	$(PY) -m tests.golden --write

clean:
	rm -rf build outbox campaign.db campaign.db-wal campaign.db-shm
