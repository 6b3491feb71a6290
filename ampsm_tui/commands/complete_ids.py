"""`ampsm __complete sessions|batches`: the ids behind shell completion, on every Tab press.

Kept apart from the completion-script generator so that this path imports almost nothing: no
registry, no argparse, no asyncio, no pydantic; one read-only sqlite3 query.
"""

from __future__ import annotations

import sys


def complete_ids(argv: list[str]) -> int:
    """`ampsm __complete sessions|batches [--describe] [PREFIX]`: ids for the completion scripts,
    newest first; `--describe` adds a tab and the name (fish shows it). Never fails loudly."""
    from ..engine.store.ids import batch_ids, session_ids

    describe = "--describe" in argv
    rest = [a for a in argv if a != "--describe"]
    if not rest or rest[0] not in ("sessions", "batches"):
        sys.stderr.write("usage: ampsm __complete sessions|batches [--describe] [PREFIX]\n")
        return 2
    prefix = rest[1] if len(rest) > 1 else ""
    try:
        from ..engine.paths import quick_db_path  # not load_config: no pydantic on every Tab

        db = quick_db_path()
    except Exception:  # an unreadable config: no candidates, never a traceback in the shell
        return 1
    rows = (session_ids if rest[0] == "sessions" else batch_ids)(db, prefix)
    for ident, name in rows:
        sys.stdout.write(f"{ident}\t{name}\n" if describe else f"{ident}\n")
    return 0
