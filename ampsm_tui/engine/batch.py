"""Batch files: the seed's YAML, validated so that every mistake names its file, line and key.

A batch is repos × items: each item runs once on each repo unless the item names its repos. The
plan is computed here, once, and stored as `batch_items` rows, so `resume` needs no file and an
item is always known by its own id (lesson 17).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .config import Duration
from .git.runner import GitResult, git_sync
from .models import BatchItem, BatchRun, BatchStatus
from .yamlsrc import YamlSourceError, _line_of, load_yaml, read_text


class _Strict(BaseModel):
    # extra="forbid": a typo such as `promt:` must be an error, never silently ignored.
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RepoSpec(_Strict):
    path: str = Field(min_length=1)
    base_branch: str | None = Field(None, alias="baseBranch", min_length=1)


class ItemSpec(_Strict):
    name: str = Field(min_length=1)
    prompt: str = Field(min_length=1)
    script: str | None = None
    model: str | None = None
    agent: str = "amp"
    agent_cmd: str | None = Field(None, alias="agentCmd")
    timeout: Duration | None = None
    repos: list[str] | None = Field(None, min_length=1)
    retries: int = Field(0, ge=0, le=20)
    setup: str | None = None  # run once in the item's new worktree (default: workspace.setup, .ampsm/setup)
    # best-of: `agents` × `bestOf` candidate sessions for this item (on each repo), ranked at the end
    agents: list[str] | None = Field(None, min_length=1)
    best_of: int | None = Field(None, alias="bestOf", ge=1, le=20)

    @property
    def is_best_of(self) -> bool:
        return self.agents is not None or self.best_of is not None

    def candidates(self) -> list[tuple[str, str]]:
        """(planned item name, agent) of each best-of candidate: `<name> <agent> <k>`, as `ampsm new
        --agents … --n K` names its sessions; just the item itself when it is not a best-of item."""
        if not self.is_best_of:
            return [(self.name, self.agent)]
        n = self.best_of or 1
        return [(f"{self.name} {agent} {k}", agent) for agent in self.agents or [self.agent] for k in range(1, n + 1)]


class NotificationsSpec(_Strict):
    webhook: str | None = None
    email: list[str] | None = None

    @field_validator("email", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("webhook")
    @classmethod
    def _http_only(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("a webhook must be an http:// or https:// URL")
        return value


class BatchFile(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    repos: list[RepoSpec] = Field(min_length=1)
    items: list[ItemSpec] = Field(min_length=1)
    concurrency: int | None = Field(None, ge=1, le=256)
    max_cost: float | None = Field(None, alias="maxCost", gt=0)  # dollars: no item starts past it
    queue: bool = False  # land every green item through the merge queue when the batch ends
    notifications: NotificationsSpec = Field(default_factory=NotificationsSpec)


class PlannedItem(BaseModel):
    """One (item, repo) pair: what becomes a `batch_items` row and then a session."""

    ordinal: int
    name: str
    repo_path: str
    base_branch: str
    prompt: str
    script: str | None
    model: str | None
    agent: str
    agent_cmd: str | None
    timeout_s: float | None
    retries: int
    setup: str | None = None


class BatchPlan(BaseModel):
    file: BatchFile
    path: str
    items: list[PlannedItem]

    def concurrency(self, override: int | None, default: int) -> int:
        return override or self.file.concurrency or default


def _git(repo: Path, *args: str) -> GitResult:
    return git_sync(*args, cwd=repo)


def _check_repo(repo: Path, base: str | None) -> tuple[str | None, str]:
    """(problem, field) for a repo entry: missing folder, not a git repo, or unknown base branch."""
    if not repo.is_dir():
        return f"no such folder: {repo}", "path"
    top = _git(repo, "rev-parse", "--show-toplevel")
    if not top.ok:
        return f"not a git repository: {repo}", "path"
    if base is not None and not _git(repo, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}").ok:
        return f"no branch or commit {base!r} in {repo}", "baseBranch"
    return None, ""


def _default_branch(repo: Path, fallback: str) -> str:
    """The branch the repo's main checkout is on, else the configured default."""
    head = _git(repo, "symbolic-ref", "--quiet", "--short", "HEAD")
    return head.out if head.ok and head.out else fallback


