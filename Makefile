# The two front-door commands: `make run` and `make test` (see README).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
INSTALL_KEY := $(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-12)
STAMP := $(VENV)/.vecina-installed-$(INSTALL_KEY)

.PHONY: help install run test test-unit test-integration validate lookups train lock clean

help:
	@echo "make run    install what is missing, load kb, train if needed, start everything"
	@echo "make test   install what is missing and run the whole test suite"

$(STAMP): requirements.lock pyproject.toml
	@python=$$(tools/find-python310) || exit 1; \
	if [ ! -x $(PY) ]; then echo "creating $(VENV) with $$python"; $$python -m venv $(VENV) || exit 1; fi
	$(PY) -m pip install --quiet --disable-pip-version-check 'pip==24.0'
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	rm -f $(VENV)/.vecina-installed-*
	touch $@

install: $(STAMP)
	@$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e . >/dev/null

validate: install
	$(VENV)/bin/vecina kb validate
	$(VENV)/bin/vecina kb lookups
	$(VENV)/bin/vecina data validate

train: validate
	$(VENV)/bin/vecina train

run: install
	$(VENV)/bin/vecina run

test-unit: install
	$(VENV)/bin/vecina kb lookups
	$(PY) -m pytest -m "not integration and not browser"

test: validate train
	$(PY) -m pytest

lock:
	$(PY) -m pip freeze --exclude-editable | grep -v '^vecina' > requirements.lock

clean:
	rm -rf var models .pytest_cache
