"""Dataset, predictions, log parsing and grading rules (no git, no subprocesses)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ampsm_tui.engine.bench import grading
from ampsm_tui.engine.bench.dataset import Instance, load_dataset, read_instances, write_instances
from ampsm_tui.engine.bench.log_parsers import PARSER_REGISTRY, get_parser, parse_log_pytest
from ampsm_tui.engine.bench.patches import changed_files, test_directives, touched_paths
from ampsm_tui.engine.bench.predictions import Prediction, read_predictions, write_predictions
from ampsm_tui.engine.errors import UsageError

ROW = {
    "repo": "acme/calc",
    "instance_id": "acme__calc-1",
    "base_commit": "a" * 40,
    "patch": "",
    "test_patch": "",
    "problem_statement": "p",
    "hints_text": "",
    "created_at": "2024-01-01",
    "version": "0.1",
    "FAIL_TO_PASS": '["t::a"]',
    "PASS_TO_PASS": "[]",
    "environment_setup_commit": "b" * 40,
    "image": "img:latest",
    "eval_script": "#!/bin/bash",
    "log_parser": "parse_log_pytest",
    "eval_type": "pass_and_fail",
    "some_tool_field": {"kept": True},
}

PYTEST_LOG = """\
+ : '>>>>> Start Test Output'
============================= test session starts ==============================
collected 6 items

tests/test_x.py .Fsx.E                                                   [100%]

