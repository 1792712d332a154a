# make demo  - set up, then run the demo on an embedded Postgres (no configuration needed)
# make demo-stop - stop the embedded Postgres the demo leaves running
# make test  - set up, then lint (ruff), type-check (mypy --strict) and run the whole test suite
# make bench - pgtask vs pgqueuer/procrastinate/plain SQL in bench/.venv (BENCH_ARGS=--quick|--no-sustained)
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# The peers bench/README.md reports on, pinned so a rerun measures the same thing.
# Two test processes: CI=true bash .ci/run took 608.8 s serial and 388.4 s with -n 2 on a
# 2-core machine (1,467 tests, both green). PYTEST_ARGS= (empty) runs serially.
PYTEST_ARGS ?= -n 2
BENCH_VENV  := bench/.venv
BENCH_STAMP := $(BENCH_VENV)/.installed-stamp
BENCH_PEERS := pgqueuer==1.6.0 procrastinate==3.10.0 asyncpg==0.32.0 uvloop==0.23.0 py-spy==0.4.3

.PHONY: setup demo demo-stop test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/pgtask demo

# The embedded Postgres the demo leaves running (for later commands); exit 1: it was not.
demo-stop:
	$(BIN)/pgtask dsn --stop || test $$? -eq 1

test: setup
	$(BIN)/ruff check src tests bench scripts alembic examples
	$(BIN)/mypy
	sh scripts/ensure-browser.sh
	sh scripts/ensure-promtool.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

$(BENCH_STAMP): pyproject.toml Makefile
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -e '.[web]' $(BENCH_PEERS)
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	cd bench && .venv/bin/python run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(BENCH_VENV) build dist *.egg-info
