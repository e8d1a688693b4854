# Two entry points for a fresh clone: `make demo` and `make test`.
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTHON ?= python3

.PHONY: install demo test lint typecheck unit schemas broker-stop clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: install
	$(BIN)/streamproc demo

lint: install
	$(BIN)/ruff check streamproc tests
	$(BIN)/ruff format --check streamproc tests

typecheck: install
	$(BIN)/mypy streamproc

test: lint typecheck
	$(BIN)/pytest

unit: install
	$(BIN)/pytest tests/unit tests/agents

# The whole fault suite: SIGKILL, clean stop, 10 s and 60 s broker outages, a frozen worker
# (`make test` runs the first two); writes .streamproc/faults/report.txt and report.json.
.PHONY: faults
faults: install
	$(BIN)/pytest tests/integration/test_faults.py -m "" -v

# BENCH_ARGS: e.g. --quick, --big, --events 500000 (see python -m streamproc.bench --help)
.PHONY: bench
bench: install
	$(BIN)/python -m streamproc.bench $(BENCH_ARGS)

schemas: install
	$(BIN)/streamproc schemas

clean:
	rm -rf $(VENV) .streamproc .mypy_cache .pytest_cache .ruff_cache
