"""Local evaluation without Docker: a fresh detached worktree at `base_commit`, the model patch
(official fallback chain), the test patch, the tests between the official markers, then grading.

Outcomes follow the official harness: an empty patch is never run; a patch that does not apply,
tests that time out, or a missing repository write no `report.json` (the summary counts them in
`error_ids`) but always say why in `run_instance.log` and in the outcome's `reason`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..git.locks import RepoLock
from . import markers as m
from . import proc
from .dataset import Instance
from .envs import SYSTEM_COMMAND, EnvError, EnvManager, make_overlay, overlay_env, plan_for, spec_for
from .grading import get_eval_report, get_eval_report_official, official_available
from .patches import changed_files, modified_files, official_test_directives
from .predictions import Prediction, model_dir_name
from .repos import RepoMissing, resolve_repo

Status = Literal["resolved", "unresolved", "empty", "error"]
Grader = Literal["local", "official", "auto"]

#: The official harness's chain, in its order (`run_evaluation.GIT_APPLY_CMDS`).
APPLY_CHAIN: tuple[tuple[str, ...], ...] = (
    ("git", "apply", "--verbose"),
    ("git", "apply", "--verbose", "--3way"),
    ("git", "apply", "--verbose", "--reject"),
    ("patch", "--batch", "--forward", "--fuzz=5", "-p1", "-i"),
)


@dataclass
class EvalOutcome:
    instance_id: str
    model_name_or_path: str
    status: Status
    reason: str | None = None
    report: dict[str, Any] | None = None
    log_dir: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)
    cached: bool = False

    @property
    def tests_status(self) -> dict[str, Any]:
        entry = (self.report or {}).get(self.instance_id, {})
        return dict(entry.get("tests_status") or {})


class EvalError(Exception):
    """Stops one instance's evaluation with a reason; the run goes on."""


def run_log_dir(report_dir: Path, run_id: str) -> Path:
    return report_dir.joinpath(*m.RUN_EVALUATION_LOG_DIR, run_id)


def instance_log_dir(report_dir: Path, run_id: str, model_name_or_path: str, instance_id: str) -> Path:
    return run_log_dir(report_dir, run_id) / model_dir_name(model_name_or_path) / instance_id


def record_test_exit_code(script: str) -> str:
    """Capture the test command's own `$?` right before the end marker (the official transform)."""
    lines = script.split("\n")
    for i, line in enumerate(lines):
        if m.END_TEST_OUTPUT in line:
            return "\n".join(
                [
                    *lines[:i],
                    f"{m.TEST_EXIT_CODE_VAR}=$?",
                    line,
                    f'echo "{m.TEST_EXIT_CODE}: ${m.TEST_EXIT_CODE_VAR}"',
                    *lines[i + 1 :],
                ]
            )
    return script


def worktree_holder(run_id: str, prediction: Prediction, report_dir: Path | None = None) -> Path:
    """A fixed place per report dir, run, model and instance: a resumed run finds what a killed one
    left there, and two runs that share a run id but not a report dir never share a tree."""
    scope = hashlib.sha256(str(report_dir).encode()).hexdigest()[:10] + "-" if report_dir else ""
    return (
        Path(tempfile.gettempdir())
        / f"ampsm-eval-{os.getuid()}"
        / (scope + run_id.replace("/", "_"))
        / prediction.log_name
        / prediction.instance_id.replace("/", "_")
    )


def _make_holder(holder: Path) -> None:
    """mkdir -p that tolerates another worker's `_drop_empty_parents` removing a parent under it."""
    for attempt in range(5):
        try:
            holder.mkdir(parents=True)
            return
        except FileNotFoundError:
            if attempt == 4:
                raise


def _drop_empty_parents(holder: Path) -> None:
    """The run's and model's folders above an instance's holder, once nothing else is in them: a
    finished run leaves nothing under the temp dir."""
    for parent in (holder.parent, holder.parent.parent):
        try:
            parent.rmdir()
        except OSError:  # not empty (another instance, another run) or already gone
            return


def _repo_lock(repo: Path) -> RepoLock:
    """`git worktree add/remove` under the repository lock every ampsm process honours."""
    return RepoLock(repo, 300.0, purpose="bench eval worktree")


