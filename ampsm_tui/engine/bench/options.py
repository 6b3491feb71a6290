"""What a benchmark run was asked to do. Stored with the run, so the same run id resumes with
the same dataset, agents and settings even when the command line omits them."""

from __future__ import annotations

from pydantic import BaseModel, Field

from .models import BenchMode

DEFAULT_PROMPT = (
    "You are working in a checkout of {repo} at commit {base_commit}.\n"
    "Resolve the issue below by changing the source code. Do not modify or add tests.\n\n"
    "<issue>\n{problem_statement}\n</issue>\n"
)


class AgentSpec(BaseModel):
    agent: str = "amp"
    agent_cmd: str | None = None
    model: str | None = None

    @property
    def name(self) -> str:
        """`model_name_or_path`: `agent` or `agent/model` (the official harness turns `/` into `__`)."""
        return f"{self.agent}/{self.model}" if self.model else self.agent


class RunOptions(BaseModel):
    kind: str = "swebench"  # swebench | custom
    dataset: str | None = None
    custom_config: str | None = None
    mode: BenchMode = BenchMode.AGENTS
    predictions: str | None = None  # a file, or "gold"
    agents: list[AgentSpec] = Field(default_factory=list)
    report_dir: str = "."
    repos_dir: str | None = None
    env_cmd: str | None = None
    workers: int = Field(1, ge=1, le=64)
    timeout: float | None = 1800.0  # tests, per instance
    agent_timeout: float | None = None  # one agent turn, per instance (None: the config's amp.timeout)
    max_cost: float | None = None
    instance_ids: list[str] | None = None
    limit: int | None = None
    shuffle: bool = False
    seed: int | None = None
    prompt_template: str = DEFAULT_PROMPT
    grader: str = "local"
    executor: str = "local"  # where the agents run: local | ray (issue 20); grading stays on this machine
    address: str | None = None  # the Ray cluster (None: ray.address, else a local one)
