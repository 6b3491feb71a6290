# The two commands of the README quick start.
#   make run   venv + install + the app (the demo workspace until you point it at your repos)
#   make test  venv + install with test deps + lint + type check + the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: screenshots run test lint typecheck pytest clean docs agents

# The real agent CLIs that tests/test_real_agents.py drives against a local scripted model server,
# pinned; installed once under .venv/ (a stamp per version set, so a second run does nothing).
CLAUDE_CODE_VERSION := 2.1.332
CODEX_VERSION := 0.171.0
GEMINI_CLI_VERSION := 0.61.0
AMP_VERSION := 0.0.1790142911-g7618fb
AIDER_VERSION := 0.86.2
NPM_AGENTS := $(VENV)/agents
NPM_STAMP := $(NPM_AGENTS)/.installed-$(CLAUDE_CODE_VERSION)-$(CODEX_VERSION)-$(GEMINI_CLI_VERSION)-$(AMP_VERSION)
AIDER_VENV := $(VENV)/aider
AIDER_STAMP := $(AIDER_VENV)/.installed-$(AIDER_VERSION)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -qq --upgrade pip
	$(BIN)/python -m pip install -qq -e . --config-settings editable_mode=compat
	touch $(STAMP)

# The swebench extra lets the tests compare our grader with the official one; the ray extra runs the
# Ray executor's tests on a multi-node cluster on this machine.
$(TEST_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install -qq -e '.[test,swebench,ray]' --config-settings editable_mode=compat
	touch $(TEST_STAMP)

run: $(STAMP)
	@$(BIN)/ampsm demo $(ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check ampsm_tui tests bench
	$(BIN)/ruff format --check ampsm_tui tests bench

typecheck: $(TEST_STAMP)
	$(BIN)/mypy ampsm_tui

# npm 11 runs no install scripts by default: Amp's places its native binary (from its platform package).
$(NPM_STAMP):
	rm -f $(NPM_AGENTS)/.installed-*
	npm install --prefix $(NPM_AGENTS) --no-audit --no-fund --loglevel=error \
	  @anthropic-ai/claude-code@$(CLAUDE_CODE_VERSION) @openai/codex@$(CODEX_VERSION) \
	  @google/gemini-cli@$(GEMINI_CLI_VERSION) @ampcode/cli@$(AMP_VERSION)
	cd $(NPM_AGENTS)/node_modules/@ampcode/cli && node install.cjs
	touch $@

# Aider pins its own dependencies tightly: its own venv, so they never meet ours.
$(AIDER_STAMP):
	rm -rf $(AIDER_VENV)
	$(PYTHON) -m venv $(AIDER_VENV)
	$(AIDER_VENV)/bin/python -m pip install --quiet aider-chat==$(AIDER_VERSION)
	touch $@

agents: $(NPM_STAMP) $(AIDER_STAMP)

# Three workers on two cores: most tests wait on git, agents and subprocesses rather than compute.
# loadgroup keeps a module whose fixture is expensive (the SWE-bench environments) on one worker.
PYTEST_WORKERS ?= 3
pytest: $(TEST_STAMP) agents
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

test: lint typecheck pytest

docs: $(TEST_STAMP)
	$(BIN)/python -m ampsm_tui.docgen

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# The README's screenshots: the demo on a throw-away workspace, one SVG per main screen.
screenshots: $(STAMP)
	$(BIN)/ampsm demo --speed 0 --dir "$$(mktemp -d)/demo" --screenshots docs/screenshots
