"""What a unified diff touches, read from its headers (no third-party diff parser needed)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .markers import NON_TEST_EXTS


@dataclass(frozen=True)
class FileChange:
    old: str | None  # None when the patch creates the file
    new: str | None  # None when the patch deletes it

    @property
    def path(self) -> str:
        return self.new or self.old or ""


def changed_files(patch: str) -> list[FileChange]:
    """A `--- `/`+++ ` pair of lines starts a file; a removed line that happens to begin with
    `-- ` is never followed by a `+++ ` line, so it is not mistaken for a header."""
    changes: list[FileChange] = []
    lines = patch.splitlines()
    for i, line in enumerate(lines[:-1]):
        nxt = lines[i + 1]
        if line.startswith("--- ") and nxt.startswith("+++ "):
            src = line[4:].split("\t")[0].strip()
            dst = nxt[4:].split("\t")[0].strip()
            changes.append(
                FileChange(
                    None if src == "/dev/null" else src.removeprefix("a/"),
                    None if dst == "/dev/null" else dst.removeprefix("b/"),
                )
            )
    return changes


def touched_paths(patch: str) -> list[str]:
    paths: list[str] = []
    for change in changed_files(patch):
        for p in (change.old, change.new):
            if p and p not in paths:
                paths.append(p)
    return paths


def test_directives(test_patch: str) -> list[str]:
    """The test files to run: the official rule (every touched path but non-test extensions)."""
    return [p for p in touched_paths(test_patch) if not any(p.endswith(ext) for ext in NON_TEST_EXTS)]


test_directives.__test__ = False  # type: ignore[attr-defined]


_DIFF_GIT = re.compile(r"diff --git a/.* b/(.*)")


def official_test_directives(repo: str, test_patch: str) -> list[str]:
    """The official `get_test_directives`: the `b/` paths of the test_patch's `diff --git` lines
    minus non-test files; for django, module names (`tests/` and `.py` dropped, `/` -> `.`)."""
    if repo == "swe-bench/humaneval":
        return ["test.py"]
    directives = [d for d in _DIFF_GIT.findall(test_patch) if not any(d.endswith(ext) for ext in NON_TEST_EXTS)]
    if repo == "django/django":
        directives = [d.removesuffix(".py").removeprefix("tests/").replace("/", ".") for d in directives]
    return directives


def modified_files(patch: str) -> list[str]:
    """The official `get_modified_files`: files the patch changes that exist before it (the
    ones the eval script resets to base_commit)."""
    return [c.old for c in changed_files(patch) if c.old]