def load_batch(path: Path | str, *, default_base: str = "main", check_repos: bool = True) -> BatchPlan:
    """Parse, validate and expand a batch file. Raises YamlSourceError (`file:line: key: message`)."""
    path = Path(path)
    text = read_text(path, "batch file")
    data, node = load_yaml(path, text)
    if not isinstance(data, dict):
        raise YamlSourceError(path, 1, None, "a batch file must be a mapping with name, repos and items")
    spec = _validate(data, node, path)

    def fail(loc: list[int | str], message: str) -> YamlSourceError:
        return YamlSourceError(path, _line_of(node, loc), ".".join(str(p) for p in loc), message)

    folder = path.resolve().parent
    repos: list[tuple[RepoSpec, Path, str]] = []
    for index, repo in enumerate(spec.repos):
        resolved = (folder / Path(repo.path).expanduser()).resolve()
        if check_repos:
            problem, key = _check_repo(resolved, repo.base_branch)
            if problem:
                raise fail(["repos", index, key], problem)
        base = repo.base_branch or (_default_branch(resolved, default_base) if check_repos else default_base)
        repos.append((repo, resolved, base))

    seen: dict[str, int] = {}
    for index, item in enumerate(spec.items):
        for name, _agent in item.candidates():
            if name in seen:
                raise fail(["items", index, "name"], f"duplicate item name {name!r} (also item {seen[name]})")
            seen[name] = index
        agents = item.agents or [item.agent]
        if "command" in agents and not item.agent_cmd:
            key = "agents" if item.agents else "agent"
            raise fail(["items", index, key], "the command agent needs agentCmd (the command to run)")
        if item.agents:
            from .agents.registry import AGENT_NAMES

            for a_index, agent in enumerate(item.agents):
                if agent not in AGENT_NAMES:
                    known = ", ".join(sorted(AGENT_NAMES))
                    raise fail(["items", index, "agents", a_index], f"unknown agent {agent!r} (known: {known})")

    planned: list[PlannedItem] = []
    for index, item in enumerate(spec.items):
        targets = repos
        if item.repos is not None:
            targets = []
            for r_index, wanted in enumerate(item.repos):
                match = [r for r in repos if _repo_matches(wanted, r[0], r[1], folder)]
                if not match:
                    raise fail(["items", index, "repos", r_index], f"{wanted!r} is not one of the batch's repos")
                targets.extend(m for m in match if m not in targets)
        for (_repo, resolved, base), (name, agent) in ((t, c) for t in targets for c in item.candidates()):
            planned.append(
                PlannedItem(
                    ordinal=len(planned),
                    name=name,
                    repo_path=str(resolved),
                    base_branch=base,
                    prompt=item.prompt,
                    script=item.script,
                    model=item.model,
                    agent=agent,
                    agent_cmd=item.agent_cmd if agent == "command" else None,
                    timeout_s=item.timeout,
                    retries=item.retries,
                    setup=item.setup,
                )
            )
    return BatchPlan(file=spec, path=str(path.resolve()), items=planned)


def _validate(data: Any, node: Any, path: Path) -> BatchFile:
    """Like yamlsrc.validate, but an unknown key is reported before the errors it causes (a typo
    `promt:` also makes `prompt` missing; the typo is what the user must see)."""
    try:
        return BatchFile.model_validate(data)
    except ValidationError as exc:
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        first = errors[0]
        loc = [p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        msg = "unknown key (check the spelling)" if first["type"] == "extra_forbidden" else first["msg"]
        raise YamlSourceError(path, _line_of(node, loc), ".".join(str(p) for p in loc) or None, msg) from None


def _repo_matches(wanted: str, spec: RepoSpec, resolved: Path, folder: Path) -> bool:
    """An item names a repo by the path as written, by its resolved path or by its folder name."""
    if wanted in (spec.path, resolved.name):
        return True
    return (folder / Path(wanted).expanduser()).resolve() == resolved


def best_of_groups(spec: BatchFile, items: list[BatchItem]) -> list[tuple[ItemSpec, list[BatchItem]]]:
    """The batch's best-of items: for each best-of item spec and repo, its candidates' rows."""
    found: list[tuple[ItemSpec, list[BatchItem]]] = []
    for item in spec.items:
        if not item.is_best_of:
            continue
        names = {name for name, _ in item.candidates()}
        per_repo: dict[str, list[BatchItem]] = {}
        for row in items:
            if row.name in names:
                per_repo.setdefault(row.repo_path, []).append(row)
        found.extend((item, rows) for rows in per_repo.values())
    return found


def to_rows(plan: BatchPlan, concurrency: int) -> tuple[BatchRun, list[BatchItem]]:
    """The run and its items as store rows (written in one transaction by `Store.create_batch`)."""
    run = BatchRun(
        name=plan.file.name,
        description=plan.file.description,
        file_path=plan.path,
        status=BatchStatus.PENDING,
        concurrency=concurrency,
        definition=plan.file.model_dump_json(by_alias=True),
    )
    items = [BatchItem(batch_id=run.id, **p.model_dump()) for p in plan.items]
    return run, items


def definition_of(run: BatchRun) -> BatchFile | None:
    """The validated batch file a run was started from (for notifications on resume)."""
    if not run.definition:
        return None
    try:
        return BatchFile.model_validate_json(run.definition)
    except ValueError:
        return None


def plan_table(plan: BatchPlan) -> list[dict[str, Any]]:
    """The dry-run view: one row per planned session."""
    return [
        {
            "ordinal": p.ordinal,
            "name": p.name,
            "repo": p.repo_path,
            "base": p.base_branch,
            "agent": p.agent,
            "model": p.model,
            "script": p.script,
            "timeout_s": p.timeout_s,
            "retries": p.retries,
        }
        for p in plan.items
    ]


__all__ = [
    "BatchFile",
    "BatchPlan",
    "ItemSpec",
    "NotificationsSpec",
    "PlannedItem",
    "RepoSpec",
    "YamlSourceError",
    "best_of_groups",
    "definition_of",
    "load_batch",
    "plan_table",
    "to_rows",
]
