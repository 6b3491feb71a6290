"""Every runner family of the official harness, on real project source: pytest after 6 (flask 2.3),
pytest before 6 (pytest 5.4), Django's runtests.py (Django 3.0) and SymPy's bin/test (SymPy 1.12).

Each project's source distribution is downloaded from PyPI at run time (cached under
~/.cache/ampsm-tests), made into a git repository in a temp dir whose base commit carries a small
bug, and graded through `ampsm bench start` with four predictions written here: the fix (resolves),
an empty patch (empty), a patch that applies but fixes nothing (unresolved) and one that does not
apply (error). The environments are built from the official spec of the row's repo and version and
cached between runs; the rows carry no --env-cmd, eval_script or log_parser, so the spec's install,
test command, test directives and parser are what run. The official grader, given the same logs,
must reach the same reports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ampsm_tui.engine.bench.swebench_specs import MAP_REPO_VERSION_TO_SPECS

from .conftest import run_cli

# one xdist worker takes the whole module: its module fixture builds the environments once
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600), pytest.mark.xdist_group("bench-real")]

CACHE = Path(os.environ.get("AMPSM_TEST_CACHE") or "~/.cache/ampsm-tests").expanduser()

SYMPY_BIN_TEST = '''#!/usr/bin/env python
"""A minimal bin/test (the sdist has none): SymPy's own runner, sympy.testing.runtests."""
import os
import sys

args = [a for a in sys.argv[1:] if a not in ("-C", "--no-cache", "--verbose", "-v")]
if "-C" in sys.argv or "--no-cache" in sys.argv:
    os.environ["SYMPY_USE_CACHE"] = "no"
from sympy.testing.runtests import test  # noqa: E402

