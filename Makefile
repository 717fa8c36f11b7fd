# headwidgets — `make demo` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JSSTAMP := js/node_modules/.installed
STATIC := headwidgets/static/headwidgets.js
TORCH := torch==2.13.0

.PHONY: demo test setup js browser lint models bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[dev]' $(TORCH)
	touch $@

$(JSSTAMP): js/package.json $(wildcard js/package-lock.json)
	cd js && (test -f package-lock.json && npm ci --no-audit --no-fund || npm install --no-audit --no-fund)
	touch $@

$(STATIC): $(JSSTAMP) $(wildcard js/src/*.js js/src/*.mjs js/src/*.css js/build.mjs)
	cd js && node build.mjs

APT_PKGS := chromium chromium-driver fonts-dejavu-core
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

setup: $(STAMP) $(STATIC)

# Debian's chromium + chromedriver for the browser tests and SVG/PNG export
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
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

ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

# JupyterLab on the quickstart notebook, bound to a model shipped in headwidgets/zoo/
demo: setup
	$(BIN)/jupyter lab --ip=127.0.0.1 $(ROOT_FLAG) notebooks/01_quickstart.ipynb

models: setup
	$(BIN)/python -m headwidgets.zoo.train all

bench: setup
	$(BIN)/python bench/bench_engine.py --quick

clean:
	rm -rf $(VENV) js/node_modules headwidgets/static/*.js
