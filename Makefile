# headwidgets — `make demo` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JSSTAMP := js/node_modules/.installed
STATIC := headwidgets/static/headcontrols.js
# Every package of the development/test environment is pinned in the lock file (`make lock`
# regenerates it); pyproject.toml keeps ranges for users. torch is the CPU wheel that lies in
# TORCH_WHEELS (PyPI's Linux torch is a CUDA build of several GB).
LOCK := requirements.lock.txt
TORCH_WHEELS ?= /opt/wheels
TORCH_LOCKED := torch==2.13.0+cpu
PIP_LOCKED := pip==26.3

.PHONY: demo test test-newest setup js browser lint lock models bench clean

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q $(PIP_LOCKED)
	$(BIN)/pip install -q --find-links $(TORCH_WHEELS) -r $(LOCK)
	$(BIN)/pip install -q --no-deps -e .
	touch $@

# re-resolve every pin to the newest releases the package's ranges admit (Python 3.11, Linux)
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --upgrade --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --find-links $(TORCH_WHEELS) \
	  --constraint <(echo '$(TORCH_LOCKED)') --custom-compile-command 'make lock' -o $(LOCK)

$(JSSTAMP): js/package.json $(wildcard js/package-lock.json)
	cd js && (test -f package-lock.json && npm ci --no-audit --no-fund || npm install --no-audit --no-fund)
	touch $@

$(STATIC): $(JSSTAMP) $(wildcard js/src/*.js js/src/*.mjs js/src/*.css js/build.mjs)
	cd js && node build.mjs

APT_PKGS := chromium chromium-driver fonts-dejavu-core poppler-utils
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

setup: $(STAMP) $(STATIC)

# Debian's chromium + chromedriver for the browser tests and SVG/PNG export
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ] || [ ! -x /usr/bin/pdffonts ]; then \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PKGS) >/dev/null; fi

js: $(STATIC)

lint: setup
	$(BIN)/ruff check headwidgets tests bench
	$(BIN)/ruff format --check headwidgets tests bench
	$(BIN)/mypy

test: setup browser lint
	cd js && npm test
	$(BIN)/python -m pytest -q tests headwidgets --doctest-modules  # + the docstring examples

# JupyterLab on the quickstart notebook, bound to a model shipped in headwidgets/zoo/
demo: setup
	$(BIN)/headwidgets demo

# The newest releases, not locked: a second environment gets the newest torch, transformers,
# accelerate, anywidget, ipywidgets, bokeh and xarray, and runs a subset of the tests (engine,
# generation, interventions, widget refresh, the quickstart notebook). PyPI's newest Linux
# torch is a CUDA build (it runs on the CPU); PIP_CONSTRAINT=/dev/null lifts a machine-wide
# pip cap on torch if there is one.
NEWEST := .venv-newest
NEWEST_PKGS := torch transformers accelerate anywidget ipywidgets bokeh xarray
NEWEST_TESTS := tests/interventions tests/engine \
  tests/test_widgets.py tests/test_errors.py \
  tests/test_notebooks.py::test_notebook_runs_top_to_bottom[01_quickstart]

export VERSIONS := import importlib.metadata as m; print('versions:', ', '.join(p + ' ' + m.version(p) for p in '$(NEWEST_PKGS)'.split()))

test-newest: $(STATIC)
	test -x $(NEWEST)/bin/python || $(PY) -m venv $(NEWEST)
	PIP_CONSTRAINT=/dev/null $(NEWEST)/bin/pip install -q --upgrade pip
	PIP_CONSTRAINT=/dev/null $(NEWEST)/bin/pip install -q --upgrade --upgrade-strategy eager \
	  -e '.[dev]' $(NEWEST_PKGS)
	$(NEWEST)/bin/python -c "$$VERSIONS"
	$(NEWEST)/bin/python -m pytest -q -p no:cacheprovider $(NEWEST_TESTS)

models: setup
	$(BIN)/python -m headwidgets.zoo.train all

bench: setup
	$(BIN)/python bench/bench_engine.py --quick

clean:
	rm -rf $(VENV) $(NEWEST) js/node_modules headwidgets/static/*.js
