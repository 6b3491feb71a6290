# The two commands of the README quick start.
#   make run   venv + install + the app (the demo workspace until you point it at your repos)
#   make test  venv + install + lint + type check + the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest clean docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,swebench]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/ampsm demo $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check ampsm_tui tests bench
	$(BIN)/ruff format --check ampsm_tui tests bench

typecheck: $(STAMP)
	$(BIN)/mypy ampsm_tui/engine

pytest: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

docs: $(STAMP)
	$(BIN)/python -m ampsm_tui.docgen
