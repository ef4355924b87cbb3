# The two commands of the README: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BASE_PYTHON ?= $(shell command -v python3.11 || command -v python3)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install lint format bench manage clean-data gpu-check

$(PY):
	@test -n "$(BASE_PYTHON)" || { echo "error: Python 3.11 is needed: install python3.11 (e.g. apt-get install -y python3.11 python3.11-venv)"; exit 2; }
	@$(BASE_PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else 1)' || { echo "error: $(BASE_PYTHON) is older than Python 3.11: install python3.11"; exit 2; }
	$(BASE_PYTHON) -m venv $(VENV)

# Reinstall only when a requirements file changed.
$(VENV)/.installed-base: $(PY) requirements/base.txt
	$(PY) -m pip install -q -r requirements/base.txt || { echo "error: installing requirements/base.txt failed; see pip's message above"; exit 2; }
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed-base requirements/test.txt
	$(PY) -m pip install -q -r requirements/test.txt || { echo "error: installing requirements/test.txt failed; see pip's message above"; exit 2; }
	@touch $@

$(VENV)/.installed-bench: $(VENV)/.installed-test requirements/bench.txt
	$(PY) -m pip install -q -r requirements/bench.txt || { echo "error: installing requirements/bench.txt failed; see pip's message above"; exit 2; }
	@touch $@

install: $(VENV)/.installed-base

run: $(VENV)/.installed-base
	@$(PY) -m config.stack run --host $(HOST) --port $(PORT)

test: $(VENV)/.installed-test
	$(PY) -m ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(VENV)/.installed-test
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# make manage ARGS="makemigrations curriculum"
manage: $(VENV)/.installed-base
	@$(PY) -m config.stack manage $(ARGS)

# Benchmarks (not part of the tests): each folder's README says what it measures.
bench: $(VENV)/.installed-bench
	@for script in bench/*/run.py; do $(PY) $$script || exit 1; done

# On a machine with an NVIDIA GPU (driver R580+): installs requirements/test.txt + gpu.txt into
# .data/venv-gpu, runs the GPU-marked tests and bench/labs/gpu_bench.py within 8 minutes and
# prints a short report (bench/labs/results-gpu.txt). Without a GPU it says so and exits 3.
gpu-check:
	@bash scripts/gpu_check.sh
