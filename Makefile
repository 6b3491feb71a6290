# The two commands of the README quick start.
#   make run   venv + install + the app (the demo workspace until you point it at your repos)
#   make test  venv + install with test deps + lint + type check + the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: screenshots run test lint typecheck pytest clean docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e . --config-settings editable_mode=compat
	touch $(STAMP)

# The swebench extra lets the tests compare our grader with the official one.
$(TEST_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,swebench]' --config-settings editable_mode=compat
	touch $(TEST_STAMP)

run: $(STAMP)
	$(BIN)/ampsm demo $(ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check ampsm_tui tests bench
	$(BIN)/ruff format --check ampsm_tui tests bench

typecheck: $(TEST_STAMP)
	$(BIN)/mypy ampsm_tui/engine

pytest: $(TEST_STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test: lint typecheck pytest

docs: $(TEST_STAMP)
	$(BIN)/python -m ampsm_tui.docgen

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# The README's screenshots: the demo on a throw-away workspace, one SVG per main screen.
screenshots: $(STAMP)
	$(BIN)/ampsm demo --speed 0 --dir "$$(mktemp -d)/demo" --screenshots docs/screenshots
