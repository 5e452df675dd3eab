# sweeprun developer targets. `make install` builds .venv from the pinned toolchain in
# constraints/dev.txt; every other target uses it. See CONTRIBUTING.md for the test tiers.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONSTRAINTS := constraints/dev.txt
# pytest-xdist workers for the subprocess tiers (the machine has 2 cores)
JOBS ?= 2
PYTEST := $(BIN)/python -m pytest -q -p no:cacheprovider
# pytest's exit 5 means that no test was selected: a failure, and said so
pytest = $(PYTEST) $(1) || { rc=$$?; [ $$rc -ne 5 ] || \
	echo "pytest selected no test (exit 5): check the -m expression and collection" >&2; \
	exit $$rc; }
# the oldest supported Optuna and the newest 5.x, each checked in its own venv by test-compat
OPTUNA_OLDEST ?= 5.0.0
OPTUNA_NEWEST ?= latest
COMPAT_TIERS ?= unit or cli

.PHONY: install install-integrations install-user constraints test test-unit test-fast test-integrations test-compat chaos lint \
	format bench bench-quick clean

# pip, setuptools and wheel come from the pins first, so the editable build uses the pinned
# setuptools (no build isolation) and nothing in .venv floats
$(BIN)/sweeprun: pyproject.toml $(CONSTRAINTS)
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) pip setuptools wheel
	$(BIN)/python -m pip install -q --no-build-isolation -c $(CONSTRAINTS) -e '.[dev]'
	$(BIN)/python -m pip check
	touch $@

install: $(BIN)/sweeprun

# the frameworks the integrations tier runs real programs with (CPU torch 2.13.0, lightning,
# transformers, keras, xgboost, lightgbm, hydra, wandb) and the `all` extra (its GP sampler
# needs torch too): large, so not in `make install` (the dev extra holds every storage, plots,
# dashboard and MLflow); without them `make test` skips that tier. CI (.ci/run) installs them.
INTEGRATIONS_STAMP := $(VENV)/.integrations-installed
$(INTEGRATIONS_STAMP): $(BIN)/sweeprun
	$(BIN)/python -m pip install -q --no-build-isolation -c $(CONSTRAINTS) -e '.[dev,all,integrations]'
	$(BIN)/python -m pip check
	touch $@

install-integrations: $(INTEGRATIONS_STAMP)

# a lean user install (sweeprun and its runtime dependencies only, as `pip install sweeprun`
# gives a user) in .venv-user, beside the dev one
install-user:
	$(PY) -m venv .venv-user
	.venv-user/bin/python -m pip install -q -c $(CONSTRAINTS) pip setuptools wheel
	.venv-user/bin/python -m pip install -q --no-build-isolation -c $(CONSTRAINTS) .
	.venv-user/bin/sweeprun --help >/dev/null

# after a deliberate upgrade of .venv: write its exact versions back into the constraints
constraints: install
	{ sed -n '/^#/p' $(CONSTRAINTS); \
	  $(BIN)/python -m pip freeze --all --exclude-editable | grep -v -i '^sweeprun[=@ ]'; \
	} > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)

# the full suite except the long fault-injection soaks (`make chaos`)
test: install
	$(call pytest,-n $(JOBS) -m "not chaos")

# the in-process tier: pure logic, no installed command, under a minute
test-unit: install
	$(call pytest,-n $(JOBS) -m "unit and not chaos and not slow")

# the inner loop: unit + cli tiers without soaks and slow tests
test-fast: install
	$(call pytest,-n $(JOBS) -m "(unit or cli) and not chaos and not slow" -x)

# real programs with the real frameworks (wandb, ...)
test-integrations: install-integrations
	$(call pytest,-n $(JOBS) -m integrations)

chaos: install
	$(call pytest,-n $(JOBS) -m chaos)

# the unit + cli tiers against the oldest supported and the newest Optuna 5.x, each in its own
# venv (.venv-optuna-VERSION), so upstream drift shows up as a named failure
test-compat:
	PY=$(PY) bash .ci/compat.sh "$(COMPAT_TIERS)" $(OPTUNA_OLDEST) $(OPTUNA_NEWEST)

lint: install
	$(BIN)/ruff check sweeprun tests bench examples
	$(BIN)/ruff format --check sweeprun tests bench examples
	$(BIN)/mypy

# format your own files: make format FILES="sweeprun/x.py tests/unit/test_x.py"
format: install
	@test -n "$(FILES)" || { echo 'usage: make format FILES="path ..."'; exit 2; }
	$(BIN)/ruff format $(FILES)
	$(BIN)/ruff check --fix $(FILES)

bench: install
	$(BIN)/python bench/run_all.py

bench-quick: install
	$(BIN)/python bench/run_all.py --quick

clean:
	rm -rf $(VENV) .venv-user .venv-optuna-* .sweeprun build *.egg-info .pytest_cache \
		.mypy_cache .ruff_cache
