"""Batch files: the plan is items × repos, and every mistake is one line with file:line: field."""

from __future__ import annotations

from pathlib import Path

import pytest

from ampsm_tui.engine.batch import load_batch, plan_table, to_rows
from ampsm_tui.engine.yamlsrc import YamlSourceError
from tests.conftest import git


def make_repo(path: Path, branch: str = "main") -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", branch)
    (path / "README.md").write_text("x\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "init")
    return path


GOOD = """\
name: "Auth batch"
description: "two repos"
repos:
  - path: "./frontend"
    baseBranch: "main"
  - path: "backend"
items:
  - name: "jwt-auth"
    prompt: "Add JWT"
    script: "true"
    model: "gpt-5"
    timeout: 30s
    retries: 2
  - name: "only-frontend"
    prompt: "Only there"
    agent: command
    agentCmd: "touch x"
    repos: ["./frontend"]
concurrency: 3
notifications:
  webhook: "http://127.0.0.1:9/hook"
  email: "ops@example.com"
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    make_repo(ws / "frontend")
    make_repo(ws / "backend", branch="develop")
    return ws


def test_plan_is_items_times_repos_with_relative_paths(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = workspace / "batch.yaml"
    f.write_text(GOOD)
    monkeypatch.chdir("/")  # relative paths resolve against the file's folder, not the cwd
    plan = load_batch(f)
    rows = [(p.name, Path(p.repo_path).name, p.base_branch) for p in plan.items]
    assert rows == [
        ("jwt-auth", "frontend", "main"),
        ("jwt-auth", "backend", "develop"),  # no baseBranch: the repo's checked-out branch
        ("only-frontend", "frontend", "main"),
    ]
    first = plan.items[0]
    assert first.timeout_s == 30.0 and first.retries == 2 and first.model == "gpt-5"
    assert plan.items[2].agent == "command" and plan.items[2].agent_cmd == "touch x"
    assert plan.file.notifications.email == ["ops@example.com"]
    assert plan.concurrency(None, 7) == 3 and plan.concurrency(5, 7) == 5
    run, items = to_rows(plan, 3)
    assert [i.ordinal for i in items] == [0, 1, 2] and all(i.batch_id == run.id for i in items)
    assert len({i.id for i in items}) == 3 and items[0].retries == 2
    assert [r["name"] for r in plan_table(plan)] == ["jwt-auth", "jwt-auth", "only-frontend"]


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "message"),
    [
        (
            '  - name: "jwt-auth"\n    prompt: "Add JWT"',
            '  - name: "jwt-auth"\n    promt: "Add JWT"',
            9,
            "items.0.promt",
            "unknown key",
        ),
        ("concurrency: 3", "concurrency: 0", 19, "concurrency", "greater than or equal to 1"),
        ("concurrency: 3", "concurrency: many", 19, "concurrency", "valid integer"),
        ('path: "backend"', 'path: "missing"', 6, "repos.1.path", "no such folder"),
        ('baseBranch: "main"', 'baseBranch: "nope"', 5, "repos.0.baseBranch", "no branch or commit"),
        ("retries: 2", "retries: -1", 13, "items.0.retries", "greater than or equal to 0"),
        ('repos: ["./frontend"]', 'repos: ["./elsewhere"]', 18, "items.1.repos.0", "not one of the batch's repos"),
        ('webhook: "http://127.0.0.1:9/hook"', 'webhook: "ftp://x"', 21, "notifications.webhook", "http"),
        ("timeout: 30s", "timeout: soon", 12, "items.0.timeout", "duration"),
        ('agentCmd: "touch x"', 'model: "m"', 16, "items.1.agent", "agentCmd"),
    ],
)
def test_each_error_names_file_line_and_field(
    workspace: Path, old: str, new: str, line: int, field: str, message: str
) -> None:
    assert old in GOOD
    f = workspace / "batch.yaml"
    f.write_text(GOOD.replace(old, new))
    with pytest.raises(YamlSourceError) as info:
        load_batch(f)
    text = str(info.value)
    assert text.startswith(f"{f}:{line}: {field}: "), text
    assert message in text
    assert "\n" not in text


def test_yaml_syntax_error_and_not_a_repo(workspace: Path) -> None:
    f = workspace / "batch.yaml"
    f.write_text(GOOD.replace('  - name: "only-frontend"', '  - name: "only-frontend\n  bad: [unclosed'))
    with pytest.raises(YamlSourceError) as info:
        load_batch(f)
    assert str(info.value).startswith(f"{f}:") and "invalid YAML" in str(info.value)
    (workspace / "plain").mkdir()
    f.write_text(GOOD.replace('path: "backend"', 'path: "plain"'))
    with pytest.raises(YamlSourceError) as info:
        load_batch(f)
    assert str(info.value).startswith(f"{f}:6: repos.1.path: not a git repository")


def test_duplicate_item_names_and_missing_keys(workspace: Path) -> None:
    f = workspace / "batch.yaml"
    f.write_text(GOOD.replace('name: "only-frontend"', 'name: "jwt-auth"'))
    with pytest.raises(YamlSourceError, match=r":14: items.1.name: duplicate item name"):
        load_batch(f)
    f.write_text("name: x\nrepos:\n  - path: frontend\n")
    with pytest.raises(YamlSourceError, match=r"items: Field required"):
        load_batch(f)
    f.write_text("- just\n- a list\n")
    with pytest.raises(YamlSourceError, match=r":1: a batch file must be a mapping"):
        load_batch(f)
