"""The global configuration: `~/.ampsm/config.yaml` as pydantic models, plus env overrides.

A missing file means defaults. Every key of the seed's sample exists here with its default
(except `amp.default_model`, see below); a wrong key or value names the file, the line and the key.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from .paths import config_dir
from .yamlsrc import YamlSourceError, load_yaml, validate

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """`300s`, `5m`, `24h`, `1.5d` or a plain number of seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 300s, 5m or 24h")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return float(m.group(1)) * _UNIT[m.group(2)]
    raise ValueError("expected a duration like 300s, 5m or 24h")


ExportFormat = Literal["jsonl", "csv"]
_EXPORT_FORMATS: tuple[ExportFormat, ...] = ("jsonl", "csv")
Duration = Annotated[float, BeforeValidator(parse_duration)]


#: How a session branch goes into its base, and what a squash does with manual commits (the git
#: layer takes the same values; it names them for type checkers only).
MergeMode = Literal["ff", "no-ff", "ff-only"]
SquashManual = Literal["keep", "fold"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, defer_build=True)


class DatabaseConfig(_Section):
    path: str = Field("~/.ampsm/sessions.db", description="SQLite file (AMPSM_DB_PATH overrides)")
    backup_interval: Duration = Field(86400.0, description="Online backup every N (e.g. 24h); 0 disables")
    backup_keep: int = Field(7, ge=1, description="How many backups to keep")
    busy_timeout_ms: int = Field(10000, ge=0, description="How long a writer waits for a lock")
    cache_size: int | None = Field(None, description="SQLite cache_size pragma (AMPSM_SQLITE_CACHE_SIZE)")
    journal_mode: Literal["WAL", "DELETE", "TRUNCATE", "PERSIST"] = Field(
        "WAL", description="SQLite journal mode (AMPSM_SQLITE_JOURNAL_MODE)"
    )


class GitConfig(_Section):
    default_base_branch: str = Field("main", description="Base branch when --base is not given")
    worktree_dir: str = Field(".worktrees", description="Worktree folder inside each repo")
    commit_prefix: str = Field("amp:", description="Prefix of iteration commits")
    squash_manual: SquashManual = Field(
        "keep", description="On squash, keep manual commits or fold them into the squash"
    )
    merge_mode: MergeMode = Field(
        "ff", description="ff: fast-forward when possible else merge commit; no-ff: always; ff-only"
    )
    remove_worktree_after_merge: bool = Field(True, description="Remove worktree and branch after merge")
    lock_timeout: Duration = Field(60.0, description="How long to wait for the repository lock")


class AmpConfig(_Section):
    # The seed's sample says "gpt-4", which no Amp version accepts; a default the default agent
    # cannot honour would be a silent no-op, so the default is "unset" (the agent's own choice).
    default_model: str | None = Field(None, description="Model (or Amp mode) when --model is not given")
    timeout: Duration = Field(300.0, description="Agent turn timeout (E005 when exceeded)")
    retry_attempts: int = Field(3, ge=0, description="Retries of a turn that failed transiently")
    dangerously_allow_all: bool = Field(
        True, description="Pass --dangerously-allow-all so tool approvals do not fail headless turns"
    )
    stream_buffer_size: int = Field(
        65536, ge=1024, description="Bytes read from the agent per chunk (AMPSM_STREAM_BUFFER_SIZE)"
    )
    binary: str = Field("amp", min_length=1, description="The amp executable: a name on PATH or a path (AMPSM_AMP_BIN)")


class EmailConfig(_Section):
    enabled: bool = False
    smtp_host: str = ""
    smtp_port: int = 587
    username: str = ""
    use_tls: bool = True
    from_: str = Field("", alias="from")
    to: list[str] = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class WebhookConfig(_Section):
    enabled: bool = False
    url: str = ""
    timeout: Duration = 10.0
    retries: int = Field(3, ge=0)


