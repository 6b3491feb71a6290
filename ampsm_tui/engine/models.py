"""Domain models: what the store keeps and what the engine hands to the CLI and the TUI.

Rows cross the store boundary as these pydantic models, never as tuples, so a column added by a
later migration is one field here and nothing else changes shape.
"""

from __future__ import annotations

import secrets
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class SessionStatus(StrEnum):
    IDLE = "idle"
    RUNNING = "running"
    AWAITING_INPUT = "awaiting-input"
    ERROR = "error"
    DONE = "done"
    INTERRUPTED = "interrupted"
    ARCHIVED = "archived"


class IterationStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"  # agent ended with its final line
    FAILED = "failed"  # agent reported an error or exited non-zero
    INTERRUPTED = "interrupted"  # killed by a signal or ended without its final line
    TIMEOUT = "timeout"


class BatchStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    ABORTED = "aborted"
    FAILED = "failed"


class BatchItemStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # agent ran and the test gate passed (or no script)
    FAILED = "failed"  # test gate failed or the agent failed
    ERROR = "error"  # could not start (repo missing, worktree failure, ...)
    ABORTED = "aborted"


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


class Row(BaseModel):
    model_config = ConfigDict(from_attributes=True, use_enum_values=False, defer_build=True)


class Session(Row):
    id: str = Field(default_factory=lambda: new_id("sess"))
    name: str
    prompt: str = ""
    repo_path: str
    base_branch: str
    branch: str = ""
    worktree_path: str = ""
    agent: str = "amp"
    agent_cmd: str | None = None
    model: str | None = None
    script: str | None = None
    timeout_s: float | None = None
    status: SessionStatus = SessionStatus.IDLE
    thread_id: str | None = None
    last_test_exit: int | None = None
    last_error: str | None = None
    notify_webhook: str | None = None
    batch_item_id: str | None = None
    pid: int | None = None
    pid_started_at: float | None = None
    agent_pid: int | None = None  # the agent's own process (its group id): an orphan is found by it
    agent_started_at: float | None = None
    setup: str | None = None  # setup command of this session (a batch item's `setup:`), else the config's
    created_at: str = ""
    updated_at: str = ""


class Iteration(Row):
    id: int | None = None
    session_id: str
    number: int
    prompt: str = ""
    status: IterationStatus = IterationStatus.RUNNING
    started_at: str = ""
    ended_at: str | None = None
    exit_code: int | None = None
    commit_sha: str | None = None
    files_changed: int = 0
    lines_added: int = 0
    lines_removed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: float | None = None  # None means unpriced, never shown as 0
    model: str | None = None
    agent: str | None = None
    thread_id: str | None = None
    summary: str | None = None
    test_exit_code: int | None = None
    test_log: str | None = None
    test_duration_ms: int | None = None
    raw_log_path: str | None = None
    raw_lines: int = 0  # lines that were not valid agent JSON, kept as raw text
    error: str | None = None

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_creation_tokens + self.cache_read_tokens


class ToolCall(Row):
    id: int | None = None
    iteration_id: int
    session_id: str
    tool_use_id: str | None = None
    name: str
    args_summary: str = ""
    started_at: str = ""
    duration_ms: int | None = None
    ok: bool | None = None


class Thread(Row):
    id: str
    session_id: str
    agent: str
    turns: int = 0
    created_at: str = ""
    updated_at: str = ""


class BatchRun(Row):
    id: str = Field(default_factory=lambda: new_id("batch"))
    name: str
    description: str = ""
    file_path: str | None = None
    status: BatchStatus = BatchStatus.PENDING
    concurrency: int = 1
    pid: int | None = None
    pid_started_at: float | None = None  # with pid, identifies the live owner (resume after SIGKILL)
    definition: str = ""  # the validated batch file as JSON, so resume needs no file
    created_at: str = ""
    started_at: str | None = None
    ended_at: str | None = None


class BatchItem(Row):
    id: str = Field(default_factory=lambda: new_id("bitem"))
    batch_id: str
    ordinal: int
    name: str
    repo_path: str
    base_branch: str
    prompt: str
    script: str | None = None
    model: str | None = None
    agent: str = "amp"
    agent_cmd: str | None = None
    timeout_s: float | None = None
    status: BatchItemStatus = BatchItemStatus.PENDING
    session_id: str | None = None
    attempts: int = 0
    retries: int = 0  # extra attempts after a failed one (the item's `retries:` key)
    setup: str | None = None  # the item's `setup:` command for its new worktree
    node_id: str | None = None  # the Ray node that ran it (None: this machine, the local executor)
    node_host: str | None = None
    error: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
