"""Where an instance's repository is: a local path in the instance, or a clone named like
`owner__repo` (the official image naming) under `--repos-dir`."""

from __future__ import annotations

from pathlib import Path

from .dataset import Instance


class RepoMissing(Exception):
    """The instance's repository is not on this machine: an error for that instance only."""


def _is_repo(path: Path) -> bool:
    return path.is_dir() and ((path / ".git").exists() or ((path / "HEAD").is_file() and (path / "objects").is_dir()))


def candidates(instance: Instance, repos_dir: Path | None) -> list[Path]:
    found: list[Path] = []
    local = instance.extra.get("repo_path")
    if isinstance(local, str) and local:
        found.append(Path(local).expanduser())
    if instance.repo and (instance.repo.startswith(("/", ".", "~")) or Path(instance.repo).is_dir()):
        found.append(Path(instance.repo).expanduser())
    if repos_dir is not None and instance.repo:
        found.append(repos_dir / instance.repo.replace("/", "__"))
        found.append(repos_dir / instance.repo.rsplit("/", 1)[-1])
    return list(dict.fromkeys(found))


def resolve_repo(instance: Instance, repos_dir: Path | str | None) -> Path:
    tried = candidates(instance, Path(repos_dir).expanduser() if repos_dir else None)
    for path in tried:
        if _is_repo(path):
            return path.resolve()
    where = ", ".join(str(p) for p in tried) or "nowhere (give --repos-dir or a repo_path in the instance)"
    raise RepoMissing(f"repository {instance.repo or '?'} not found (looked in {where})")
