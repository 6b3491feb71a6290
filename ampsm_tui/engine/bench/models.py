"""Benchmark rows: a run, and one row per (instance, agent/model) holding its grade and the
session and iteration that produced the patch."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from ..models import Row, new_id


class BenchRunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    STOPPED = "stopped"  # the cost budget was reached: instances left unstarted
    INTERRUPTED = "interrupted"  # the process died or was stopped: start the same run id to finish


class BenchMode(StrEnum):
    AGENTS = "agents"  # run agents, then evaluate their patches
    PREDICTIONS_ONLY = "predictions-only"  # run agents, write predictions, evaluate elsewhere
    EVALUATE = "evaluate"  # grade an existing predictions file (or gold)


class InstanceStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    RESOLVED = "resolved"
    UNRESOLVED = "unresolved"
    EMPTY = "empty"  # empty patch: never run
    ERROR = "error"  # could not be evaluated (repo missing, patch does not apply, timeout...)
    PREDICTED = "predicted"  # --predictions-only: a patch was written, not graded
    SKIPPED = "skipped"  # not started: the cost budget was reached

    @property
    def finished(self) -> bool:
        return self not in (InstanceStatus.PENDING, InstanceStatus.RUNNING, InstanceStatus.SKIPPED)


class BenchRun(Row):
    id: str = Field(default_factory=lambda: new_id("bench"))
    kind: str = "swebench"  # swebench | custom
    mode: BenchMode = BenchMode.AGENTS
    dataset_path: str | None = None
    report_dir: str = "."
    definition: str = "{}"  # the options as JSON, so the same run id resumes without them
    status: BenchRunStatus = BenchRunStatus.PENDING
    pid: int | None = None
    max_cost: float | None = None
    created_at: str = ""
    started_at: str | None = None
    ended_at: str | None = None


class BenchInstance(Row):
    id: int | None = None
    run_id: str
    instance_id: str
    model_name_or_path: str
    agent: str | None = None
    model: str | None = None
    ordinal: int = 0
    status: InstanceStatus = InstanceStatus.PENDING
    reason: str | None = None
    session_id: str | None = None
    iteration_id: int | None = None
    model_patch: str | None = None
    patch_applied: bool | None = None
    f2p_passed: int | None = None
    f2p_total: int | None = None
    p2p_passed: int | None = None
    p2p_total: int | None = None
    agent_s: float | None = None
    eval_s: float | None = None
    duration_s: float | None = None
    iterations: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: float | None = None  # None: unpriced (or no agent ran), never shown as 0
    report_path: str | None = None
    started_at: str | None = None
    ended_at: str | None = None

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_creation_tokens + self.cache_read_tokens
