# The README's commands:
#   make train   set up .venv, train the keras.io convnet on real MNIST with scratchnet, print test accuracy
#   make test    set up .venv with the test extras (Keras, TensorFlow, Chromium, Graphviz), run the whole suite
#   make bench   the test extras and PyTorch (the bench extra), then the benchmark (ARGS="--quick")
# Each creates the virtual environment at .venv on first use and reuses it afterwards.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ARGS ?=
# extra pip options for the bench extra, e.g. --extra-index-url https://download.pytorch.org/whl/cpu
BENCH_PIP_ARGS ?=

.PHONY: train test bench lint clean-venv docs docs-serve

$(VENV)/.core: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[examples]"
	touch $@

$(VENV)/.test: $(VENV)/.core pyproject.toml scripts/install-browser.sh scripts/install-graphviz.sh
	$(PY) -m pip install --quiet -e ".[test]"
	bash scripts/install-browser.sh
	bash scripts/install-graphviz.sh
	touch $@

$(VENV)/.bench: $(VENV)/.test pyproject.toml
	$(PY) -m pip install --quiet -e ".[bench]" $(BENCH_PIP_ARGS)
	touch $@

$(VENV)/.docs: $(VENV)/.core pyproject.toml
	$(PY) -m pip install --quiet -e ".[docs]"
	touch $@

train: $(VENV)/.core
	$(PY) -m examples.keras_convnet $(ARGS)

test: $(VENV)/.test
	bash scripts/test.sh

bench: $(VENV)/.bench
	$(PY) -m benchmarks.run $(ARGS)

docs: $(VENV)/.docs
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

docs-serve: $(VENV)/.docs
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs serve

lint: $(VENV)/.test
	$(PY) -m ruff check scratchnet keras_impl parity_tests examples benchmarks tests

clean-venv:
	rm -rf $(VENV)
