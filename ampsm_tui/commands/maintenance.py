"""doctor, db check, config show/init."""

from __future__ import annotations

import argparse
from typing import Any

from .context import Context
from .registry import arg, command, group

group("db", "database maintenance")
group("config", "show or create the configuration")


@command("doctor", "check git, agent CLIs, config and database, and say how to fix each", json=True)
async def doctor(args: argparse.Namespace, ctx: Context) -> int:
    import asyncio

    from ..engine import doctor as d
    from ..engine.config import ConfigError, load_config

    cfg = None
    error = None
    try:
        cfg = load_config()
    except ConfigError as exc:
        error = str(exc)
    allow_all = cfg.amp.dangerously_allow_all if cfg is not None else True
    git_check, agents = await asyncio.gather(d.check_git(), d.check_agents(allow_all=allow_all))
    checks = [git_check, d.check_config(cfg, error), *agents]
    if cfg is not None:
        checks.insert(2, await d.check_database(cfg))
    failed = [c for c in checks if not c.ok and c.required]
    if ctx.json:
        ctx.emit_json(
            {"ok": not failed, "checks": [c.__dict__ for c in checks]},
        )
    else:
        for c in checks:
            mark = "[green]✓[/]" if c.ok else ("[red]✗[/]" if c.required else "[yellow]-[/]")
            line = f"{mark} {c.name:<14} {c.detail}"
            if not c.ok and c.fix:
                line += f"\n    [dim]fix:[/] {c.fix}"
            ctx.print(line)
        ctx.print("[green]all required checks passed[/]" if not failed else f"[red]{len(failed)} problem(s)[/]")
    return 1 if failed else 0


@command("db check", "run SQLite integrity_check and quick_check (E003 on corruption)", json=True)
async def db_check(args: argparse.Namespace, ctx: Context) -> int:
    import sqlite3

    from ..engine.errors import AmpsmError, ErrorCode
    from ..engine.store import Store

    path = ctx.config.db_path
    if not path.exists():
        raise AmpsmError(ErrorCode.DATABASE, f"no database at {path} (it is created on first use)")
    store = Store.from_config(ctx.config)
    try:
        await store.open(migrate=False)
        integrity, quick = await store.integrity_check()
        version = await store.schema_version()
    except sqlite3.DatabaseError as exc:
        raise AmpsmError(ErrorCode.DATABASE, f"database {path} is corrupt: {exc}") from exc
    finally:
        await store.close()
    ok = integrity == ["ok"] and quick == ["ok"]
    result: dict[str, Any] = {
        "path": str(path),
        "schema_version": version,
        "integrity_check": integrity,
        "quick_check": quick,
        "ok": ok,
    }
    if not ok:
        raise AmpsmError(
            ErrorCode.DATABASE,
            f"database {path} is corrupt: {(integrity + quick)[0]}",
            details="\n".join(integrity[:20]),
        )
    if ctx.json:
        ctx.emit_json(result)
    else:
        ctx.print(f"[green]ok[/] {path} (schema version {version}): integrity_check ok, quick_check ok")
    return 0


@command("config show", "print the effective configuration (file + env overrides)", json=True)
async def config_show(args: argparse.Namespace, ctx: Context) -> int:
    cfg = ctx.config
    data = cfg.model_dump(mode="json", by_alias=True)
    if ctx.json:
        ctx.emit_json({"source": str(cfg.source) if cfg.source else None, "config": data})
    else:
        import yaml

        ctx.print(f"# source: {cfg.source or 'defaults (no config file)'}")
        ctx.print(yaml.safe_dump(data, sort_keys=False).rstrip(), markup=False)
    return 0


@command(
    "config init",
    "write the sample config (mode 0644) to the config dir",
    arg("--force", action="store_true", help="overwrite an existing file"),
)
async def config_init(args: argparse.Namespace, ctx: Context) -> int:
    from ..engine.config import config_path, write_sample
    from ..engine.errors import UsageError

    try:
        path = write_sample(config_path(), force=args.force)
    except FileExistsError:
        raise UsageError(f"{config_path()} exists (use --force to overwrite)") from None
    ctx.print(f"wrote {path}")
    return 0