class Evaluator:
    def __init__(
        self,
        *,
        report_dir: Path | str,
        run_id: str,
        repos_dir: Path | str | None = None,
        env_cmd: str | Sequence[str] | None = None,
        timeout: float | None = 1800.0,
        grader: Grader = "local",
        on_step: Callable[[str, str], None] | None = None,
        envs: EnvManager | None = None,
    ) -> None:
        self.report_dir = Path(report_dir).resolve()
        self.run_id = run_id
        self.repos_dir = Path(repos_dir).expanduser() if repos_dir else None
        #: --env-cmd given: the user's python runs every row (custom benchmarks, prepared envs);
        #: otherwise rows with an official spec get a built environment.
        self.env_cmd_given = bool(env_cmd)
        self.envs = envs or EnvManager()
        if env_cmd is None or env_cmd == "":
            self.env_cmd = [sys.executable]
        elif isinstance(env_cmd, str):
            self.env_cmd = shlex.split(env_cmd)  # the user's own argv prefix, never run by a shell
        else:
            self.env_cmd = list(env_cmd)
        self.timeout = timeout
        if grader == "official" and not official_available():
            raise EvalError("the official grader needs the optional extra: pip install 'ampsm-tui[swebench]'")
        self.grader: Grader = "official" if grader == "auto" and official_available() else grader
        if self.grader == "auto":
            self.grader = "local"
        self.on_step = on_step

    # -- public -----------------------------------------------------------------------------

    def log_dir(self, prediction: Prediction) -> Path:
        return instance_log_dir(self.report_dir, self.run_id, prediction.model_name_or_path, prediction.instance_id)

    def cached(self, instance: Instance, prediction: Prediction) -> EvalOutcome | None:
        """An instance whose report.json exists is done (the official harness skips it too)."""
        report_path = self.log_dir(prediction) / m.LOG_REPORT
        if not report_path.is_file():
            return None
        try:
            report = json.loads(report_path.read_text(encoding="utf-8"))
            resolved = bool(report[prediction.instance_id]["resolved"])
        except (json.JSONDecodeError, KeyError, TypeError):
            return None
        return EvalOutcome(
            prediction.instance_id,
            prediction.model_name_or_path,
            "resolved" if resolved else "unresolved",
            None if resolved else _unresolved_reason(report[prediction.instance_id]),
            report,
            report_path.parent,
            cached=True,
        )

    async def evaluate(
        self, instance: Instance, prediction: Prediction, *, redo: bool = False, repo: Path | None = None
    ) -> EvalOutcome:
        started = time.perf_counter()
        outcome = EvalOutcome(prediction.instance_id, prediction.model_name_or_path, "error")
        if prediction.is_empty:
            outcome.status, outcome.reason = "empty", "empty patch (not run)"
            return outcome
        log_dir = self.log_dir(prediction)
        if not redo:
            done = self.cached(instance, prediction)
            if done is not None:
                return done
        if log_dir.exists():
            shutil.rmtree(log_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        outcome.log_dir = log_dir
        log = _InstanceLog(log_dir / m.LOG_INSTANCE)
        try:
            repo = repo or resolve_repo(instance, self.repos_dir)
            log.write(f"Repository: {repo}")
            await self._in_worktree(repo, instance, prediction, log, outcome)
        except RepoMissing as exc:
            outcome.reason = str(exc)
            log.write(f"Error: {exc}")
        except EvalError as exc:
            outcome.reason = str(exc)
            log.write(f"Error: {exc}")
        except Exception as exc:  # one instance's surprise never stops the run
            outcome.reason = f"evaluation failed: {type(exc).__name__}: {exc}"
            log.write(f"Error in evaluating model for {instance.instance_id}: {exc!r}")
        outcome.timings["total_s"] = time.perf_counter() - started
        log.write("Timings: " + json.dumps({k: round(v, 3) for k, v in outcome.timings.items()}))
        log.write(f"Result: {outcome.status}" + (f" ({outcome.reason})" if outcome.reason else ""))
        return outcome

    # -- steps ------------------------------------------------------------------------------

    def _step(self, instance_id: str, step: str) -> None:
        if self.on_step:
            self.on_step(instance_id, step)

    async def _in_worktree(
        self, repo: Path, instance: Instance, prediction: Prediction, log: _InstanceLog, outcome: EvalOutcome
    ) -> None:
        t0 = time.perf_counter()
        # A fixed place per run/model/instance: a run killed mid-evaluation leaves its worktree
        # where the resumed run (which re-evaluates exactly those instances) finds and removes it.
        holder = worktree_holder(self.run_id, prediction, self.report_dir)
        tree = holder / "testbed"
        async with _repo_lock(repo):
            if holder.exists():
                await proc.git("worktree", "remove", "--force", str(tree), cwd=repo)
                shutil.rmtree(holder, ignore_errors=True)
                await proc.git("worktree", "prune", cwd=repo)
            _make_holder(holder)
            res = await proc.git("worktree", "add", "--detach", str(tree), instance.base_commit, cwd=repo)
        if not res.ok:
            shutil.rmtree(holder, ignore_errors=True)
            raise EvalError(
                f"could not create a worktree at base_commit {instance.base_commit[:12]}: {_tail(res.output)}"
            )
        outcome.timings["worktree_s"] = time.perf_counter() - t0
        try:
            await self._evaluate_in(tree, instance, prediction, log, outcome, repo)
        finally:
            t1 = time.perf_counter()
            # the tree (and the instance's venv) deleted outside the lock, then the worktree's
            # record pruned under it: `worktree remove` would scan a large tree while holding the
            # lock that the other workers need to create theirs
            await asyncio.to_thread(shutil.rmtree, holder, True)
            _drop_empty_parents(holder)
            async with _repo_lock(repo):
                await proc.git("worktree", "prune", cwd=repo)
            outcome.timings["cleanup_s"] = time.perf_counter() - t1

    async def _evaluate_in(
        self,
        tree: Path,
        instance: Instance,
        prediction: Prediction,
        log: _InstanceLog,
        outcome: EvalOutcome,
        repo: Path | None = None,
    ) -> None:
        assert outcome.log_dir is not None
        log_dir = outcome.log_dir
        check = instance.extra.get("check")
        spec = None if check else spec_for(instance)
        overlay: tuple[Path, dict[str, str]] | None = None
        if spec is not None and self.env_cmd_given:  # the user's python is the testbed: no build
            log.write(f"Environment: --env-cmd {shlex.join(self.env_cmd)} (the spec's environment is not built)")
            overlay = (tree.parent, self._test_env())
        elif spec is not None:
            overlay = await self._prepare_env(tree, instance, spec, log, outcome, repo)
        t0 = time.perf_counter()
        self._step(instance.instance_id, "apply")
        patch_file = log_dir / m.LOG_PATCH
        patch_file.write_text(prediction.model_patch or "", encoding="utf-8")
        await self._apply_model_patch(tree, patch_file, log)
        diff_before = await proc.git("-c", "core.fileMode=false", "diff", cwd=tree)
        log.write(f"Git diff before:\n{diff_before.output.strip()}")
        outcome.timings["apply_s"] = time.perf_counter() - t0

        t1 = time.perf_counter()
        self._step(instance.instance_id, "tests")
        output_path = log_dir / m.LOG_TEST_OUTPUT
        exit_code: int | None = None
        if check:
            text, timed_out, exit_code = await self._run_check(tree, [str(a) for a in check])
        elif instance.eval_script:
            text, timed_out = await self._run_eval_script(
                tree, instance, log_dir, overlay[1] if overlay else self._test_env()
            )
        elif spec is not None and overlay is not None:
            text, timed_out = await self._run_spec(tree, instance, spec, log_dir, overlay[1], log)
        else:
            text, timed_out = await self._run_pytest(tree, instance)
        if timed_out:
            text += f"\n\nTimeout error: {self.timeout:g} seconds exceeded."
        output_path.write_text(text, encoding="utf-8")
        outcome.timings["tests_s"] = time.perf_counter() - t1
        log.write(f"Test runtime: {outcome.timings['tests_s']:_.2f} seconds")
        if timed_out:
            raise EvalError(f"tests timed out after {self.timeout:g} seconds")

        t2 = time.perf_counter()
        self._step(instance.instance_id, "grade")
        log.write(f"Grading answer for {instance.instance_id}...")
        if check and not (instance.FAIL_TO_PASS or instance.PASS_TO_PASS):
            report = _check_report(instance.instance_id, exit_code)
        elif self.grader == "official":
            report = get_eval_report_official(instance, prediction, str(output_path))
        else:
            report = get_eval_report(instance, prediction, text)
        (log_dir / m.LOG_REPORT).write_text(json.dumps(report, indent=4), encoding="utf-8")
        entry = report[instance.instance_id]
        log.write(f"report: {report}\nResult for {instance.instance_id}: resolved: {entry['resolved']}")
        outcome.report = report
        outcome.status = "resolved" if entry["resolved"] else "unresolved"
        outcome.reason = None if entry["resolved"] else _unresolved_reason(entry)
        outcome.timings["grade_s"] = time.perf_counter() - t2

    async def _apply_model_patch(self, tree: Path, patch_file: Path, log: _InstanceLog) -> None:
        last = ""
        for attempt, cmd in enumerate(APPLY_CHAIN):
            if attempt:  # a failed attempt (notably --reject) leaves partial state behind
                await proc.git("reset", "--hard", "-q", cwd=tree)
                await proc.git("clean", "-fdq", cwd=tree)
            if cmd[0] == "patch" and shutil.which("patch") is None:
                log.write("Failed to apply patch: `patch` is not installed")
                continue
            res = await proc.run([*cmd, str(patch_file)], cwd=tree, timeout=120)
            if res.ok:
                log.write(f"{m.APPLY_PATCH_PASS}:\n{res.output}")
                return
            last = res.output
            log.write(f"Failed to apply patch to worktree: {' '.join(cmd)}")
        check = await proc.git("apply", "--check", "--reverse", str(patch_file), cwd=tree)
        if check.ok:
            log.write(f"{m.APPLY_PATCH_PASS}: verified already applied")
            return
        log.write(f"{m.APPLY_PATCH_FAIL}:\n{last}")
        raise EvalError(f"patch did not apply (git apply, --3way, --reject, patch --fuzz=5): {_tail(last)}")

    def _test_env(self) -> dict[str, str]:
        env = dict(os.environ)
        for name in ("PYTHONHOME", "PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST", "VIRTUAL_ENV"):
            env.pop(name, None)
        first = Path(self.env_cmd[0])
        if first.parent != Path(""):  # a python by path: its bin dir first, so `python`/`pytest` are its own
            env["PATH"] = f"{first.parent}{os.pathsep}{env.get('PATH', '')}"
        return env

    async def _run_pytest(self, tree: Path, instance: Instance) -> tuple[str, bool]:
        """The official eval script's steps, done here: reset test files, apply test_patch, run."""
        base = instance.base_commit
        lines: list[str] = []
        changes = changed_files(instance.test_patch)
        existing = [c.old for c in changes if c.old]
        if existing:
            res = await proc.git("checkout", base, "--", *existing, cwd=tree)
            lines.append(f"+ git checkout {base} {' '.join(existing)}\n{res.output}")
        if instance.test_patch.strip():
            # as the official script: a test_patch that does not apply (e.g. over a test file the
            # model created) is logged and the tests run anyway; files the model made are kept
            res = await proc.git("apply", "-v", "-", cwd=tree, stdin=instance.test_patch.encode())
            lines.append(f"+ git apply -v - <<'EOF_114329324912'\n{res.output}")
        directives = official_test_directives(instance.repo, instance.test_patch)
        argv = [*self.env_cmd, "-m", "pytest", "-rA", "--tb=no", "-p", "no:cacheprovider", *directives]
        lines.append(f"+ : '{m.START_TEST_OUTPUT}'")
        lines.append("+ " + shlex.join(argv))
        res = await proc.run(argv, cwd=tree, timeout=self.timeout, env=self._test_env())
        if res.timed_out:
            return "\n".join(lines) + "\n", True
        lines.append(res.output.rstrip("\n"))
        lines.append(f"+ {m.TEST_EXIT_CODE_VAR}={res.returncode}")
        lines.append(f"+ : '{m.END_TEST_OUTPUT}'")
        lines.append(f"{m.TEST_EXIT_CODE}: {res.returncode}")
        if existing:
            await proc.git("checkout", base, "--", *existing, cwd=tree)
            lines.append(f"+ git checkout {base} {' '.join(existing)}")
        return "\n".join(lines) + "\n", False

    async def _run_check(self, tree: Path, argv: list[str]) -> tuple[str, bool, int | None]:
        """A custom benchmark's check command, between the official markers."""
        res = await proc.run(argv, cwd=tree, timeout=self.timeout, env=self._test_env())
        head = f"+ : '{m.START_TEST_OUTPUT}'\n+ {shlex.join(argv)}\n"
        if res.timed_out:
            return head, True, None
        text = f"{head}{res.output.rstrip()}\n+ : '{m.END_TEST_OUTPUT}'\n{m.TEST_EXIT_CODE}: {res.returncode}\n"
        return text, False, res.returncode

    async def _run_eval_script(
        self, tree: Path, instance: Instance, log_dir: Path, env: dict[str, str]
    ) -> tuple[str, bool]:
        """The instance's own eval script (5.x rows), with the container path `/testbed` mapped to
        the worktree and the container's conda activation replaced by the environment given."""
        script = (instance.eval_script or "").replace("/testbed", str(tree))
        kept = [line for line in script.split("\n") if not _CONDA_ACTIVATION.match(line)]
        script = record_test_exit_code("\n".join(kept))
        eval_file = log_dir / m.LOG_EVAL_SCRIPT
        eval_file.write_text(script, encoding="utf-8")
        res = await proc.run(["bash", str(eval_file)], cwd=tree, timeout=self.timeout, env=env)
        return res.output, res.timed_out

    # -- official specs ---------------------------------------------------------------------

    async def _prepare_env(
        self,
        tree: Path,
        instance: Instance,
        spec: dict[str, Any],
        log: _InstanceLog,
        outcome: EvalOutcome,
        repo: Path | None,
    ) -> tuple[Path, dict[str, str]]:
        """The (cached) environment of the row's repo/version, an overlay venv of this instance's
        own on it, then the spec's repository-local pre_install steps committed as the official
        image does (so the model patch and `git diff` see them as the base)."""
        t0 = time.perf_counter()
        self._step(instance.instance_id, "env")
        try:
            plan = await plan_for(instance, repo)
            env, built = await self.envs.ensure(plan, log.write)
        except EnvError as exc:
            raise EvalError(str(exc)) from None
        outcome.timings["env_s"] = time.perf_counter() - t0
        outcome.timings["env_built"] = 1.0 if built else 0.0
        log.write(f"Environment: {env.path} (Python {env.python_version}, {'built now' if built else 'cached'})")
        t1 = time.perf_counter()
        overlay = tree.parent / "venv"
        if overlay.exists():
            shutil.rmtree(overlay)
        try:
            await make_overlay(env, overlay)
        except EnvError as exc:
            raise EvalError(str(exc)) from None
        outcome.timings["overlay_s"] = time.perf_counter() - t1
        env_vars = overlay_env(overlay, env)
        pre = [str(c) for c in spec.get("pre_install", []) or []]
        if pre:
            lines = ["set -uxo pipefail", f"cd {shlex.quote(str(tree))}"]
            for cmd in pre:
                if SYSTEM_COMMAND.search(cmd):
                    log.write(f"pre_install step skipped (changes the machine, not the repository): {cmd}")
                    continue
                lines.append(cmd)
            if len(lines) > 2:
                res = await proc.run(["bash", "-c", "\n".join(lines)], cwd=tree, timeout=600, env=env_vars)
                log.write(f"pre_install:\n{res.output}")
                await proc.git(
                    "-c", "user.email=setup@swebench.config", "-c", "user.name=SWE-bench",
                    "commit", "--no-verify", "--allow-empty", "-qam", "SWE-bench", cwd=tree,
                )  # fmt: skip
        return overlay, env_vars

    async def _run_spec(
        self,
        tree: Path,
        instance: Instance,
        spec: dict[str, Any],
        log_dir: Path,
        env: dict[str, str],
        log: _InstanceLog,
    ) -> tuple[str, bool]:
        """The official eval script (`make_eval_script_list_py`), run by bash in the overlay venv:
        the spec's install, the test files reset, the test_patch applied (a failure is logged and
        the tests run anyway, as there), the spec's test_cmd on the official directives."""
        base = shlex.quote(instance.base_commit)
        test_files = " ".join(shlex.quote(f) for f in modified_files(instance.test_patch))
        reset = f"git checkout {base} {test_files}"
        directives = official_test_directives(instance.repo, instance.test_patch)
        test_command = " ".join([str(spec["test_cmd"]), *(shlex.quote(d) for d in directives)])
        lines = ["#!/bin/bash", "set -uxo pipefail"]
        for cmd in [str(c) for c in spec.get("eval_commands", []) or []]:
            if SYSTEM_COMMAND.search(cmd):
                log.write(f"eval command skipped (changes the machine, not the repository): {cmd}")
                continue
            lines.append(_portable_locale(cmd))
        lines += [
            f"cd {shlex.quote(str(tree))}",
            "git status",
            "git show",
            f"git -c core.fileMode=false diff {base}",
        ]
        if spec.get("install"):
            lines.append(str(spec["install"]))
        lines += [
            reset,
            f"git apply -v - <<'{_HEREDOC}'\n{instance.test_patch}\n{_HEREDOC}",
            f": '{m.START_TEST_OUTPUT}'",
            test_command,
            f": '{m.END_TEST_OUTPUT}'",
            reset,
        ]
        script = record_test_exit_code("\n".join(lines) + "\n")
        eval_file = log_dir / m.LOG_EVAL_SCRIPT
        eval_file.write_text(script, encoding="utf-8")
        res = await proc.run(["bash", str(eval_file)], cwd=tree, timeout=self.timeout, env=env)
        return res.output, res.timed_out


_HEREDOC = "EOF_114329324912"
_CONDA_ACTIVATION = re.compile(r"^\s*(?:source\s+/opt/miniconda3/bin/activate|conda\s+activate\b)")


def _available_locales() -> set[str]:
    try:
        res = subprocess.run(["locale", "-a"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return set()
    return {x.strip().lower().replace("-", "") for x in res.stdout.split()}


def _portable_locale(cmd: str) -> str:
    """The spec's `export LANG=en_US.UTF-8` where that locale was generated in the image: the
    host may lack it (generating it changes the machine), and C.UTF-8 gives the same results."""
    if "en_US.UTF-8" in cmd and "en_us.utf8" not in _available_locales():
        return cmd.replace("en_US.UTF-8", "C.UTF-8").replace("en_US:en", "C.UTF-8")
    return cmd


def _check_report(instance_id: str, exit_code: int | None) -> dict[str, Any]:
    """A check command without test lists: exit status 0 resolves (same report shape)."""
    empty: dict[str, list[str]] = {"success": [], "failure": []}
    return {
        instance_id: {
            "patch_is_None": False,
            "patch_exists": True,
            "patch_successfully_applied": True,
            "resolved": exit_code == 0,
            "infra_failure": False,
            "tests_status": {
                m.FAIL_TO_PASS: dict(empty),
                m.PASS_TO_PASS: dict(empty),
                m.FAIL_TO_FAIL: dict(empty),
                m.PASS_TO_FAIL: dict(empty),
            },
            "check_exit_code": exit_code,
        }
    }


def _unresolved_reason(entry: dict[str, Any]) -> str:
    if not entry.get("patch_successfully_applied"):
        reason = entry.get("infra_failure_reason")
        return "no test results in the log" + (f" ({reason})" if reason else "")
    if "check_exit_code" in entry:
        return f"check exited {entry['check_exit_code']}"
    tests = entry.get("tests_status") or {}
    f2p = tests.get(m.FAIL_TO_PASS, {}).get("failure", [])
    p2p = tests.get(m.PASS_TO_PASS, {}).get("failure", [])
    parts = []
    if f2p:
        parts.append(f"FAIL_TO_PASS failing: {', '.join(f2p)}")
    if p2p:
        parts.append(f"PASS_TO_PASS broken: {', '.join(p2p)}")
    return "; ".join(parts) or "not resolved"


def _tail(text: str, lines: int = 3) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept) if kept else "(no output)"


class _InstanceLog:
    """run_instance.log: what happened to one instance, in order (the file of that instance only)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(f"{stamp} - INFO - {message}\n")
