"""The fixture benchmark: a toy repository `acme/calc` built with fixed author, committer and
dates (so its shas are the same on every machine) and four instances in the exact official
SWE-bench format, plus predictions files (gold, empty, mixed) in `.json` dict and `.jsonl` forms.

- acme__calc-1: sub() adds; the test patch edits tests/test_ops.py. Gold resolves it.
- acme__calc-2: div() is missing; the test patch adds a NEW test file (P2P empty).
- acme__calc-3: neg() is wrong; the "wrong" patch fixes neg but breaks add (a PASS_TO_PASS test).
- acme__calc-4: square() is missing; carries `eval_script`, `log_parser`, `eval_type`, `image`
  (5.x fields) and an xfail test in FAIL_TO_PASS (XFAIL counts as passing).

`SCRIPTED_FIX` is a command agent that fixes 1 and 2, breaks 3 and does nothing for 4.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

FIXED_ENV = {
    "GIT_AUTHOR_NAME": "Fixture Author",
    "GIT_AUTHOR_EMAIL": "fixture@example.com",
    "GIT_AUTHOR_DATE": "2024-01-02T03:04:05+00:00",
    "GIT_COMMITTER_NAME": "Fixture Author",
    "GIT_COMMITTER_EMAIL": "fixture@example.com",
    "GIT_COMMITTER_DATE": "2024-01-02T03:04:05+00:00",
}
IDS = ["acme__calc-1", "acme__calc-2", "acme__calc-3", "acme__calc-4"]

OPS = """\
def add(a, b):
    return a + b


def sub(a, b):
    return a + b


def mul(a, b):
    return a * b


def neg(x):
    return x
"""
TEST_OPS = """\
from calc.ops import add, mul


def test_add():
    assert add(2, 3) == 5


def test_mul():
    assert mul(2, 3) == 6
