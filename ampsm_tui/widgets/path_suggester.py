"""Repo path completion for the new-session form: a Suggester over the filesystem (directories)."""

from __future__ import annotations

import os

from textual.suggester import Suggester


class DirectorySuggester(Suggester):
    """Completes the last path component with the first matching directory (git repos first)."""

    def __init__(self, *, max_entries: int = 2000) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.max_entries = max_entries

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        expanded = os.path.expanduser(value)
        parent, prefix = os.path.split(expanded)
        parent = parent or "."
        try:
            with os.scandir(parent) as entries:
                names = []
                for n, entry in enumerate(entries):
                    if n >= self.max_entries:
                        break
                    if entry.name.startswith(prefix) and entry.is_dir() and (prefix or not entry.name.startswith(".")):
                        names.append(entry.name)
        except OSError:
            return None
        if not names:
            return None
        names.sort(key=lambda name: (not os.path.isdir(os.path.join(parent, name, ".git")), name))
        best = names[0]
        if best == prefix:
            return None
        return value + best[len(prefix) :] + "/"
