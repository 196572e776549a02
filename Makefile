# The two commands a user needs: `make demo` and `make test`. Both install what is missing first.
SWIFT ?= swift
BIN_DEBUG := .build/debug/attnlab
BIN_RELEASE := .build/release/attnlab

.PHONY: setup build release demo test bench clean

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

test: setup
	$(SWIFT) build
	$(BIN_DEBUG) snapshot check Experiments/paraphrase-eminem.yaml
	$(SWIFT) test

bench: release
	$(BIN_RELEASE) bench

clean:
	rm -rf .build
