"""Test environments per (repo, version), built from the official SWE-bench specs without Docker.

The official harness builds one conda environment per (repo, version) from its spec (python,
packages, pip_packages) and installs the repository into it at each evaluation. Here the same spec
becomes a virtualenv made with `uv` (one shared download cache, fast resolves) on an interpreter of
the spec's Python version found on this machine (pyenv, `uv python find`, PATH). Environments are
cached under the config dir, keyed by repo + version + a hash of the spec and of the requirements it
reads, and reused across runs.

The cached environment is never mutated by an evaluation: each instance gets an *overlay* venv of
its own (a venv on the same interpreter whose site-packages chains to the cached one through a
`.pth` file, with the cached console scripts re-pointed at the overlay's python). The spec's
`install` (usually `pip install -e .`) then writes only into the overlay, so parallel workers and
later runs always start from the same environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import proc
from .dataset import Instance
from .swebench_specs import (
    MAP_REPO_TO_REQS_PATHS,
    MAP_REPO_VERSION_TO_SPECS,
)
from .swebench_specs import SOURCE as SPECS_SOURCE

ENV_SCHEMA = 1
META = "ampsm-env.json"
COMPLETE = ".complete"
BUILD_LOG = "build.log"
#: Packages yanked from PyPI, replaced as the official harness does (`REPLACE_REQ_PACKAGES`).
REPLACE_REQ_PACKAGES = (("types-pkg_resources", "types-setuptools"),)
#: Commands of a spec that change the machine rather than the repository: never run on the host.
SYSTEM_COMMAND = re.compile(r"^\s*(?:sudo\s|apt-get\s|apt\s|locale-gen\b|conda\s|source\s+/opt/)|/etc/")

Log = Callable[[str], None]


class EnvError(Exception):
    """An environment could not be had for an instance (no interpreter, a failed build, an
    unsupported spec): that instance's `error`, with this message as its reason."""


def envs_root() -> Path:
    from ..config import config_dir

    return Path(os.environ.get("AMPSM_BENCH_ENVS") or config_dir() / "bench" / "envs").expanduser()


def spec_for(instance: Instance) -> dict[str, Any] | None:
    """The official spec of the instance's repo and version (`env_spec` in the row overrides)."""
    own = instance.extra.get("env_spec")
    if isinstance(own, dict):
        return own
    return MAP_REPO_VERSION_TO_SPECS.get(instance.repo, {}).get(instance.version)


# -- interpreters -----------------------------------------------------------------------------


