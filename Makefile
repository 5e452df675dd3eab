# sweeprun developer targets. `make install` builds .venv; every other target uses it.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install test test-unit test-fast lint bench bench-quick chaos clean

$(BIN)/sweeprun: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/sweeprun

# the long fault-injection soaks (marked chaos) run with `make chaos`; short versions run here
test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not chaos"

test-unit: install
	$(BIN)/python -m pytest -q -p no:cacheprovider -m unit

test-fast: install
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow and not chaos and not distributed" -x

lint: install
	$(BIN)/ruff check sweeprun tests bench examples
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/run_all.py

bench-quick: install
	$(BIN)/python bench/run_all.py --quick

chaos: install
	$(BIN)/python -m pytest -q -m chaos

clean:
	rm -rf $(VENV) .sweeprun build *.egg-info .pytest_cache .mypy_cache .ruff_cache
