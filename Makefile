# Two entry points for a fresh machine (Python 3.11):
#   make demo   install, then train + evaluate NerRe (approach a8) on the bundled sample, offline
#   make test   install with the test tools, then run the test suite
VENV ?= .venv
PYTEST_ARGS ?=

.PHONY: install install-dev demo test test-slow

install:
	bash scripts/install.sh

install-dev:
	bash scripts/install.sh dev

demo: install
	bash scripts/demo.sh

test: install-dev
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(VENV)/bin/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

test-slow: install-dev
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(VENV)/bin/python -m pytest -n 2 --dist loadgroup -m "slow or not slow" $(PYTEST_ARGS)
