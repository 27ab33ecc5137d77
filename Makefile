# Every target sets up its own virtualenv (.venv) from the locked requirements first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed

.PHONY: help setup demo test test-access-external lint ui bench bench-scale docs lock clean stop

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' Makefile | sed 's/:.*## /\t/'

# Bytecode is compiled once here, not by every command: a run imports Dagster, dbt and Great Expectations in several
# processes (dbt parse, dbt build, the pipeline), and with PYTHONDONTWRITEBYTECODE set each one compiled them again
# (about 20 s of a demo, D196). compileall skips what is already compiled.
$(STAMP): requirements.lock pyproject.toml Makefile
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib
	@touch $(STAMP)

setup: $(STAMP)  ## create .venv with the locked dependencies

demo: $(STAMP)  ## embedded warehouse + 24 months of synthetic data + full pipeline + summary
	$(BIN)/lead-analytics demo

# Every core (at most 4: each worker starts its own embedded PostgreSQL and builds the shared fixtures once).
test: $(STAMP)  ## the whole test suite, on every core
	$(BIN)/python -m pytest -n auto --maxprocesses 4 --dist loadfile

test-access-external: $(STAMP)  ## the roles/row-security tests against LEAD_ANALYTICS_DATABASE_URL (CREATEROLE, CREATEDB)
	@test -n "$$LEAD_ANALYTICS_DATABASE_URL" || { echo "set LEAD_ANALYTICS_DATABASE_URL to an external PostgreSQL"; exit 2; }
	$(BIN)/python -m pytest tests/test_access.py tests/test_access_faults.py tests/test_publishing.py -q

# All three checks run; the target fails at the end if any did. Import CTEs: a model reads ref()/source() only
# in a CTE of its own, `select * from {{ ref('..') }}` (sqlfluff has no rule for it).
lint: $(STAMP)  ## ruff (lint + format check) on the Python, sqlfluff and the import-CTE check on the dbt SQL
	@status=0; \
	$(BIN)/ruff check . || status=1; \
	$(BIN)/ruff format --check . || status=1; \
	$(BIN)/sqlfluff lint --processes 2 --disable-progress-bar models macros snapshots tests/dbt || status=1; \
	if grep -rnE '\{\{ *(ref|source)\(' models tests/dbt --include='*.sql' \
		| grep -vE '^[^:]+:[0-9]+:    select \* from \{\{ (ref|source)\([^}]*\) \}\}$$'; then \
		echo "import CTEs: read ref()/source() only as 'select * from {{ ref(..) }}' in a CTE of its own (lines above)"; \
		status=1; \
	fi; \
	exit $$status

ui: $(STAMP)  ## Dagster UI on http://127.0.0.1:3000
	$(BIN)/lead-analytics ui

bench: $(STAMP)  ## load benchmark: our loader vs COPY alone and pandas.to_sql (BENCH_ARGS="--volume 0.2 --refresh")
	$(BIN)/python -m orchestration.bench $(BENCH_ARGS)

bench-scale: $(STAMP)  ## 1x vs 10x: load, build, cycles, cards alone, 20 clients (BENCH_ARGS="--volume 0.01"); quiet machine only
	$(BIN)/python -m orchestration.bench_scale $(BENCH_ARGS)

docs: $(STAMP)  ## dbt docs on http://127.0.0.1:8080
	$(BIN)/lead-analytics dbt -- docs generate && $(BIN)/lead-analytics dbt -- docs serve --host 127.0.0.1 --port 8080

stop: $(STAMP)  ## stop the embedded warehouse
	$(BIN)/lead-analytics warehouse stop

lock:  ## re-resolve requirements.lock from pyproject.toml
	$(BIN)/uv pip compile --python $(BIN)/python --extra dev pyproject.toml -o requirements.lock

# Only inside this repository (wherever make runs from), and never the state of a warehouse it did not start: with
# an external warehouse configured the embedded one's state is left alone; a running embedded warehouse that cannot
# be stopped is not removed.
ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
clean:  ## stop the embedded warehouse and remove generated state in this repository (keeps .venv)
	@if [ -n "$$LEAD_ANALYTICS_DATABASE_URL$$PGHOST" ]; then \
		echo "clean: an external warehouse is configured; leaving it and $(ROOT)/.warehouse alone"; \
	elif [ -f "$(ROOT)/.warehouse/pgdata/postmaster.pid" ] && ! LEAD_ANALYTICS_HOME="$(ROOT)/.warehouse" \
			"$(ROOT)/$(BIN)/lead-analytics" warehouse stop; then \
		echo "clean: could not stop the embedded warehouse; nothing removed"; exit 1; \
	else \
		rm -rf "$(ROOT)/.warehouse"; \
	fi
	rm -rf "$(ROOT)/data" "$(ROOT)/target" "$(ROOT)/reports" "$(ROOT)/logs"