sys.exit(0 if test(*args, verbose="--verbose" in sys.argv or "-v" in sys.argv) else 1)
'''


@dataclass
class Family:
    key: str
    repo: str  # the official name: the spec and parser are looked up by it
    version: str
    sdist: str
    tag: str
    source: str
    good: str
    bad: str
    wrong: tuple[str, str]  # a change in the same file that applies and fixes nothing
    test_path: str
    test_text: str
    f2p: list[str]
    p2p: list[str]
    directive: str
    extra_files: dict[str, str] = field(default_factory=dict)


FAMILIES = [
    Family(
        key="flask",
        repo="pallets/flask",
        version="2.3",
        sdist="flask==2.3.3",
        tag="2.3.3",
        source="src/flask/helpers.py",
        good='{"0", "false", "no"}',
        bad='{"0", "false"}',
        wrong=("The default is ``False``.", "The default is ``False`` (ampsm)."),
        test_path="tests/test_ampsm.py",
        test_text=(
            "import os\n\nimport flask\nfrom flask.helpers import get_debug_flag\n\n\n"
            "def test_debug_flag_no(monkeypatch):\n    monkeypatch.setenv('FLASK_DEBUG', 'no')\n"
            "    assert get_debug_flag() is False\n\n\n"
            "def test_debug_flag_one(monkeypatch):\n    monkeypatch.setenv('FLASK_DEBUG', '1')\n"
            "    assert get_debug_flag() is True\n\n\n"
            "def test_imports_the_worktree():\n"
            "    assert os.path.realpath(flask.__file__).startswith(os.path.realpath(os.getcwd()))\n"
        ),
        f2p=["tests/test_ampsm.py::test_debug_flag_no"],
        p2p=["tests/test_ampsm.py::test_debug_flag_one", "tests/test_ampsm.py::test_imports_the_worktree"],
        directive="tests/test_ampsm.py",
    ),
    Family(
        key="pytest",
        repo="pytest-dev/pytest",
        version="5.4",
        sdist="pytest==5.4.3",
        tag="5.4.3",
        source="src/_pytest/compat.py",
        good='ret = val.encode("unicode_escape").decode("ascii")',
        bad="ret = val",
        wrong=("If val is pure ascii, returns it as a str().", "If val is pure ascii, returns it as a str() (ampsm)."),
        test_path="testing/test_ampsm.py",
        test_text=(
            "import os\n\nimport _pytest\nfrom _pytest.compat import ascii_escaped\n\n\n"
            "def test_escapes_unicode():\n    assert ascii_escaped('\\u00f4') == '\\\\xf4'\n\n\n"
            "def test_ascii_unchanged():\n    assert ascii_escaped('abc') == 'abc'\n\n\n"
            "def test_imports_the_worktree():\n"
            "    assert os.path.realpath(_pytest.__file__).startswith(os.path.realpath(os.getcwd()))\n"
        ),
        f2p=["testing/test_ampsm.py::test_escapes_unicode"],
        p2p=["testing/test_ampsm.py::test_ascii_unchanged", "testing/test_ampsm.py::test_imports_the_worktree"],
        directive="testing/test_ampsm.py",
    ),
    Family(
        key="django",
        repo="django/django",
        version="3.0",
        sdist="Django==3.0.14",
        tag="3.0.14",
        source="django/utils/text.py",
        good="'y': '9', 'z': '9',",
        bad="'y': '9', 'z': '0',",
        wrong=(
            '"""Convert a phone number with letters into its numeric equivalent."""',
            '"""Convert a phone number with letters into its numeric equivalent (ampsm)."""',
        ),
        test_path="tests/utils_tests/test_ampsm.py",
        test_text=(
            "import os\n\nimport django\nfrom django.test import SimpleTestCase\n"
            "from django.utils.text import phone2numeric\n\n\n"
            "class AmpsmTests(SimpleTestCase):\n"
            "    def test_z_is_nine(self):\n        self.assertEqual(phone2numeric('z'), '9')\n\n"
            "    def test_a_is_two(self):\n        self.assertEqual(phone2numeric('a'), '2')\n\n"
            "    def test_imports_the_worktree(self):\n"
            "        top = os.path.realpath(os.path.join(os.path.dirname(__file__), '..', '..'))\n"
            "        self.assertTrue(os.path.realpath(django.__file__).startswith(top))\n"
        ),
        f2p=["test_z_is_nine (utils_tests.test_ampsm.AmpsmTests)"],
        p2p=[
            "test_a_is_two (utils_tests.test_ampsm.AmpsmTests)",
            "test_imports_the_worktree (utils_tests.test_ampsm.AmpsmTests)",
        ],
        directive="utils_tests.test_ampsm",  # the official module name, not the path
    ),
    Family(
        key="sympy",
        repo="sympy/sympy",
        version="1.12",
        sdist="sympy==1.12",
        tag="sympy-1.12",
        source="sympy/utilities/misc.py",
        good="        suffix = 'nd'",
        bad="        suffix = 'th2'",
        wrong=(
            '"""Return ordinal number string of num, e.g. 1 becomes 1st.',
            '"""Return ordinal number string of num, e.g. 1 becomes 1st (ampsm).',
        ),
        test_path="sympy/utilities/tests/test_ampsm.py",
        test_text=(
            "import os\n\nimport sympy\nfrom sympy.utilities.misc import ordinal\n\n\n"
            "def test_second():\n    assert ordinal(2) == '2nd'\n\n\n"
            "def test_first():\n    assert ordinal(1) == '1st'\n\n\n"
            "def test_imports_the_worktree():\n"
            "    top = os.path.realpath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))\n"
            "    assert os.path.realpath(sympy.__file__).startswith(top), (sympy.__file__, top)\n\n\n"
            # bin/test ends a file's last line with `[OK]`, which the official parser does not read
            # (nor do real rows list such tests): a last test outside the lists
            "def test_last_of_the_file():\n    pass\n"
        ),
        f2p=["test_second"],
        p2p=["test_first", "test_imports_the_worktree"],
        directive="sympy/utilities/tests/test_ampsm.py",
        extra_files={"bin/test": SYMPY_BIN_TEST},
    ),
]

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
}


def _git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    full = {**os.environ, **GIT_ENV, "GIT_CONFIG_NOSYSTEM": "1", **(env or {})}
    res = subprocess.run(
        ["git", "-c", "commit.gpgsign=false", *args], cwd=cwd, env=full, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    return res.stdout


def _sdist(spec: str) -> Path:
    """The real source distribution from PyPI, downloaded once into the cache."""
    dest = CACHE / "sdists"
    dest.mkdir(parents=True, exist_ok=True)
    name, version = spec.split("==")
    found = [p for p in dest.glob("*.tar.gz") if p.name.lower() == f"{name}-{version}.tar.gz".lower()]
    if not found:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps", "-q", spec, "-d", str(dest)],
            check=True,
            timeout=1200,
        )
        found = [p for p in dest.glob("*.tar.gz") if p.name.lower() == f"{name}-{version}.tar.gz".lower()]
    assert found, f"no sdist of {spec} in {dest}"
    return found[0]


def _diff(repo: Path, path: str, old: str, new: str) -> str:
    file = repo / path
    text = file.read_text()
    assert text.count(old) == 1, f"{old!r} is not once in {path}"
    file.write_text(text.replace(old, new))
    patch = _git(repo, "diff", "--no-color")
    _git(repo, "checkout", "--", path)
    return patch


def _new_file_diff(repo: Path, path: str, text: str) -> str:
    file = repo / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text)
    _git(repo, "add", "-N", path)
    patch = _git(repo, "diff", "--no-color")
    _git(repo, "reset", "-q", "--", path)
    file.unlink()
    return patch


def _build_repo(fam: Family, repos_dir: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The sdist as a git repo (bug included) and its row and four predictions."""
    repo = repos_dir / fam.repo.replace("/", "__")
    with tarfile.open(_sdist(fam.sdist)) as tar:
        top = tar.getnames()[0].split("/")[0]
        tar.extractall(repos_dir, filter="data")
    (repos_dir / top).rename(repo)
    for rel, text in fam.extra_files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
        (repo / rel).chmod(0o755)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A", "-f")
    _git(repo, "commit", "-q", "-m", "sdist")
    source = repo / fam.source  # the bug in a commit of its own: the base commit stays small to `git show`
    text = source.read_text()
    assert text.count(fam.good) == 1, f"{fam.good!r} is not once in {fam.source}"
    source.write_text(text.replace(fam.good, fam.bad))
    _git(repo, "commit", "-q", "-am", "base")
    _git(repo, "tag", fam.tag)
    base = _git(repo, "rev-parse", "HEAD").strip()
    fix = _diff(repo, fam.source, fam.bad, fam.good)
    wrong = _diff(repo, fam.source, *fam.wrong)
    lines = fix.split("\n")
    first = next(i for i, line in enumerate(lines) if line.startswith("-") and not line.startswith("---"))
    lines[first] += "  # not in the file"  # a removed line that is not there: no fuzz makes it apply
    stale = "\n".join(lines)
    row = {
        "instance_id": f"{fam.key}__real-1",
        "repo": fam.repo,
        "version": fam.version,
        "base_commit": base,
        "environment_setup_commit": base,
        "patch": fix,
        "test_patch": _new_file_diff(repo, fam.test_path, fam.test_text),
        "FAIL_TO_PASS": json.dumps(fam.f2p),
        "PASS_TO_PASS": json.dumps(fam.p2p),
        "problem_statement": "",
    }
    return row, {"fix": fix, "empty": "", "wrong": wrong, "stale": stale}


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One invocation over every family and prediction kind, --workers 2 (the environments come
    from the cache after the first run)."""
    root = tmp_path_factory.mktemp("real")
    repos = root / "repos"
    repos.mkdir()
    rows: list[dict[str, Any]] = []
    preds: list[dict[str, Any]] = []
    for fam in FAMILIES:
        row, patches = _build_repo(fam, repos)
        for kind, patch in patches.items():
            iid = f"{fam.key}__{kind}"
            rows.append({**row, "instance_id": iid})
            preds.append({"instance_id": iid, "model_name_or_path": "m", "model_patch": patch})
    dataset = root / "dataset.jsonl"
    dataset.write_text("".join(json.dumps(r) + "\n" for r in rows))
    preds_file = root / "preds.jsonl"
    preds_file.write_text("".join(json.dumps(p) + "\n" for p in preds))
    cfg = root / "cfg"
    cfg.mkdir()
    env = {
        "AMPSM_CONFIG_DIR": str(cfg),
        "AMPSM_BENCH_ENVS": str(CACHE / "envs"),
        "GIT_CONFIG_GLOBAL": str(root / "gitconfig"),
        **GIT_ENV,
    }
    (root / "gitconfig").write_text("[commit]\n\tgpgsign = false\n")
    out = root / "out"
    res = run_cli(
        "bench", "start", "--dataset", str(dataset), "--evaluate", str(preds_file), "--repos-dir", str(repos),
        "--report-dir", str(out), "--run-id", "real", "--workers", "2", "--json", env=env, timeout=3000,
    )  # fmt: skip
    assert res.returncode == 1, res.stderr + res.stdout  # the non-applying patches are errors
    data = json.loads(res.stdout)
    envs = json.loads(run_cli("bench", "env", "list", "--json", env=env).stdout)
    build = run_cli("bench", "env", "build", "--dataset", str(dataset), "--repos-dir", str(repos), "--json", env=env)
    assert build.returncode == 0, build.stderr
    assert sorted((b["repo"], b["built"]) for b in json.loads(build.stdout)) == sorted(
        (f.repo, False) for f in FAMILIES
    )  # one environment per (repo, version), all found in the cache
    report = run_cli("bench", "report", "real", "--markdown", env=env).stdout
    return {
        "rows": {r["instance_id"]: r for r in data["instances"]},
        "instances": {r["instance_id"]: r for r in rows},
        "out": out,
        "envs": envs,
        "markdown": report,
    }


def _log_dir(run: dict[str, Any], iid: str) -> Path:
    return Path(run["out"]) / "logs" / "run_evaluation" / "real" / "m" / iid


@pytest.mark.parametrize("fam", FAMILIES, ids=[f.key for f in FAMILIES])
def test_family_verdicts_follow_the_official_spec(real_run: dict[str, Any], fam: Family) -> None:
    rows = real_run["rows"]
    fix, empty, wrong, stale = (rows[f"{fam.key}__{k}"] for k in ("fix", "empty", "wrong", "stale"))
    assert fix["status"] == "resolved", fix["reason"]
    assert (fix["f2p_passed"], fix["p2p_passed"]) == (len(fam.f2p), len(fam.p2p))
    assert empty["status"] == "empty"
    assert wrong["status"] == "unresolved" and wrong["reason"] == f"FAIL_TO_PASS failing: {fam.f2p[0]}"
    assert stale["status"] == "error" and "did not apply" in stale["reason"]

    spec = MAP_REPO_VERSION_TO_SPECS[fam.repo][fam.version]
    script = (_log_dir(real_run, f"{fam.key}__fix") / "eval.sh").read_text()
    assert spec["install"] in script.splitlines()  # the repo installed as the spec says (editable)
    assert f"{spec['test_cmd']} {fam.directive}" in script.splitlines()  # its test command, official directives
    assert "--no-header" not in script
    env = next(e for e in real_run["envs"] if e.get("repo") == fam.repo and e.get("version") == fam.version)
    assert env["python"] == spec["python"] and env["complete"] and env["current"]
    # the reason rows of `bench report --markdown`
    assert (
        f"| {fam.key}__wrong | m | unresolved | 0/1 | 2/2 | FAIL_TO_PASS failing: {fam.f2p[0]} |"
        in real_run["markdown"]
    )


@pytest.mark.parametrize("fam", FAMILIES, ids=[f.key for f in FAMILIES])
def test_official_grader_agrees_on_the_same_logs(real_run: dict[str, Any], fam: Family) -> None:
    from swebench.harness.grading import get_eval_report
    from swebench.harness.log_parsers.python import MAP_REPO_TO_PARSER_PY
    from swebench.types import TestSpec

    for kind in ("fix", "wrong"):
        iid = f"{fam.key}__{kind}"
        inst = real_run["instances"][iid]
        log_dir = _log_dir(real_run, iid)
        spec = TestSpec(
            instance_id=iid,
            image="",
            eval_script_list=[],
            repo=fam.repo,
            version=fam.version,
            FAIL_TO_PASS=fam.f2p,
            PASS_TO_PASS=fam.p2p,
            log_parser=MAP_REPO_TO_PARSER_PY[fam.repo].__name__,
            eval_type="pass_and_fail",
        )
        pred = {"instance_id": iid, "model_name_or_path": "m", "model_patch": inst["patch"]}
        official = get_eval_report(
            test_spec=spec, prediction=pred, test_log_path=str(log_dir / "test_output.txt"), include_tests_status=True
        )
        ours = json.loads((log_dir / "report.json").read_text())
        assert ours == json.loads(json.dumps(official)), iid
        assert ours[iid]["resolved"] is (kind == "fix")


def test_bad_input_is_a_per_instance_error(real_run: dict[str, Any], tmp_path: Path) -> None:
    """A missing interpreter and a repo missing from --repos-dir: each that instance's error with
    the reason in the report; the run goes on and its exit status says some errored."""
    fam = FAMILIES[0]
    base = real_run["instances"][f"{fam.key}__fix"]
    spec = dict(MAP_REPO_VERSION_TO_SPECS[fam.repo][fam.version], python="2.1")
    repos = Path(real_run["out"]).parent / "repos"
    rows = [
        {**base, "instance_id": "no-python", "env_spec": spec},
        {**base, "instance_id": "no-repo", "repo": "pallets/nowhere"},
        {
            **base,
            "instance_id": "bad-pin",
            "env_spec": {"python": "3.11", "pip_packages": ["flask==0.0.0.0"], "test_cmd": "pytest -rA"},
        },
    ]
    dataset = tmp_path / "d.jsonl"
    dataset.write_text("".join(json.dumps(r) + "\n" for r in rows))
    env = {"AMPSM_BENCH_ENVS": str(tmp_path / "envs")}
    res = run_cli(
        "bench", "start", "--dataset", str(dataset), "-p", "gold", "--repos-dir", str(repos),
        "--report-dir", str(tmp_path / "out"), "--run-id", "bad", "--json", env=env, timeout=900,
    )  # fmt: skip
    assert res.returncode == 1, res.stderr
    by_id = {r["instance_id"]: r for r in json.loads(res.stdout)["instances"]}
    assert by_id["no-python"]["status"] == "error" and "no Python 2.1 interpreter" in by_id["no-python"]["reason"]
    assert by_id["no-repo"]["status"] == "error" and "pallets/nowhere" in by_id["no-repo"]["reason"]
    bad = by_id["bad-pin"]
    assert bad["status"] == "error" and "pip_packages" in bad["reason"] and "flask==0.0.0.0" in bad["reason"]
    log = tmp_path / "out" / "logs" / "run_evaluation" / "bad" / "gold" / "no-python" / "run_instance.log"
    assert "no Python 2.1 interpreter" in log.read_text()
    summary = json.loads((tmp_path / "out" / "gold.bad.json").read_text())
    assert summary["error_ids"] == ["bad-pin", "no-python", "no-repo"]
    assert "no Python 2.1 interpreter" in summary["error_reasons"]["no-python"]
