# The two commands a user needs: `make demo` and `make test`. Both install what is missing first.
SWIFT ?= swift
BIN_DEBUG := .build/debug/attnlab
BIN_RELEASE := .build/release/attnlab
PYTHON_VENV := .build/python-venv

.PHONY: setup build release demo serve test python-test readme-test install bench clean

setup:
	@Tools/setup.sh

build: setup
	$(SWIFT) build

release: setup
	$(SWIFT) build -c release

demo: release
	$(BIN_RELEASE) trace --model sentence-transformers/all-MiniLM-L6-v2 \
	    --text "the eminem tune was totally awesome." --pair "dude, that song from eminem was sick!"
	@echo
	$(BIN_RELEASE) run Experiments/paraphrase-eminem.yaml

# The app: type, perturb, ablate, scan, save as experiment (open the address it prints).
serve: release
	$(BIN_RELEASE) serve

test: setup
	$(SWIFT) build
	$(BIN_DEBUG) snapshot check Experiments/paraphrase-eminem.yaml
	$(BIN_DEBUG) snapshot check Experiments/paraphrase-suite.yaml
	$(BIN_DEBUG) snapshot check Experiments/capital-cities.yaml
	@# The tests' scratch folders go into one folder, removed afterwards whatever the outcome.
	scratch=$$(mktemp -d -t attnlab-tests-XXXXXX) && TMPDIR=$$scratch $(SWIFT) test; status=$$?; rm -rf "$$scratch"; exit $$status
	$(MAKE) --no-print-directory python-test
	$(MAKE) --no-print-directory readme-test

# Every code block of the README, run as written in a scratch copy of the repository (Tools/readme).
readme-test: build $(PYTHON_VENV)/.installed
	$(PYTHON_VENV)/bin/pip install --quiet --no-build-isolation --no-deps ./python
	python3 Tools/readme/check_readme.py README.md --attnlab $(BIN_DEBUG) --python $(PYTHON_VENV)/bin/python

# attnlab on PATH: a link to the release build, which finds this repository's Models/ through it.
PREFIX ?= $(HOME)/.local
install: release
	mkdir -p "$(PREFIX)/bin"
	ln -sf "$(CURDIR)/$(BIN_RELEASE)" "$(PREFIX)/bin/attnlab"

# The Python package's tests (python/tests, the quickstart notebook) in a venv from PyPI, against the debug binary.
python-test: build $(PYTHON_VENV)/.installed
	$(PYTHON_VENV)/bin/pip install --quiet --no-build-isolation --no-deps ./python
	ATTNLAB=$(BIN_DEBUG) $(PYTHON_VENV)/bin/python -m pytest -q python/tests

$(PYTHON_VENV)/.installed:
	python3 -m venv $(PYTHON_VENV)
	$(PYTHON_VENV)/bin/pip install --quiet numpy safetensors pytest nbclient nbformat ipykernel "setuptools>=70.1"
	touch $@

bench: release
	$(BIN_RELEASE) bench

clean:
	rm -rf .build
