"""Commit messages written for humans (lesson 23): a conventional-commit subject from the session,
a body listing what each iteration did (its summary, else its prompt), never prompts glued together."""

from __future__ import annotations

import re

from .models import Iteration, Session

_TYPES = (
    ("fix", ("fix", "bug", "error", "crash", "broken")),
    ("test", ("test",)),
    ("docs", ("doc", "readme")),
    ("refactor", ("refactor", "rename", "cleanup", "clean up")),
    ("perf", ("perf", "speed", "faster")),
)


def squash_message(session: Session, iterations: list[Iteration]) -> str:
    text = f"{session.name} {session.prompt}".lower()
    kind = next((k for k, words in _TYPES if any(w in text for w in words)), "feat")
    subject = re.sub(r"[-_]+", " ", session.name).strip()
    subject = re.sub(rf"^{kind}\b[:\s]*", "", subject, flags=re.IGNORECASE) or subject
    lines = [f"{kind}: {subject[:68]}", ""]
    seen: set[str] = set()
    for it in iterations:
        what = (it.summary or it.prompt or "").strip().splitlines()
        if not what:
            continue
        line = what[0][:100]
        if line not in seen:
            seen.add(line)
            lines.append(f"- {line}")
    lines.extend(["", f"Session: {session.id}"])
    return "\n".join(lines).strip() + "\n"