"""

SCRIPTED_FIX = '''\
"""A scripted "agent": reads the prompt (AMPSM_PROMPT) and edits the checkout it runs in."""
import os
import pathlib

prompt = os.environ.get("AMPSM_PROMPT", "")
ops = pathlib.Path("calc/ops.py")
text = ops.read_text()
if "subtracting" in prompt:
    ops.write_text(text.replace("def sub(a, b):\\n    return a + b", "def sub(a, b):\\n    return a - b"))
    # its own test edit: a file the test patch touches, so it must stay out of the model patch
    tests = pathlib.Path("tests/test_ops.py")
    tests.write_text(tests.read_text() + "\\n\\ndef test_agent_wrote_this():\\n    assert True\\n")
elif "div(" in prompt:
    ops.write_text(text + "\\n\\ndef div(a, b):\\n    if b == 0:\\n        raise ZeroDivisionError(\\"b is 0\\")\\n    return a / b\\n")
elif "neg(" in prompt:
    text = text.replace("def neg(x):\\n    return x", "def neg(x):\\n    return -x")
    ops.write_text(text.replace("def add(a, b):\\n    return a + b", "def add(a, b):\\n    return a + b + 1"))
print("scripted fix done")
'''


def _git(cwd: Path, *args: str, input: str | None = None) -> str:
    env = {**os.environ, **FIXED_ENV, "GIT_CONFIG_NOSYSTEM": "1"}
    out = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True, input=input)
    return out.stdout


def _diff_of(repo: Path, files: dict[str, str]) -> str:
    """The patch that turns the base checkout into one with `files` written; then reset."""
    for rel, content in files.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        _git(repo, "add", "-N", rel)
    patch = _git(repo, "diff", "--no-color")
    _git(repo, "reset", "-q")
    _git(repo, "checkout", "--", ".")
    _git(repo, "clean", "-fdq")
    return patch


@dataclass
class FixtureBench:
    root: Path
    repos_dir: Path
    repo: Path
    base_commit: str
    dataset: Path  # .jsonl
    dataset_json: Path
    fix_script: Path
    preds: dict[str, Path] = field(default_factory=dict)
    instances: list[dict[str, object]] = field(default_factory=list)

    @property
    def fix_cmd(self) -> str:
        return f"{sys.executable} {self.fix_script}"


def build(root: Path) -> FixtureBench:
    root.mkdir(parents=True, exist_ok=True)
    repos = root / "repos"
    repo = repos / "acme__calc"
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "commit.gpgsign", "false")
    (repo / "calc").mkdir()
    (repo / "calc" / "__init__.py").write_text("")
    (repo / "calc" / "ops.py").write_text(OPS)
    (repo / "tests").mkdir()
    (repo / "tests" / "test_ops.py").write_text(TEST_OPS)
    (repo / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "calc: add, sub, mul, neg")
    base = _git(repo, "rev-parse", "HEAD").strip()

    sub_fixed = OPS.replace("def sub(a, b):\n    return a + b", "def sub(a, b):\n    return a - b")
    div_added = (
        OPS + '\n\ndef div(a, b):\n    if b == 0:\n        raise ZeroDivisionError("b is 0")\n    return a / b\n'
    )
    neg_fixed = OPS.replace("def neg(x):\n    return x", "def neg(x):\n    return -x")
    neg_wrong = neg_fixed.replace("def add(a, b):\n    return a + b", "def add(a, b):\n    return a + b + 1")
    square_added = OPS + "\n\ndef square(x):\n    return x * x\n"
    patches = {
        "acme__calc-1": _diff_of(repo, {"calc/ops.py": sub_fixed}),
        "acme__calc-2": _diff_of(repo, {"calc/ops.py": div_added}),
        "acme__calc-3": _diff_of(repo, {"calc/ops.py": neg_fixed}),
        "acme__calc-4": _diff_of(repo, {"calc/ops.py": square_added}),
    }
    wrong_3 = _diff_of(repo, {"calc/ops.py": neg_wrong})
    test_patches = {
        "acme__calc-1": _diff_of(
            repo,
            {
                "tests/test_ops.py": TEST_OPS.replace("import add, mul", "import add, mul, sub")
                + "\n\ndef test_sub():\n    assert sub(5, 3) == 2\n"
            },
        ),
        "acme__calc-2": _diff_of(
            repo,
            {
                "tests/test_div.py": "import pytest\n\nfrom calc.ops import div\n\n\n"
                "def test_div():\n    assert div(6, 3) == 2\n\n\n"
                "def test_div_by_zero():\n    with pytest.raises(ZeroDivisionError):\n        div(1, 0)\n"
            },
        ),
        "acme__calc-3": _diff_of(
            repo,
            {
                "tests/test_ops.py": TEST_OPS.replace("import add, mul", "import add, mul, neg")
                + "\n\ndef test_neg():\n    assert neg(4) == -4\n"
            },
        ),
        "acme__calc-4": _diff_of(
            repo,
            {
                "tests/test_square.py": "import pytest\n\nfrom calc.ops import square\n\n\n"
                "def test_square():\n    assert square(3) == 9\n\n\n"
                '@pytest.mark.xfail(reason="strings are not numbers")\n'
                'def test_square_str():\n    assert square("a") == "aa"\n'
            },
        ),
    }
    problems = {
        "acme__calc-1": "sub(5, 3) returns 8: sub() is adding instead of subtracting.",
        "acme__calc-2": "Please add div(a, b) to calc.ops; div(a, 0) must raise ZeroDivisionError.",
        "acme__calc-3": "neg(4) returns 4, it should return -4. Fix neg(x).",
        "acme__calc-4": "Add square(x) to calc.ops.",
    }
    tests = {
        "acme__calc-1": (
            ["tests/test_ops.py::test_sub"],
            ["tests/test_ops.py::test_add", "tests/test_ops.py::test_mul"],
        ),
        "acme__calc-2": (["tests/test_div.py::test_div", "tests/test_div.py::test_div_by_zero"], []),
        "acme__calc-3": (
            ["tests/test_ops.py::test_neg"],
            ["tests/test_ops.py::test_add", "tests/test_ops.py::test_mul"],
        ),
        "acme__calc-4": (
            ["tests/test_square.py::test_square", "tests/test_square.py::test_square_str"],
            ["tests/test_ops.py::test_mul"],
        ),
    }
    instances: list[dict[str, object]] = []
    for n, iid in enumerate(IDS):
        f2p, p2p = tests[iid]
        row: dict[str, object] = {
            "repo": "acme/calc",
            "instance_id": iid,
            "base_commit": base,
            "patch": patches[iid],
            "test_patch": test_patches[iid],
            "problem_statement": problems[iid],
            "hints_text": "",
            "created_at": f"2024-01-0{n + 2}T00:00:00Z",
            "version": "0.1",
            "FAIL_TO_PASS": json.dumps(f2p),
            "PASS_TO_PASS": json.dumps(p2p),
            "environment_setup_commit": base,
        }
        if iid == "acme__calc-4":
            row["image"] = "swebench/sweb.eval.x86_64.acme_1776_calc-4:latest"
            row["log_parser"] = "parse_log_pytest"
            row["eval_type"] = "pass_and_fail"
            row["eval_script"] = "\n".join(
                [
                    "#!/bin/bash",
                    "set -uxo pipefail",
                    "cd /testbed",
                    f"git checkout {base} tests/test_ops.py",
                    "git apply -v - <<'EOF_114329324912'",
                    test_patches[iid].rstrip("\n"),
                    "EOF_114329324912",
                    ": '>>>>> Start Test Output'",
                    "python -m pytest --no-header -rA --tb=no -p no:cacheprovider tests/test_square.py tests/test_ops.py",
                    ": '>>>>> End Test Output'",
                    f"git checkout {base} tests/test_ops.py",
                    "",
                ]
            )
        instances.append(row)
    dataset = root / "fixture.jsonl"
    dataset.write_text("".join(json.dumps(r) + "\n" for r in instances))
    dataset_json = root / "fixture.json"
    dataset_json.write_text(json.dumps(instances, indent=2))

    bad_patch = (
        "diff --git a/calc/ops.py b/calc/ops.py\n--- a/calc/ops.py\n+++ b/calc/ops.py\n"
        "@@ -40,3 +40,3 @@ def nothing_here():\n-    return 'this line is not in the file'\n"
        "+    return 'neither is this one'\n"
    )

    def pred(iid: str, patch: str | None, model: str) -> dict[str, object]:
        return {"instance_id": iid, "model_name_or_path": model, "model_patch": patch}

    sets = {
        "gold": [pred(i, patches[i], "fixture/gold") for i in IDS],
        "empty": [pred(i, "", "fixture/empty") for i in IDS],
        "mixed": [
            pred("acme__calc-1", patches["acme__calc-1"], "fixture/mixed"),
            pred("acme__calc-2", "", "fixture/mixed"),
            pred("acme__calc-3", wrong_3, "fixture/mixed"),
            pred("acme__calc-4", bad_patch, "fixture/mixed"),
        ],
    }
    bench = FixtureBench(root, repos, repo, base, dataset, dataset_json, root / "fix.py", instances=instances)
    bench.fix_script.write_text(SCRIPTED_FIX)
    for name, rows in sets.items():
        as_dict = root / f"{name}.json"
        as_dict.write_text(json.dumps({r["instance_id"]: r for r in rows}, indent=2))
        as_lines = root / f"{name}.jsonl"
        as_lines.write_text("".join(json.dumps(r) + "\n" for r in rows))
        bench.preds[f"{name}.json"] = as_dict
        bench.preds[f"{name}.jsonl"] = as_lines
    return bench
