"""Facts about a repository that every operation checks first, and the E001 refusals built on them."""

from __future__ import annotations

import os

from ..errors import AmpsmError, ErrorCode
from .runner import git, split_z

TYPE_CHECKING = False  # not typing's: the lean command paths do not import it (engine/lite.py)
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Literal, NamedTuple

    from .runner import StrPath

    Operation = Literal["merge", "rebase", "cherry-pick", "revert"]
else:
    from ..lite import NamedTuple

#: ampsm's own files inside a worktree (context, logs, metrics): never committed (lesson 6).
BOOKKEEPING_DIR = ".ampsm"


class RepoPaths(NamedTuple):
    """Absolute, resolved paths as plain strings: the git layer works on `str` (not pathlib, whose
    import with `re` and `urllib` was a fifth of a lean command's start-up)."""

    root: str  # the main worktree (the user's checkout)
    common_dir: str  # the shared .git directory (locks, refs, info/exclude live here)


def real(path: StrPath) -> str:
    """`Path(path).expanduser().resolve()` as a string."""
    return os.path.realpath(os.path.expanduser(os.fspath(path)))


join = os.path.join


_OP_PATHS = ("MERGE_HEAD", "rebase-merge", "rebase-apply", "CHERRY_PICK_HEAD", "REVERT_HEAD")
#: repo_paths answers per directory. A repository's main checkout and git dir do not move while
#: ampsm runs, and every command asks several times: one `git rev-parse` per process, not per ask.
_PATHS_CACHE: dict[str, tuple[RepoPaths, tuple[str, ...]]] = {}


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError):
        return None


def _probe_files(p: str) -> tuple[RepoPaths, tuple[str, ...]] | None:
    """What `_probe` asks git, read from the files git itself reads, for the two layouts ampsm makes
    and meets every time: the top of a main checkout with its `.git` folder, and the top of a linked
    worktree whose `.git` file names `<common>/worktrees/<name>` (a process fewer per command; the
    lean `squash` and `merge` are a handful of git processes in all). None for anything else (a
    subdirectory, a separate git dir, a bare or `core.worktree` configuration, an unreadable
    file): git is asked. `p` is absolute and resolved."""
    dot = join(p, ".git")
    if os.path.isdir(dot):
        gitdir = common = dot
        if os.path.exists(join(gitdir, "commondir")):
            return None
    else:
        text = _read(dot)
        if text is None or not text.startswith("gitdir: ") or text.count("\n") > 1:
            return None
        gitdir = real(join(p, text.removeprefix("gitdir: ").strip()))
        shared = _read(join(gitdir, "commondir"))
        if shared is None or os.path.basename(os.path.dirname(gitdir)) != "worktrees":
            return None
        common = real(join(gitdir, shared.strip()))
        if os.path.dirname(gitdir) != join(common, "worktrees") or not os.path.isfile(join(gitdir, "HEAD")):
            return None
    config = _read(join(common, "config"))
    if config is None or not os.path.isfile(join(common, "HEAD")) or os.path.basename(common) != ".git":
        return None
    for line in config.splitlines():  # settings that move the checkout or make the repo bare
        key = line.strip().split("=", 1)[0].strip().lower()
        if key in ("bare", "worktree") or line.strip().startswith("[include") or line.lower().startswith("[extensions"):
            if key == "bare" and line.split("=", 1)[-1].strip().lower() == "false":
                continue
            return None
    paths = RepoPaths(root=real(os.path.dirname(common)), common_dir=real(common))
    if gitdir == dot and paths.root != p:
        return None
    return paths, tuple(join(gitdir, name) for name in _OP_PATHS)


def _sha(text: str) -> str | None:
    sha = text.strip()
    return sha if len(sha) in (40, 64) and all(c in "0123456789abcdef" for c in sha) else None