class NotificationsConfig(_Section):
    desktop: bool = Field(True, description="Terminal/TUI notifications (toast and bell)")
    email: EmailConfig = Field(default_factory=EmailConfig)
    webhook: WebhookConfig = Field(default_factory=WebhookConfig)


class TelemetryConfig(_Section):
    enabled: bool = Field(True, description="Record tokens and tool calls (AMPSM_DISABLE_TELEMETRY)")
    export_formats: list[ExportFormat] = Field(default_factory=lambda: list(_EXPORT_FORMATS))
    retention_days: int = Field(365, ge=1, description="Prune token/tool detail older than this")


class UiConfig(_Section):
    theme: str = Field("gruvbox", description="TUI theme (any built-in Textual theme)")
    auto_update: bool = Field(True, description="Refresh the TUI when other processes change the DB")
    confirm_destructive: bool = Field(True, description="Ask before archive, discard and force-clean")
    notifications: bool = Field(True, description="Toast and bell on awaiting-input, failure, batch end")
    bell: bool = Field(True, description="Ring the terminal bell with notifications")
    keymap: dict[str, str] = Field(
        default_factory=dict,
        description="Key overrides: action id -> keys, comma-separated (e.g. iterate: ctrl+i); ids are in `?` help",
    )

    @field_validator("keymap")
    @classmethod
    def _known_actions(cls, keymap: dict[str, str]) -> dict[str, str]:
        # The ids live in the TUI's action registry (plain data, no Textual import).
        from ..actions import ACTIONS

        known = {a.id for a in ACTIONS}
        for action_id, keys in keymap.items():
            if action_id not in known:
                raise ValueError(f"unknown action {action_id!r} in ui.keymap (known: {', '.join(sorted(known))})")
            if not keys.strip():
                raise ValueError(f"ui.keymap.{action_id} has no keys")
        return keymap


class BatchConfig(_Section):
    concurrency: int = Field(3, ge=1, le=256, description="Default batch concurrency (AMPSM_BATCH_CONCURRENCY)")
    executor: Literal["local", "ray"] = Field(
        "local", description="Where batch items run: local (this process) or ray (tasks on a Ray cluster)"
    )


class RayConfig(_Section):
    """The Ray executor (`--executor ray`): each batch item a task on a Ray cluster (issue 20)."""

    address: str | None = Field(
        None, description="Cluster to join (ray://host:10001, host:6379, auto); unset starts a local one"
    )
    num_cpus: float = Field(1.0, ge=0, description="CPUs each item's task asks the cluster for")
    memory_mb: int | None = Field(None, ge=1, description="Memory (MB) each item's task asks for; unset asks none")
    max_retries: int = Field(2, ge=0, le=100, description="Times a task lost with its worker or node is run again")
    forward_env: list[str] = Field(
        default_factory=list,
        description="More environment variables the workers get (agent API keys and git identity always are)",
    )


class WorkspaceConfig(_Section):
    """Worktrees that are ready to run, and work that is never lost (issue 18)."""

    include_file: str = Field(
        ".worktreeinclude",
        description="Gitignore-syntax file: the ignored files it matches are copied into new worktrees",
    )
    link_threshold_mb: float = Field(
        50.0, description="Included entries larger than this (MB) are symlinked, not copied; -1 never links"
    )
    setup: str | None = Field(
        None, description="Command run once in each new worktree (default: an executable .ampsm/setup)"
    )
    teardown: str | None = Field(
        None, description="Command run in a worktree before it is removed (default: an executable .ampsm/teardown)"
    )
    hook_timeout: Duration = Field(600.0, description="Timeout of the setup and teardown scripts")
    checkpoint_interval: Duration = Field(
        300.0, description="Snapshot the worktree on refs/ampsm/checkpoints/ this often during a turn (e.g. 5m); 0 off"
    )
    port_range: str = Field("41000-41999", description="Pool of ports handed out to sessions (AMPSM_PORT...)")
    ports_per_session: int = Field(4, ge=0, le=100, description="Ports in each session's block; 0 gives none")

    @field_validator("port_range")
    @classmethod
    def _range(cls, value: str) -> str:
        from .workspace import parse_port_range

        parse_port_range(value)
        return value


