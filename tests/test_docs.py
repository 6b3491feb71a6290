"""The README's reference sections are generated from the code; these tests keep them honest."""

from __future__ import annotations

from ampsm_tui import docgen
from ampsm_tui.commands.registry import COMMANDS, Command


def test_readme_is_current() -> None:
    assert docgen.main(["--check"]) == 0, "README.md is out of date: run `make docs`"


def test_every_command_config_key_and_error_is_in_the_readme() -> None:
    text = docgen.README.read_text(encoding="utf-8")
    docgen.cli_reference()  # loads the registry
    for path in COMMANDS:
        assert f"`ampsm {' '.join(path)}`" in text
    for dotted, *_ in docgen._walk(__import__("ampsm_tui.engine.config", fromlist=["Config"]).Config):
        assert f"`{dotted}`" in text
    for code in ("E001", "E002", "E003", "E004", "E005", "E006"):
        assert f"| {code} |" in text


def test_an_undocumented_command_is_caught() -> None:
    """Adding a command to (a copy of) the registry without regenerating makes the check fail."""
    text = docgen.README.read_text(encoding="utf-8")
    docgen.cli_reference()
    registry = dict(COMMANDS)

    async def handler(args: object, ctx: object) -> int:
        return 0

    registry[("brand-new",)] = Command(("brand-new",), "a command nobody documented", handler)
    sections = {**docgen.SECTIONS, "cli": lambda: docgen.cli_reference(registry)}
    assert docgen.render(text, sections) != text
    assert "`ampsm brand-new`" in docgen.render(text, sections)


def test_an_undocumented_config_key_is_caught() -> None:
    from pydantic import Field

    from ampsm_tui.engine import config as cfgmod

    text = docgen.README.read_text(encoding="utf-8")

    class Extended(cfgmod.Config):
        brand_new_knob: int = Field(1, description="nobody documented me")

    def extended_reference() -> str:
        original = cfgmod.Config
        cfgmod.Config = Extended  # type: ignore[misc]
        try:
            return docgen.config_reference()
        finally:
            cfgmod.Config = original  # type: ignore[misc]

    sections = {**docgen.SECTIONS, "config": extended_reference}
    assert "`brand_new_knob`" in docgen.render(text, sections)
    assert docgen.render(text, sections) != text


def test_every_binding_is_in_the_readme_and_a_new_one_is_caught() -> None:
    import dataclasses

    from ampsm_tui import actions

    text = docgen.README.read_text(encoding="utf-8")
    for action in actions.ACTIONS:
        assert action.help in text, f"{action.id} missing from the README key table"
    extra = dataclasses.replace(actions.ACTIONS[0], id="brand_new", keys="z", help="A key nobody documented")
    original = actions.ACTIONS
    actions.ACTIONS = (*original, extra)  # type: ignore[misc]
    try:
        assert "A key nobody documented" in docgen.render(text)
        assert docgen.render(text) != text
    finally:
        actions.ACTIONS = original  # type: ignore[misc]
