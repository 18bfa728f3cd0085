# glassnet: `make demo` and `make test` work on a fresh clone (they create .venv).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# PyTorch's CPU build first: a bare `torch` requirement would pull a multi-GB CUDA build.
TORCH_PIN ?= torch==2.13.0
STAMP := $(VENV)/.glassnet-installed
SHARED_DATA := $(abspath ../shared/data)
export GLASSNET_DATA ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),)
PYTEST_ARGS ?= -n 2
# two pytest workers on two cores: one BLAS/OpenMP thread each, or the thread pools
# oversubscribe the cores and every matmul waits on a descheduled thread (10x slower)
TEST_THREADS := OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

.PHONY: help install demo test lint format browser bench bench-long bench-peers clean docs

help:
	@echo "make demo        set up .venv and run 'glassnet compare' on the bundled digits"
	@echo "make test        set up .venv and run the whole test suite; installs Debian's chromium"
	@echo "                 with apt-get (sudo when not root) for the report's browser test,"
	@echo "                 unless it is there or BROWSER=0 (the browser test then skips)"
	@echo "make lint        ruff check + format check"
	@echo "make docs        build the documentation site into site/ (executes every lesson)"
	@echo "make bench       speed benchmarks (glassnet vs PyTorch, same threads) -> benchmarks/results"
	@echo "make bench-long  accuracy recipes and time to accuracy (long; run once and recorded)"
	@echo "make bench-peers a training step in glassnet, MyGrad, DeZero and tinygrad (installs"
	@echo "                 them into .venv-peers; tinygrad's CPU device needs clang)"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet "$(TORCH_PIN)"
	$(PIP) install --quiet -e ".[all,dev,ray]"
	touch $(STAMP)

install: $(STAMP)

# The report test drives Debian's Chromium headless (no browser download). `make test`
# installs it with apt-get (sudo when not root), saying so first; BROWSER=0 leaves it out.
BROWSER ?= 1
browser:
	@if [ "$(BROWSER)" = 0 ]; then \
	  echo "BROWSER=0: chromium not installed; the report's browser test will skip"; \
	elif [ ! -x /usr/bin/chromium ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing Debian's chromium for the report's browser test:" \
	    "$${SUDO:+sudo }apt-get install chromium chromium-driver (make test BROWSER=0 skips this)"; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null \
	  || echo "WARNING: could not install chromium; browser tests will skip (and fail under CI)"; \
	fi

demo: $(STAMP)
	$(VENV)/bin/glassnet compare

# The site's lessons train on MNIST and CIFAR-10: without GLASSNET_DATA (and outside CI,
# where a missing site fails its tests) the site is not built and its tests skip, as the
# other tests that need the datasets do.
test: $(STAMP) browser
	@if [ -n "$(GLASSNET_DATA)" ] || [ "$(CI)" = "true" ]; then \
	  $(MAKE) --no-print-directory docs; \
	else \
	  echo "make test: GLASSNET_DATA is not set, so the documentation site is not built"; \
	  echo "  (its lessons need MNIST and CIFAR-10; 'make docs' builds it); its tests skip"; \
	fi
	$(TEST_THREADS) $(PY) -m pytest $(PYTEST_ARGS)

# The documentation site: mkdocs-material, with KaTeX and iframe-worker (search from
# file://) from the npm registry, served from site/, never from a CDN. Lessons run at
# GLASSNET_LESSON_SIZE (ci: small and quick; full: the real experiment, e.g.
# make docs GLASSNET_LESSON_SIZE=full).
DOCS_STAMP := $(VENV)/.glassnet-docs-installed
NPM_PINS ?= katex@0.16.22 iframe-worker@1.0.4
NPM_STAMP := build/npm/.glassnet-npm-installed
GLASSNET_LESSON_SIZE ?= ci

$(DOCS_STAMP): pyproject.toml $(STAMP)
	$(PIP) install --quiet -e ".[docs]"
	touch $(DOCS_STAMP)

$(NPM_STAMP): Makefile
	@command -v npm >/dev/null || { echo "make docs needs npm (apt-get install npm)"; exit 2; }
	npm install --silent --no-audit --no-fund --prefix build/npm $(NPM_PINS)
	touch $(NPM_STAMP)

docs: $(DOCS_STAMP) $(NPM_STAMP)
	GLASSNET_LESSON_SIZE=$(GLASSNET_LESSON_SIZE) MPLBACKEND=Agg $(VENV)/bin/mkdocs build --strict

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

format: $(STAMP)
	$(VENV)/bin/ruff format src tests benchmarks
	$(VENV)/bin/ruff check --fix src tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/layers.py
	$(PY) benchmarks/training.py
	$(PY) benchmarks/vectorisation.py

bench-long: $(STAMP)
	$(PY) benchmarks/accuracy.py
	$(PY) benchmarks/time_to_accuracy.py

# Other NumPy libraries, in an environment of their own (not glassnet's dependencies)
PEERS_VENV ?= .venv-peers
bench-peers: $(STAMP)
	test -x $(PEERS_VENV)/bin/python || $(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install --quiet numpy mygrad dezero matplotlib tinygrad
	$(PY) benchmarks/peers.py --peers-python $(PEERS_VENV)/bin/python

clean:
	rm -rf $(VENV) $(PEERS_VENV) build dist site src/*.egg-info .pytest_cache .ruff_cache