class BudgetConfig(_Section):
    daily: float | None = Field(
        None, gt=0, description="Dollars per UTC day across all sessions: no turn or batch item starts past it"
    )


class Price(_Section):
    """Dollars per million tokens."""

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None


class Config(_Section):
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="AMPSM_LOG_LEVEL")
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    git: GitConfig = Field(default_factory=GitConfig)
    amp: AmpConfig = Field(default_factory=AmpConfig)
    notifications: NotificationsConfig = Field(default_factory=NotificationsConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    ui: UiConfig = Field(default_factory=UiConfig)
    batch: BatchConfig = Field(default_factory=BatchConfig)
    ray: RayConfig = Field(default_factory=RayConfig)
    workspace: WorkspaceConfig = Field(default_factory=WorkspaceConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    pricing: dict[str, Price] = Field(default_factory=dict, description="Per-model prices, $/M tokens")

    # Resolved at load time, not part of the file.
    config_dir: Path = Field(default_factory=lambda: config_dir(), exclude=True)
    source: Path | None = Field(None, exclude=True)

    @property
    def db_path(self) -> Path:
        return Path(os.path.expanduser(self.database.path))

    @property
    def log_path(self) -> Path:
        return self.config_dir / "logs" / "ampsm.log"

    @property
    def streams_dir(self) -> Path:
        return self.config_dir / "streams"


class ConfigError(YamlSourceError):
    pass


#: Environment variables that override config keys: (name, dotted key, how to read it).
ENV_OVERRIDES: list[tuple[str, str, str]] = [
    ("AMPSM_CONFIG_DIR", "(config folder)", "Folder holding config.yaml, logs, streams and the default DB"),
    ("AMPSM_DB_PATH", "database.path", "Path of the SQLite database"),
    ("AMPSM_LOG_LEVEL", "log_level", "debug | info | warning | error"),
    ("AMPSM_DISABLE_TELEMETRY", "telemetry.enabled", "true disables token and tool-call recording"),
    ("AMPSM_SQLITE_CACHE_SIZE", "database.cache_size", "SQLite cache_size pragma"),
    ("AMPSM_SQLITE_JOURNAL_MODE", "database.journal_mode", "SQLite journal mode"),
    ("AMPSM_BATCH_CONCURRENCY", "batch.concurrency", "Default batch concurrency"),
    ("AMPSM_STREAM_BUFFER_SIZE", "amp.stream_buffer_size", "Bytes read from an agent per chunk"),
    ("AMPSM_AMP_BIN", "amp.binary", "The amp executable (the demo points it at its scripted agent)"),
]


def config_path() -> Path:
    return config_dir() / "config.yaml"


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def _apply_env(data: dict[str, Any], cdir: Path) -> dict[str, Any]:
    env = os.environ

    def put(dotted: str, value: Any) -> None:
        node = data
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                return
        node[leaf] = value

    db = data.get("database", {}) if isinstance(data.get("database"), dict) else {}
    if env.get("AMPSM_DB_PATH"):
        put("database.path", env["AMPSM_DB_PATH"])
    elif "path" not in db:
        put("database.path", str(cdir / "sessions.db"))
    if env.get("AMPSM_LOG_LEVEL"):
        put("log_level", env["AMPSM_LOG_LEVEL"].lower())
    if env.get("AMPSM_DISABLE_TELEMETRY") and _truthy(env["AMPSM_DISABLE_TELEMETRY"]):
        put("telemetry.enabled", False)
    for name, key in (
        ("AMPSM_SQLITE_CACHE_SIZE", "database.cache_size"),
        ("AMPSM_SQLITE_JOURNAL_MODE", "database.journal_mode"),
        ("AMPSM_BATCH_CONCURRENCY", "batch.concurrency"),
        ("AMPSM_STREAM_BUFFER_SIZE", "amp.stream_buffer_size"),
        ("AMPSM_AMP_BIN", "amp.binary"),
    ):
        if env.get(name):
            value = env[name].strip()
            put(key, value.upper() if name == "AMPSM_SQLITE_JOURNAL_MODE" else value)
    return data


def load_config(path: Path | None = None) -> Config:
    """Read the config file (defaults when it is missing) and apply env overrides."""
    cdir = config_dir()
    path = path or cdir / "config.yaml"
    data: Any = {}
    node = None
    if path.exists():
        try:
            data, node = load_yaml(path)
        except YamlSourceError as exc:
            raise ConfigError(exc.path, exc.line, exc.key, exc.message) from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(path, 1, None, "the config must be a mapping of sections")
    data = _apply_env(dict(data), cdir)
    try:
        cfg = validate(Config, data, node, path)
    except YamlSourceError as exc:
        env_hint = _env_source(exc.key)
        message = f"{exc.message} (from {env_hint})" if env_hint else exc.message
        raise ConfigError(exc.path, exc.line if not env_hint else None, exc.key, message) from None
    cfg.config_dir = cdir
    cfg.source = path if path.exists() else None
    return cfg


def _env_source(key: str | None) -> str | None:
    for name, dotted, _ in ENV_OVERRIDES:
        if key == dotted and os.environ.get(name):
            return name
    return None


SAMPLE_CONFIG = """\
# ampsm configuration (defaults shown). Env overrides: AMPSM_CONFIG_DIR, AMPSM_DB_PATH,
# AMPSM_LOG_LEVEL, AMPSM_DISABLE_TELEMETRY, AMPSM_SQLITE_CACHE_SIZE, AMPSM_SQLITE_JOURNAL_MODE,
# AMPSM_BATCH_CONCURRENCY, AMPSM_STREAM_BUFFER_SIZE. API keys never go here: use the keyring or env.
database:
  path: "~/.ampsm/sessions.db"
  backup_interval: "24h"
  backup_keep: 7

git:
  default_base_branch: "main"
  worktree_dir: ".worktrees"
  commit_prefix: "amp:"
  squash_manual: "keep"     # keep | fold
  merge_mode: "ff"          # ff | no-ff | ff-only

amp:
  default_model: null       # e.g. an Amp mode (low|medium|high|ultra) or a model for other agents
  timeout: "300s"
  retry_attempts: 3

notifications:
  desktop: true
  email:
    enabled: false
    smtp_host: ""
    from: ""
    to: []
  webhook:
    enabled: false
    url: ""

telemetry:
  enabled: true
  export_formats: ["jsonl", "csv"]
  retention_days: 365

ui:
  theme: "gruvbox"
  auto_update: true
  confirm_destructive: true

workspace:
  include_file: ".worktreeinclude"   # ignored files it matches (.env) are copied into new worktrees
  setup: null                        # default: an executable .ampsm/setup in the repo
  teardown: null                     # default: an executable .ampsm/teardown
  checkpoint_interval: "5m"          # worktree snapshots on refs/ampsm/checkpoints/ during a turn
  port_range: "41000-41999"          # AMPSM_PORT, AMPSM_PORT_1... per session
  ports_per_session: 4

budget:
  daily: null                        # dollars per UTC day: no turn or batch item starts past it

ray:                                 # `batch start --executor ray` (pip install 'ampsm-tui[ray]')
  address: null                      # ray://head:10001, head:6379 or auto; unset starts a local cluster
  num_cpus: 1                        # per item's task
  max_retries: 2                     # a task lost with its node runs again elsewhere
"""


def write_sample(path: Path | None = None, *, force: bool = False) -> Path:
    path = path or config_path()
    if path.exists() and not force:
        raise FileExistsError(str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SAMPLE_CONFIG, encoding="utf-8")
    os.chmod(path, 0o644)
    return path