=========================== short test summary info ============================
PASSED tests/test_x.py::test_ok
PASSED tests/test_x.py::test_param[a-b]
SKIPPED [1] tests/test_x.py:12: not on this platform
SKIPPED tests/test_x.py::test_skipped
XFAIL tests/test_x.py::test_xfail - known bug
FAILED tests/test_x.py::test_bad - AssertionError: assert 1 == 2
ERROR tests/test_x.py::test_err - fixture 'nope' not found
============== 2 passed, 1 failed, 1 skipped, 1 xfailed, 1 error ===============
+ : '>>>>> End Test Output'
>>>>> Test Exit Code: 1
"""


def _write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_instance_accepts_json_string_or_list_and_keeps_unknown_fields(tmp_path: Path) -> None:
    as_list = {**ROW, "instance_id": "acme__calc-2", "FAIL_TO_PASS": ["t::b"], "PASS_TO_PASS": ["t::c"]}
    path = _write_jsonl(tmp_path / "d.jsonl", [ROW, as_list])
    first, second = read_instances(path)
    assert first.FAIL_TO_PASS == ["t::a"] and first.PASS_TO_PASS == []
    assert second.FAIL_TO_PASS == ["t::b"] and second.PASS_TO_PASS == ["t::c"]
    assert first.extra == {"some_tool_field": {"kept": True}}
    assert first.eval_type == "pass_and_fail" and first.image == "img:latest"
    out = write_instances(tmp_path / "out.json", [first])
    written = json.loads(out.read_text())[0]
    assert written["FAIL_TO_PASS"] == '["t::a"]'  # the official encoding: a JSON string
    assert written["some_tool_field"] == {"kept": True}
    assert set(ROW) <= set(written)


def test_dataset_json_list_and_dict_and_bad_rows(tmp_path: Path) -> None:
    (tmp_path / "l.json").write_text(json.dumps([ROW]))
    (tmp_path / "d.json").write_text(json.dumps({"acme__calc-1": ROW}))
    assert read_instances(tmp_path / "l.json")[0].instance_id == "acme__calc-1"
    assert read_instances(tmp_path / "d.json")[0].instance_id == "acme__calc-1"
    (tmp_path / "bad.jsonl").write_text(json.dumps(ROW) + "\n{not json\n")
    with pytest.raises(UsageError, match=r"bad\.jsonl:2"):
        read_instances(tmp_path / "bad.jsonl")
    _write_jsonl(tmp_path / "dup.jsonl", [ROW, ROW])
    with pytest.raises(UsageError, match="duplicate"):
        read_instances(tmp_path / "dup.jsonl")
    _write_jsonl(tmp_path / "nobase.jsonl", [{"instance_id": "x"}])
    with pytest.raises(UsageError, match="base_commit"):
        read_instances(tmp_path / "nobase.jsonl")


def test_select_ids_limit_and_seeded_shuffle(tmp_path: Path) -> None:
    rows = [{**ROW, "instance_id": f"i-{n}"} for n in range(10)]
    path = _write_jsonl(tmp_path / "d.jsonl", rows)
    assert [i.instance_id for i in load_dataset(path, instance_ids=["i-3", "i-1"])] == ["i-1", "i-3"]
    assert [i.instance_id for i in load_dataset(path, limit=2)] == ["i-0", "i-1"]
    a = [i.instance_id for i in load_dataset(path, shuffle=True, seed=7)]
    b = [i.instance_id for i in load_dataset(path, shuffle=True, seed=7)]
    c = [i.instance_id for i in load_dataset(path, shuffle=True, seed=8)]
    assert a == b and a != c and sorted(a) == sorted(r["instance_id"] for r in rows)  # type: ignore[type-var]
    assert [i.instance_id for i in load_dataset(path, shuffle=True, seed=7, limit=3)] == a[:3]
    with pytest.raises(UsageError, match="nope"):
        load_dataset(path, instance_ids=["nope"])


def test_predictions_three_shapes_roundtrip(tmp_path: Path) -> None:
    preds = [
        Prediction(instance_id="a", model_name_or_path="org/m", model_patch="diff"),
        Prediction(instance_id="b", model_name_or_path="org/m", model_patch=""),
        Prediction(instance_id="c", model_name_or_path="org/m", model_patch=None, extra_key=1),  # type: ignore[call-arg]
    ]
    for name, shape in (("p.jsonl", "auto"), ("p.json", "list"), ("d.json", "dict")):
        path = write_predictions(tmp_path / name, preds, shape=shape)  # type: ignore[arg-type]
        back = read_predictions(path)
        assert list(back) == ["a", "b", "c"]
        assert back["a"].model_patch == "diff" and back["a"].log_name == "org__m"
        assert not back["a"].is_empty and back["b"].is_empty and back["c"].is_empty
        assert back["c"].model_extra == {"extra_key": 1}
    assert isinstance(json.loads((tmp_path / "d.json").read_text()), dict)
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(UsageError):
        read_predictions(tmp_path / "x.txt")


def test_pytest_parser_official_statuses() -> None:
    sm = parse_log_pytest(PYTEST_LOG)
    assert sm == {
        "tests/test_x.py::test_ok": "PASSED",
        "tests/test_x.py::test_param[a-b]": "PASSED",
        "tests/test_x.py::test_skipped": "SKIPPED",
        "tests/test_x.py::test_xfail": "XFAIL",
        "tests/test_x.py::test_bad": "FAILED",
        "tests/test_x.py::test_err": "ERROR",
    }
    assert get_parser(None) is parse_log_pytest
    assert {"parse_log_pytest", "parse_log_pytest_options", "parse_log_pytest_v2"} <= set(PARSER_REGISTRY)
    with pytest.raises(UsageError, match="unknown log_parser"):
        get_parser("parse_log_cobol")


def _inst(f2p: list[str], p2p: list[str], **kw: object) -> Instance:
    return Instance.model_validate({**ROW, "FAIL_TO_PASS": f2p, "PASS_TO_PASS": p2p, **kw})


def _report(inst: Instance, log: str, patch: str | None = "diff") -> dict[str, object]:
    pred = Prediction(instance_id=inst.instance_id, model_name_or_path="m", model_patch=patch)
    return grading.get_eval_report(inst, pred, log)[inst.instance_id]  # type: ignore[no-any-return]


def test_grading_rules() -> None:
    ok = "tests/test_x.py::test_ok"
    xfail = "tests/test_x.py::test_xfail"
    skipped = "tests/test_x.py::test_skipped"
    bad = "tests/test_x.py::test_bad"
    # XFAIL counts as passing for FAIL_TO_PASS; a skipped PASS_TO_PASS test is maintained
    assert _report(_inst([ok, xfail], [skipped]), PYTEST_LOG)["resolved"] is True
    # a skipped FAIL_TO_PASS test is not a resolution
    assert _report(_inst([skipped], []), PYTEST_LOG)["resolved"] is False
    # a failing or missing test fails; empty lists count as all passing
    assert _report(_inst([ok], [bad]), PYTEST_LOG)["resolved"] is False
    entry = _report(_inst(["tests/test_x.py::missing"], []), PYTEST_LOG)
    assert entry["resolved"] is False
    assert entry["tests_status"]["FAIL_TO_PASS"]["failure"] == ["tests/test_x.py::missing"]  # type: ignore[index]
    assert _report(_inst([], []), PYTEST_LOG)["resolved"] is True
    # fail_only: only FAILED counts against
    assert _report(_inst(["tests/test_x.py::missing"], [], eval_type="fail_only"), PYTEST_LOG)["resolved"] is True
    # no markers / a failure marker: not applied, not resolved
    no_markers = _report(_inst([ok], []), PYTEST_LOG.replace(">>>>> End Test Output", ""))
    assert no_markers["patch_successfully_applied"] is False and no_markers["resolved"] is False
    timed = _report(_inst([ok], []), PYTEST_LOG + "\n>>>>> Tests Timed Out\n")
    assert timed["patch_successfully_applied"] is False
    # a None patch is recorded as such
    assert _report(_inst([ok], []), PYTEST_LOG, patch=None)["patch_is_None"] is True
    # exit code 1 with only passing lines: the log does not describe the run
    forged = "+ : '>>>>> Start Test Output'\nPASSED a::b\n+ : '>>>>> End Test Output'\n>>>>> Test Exit Code: 1\n"
    assert _report(_inst(["a::b"], []), forged)["patch_successfully_applied"] is False
    # truncated parametrised ids match by prefix when the candidates agree
    assert _report(_inst(["tests/test_x.py::test_param[a-"], []), PYTEST_LOG)["resolved"] is True


def test_patch_headers() -> None:
    patch = (
        "diff --git a/src/m.py b/src/m.py\n--- a/src/m.py\n+++ b/src/m.py\n@@ -1,2 +1,2 @@\n"
        "--- not a header: a removed line starting with two dashes\n+x\n"
        "diff --git a/tests/test_new.py b/tests/test_new.py\nnew file mode 100644\n--- /dev/null\n"
        "+++ b/tests/test_new.py\n@@ -0,0 +1 @@\n+def test_a(): pass\n"
        "diff --git a/tests/data.json b/tests/data.json\n--- a/tests/data.json\n+++ b/tests/data.json\n@@ -1 +1 @@\n-1\n+2\n"
    )
    assert [c.path for c in changed_files(patch)] == ["src/m.py", "tests/test_new.py", "tests/data.json"]
    assert changed_files(patch)[1].old is None
    assert touched_paths(patch) == ["src/m.py", "tests/test_new.py", "tests/data.json"]
    assert test_directives(patch) == ["src/m.py", "tests/test_new.py"]


@pytest.mark.skipif(not grading.official_available(), reason="the official swebench package is not installed")
def test_parser_and_grader_agree_with_official_package(tmp_path: Path) -> None:
    from swebench.harness.log_parsers import PARSER_REGISTRY as OFFICIAL

    for name in ("parse_log_pytest", "parse_log_pytest_options", "parse_log_pytest_v2"):
        assert PARSER_REGISTRY[name](PYTEST_LOG) == OFFICIAL[name](PYTEST_LOG, None)
    cases = [
        (["tests/test_x.py::test_ok", "tests/test_x.py::test_xfail"], ["tests/test_x.py::test_skipped"], PYTEST_LOG),
        (["tests/test_x.py::test_skipped"], [], PYTEST_LOG),
        (["tests/test_x.py::test_ok"], ["tests/test_x.py::test_bad"], PYTEST_LOG),
        ([], [], PYTEST_LOG),
        (["tests/test_x.py::test_ok"], [], PYTEST_LOG.replace(">>>>> End Test Output", "")),
        (["tests/test_x.py::test_ok"], [], PYTEST_LOG + "\n>>>>> Tests Timed Out\n"),
        (["tests/test_x.py::test_param[a-"], [], PYTEST_LOG),
    ]
    for n, (f2p, p2p, log) in enumerate(cases):
        inst = _inst(f2p, p2p)
        pred = Prediction(instance_id=inst.instance_id, model_name_or_path="m", model_patch="diff")
        path = tmp_path / f"log{n}.txt"
        path.write_text(log)
        assert grading.get_eval_report(inst, pred, log) == grading.get_eval_report_official(inst, pred, str(path)), n
