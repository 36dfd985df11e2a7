# The README's two commands:
#   make train   set up .venv, train the keras.io convnet on real MNIST with scratchnet, print test accuracy
#   make test    set up .venv with the test extras (Keras, TensorFlow, Chromium, Graphviz), run the whole suite
# Both create the virtual environment at .venv on first use and reuse it afterwards.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ARGS ?=

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

$(VENV)/.docs: $(VENV)/.core pyproject.toml
	$(PY) -m pip install --quiet -e ".[docs]"
	touch $@

train: $(VENV)/.core
	$(PY) -m examples.keras_convnet $(ARGS)

test: $(VENV)/.test
	bash scripts/test.sh

bench: $(VENV)/.test
	$(PY) -m benchmarks.run $(ARGS)

docs: $(VENV)/.docs
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

docs-serve: $(VENV)/.docs
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs serve

lint: $(VENV)/.test
	$(PY) -m ruff check scratchnet keras_impl parity_tests examples benchmarks tests

clean-venv:
	rm -rf $(VENV)
