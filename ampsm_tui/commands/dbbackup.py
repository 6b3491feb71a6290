"""db backup and db restore (the `db` group is declared in maintenance.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .context import Context
from .registry import arg, command


@command(
    "db backup",
    "back up the database now (SQLite online backup) into <config dir>/backups, keeping database.backup_keep",
    arg("--out", type=Path, metavar="FILE", help="write the copy to FILE instead (not pruned)"),
    arg("--list", action="store_true", help="list the existing backups, newest first, and make none"),
    json=True,
)
async def db_backup(args: argparse.Namespace, ctx: Context) -> int:
    import asyncio

    from ..engine import backup

    if args.list:
        found = backup.list_backups(ctx.config)
        if ctx.json:
            ctx.emit_json([{"path": str(p), "bytes": p.stat().st_size} for p in found])
        else:
            for p in found:
                ctx.print(f"{p}  ({p.stat().st_size} bytes)", markup=False)
            if not found:
                ctx.print(f"no backups in {backup.backups_dir(ctx.config)}", markup=False)
        return 0
    path = await asyncio.to_thread(backup.backup_now, ctx.config, args.out.expanduser() if args.out else None)
    if ctx.json:
        ctx.emit_json({"path": str(path), "bytes": path.stat().st_size, "source": str(ctx.config.db_path)})
    else:
        ctx.print(f"backed up {ctx.config.db_path} to {path}", markup=False)
    return 0


@command(
    "db restore",
    "replace the database with a backup (integrity-checked first; the current database is kept aside)",
    arg("file", type=Path, help="the backup file"),
    json=True,
)
async def db_restore(args: argparse.Namespace, ctx: Context) -> int:
    import asyncio

    from ..engine import backup

    result = await asyncio.to_thread(backup.restore, ctx.config, args.file)
    if ctx.json:
        ctx.emit_json(
            {
                "restored_from": str(result.restored_from),
                "kept_aside": str(result.kept_aside) if result.kept_aside else None,
                "schema_version": result.schema_version,
                "path": str(ctx.config.db_path),
            }
        )
    else:
        ctx.print(f"restored {ctx.config.db_path} from {result.restored_from}", markup=False)
        if result.kept_aside:
            ctx.print(f"the previous database is kept at {result.kept_aside}", markup=False)
    return 0