def _python_version_of(exe: Path) -> str | None:
    try:
        res = subprocess.run(
            [str(exe), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() if res.returncode == 0 else None


_INTERPRETERS: dict[str, Path | None] = {}


def find_uv() -> str | None:
    """`uv` on PATH, or the one installed next to this python (the `swebench` extra brings it)."""
    here = Path(sys.executable).parent / "uv"
    return shutil.which("uv") or (str(here) if here.is_file() else None)


def find_interpreter(version: str) -> Path | None:
    """A real (non-venv) interpreter of `version` (e.g. "3.9"): pyenv's versions first, then
    `uv python find`, then `pythonX.Y` on PATH; each candidate is asked its version."""
    if version in _INTERPRETERS:
        return _INTERPRETERS[version]
    candidates: list[Path] = []
    roots = [os.environ.get("PYENV_ROOT"), "~/.pyenv", "/root/.pyenv", "/opt/pyenv", "/usr/local/pyenv"]
    for root in dict.fromkeys(r for r in roots if r):
        versions = Path(root).expanduser() / "versions"
        if versions.is_dir():
            for d in sorted(versions.glob(f"{version}.*"), key=lambda p: [int(x) for x in re.findall(r"\d+", p.name)]):
                candidates.insert(0, d / "bin" / f"python{version}")
    uv = find_uv()
    if uv:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            res = subprocess.run(
                [uv, "python", "find", "--system", version],
                capture_output=True,
                text=True,
                timeout=60,
                env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
            )
            if res.returncode == 0 and res.stdout.strip():
                candidates.append(Path(res.stdout.strip()))
    for name in (f"python{version}",):
        found = shutil.which(name)
        if found:
            candidates.append(Path(found))
    for exe in candidates:
        if exe.is_file() and _python_version_of(exe) == version:
            _INTERPRETERS[version] = exe
            return exe
    _INTERPRETERS[version] = None
    return None


# -- requirements -----------------------------------------------------------------------------


async def _git_show(repo: Path, commit: str, path: str) -> str | None:
    res = await proc.git("show", f"{commit}:{path}", cwd=repo, timeout=60)
    return res.output if res.ok else None


def _exclude_req_line(line: str) -> bool:
    return any(line.strip().startswith(x) for x in ("-e .", "#", ".[test"))


def clean_requirements(text: str) -> str:
    for old, new in REPLACE_REQ_PACKAGES:
        text = re.sub(rf"^{re.escape(old)}([<>=!~]=?.*|$)", new, text, flags=re.MULTILINE)
    return text


async def read_requirements(repo: Path, repo_name: str, commit: str) -> str:
    """The official `get_requirements_by_commit`, reading the files from the local clone at the
    environment_setup_commit instead of GitHub: `-r` includes inlined, `-e .`, comments and
    `.[test` lines dropped."""
    for req_path in MAP_REPO_TO_REQS_PATHS.get(repo_name, []):
        text = await _git_show(repo, commit, req_path)
        if text is None:
            continue
        req_dir = "/".join(req_path.split("/")[:-1])
        original: list[str] = []
        additional: list[str] = []
        for line in text.split("\n"):
            if line.strip().startswith("-r"):
                name = line[len("-r") :].strip()
                included = await _git_show(repo, commit, f"{req_dir}/{name}" if req_dir else name)
                if included is not None:
                    additional.extend(x for x in included.split("\n") if not _exclude_req_line(x))
            elif not _exclude_req_line(line):
                original.append(line)
        additional.append("\n".join(original))
        return clean_requirements("\n".join(additional))
    paths = ", ".join(MAP_REPO_TO_REQS_PATHS.get(repo_name, [])) or "(none known)"
    raise EnvError(f"requirements file not found at {commit[:12]} (looked for {paths})")


# -- plans and environments -------------------------------------------------------------------


@dataclass
class EnvPlan:
    repo: str
    version: str
    spec: dict[str, Any]
    requirements: str | None = None

    @property
    def python(self) -> str:
        return str(self.spec.get("python", "3.9"))

    @property
    def key(self) -> str:
        blob = json.dumps(
            {
                "schema": ENV_SCHEMA,
                "repo": self.repo,
                "version": self.version,
                "spec": self.spec,
                "reqs": self.requirements,
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @property
    def name(self) -> str:
        return f"{self.repo.replace('/', '__')}-{self.version}-{self.key}"


@dataclass
class Env:
    path: Path
    interpreter: Path  # the base interpreter (overlays are made on it)
    python_version: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def venv(self) -> Path:
        return self.path / "v"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


async def plan_for(instance: Instance, repo: Path | None) -> EnvPlan:
    spec = spec_for(instance)
    if spec is None:
        raise EnvError(f"no environment spec for {instance.repo} version {instance.version!r}")
    requirements = None
    packages = str(spec.get("packages", "") or "")
    if packages == "requirements.txt":
        if repo is None:
            raise EnvError("the spec reads a requirements file from the repository: give --repos-dir")
        commit = instance.environment_setup_commit or instance.base_commit
        requirements = await read_requirements(repo, instance.repo, commit)
    elif packages == "environment.yml":
        raise EnvError(
            f"{instance.repo} {instance.version}: the official spec is a conda environment.yml, which needs conda"
            " (use --grader docker, or --env-cmd with a prepared python)"
        )
    return EnvPlan(instance.repo, instance.version, dict(spec), requirements)


def _conda_to_pip(name: str) -> str:
    """`pkg=1.2` (conda) is `pkg==1.2` for pip; other specifiers pass through."""
    return re.sub(r"^([A-Za-z0-9_.\-\[\]]+)=([^=<>!~].*)$", r"\1==\2", name)


class EnvManager:
    """Builds and finds environments under one root; one build per key at a time, across
    processes (a lock file) and within one (an asyncio lock)."""

    def __init__(self, root: Path | None = None, *, build_timeout: float = 3600.0) -> None:
        self.root = (root or envs_root()).expanduser()
        self.build_timeout = build_timeout
        self._locks: dict[str, asyncio.Lock] = {}
        self._failed: dict[str, str] = {}

    def path_of(self, plan: EnvPlan) -> Path:
        return self.root / plan.name

    def load(self, path: Path) -> Env | None:
        if not (path / COMPLETE).is_file():
            return None
        try:
            meta = json.loads((path / META).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        return Env(path, Path(meta["interpreter"]), str(meta["python_version"]), meta)

    async def ensure(self, plan: EnvPlan, log: Log | None = None) -> tuple[Env, bool]:
        """(environment, built now). A failure is remembered for the rest of this process, so a
        broken spec fails each of its instances at once instead of rebuilding for each."""
        log = log or (lambda _m: None)
        if plan.name in self._failed:
            raise EnvError(self._failed[plan.name])
        lock = self._locks.setdefault(plan.name, asyncio.Lock())
        async with lock:
            env = self.load(self.path_of(plan))
            if env is not None:
                self._touch(env.path)
                return env, False
            self.root.mkdir(parents=True, exist_ok=True)
            lock_file = self.root / f"{plan.name}.lock"
            fh = lock_file.open("a+")
            try:
                await asyncio.to_thread(fcntl.flock, fh.fileno(), fcntl.LOCK_EX)
                env = self.load(self.path_of(plan))  # another process built it meanwhile
                if env is not None:
                    return env, False
                try:
                    return await self._build(plan, log), True
                except EnvError as exc:
                    self._failed[plan.name] = str(exc)
                    raise
            finally:
                with contextlib.suppress(OSError):
                    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
                fh.close()

    def _touch(self, path: Path) -> None:
        with contextlib.suppress(OSError):
            os.utime(path / COMPLETE)

    async def _build(self, plan: EnvPlan, log: Log) -> Env:
        dest = self.path_of(plan)
        if dest.exists():
            shutil.rmtree(dest)
        interp = await asyncio.to_thread(find_interpreter, plan.python)
        if interp is None:
            raise EnvError(
                f"no Python {plan.python} interpreter on this machine (needed by {plan.repo} {plan.version};"
                " looked in pyenv versions, `uv python find`, PATH)"
            )
        started = time.perf_counter()
        dest.mkdir(parents=True)
        build_log = dest / BUILD_LOG
        uv = find_uv()
        env_vars = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        env_vars.pop("VIRTUAL_ENV", None)
        env_vars.pop("PYTHONPATH", None)  # the build must not see the caller's modules

        async def step(argv: list[str], what: str) -> proc.ProcResult:
            log(f"env {plan.name}: {what}: {shlex.join(argv)}")
            res = await proc.run(argv, cwd=dest, timeout=self.build_timeout, env=env_vars)
            with build_log.open("a", encoding="utf-8") as fh:
                fh.write(f"$ {shlex.join(argv)}\n{res.output}\n[exit {res.returncode}]\n")
            return res

        def fail(what: str, res: proc.ProcResult) -> EnvError:
            tail = _error_tail(res.output) if not res.timed_out else f"timed out after {self.build_timeout:g} s"
            shutil.copy2(build_log, self.root / f"{plan.name}.failed.log")
            shutil.rmtree(dest, ignore_errors=True)
            return EnvError(f"environment {plan.repo} {plan.version} (Python {plan.python}): {what} failed: {tail}")

        res = await step([uv, "venv", "--seed", "--python", str(interp), str(dest / "v")], "venv") if uv else None
        if res is None or not res.ok:
            res = await step([str(interp), "-m", "venv", str(dest / "v")], "venv")
            if not res.ok:
                raise fail("creating the venv", res)
        # the venv lives in dest/v so that the marker, log and metadata stay beside it
        venv = dest / "v"
        py = venv / "bin" / "python"

        async def install(args: list[str], what: str) -> proc.ProcResult:
            if uv:
                res = await step([uv, "pip", "install", "--python", str(py), *args], what)
                if res.ok:
                    return res
            return await step([str(py), "-m", "pip", "install", *args], what)

        if not uv:
            await step([str(py), "-m", "pip", "install", "--upgrade", "pip", "setuptools", "wheel"], "pip upgrade")
        packages = str(plan.spec.get("packages", "") or "")
        if plan.requirements is not None:
            reqs = dest / "requirements.txt"
            reqs.write_text(plan.requirements, encoding="utf-8")
            res = await install(["-r", str(reqs)], "requirements")
            if not res.ok:  # pip's resolver may backtrack for long on a whole file: one line at a time
                for line in plan.requirements.splitlines():
                    line = line.strip()
                    if not line or line.startswith(("#", "-")):
                        continue
                    res = await install([line], f"requirement {line}")
                    if not res.ok:
                        raise fail(f"installing requirement {line!r}", res)
        elif packages:
            names = [_conda_to_pip(p) for p in packages.split()]
            res = await install(names, "packages")
            if not res.ok:
                raise fail(f"installing packages {' '.join(names)}", res)
        pip_packages = [str(p) for p in plan.spec.get("pip_packages", []) or []]
        if pip_packages:
            res = await install(pip_packages, "pip_packages")
            if not res.ok:
                raise fail(f"installing pip_packages {' '.join(pip_packages)}", res)
        # the spec's install runs `python -m pip`: the venv must have pip even when uv seeded none
        check = await step([str(py), "-m", "pip", "--version"], "pip check")
        if not check.ok:
            res = await install(["pip"], "pip")
            if not res.ok:
                raise fail("installing pip", res)
        version = _python_version_of(py) or plan.python
        meta = {
            "schema": ENV_SCHEMA,
            "repo": plan.repo,
            "version": plan.version,
            "key": plan.key,
            "spec": plan.spec,
            "spec_source": SPECS_SOURCE,
            "interpreter": str(interp),
            "python_version": version,
            "built_at": time.time(),
            "build_s": round(time.perf_counter() - started, 2),
            "built_with": "uv" if uv else "pip",
        }
        (dest / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        (dest / COMPLETE).write_text("", encoding="utf-8")
        log(f"env {plan.name}: built in {meta['build_s']} s")
        return Env(dest, interp, version, meta)

    # -- list / prune -----------------------------------------------------------------------

    def entries(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if not self.root.is_dir():
            return out
        for path in sorted(p for p in self.root.iterdir() if p.is_dir()):
            env = self.load(path)
            row: dict[str, Any] = {"name": path.name, "path": str(path), "complete": env is not None}
            if env is not None:
                row.update(
                    repo=env.meta.get("repo"),
                    version=env.meta.get("version"),
                    python=env.python_version,
                    key=env.meta.get("key"),
                    build_s=env.meta.get("build_s"),
                    last_used=(path / COMPLETE).stat().st_mtime,
                    current=_is_current(env.meta),
                )
            out.append(row)
        return out

    def prune(self, *, all_envs: bool = False, older_than_days: float | None = None) -> list[str]:
        """Removes incomplete builds, environments whose spec is no longer the current one, and
        (given) those unused for `older_than_days`, or every one with `all_envs`."""
        removed: list[str] = []
        now = time.time()
        for row in self.entries():
            path = Path(row["path"])
            stale = not row["complete"] or not row.get("current", False)
            old = older_than_days is not None and row.get("last_used", now) < now - older_than_days * 86400
            if all_envs or stale or old:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(row["name"])
        for extra in self.root.glob("*.failed.log") if self.root.is_dir() else []:
            if all_envs:
                extra.unlink(missing_ok=True)
        return removed


def _is_current(meta: dict[str, Any]) -> bool:
    spec = MAP_REPO_VERSION_TO_SPECS.get(str(meta.get("repo")), {}).get(str(meta.get("version")))
    return spec is None or spec == meta.get("spec")  # a row's own env_spec is current by definition


def _error_tail(output: str, lines: int = 6) -> str:
    """The lines of pip's/uv's output that say what failed."""
    text = [ln for ln in output.strip().splitlines() if ln.strip()]
    errors = [ln.strip() for ln in text if re.search(r"error|ERROR|No matching|Could not|×|╰─▶", ln)]
    kept = (errors or text)[-lines:]
    return " | ".join(kept) if kept else "(no output)"


# -- per-instance overlays --------------------------------------------------------------------


async def make_overlay(env: Env, dest: Path) -> Path:
    """A venv of its own for one instance, seeing the cached environment's packages (and its
    console scripts, re-pointed at the overlay's python) without being able to change them."""
    res = await proc.run([str(env.interpreter), "-m", "venv", "--without-pip", str(dest)], cwd=dest.parent, timeout=300)
    if not res.ok:
        raise EnvError(f"could not create the instance venv: {_error_tail(res.output)}")
    site = dest / "lib" / f"python{env.python_version}" / "site-packages"
    site.mkdir(parents=True, exist_ok=True)
    base_site = env.path / "v" / "lib" / f"python{env.python_version}" / "site-packages"
    (site / "_ampsm_base_env.pth").write_text(f"import site; site.addsitedir({str(base_site)!r})\n", encoding="utf-8")
    base_bin = env.path / "v" / "bin"
    base_py = str(base_bin / "python")
    new_py = str(dest / "bin" / "python")
    for script in base_bin.iterdir():
        target = dest / "bin" / script.name
        if target.exists() or script.name.startswith(("python", "activate")) or not script.is_file():
            continue
        try:
            text = script.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if base_py not in text.split("\n", 3)[0] and base_py not in text[:400]:
            continue
        target.write_text(text.replace(base_py, new_py), encoding="utf-8")
        target.chmod(0o755)
    return dest


def overlay_env(overlay: Path, env: Env, base: dict[str, str] | None = None) -> dict[str, str]:
    """The test environment: the caller's variables (PYTHONPATH included: the user's choice),
    with the overlay venv activated; nothing of the caller's own venv leaks in."""
    out = dict(os.environ if base is None else base)
    for name in ("PYTHONHOME", "VIRTUAL_ENV", "PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST", "CONDA_PREFIX"):
        out.pop(name, None)
    out["VIRTUAL_ENV"] = str(overlay)
    out["PATH"] = os.pathsep.join([str(overlay / "bin"), str(env.path / "v" / "bin"), out.get("PATH", "")])
    out["GIT_PAGER"] = "cat"
    out["PAGER"] = "cat"
    return out