def branches_by_files(common: str, *names: str) -> dict[str, str] | None:
    """The branches `git for-each-ref refs/heads/<name>...` lists (each name itself and everything
    under `<name>/`), branch -> commit id, read from the loose ref files and packed-refs. None when
    the files cannot vouch for the answer (another ref store, a symbolic or unreadable ref)."""
    heads = join(common, "refs", "heads")
    if os.path.exists(join(common, "reftable")) or not os.path.isdir(heads):
        return None
    found: dict[str, str] = {}

    def wanted(branch: str) -> bool:
        return any(branch == n or branch.startswith(n + "/") for n in names)

    packed = _read(join(common, "packed-refs"))
    for line in (packed or "").splitlines():
        if line.startswith(("#", "^")) or " refs/heads/" not in line:
            continue
        sha, _, ref = line.partition(" ")
        branch = ref.removeprefix("refs/heads/")
        if wanted(branch):
            if _sha(sha) is None:
                return None
            found[branch] = sha
    for name in names:
        place = join(heads, name)
        if os.path.isfile(place):
            files = [name]
        else:
            files = sorted(
                os.path.relpath(join(top, f), heads) for top, _, listed in os.walk(place) for f in listed
            )  # fmt: skip
        for file in files:
            if file.endswith(".lock"):
                continue
            text = _read(join(heads, file))
            loose = _sha(text) if text is not None else None
            if loose is None:
                return None
            found[file] = loose  # a loose ref wins over its packed line
    return found


def on_branch_by_files(worktree: StrPath, branch: str) -> bool:
    """True when git's own files show the worktree at the top of its own worktree, HEAD attached
    to `branch`, the branch there, and no merge or rebase going on: what `commits._on_branch` asks
    git before and after every agent turn. False means "ask git", never that anything is wrong."""
    probed = _probe_files(real(worktree))
    if probed is None:
        return False
    paths, marks = probed
    gitdir = os.path.dirname(marks[0])
    if _read(join(gitdir, "HEAD")) != f"ref: refs/heads/{branch}\n":
        return False
    refs = branches_by_files(paths.common_dir, branch)
    return bool(refs and branch in refs) and _operation(marks) is None


async def _probe(p: str) -> tuple[RepoPaths, tuple[str, ...]]:
    """One `git rev-parse` for the repository's paths and the files that mark an operation in
    progress (merge, rebase, ...) in the worktree at `p` (or none: see `_probe_files`)."""
    if not os.path.isdir(p):
        raise AmpsmError(ErrorCode.GIT, f"not a git repository: {p} (no such directory)")
    known = _probe_files(p)
    if known is not None:
        _PATHS_CACHE[p] = known
        return known
    op_args = [arg for name in _OP_PATHS for arg in ("--git-path", name)]
    res = await git(
        "rev-parse", "--path-format=absolute", "--git-common-dir", "--is-bare-repository", *op_args, cwd=p, check=False
    )
    if not res.ok:
        raise AmpsmError(ErrorCode.GIT, f"not a git repository: {p}")
    lines = res.stdout.splitlines()
    common_s, bare = lines[:2]
    if bare.strip() == "true":
        raise AmpsmError(ErrorCode.GIT, f"bare repositories are not supported: {p}")
    common = real(common_s)
    root = os.path.dirname(common) if os.path.basename(common) == ".git" else None
    if root is None:  # a repo with a separate git dir: ask the main worktree for its top level
        top = await git("rev-parse", "--show-toplevel", cwd=p, check=False)
        root = real(top.out)
    probed = (RepoPaths(root=root, common_dir=common), tuple(lines[2 : 2 + len(_OP_PATHS)]))
    _PATHS_CACHE[p] = probed
    return probed


