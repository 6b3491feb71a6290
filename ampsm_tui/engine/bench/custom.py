"""`bench custom --config FILE.yaml`: prompts on local repositories, each with a check command
and optional FAIL_TO_PASS/PASS_TO_PASS lists, run and reported exactly like SWE-bench instances.

    name: my-bench
    prompt_template: "{problem_statement}"      # optional
    agents: [{agent: command, agent_cmd: "python fix.py"}]   # optional; --agent overrides
    instances:
      - id: fix-sub
        repo: ./calc                            # relative to this file
        base: main                              # branch, tag or sha (default HEAD)
        prompt: "sub() adds instead of subtracting"
        check: python -m pytest -rA tests       # or a list; never run through a shell
        FAIL_TO_PASS: [tests/test_ops.py::test_sub]     # optional: without lists, exit 0 = resolved
        PASS_TO_PASS: [tests/test_ops.py::test_add]
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import UsageError
from ..yamlsrc import YamlSourceError, load_yaml, validate
from .dataset import Instance
from .options import AgentSpec


class CustomItem(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str
    repo: str
    base: str = "HEAD"
    prompt: str
    check: list[str]
    FAIL_TO_PASS: list[str] = Field(default_factory=list)
    PASS_TO_PASS: list[str] = Field(default_factory=list)
    log_parser: str | None = None

    @field_validator("check", mode="before")
    @classmethod
    def _argv(cls, value: Any) -> Any:
        if isinstance(value, str):
            return shlex.split(value)
        return value

    @field_validator("check")
    @classmethod
    def _not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("check needs a command")
        return value


class CustomFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "custom"
    description: str = ""
    prompt_template: str | None = None
    agents: list[AgentSpec] = Field(default_factory=list)
    instances: list[CustomItem]


class CustomBench(BaseModel):
    name: str
    prompt_template: str | None
    agents: list[AgentSpec]
    instances: list[Instance]


def _resolve_commit(repo: Path, ref: str, where: str) -> str:
    from ..git.runner import git_sync

    out = git_sync("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=repo)
    if not out.ok:
        raise UsageError(f"{where}: {ref!r} is not a commit in {repo}")
    return out.out


def load_custom(path: Path) -> CustomBench:
    path = path.expanduser()
    if not path.is_file():
        raise UsageError(f"custom benchmark file not found: {path}")
    try:
        data, node = load_yaml(path)
        spec = validate(CustomFile, data, node, path)
    except YamlSourceError as exc:
        raise UsageError(str(exc)) from None
    seen: set[str] = set()
    instances: list[Instance] = []
    for n, item in enumerate(spec.instances):
        where = f"{path}: instances[{n}] ({item.id})"
        if item.id in seen:
            raise UsageError(f"{where}: duplicate id")
        seen.add(item.id)
        repo = (path.parent / Path(item.repo).expanduser()).resolve()
        if not (repo / ".git").exists():
            # reported per instance at run time, like a missing SWE-bench repo
            base = item.base
        else:
            base = _resolve_commit(repo, item.base, where)
        instances.append(
            Instance.model_validate(
                {
                    "instance_id": item.id,
                    "repo": str(repo),
                    "repo_path": str(repo),
                    "base_commit": base,
                    "problem_statement": item.prompt,
                    "FAIL_TO_PASS": item.FAIL_TO_PASS,
                    "PASS_TO_PASS": item.PASS_TO_PASS,
                    "log_parser": item.log_parser,
                    "check": item.check,
                }
            )
        )
    return CustomBench(name=spec.name, prompt_template=spec.prompt_template, agents=spec.agents, instances=instances)
