"""Environments from the official specs: the table, directives, parsers per repo, the cache
(list/prune), per-instance overlays that never change the cached environment, and the
`--grader docker` hand-off's error path and report import."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ampsm_tui.engine.bench.dataset import Instance
from ampsm_tui.engine.bench.docker import import_reports
from ampsm_tui.engine.bench.envs import COMPLETE, META, EnvManager, EnvPlan, make_overlay, overlay_env
from ampsm_tui.engine.bench.grading import parser_for
from ampsm_tui.engine.bench.patches import modified_files, official_test_directives
from ampsm_tui.engine.bench.predictions import Prediction
from ampsm_tui.engine.bench.swebench_specs import MAP_REPO_TO_PARSER, MAP_REPO_VERSION_TO_SPECS, SOURCE

from . import bench_fixture
from .conftest import run_cli

LITE_REPOS = [
    "astropy/astropy", "django/django", "matplotlib/matplotlib", "mwaskom/seaborn", "pallets/flask",
    "psf/requests", "pydata/xarray", "pylint-dev/pylint", "pytest-dev/pytest", "scikit-learn/scikit-learn",
    "sphinx-doc/sphinx", "sympy/sympy",
]  # fmt: skip


def test_spec_table_carries_every_lite_repo_with_its_source() -> None:
    assert SOURCE.startswith("swebench 4.0.4")
    for repo in LITE_REPOS:
        assert MAP_REPO_VERSION_TO_SPECS[repo], repo
        assert repo in MAP_REPO_TO_PARSER
    assert MAP_REPO_VERSION_TO_SPECS["django/django"]["3.0"]["test_cmd"].startswith("./tests/runtests.py")
    assert MAP_REPO_VERSION_TO_SPECS["sympy/sympy"]["1.12"]["python"] == "3.9"
    assert MAP_REPO_VERSION_TO_SPECS["pytest-dev/pytest"]["5.4"]["test_cmd"] == "pytest -rA"


def test_parser_and_directives_per_repo() -> None:
    def inst(repo: str, **kw: str) -> Instance:
        return Instance(instance_id="x", repo=repo, base_commit="0" * 40, **kw)

    assert parser_for(inst("django/django")) == "parse_log_django"
    assert parser_for(inst("sympy/sympy")) == "parse_log_sympy"
    assert parser_for(inst("psf/requests")) == "parse_log_pytest_options"
    assert parser_for(inst("acme/calc")) == "parse_log_pytest"
    assert parser_for(inst("django/django", log_parser="parse_log_pytest")) == "parse_log_pytest"  # the row's own
    patch = (
        "diff --git a/tests/auth_tests/test_validators.py b/tests/auth_tests/test_validators.py\n"
        "--- a/tests/auth_tests/test_validators.py\n+++ b/tests/auth_tests/test_validators.py\n@@ -1 +1 @@\n-a\n+b\n"
        "diff --git a/tests/auth_tests/new.py b/tests/auth_tests/new.py\nnew file mode 100644\n"
        "--- /dev/null\n+++ b/tests/auth_tests/new.py\n@@ -0,0 +1 @@\n+c\n"
        "diff --git a/docs/x.txt b/docs/x.txt\n--- a/docs/x.txt\n+++ b/docs/x.txt\n@@ -1 +1 @@\n-a\n+b\n"
    )
    assert official_test_directives("django/django", patch) == ["auth_tests.test_validators", "auth_tests.new"]
    assert official_test_directives("sympy/sympy", patch) == [
        "tests/auth_tests/test_validators.py",
        "tests/auth_tests/new.py",
    ]
    assert modified_files(patch) == ["tests/auth_tests/test_validators.py", "docs/x.txt"]  # new files are not reset


def _fake_env(root: Path, name: str, repo: str, version: str, spec: dict[str, object], complete: bool = True) -> None:
    path = root / name
    path.mkdir(parents=True)
    meta = {"repo": repo, "version": version, "spec": spec, "interpreter": sys.executable, "python_version": "3.11"}
    (path / META).write_text(json.dumps(meta))
    if complete:
        (path / COMPLETE).write_text("")


def test_env_list_and_prune_keep_only_current_complete_envs(tmp_path: Path) -> None:
    root = tmp_path / "envs"
    current = MAP_REPO_VERSION_TO_SPECS["pallets/flask"]["2.3"]
    _fake_env(root, "flask-current", "pallets/flask", "2.3", current)
    _fake_env(root, "flask-stale", "pallets/flask", "2.3", {**current, "python": "3.8"})
    _fake_env(root, "half-built", "pallets/flask", "2.3", current, complete=False)
    env = {"AMPSM_BENCH_ENVS": str(root)}
    listed = {r["name"]: r for r in json.loads(run_cli("bench", "env", "list", "--json", env=env).stdout)}
    assert listed["flask-current"]["current"] and not listed["flask-stale"]["current"]
    assert not listed["half-built"]["complete"]
    res = run_cli("bench", "env", "prune", "--json", env=env)
    assert res.returncode == 0 and sorted(json.loads(res.stdout)["removed"]) == ["flask-stale", "half-built"]
    assert [p.name for p in root.iterdir()] == ["flask-current"]
    assert json.loads(run_cli("bench", "env", "prune", "--all", "--json", env=env).stdout)["removed"] == [
        "flask-current"
    ]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_overlays_never_change_the_cached_environment(tmp_path: Path) -> None:
    """Two instances' overlays on one cached env: an editable install in one is seen by neither
    the cached env nor the other overlay; the cached env's console scripts run the overlay's python."""
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    plan = EnvPlan("acme/tiny", "1.0", {"python": version, "pip_packages": ["iniconfig"], "test_cmd": "pytest"})
    manager = EnvManager(tmp_path / "envs")
    env, built = asyncio.run(manager.ensure(plan))
    assert built and (env.path / COMPLETE).exists() and env.meta["built_with"] == "uv"
    again, built_again = asyncio.run(EnvManager(tmp_path / "envs").ensure(plan))
    assert again.path == env.path and not built_again  # cached across managers (runs)
    pkg = tmp_path / "tiny"
    (pkg / "tiny").mkdir(parents=True)
    (pkg / "tiny" / "__init__.py").write_text("X = 1\n")
    (pkg / "setup.py").write_text("from setuptools import setup\nsetup(name='tiny', version='1', packages=['tiny'])\n")
    before = sorted(p.name for p in (env.venv / "lib" / f"python{version}" / "site-packages").iterdir())
    one = asyncio.run(make_overlay(env, tmp_path / "o1"))
    two = asyncio.run(make_overlay(env, tmp_path / "o2"))
    e1 = overlay_env(one, env)
    subprocess.run(
        ["python", "-m", "pip", "install", "--no-build-isolation", "--no-deps", "-e", str(pkg)],
        env=e1, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    probe = "import tiny, iniconfig; print(tiny.X)"
    assert subprocess.run(["python", "-c", probe], env=e1, capture_output=True, text=True).stdout.strip() == "1"
    other = subprocess.run(["python", "-c", probe], env=overlay_env(two, env), capture_output=True, text=True)
    assert other.returncode != 0 and "No module named 'tiny'" in other.stderr
    base = subprocess.run([str(env.python), "-c", "import tiny"], capture_output=True, text=True)
    assert base.returncode != 0
    assert sorted(p.name for p in (env.venv / "lib" / f"python{version}" / "site-packages").iterdir()) == before
    kept = overlay_env(one, env, {"PATH": "/usr/bin", "PYTHONPATH": "/mine", "VIRTUAL_ENV": "/other"})
    assert kept["PYTHONPATH"] == "/mine" and kept["VIRTUAL_ENV"] == str(one)  # the user's PYTHONPATH stays
    assert kept["PATH"].split(os.pathsep)[:2] == [str(one / "bin"), str(env.venv / "bin")]
    pip_script = (one / "bin" / "pip").read_text().splitlines()[0]
    assert str(one) in pip_script  # the cached env's scripts re-pointed at the overlay's python


def test_grader_docker_without_an_engine_is_a_clear_error(tmp_path: Path) -> None:
    fx = bench_fixture.build(tmp_path / "fx")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "docker").write_text(
        "#!/bin/sh\necho 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock.' >&2\nexit 1\n"
    )
    (fake / "docker").chmod(0o755)
    env = {"PATH": f"{fake}{os.pathsep}{os.environ['PATH']}"}
    res = run_cli(
        "bench", "start", "--dataset", str(fx.dataset), "--repos-dir", str(fx.repos_dir), "-p", "gold",
        "--report-dir", str(tmp_path / "out"), "--grader", "docker", env=env,
    )  # fmt: skip
    assert res.returncode == 2
    assert "--grader docker needs Docker" in res.stderr and "Cannot connect to the Docker daemon" in res.stderr
    assert not (tmp_path / "out" / "logs").exists()  # nothing ran


def test_official_reports_are_imported_from_a_report_dir(tmp_path: Path) -> None:
    run_dir = tmp_path / "logs" / "run_evaluation" / "r1" / "org__model"

    def report(iid: str, resolved: bool, f2p_fail: list[str]) -> None:
        d = run_dir / iid
        d.mkdir(parents=True)
        entry = {
            "patch_is_None": False, "patch_exists": True, "patch_successfully_applied": True, "resolved": resolved,
            "tests_status": {
                "FAIL_TO_PASS": {"success": [] if f2p_fail else ["t1"], "failure": f2p_fail},
                "PASS_TO_PASS": {"success": ["t2"], "failure": []},
            },
        }  # fmt: skip
        (d / "report.json").write_text(json.dumps({iid: entry}))

    report("a-1", True, [])
    report("a-2", False, ["test_x (m.C)"])
    (run_dir / "a-3").mkdir(parents=True)
    (run_dir / "a-3" / "run_instance.log").write_text(
        "building image\n>>>>> Patch Apply Failed:\npatch: hunk 1 FAILED\n"
    )
    preds = [
        Prediction(instance_id=i, model_name_or_path="org/model", model_patch=p)
        for i, p in (("a-1", "x"), ("a-2", "x"), ("a-3", "x"), ("a-4", ""))
    ]
    got = import_reports(tmp_path, "r1", preds)
    assert got["a-1"].status == "resolved" and got["a-1"].reason is None
    assert got["a-2"].status == "unresolved" and got["a-2"].reason == "FAIL_TO_PASS failing: test_x (m.C)"
    assert got["a-2"].tests_status["PASS_TO_PASS"]["success"] == ["t2"]
    assert got["a-3"].status == "error" and "patch: hunk 1 FAILED" in (got["a-3"].reason or "")
    assert got["a-4"].status == "empty"