def remember_worktree(worktree: StrPath, paths: RepoPaths) -> bool:
    """Cache what `_probe` would ask git about a linked worktree ampsm has just made: its repository
    is `paths`' and its own git dir is named in its `.git` file (one `git rev-parse` fewer per
    session; the batch makes hundreds). False, and nothing cached, when the file says otherwise."""
    wt = real(worktree)
    text = _read(join(wt, ".git"))
    if text is None or not text.startswith("gitdir: "):
        return False
    gitdir = real(join(wt, text.removeprefix("gitdir: ").strip()))
    if os.path.dirname(gitdir) != join(paths.common_dir, "worktrees"):
        return False
    _PATHS_CACHE[wt] = (paths, tuple(join(gitdir, name) for name in _OP_PATHS))
    return True


async def repo_paths(path: StrPath) -> RepoPaths:
    """The main checkout and common git dir of the repository containing `path` (E001 if none).

    Works from the main checkout, any subdirectory, or a linked worktree: all map to the same main
    checkout, so every session of one repository shares one lock and one `.worktrees/`.
    """
    p = real(path)
    cached = _PATHS_CACHE.get(p)
    if cached is not None and os.path.isdir(cached[0].common_dir):
        return cached[0]
    return (await _probe(p))[0]


def _operation(marks: tuple[str, ...]) -> Operation | None:
    merge, rmerge, rapply, pick, revert = marks
    if os.path.exists(rmerge) or os.path.exists(rapply):
        return "rebase"
    if os.path.exists(merge):
        return "merge"
    if os.path.exists(pick):
        return "cherry-pick"
    if os.path.exists(revert):
        return "revert"
    return None


async def worktree_root(path: StrPath) -> str:
    """Top level of the worktree (main or linked) containing `path`."""
    res = await git("rev-parse", "--show-toplevel", cwd=path, check=False)
    if not res.ok:
        raise AmpsmError(ErrorCode.GIT, f"not a git worktree: {path}")
    return real(res.out)


async def rev(path: StrPath, ref: str) -> str | None:
    """The commit sha `ref` names, or None."""
    res = await git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", cwd=path, check=False)
    return res.out if res.ok and res.out else None


async def branch_exists(path: StrPath, branch: str) -> bool:
    res = await git("show-ref", "--verify", "--quiet", f"refs/heads/{branch}", cwd=path, check=False)
    return res.ok


async def current_branch(path: StrPath) -> str | None:
    res = await git("symbolic-ref", "--quiet", "--short", "HEAD", cwd=path, check=False)
    return res.out if res.ok else None


async def current_operation(path: StrPath) -> Operation | None:
    """The merge/rebase/cherry-pick/revert the worktree at `path` is in the middle of, if any."""
    p = real(path)
    cached = _PATHS_CACHE.get(p)
    marks = cached[1] if cached is not None else (await _probe(p))[1]
    return _operation(marks)


async def dirty_paths(path: StrPath, *, untracked: bool = False) -> list[str]:
    """Paths with staged or unstaged changes (and untracked ones if asked), ampsm's files excluded."""
    res = await git(
        "status",
        "--porcelain=v1",
        "-z",
        f"--untracked-files={'all' if untracked else 'no'}",
        "--ignore-submodules=none",
        cwd=path,
    )
    fields = split_z(res.stdout)
    paths: list[str] = []
    i = 0
    while i < len(fields):
        entry = fields[i]
        status, name = entry[:2], entry[3:]
        if status[0] in "RC":  # a rename is followed by its source path
            i += 1
        i += 1
        if name == BOOKKEEPING_DIR or name.startswith(BOOKKEEPING_DIR + "/"):
            continue
        paths.append(name)
    return paths


async def conflicted_paths(path: StrPath) -> list[str]:
    res = await git("diff", "--name-only", "-z", "--diff-filter=U", cwd=path, check=False)
    return sorted(set(split_z(res.stdout)))


async def require_no_operation(path: StrPath, what: str = "repository") -> None:
    op = await current_operation(path)
    if op:
        raise AmpsmError(
            ErrorCode.GIT,
            f"{what} {path} is in the middle of a {op}; finish it or run `git {op} --abort` first",
        )


async def validate_repo(path: StrPath, base_branch: str | None = None) -> RepoPaths:
    """E001 unless `path` is a usable repository: a git repo, not bare, the base branch present,
    and the main checkout not in the middle of a merge or rebase."""
    paths = await repo_paths(path)
    await require_no_operation(paths.root)  # the marks were read by the same probe when it was new
    if base_branch is not None and not await branch_exists(paths.root, base_branch):
        raise AmpsmError(ErrorCode.GIT, f"base branch {base_branch!r} does not exist in {paths.root}")
    return paths


async def require_clean(path: StrPath, what: str) -> None:
    """E001 naming the dirty paths when the worktree at `path` has uncommitted tracked changes."""
    dirty = await dirty_paths(path)
    if dirty:
        shown = ", ".join(dirty[:10]) + (f" and {len(dirty) - 10} more" if len(dirty) > 10 else "")
        raise AmpsmError(
            ErrorCode.GIT,
            f"{what} {path} has uncommitted changes: {shown}; commit or stash them first",
            details="\n".join(dirty),
        )


async def worktree_branches(path: StrPath) -> dict[str, str | None]:
    """Every registered worktree (path -> branch checked out there, None when detached)."""
    res = await git("worktree", "list", "--porcelain", "-z", cwd=path)
    out: dict[str, str | None] = {}
    current: str | None = None
    for field in split_z(res.stdout):
        if field.startswith("worktree "):
            current = field[len("worktree ") :]
            out[current] = None
        elif field.startswith("branch ") and current is not None:
            ref = field[len("branch ") :]
            out[current] = ref[len("refs/heads/") :] if ref.startswith("refs/heads/") else ref
    return out


def checkout_of(paths: RepoPaths, branch: str) -> str | Literal[False] | None:
    """The worktree that has `branch` checked out, None when none has, read from the `HEAD` files
    `git worktree list` reads (a process fewer per merge); False when a file cannot tell (then ask
    `worktree_branches`). Stops at the first: the main checkout, usually, with no other file read."""
    for place in _checkouts(paths, branch):
        return False if place is None else place
    return None


def checkouts_of(paths: RepoPaths, branch: str) -> list[str] | None:
    """Every worktree that has `branch` checked out (the main checkout first), from git's files;
    None when a file cannot tell."""
    found: list[str] = []
    for place in _checkouts(paths, branch):
        if place is None:
            return None
        found.append(place)
    return found


def _checkouts(paths: RepoPaths, branch: str) -> Iterator[str | None]:
    """The worktrees that have `branch` checked out, read lazily; a None, and nothing after it, when
    a file cannot tell."""
    want = f"ref: refs/heads/{branch}"
    head = _read(join(paths.common_dir, "HEAD"))
    if head is None:
        yield None
        return
    if head.strip() == want:
        yield paths.root
    linked = join(paths.common_dir, "worktrees")
    try:
        entries = sorted(join(linked, name) for name in os.listdir(linked)) if os.path.isdir(linked) else []
    except OSError:
        yield None
        return
    for entry in entries:
        head = _read(join(entry, "HEAD"))
        if head is None:
            yield None
            return
        if head.strip() == want:
            where = _read(join(entry, "gitdir"))
            if where is None:
                yield None
                return
            yield os.path.dirname(where.strip())


async def repo_root(path: StrPath) -> str:
    """The main checkout of the repository containing `path` (E001 if none)."""
    return (await repo_paths(path)).root


async def default_base(repo: StrPath, preferred: str = "main") -> str:
    """The base branch when the user named none: `preferred` (the config's) if it exists, else the
    branch the main checkout has, else `main` or `master`; E001 when there is no branch at all."""
    root = (await repo_paths(repo)).root
    if await branch_exists(root, preferred):
        return preferred
    current = await current_branch(root)
    if current and await branch_exists(root, current):
        return current
    for name in ("main", "master"):
        if await branch_exists(root, name):
            return name
    raise AmpsmError(ErrorCode.GIT, f"no base branch in {root}: {preferred!r} does not exist (pass --base)")
