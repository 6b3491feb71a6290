"""Grading with the official rules, ported from `swebench.harness.grading` (5.x).

Resolved = every FAIL_TO_PASS test passes (PASSED or XFAIL) and every PASS_TO_PASS test is
maintained (passes, or is skipped); an empty list counts as all passing. A log without both
markers, with a failure marker, or with no parsed result and no sign a suite ran, is "not found":
the patch is then not counted as applied and the instance is not resolved.
"""

from __future__ import annotations

import re
from typing import Any

from . import markers as m
from .dataset import Instance
from .log_parsers import TestStatus, get_parser
from .predictions import Prediction
from .swebench_specs import MAP_REPO_TO_PARSER

SUITE_RAN = re.compile(
    r"Executed [1-9]\d* of \d+"
    r"|TOTAL: [1-9]\d* (?:SUCCESS|FAILED)"
    r"|[1-9]\d* passing"
    r"|Tests:\s+[1-9]\d*"
    r"|Test Suites:\s+(?:\d+ \w+, )*[1-9]\d* total"
    r"|^# tests [1-9]\d*"
    r"|[1-9]\d* specs?, \d+ failures?"
    r"|': ok$",
    re.M,
)
TEST_EXIT_CODE_RE = re.compile(rf"{re.escape(m.TEST_EXIT_CODE)}:\s*(-?\d+)")
_PASSING = (TestStatus.PASSED.value, TestStatus.XFAIL.value)

#: (reason, tier, pattern): the official infra_failure signatures; advisory only.
INFRA_SIGNATURES: tuple[tuple[str, str, re.Pattern[str]], ...] = tuple(
    (reason, tier, re.compile(pattern, re.M))
    for reason, tier, pattern in (
        ("browser_launch_failed", "environment", r"Failed to launch|Failed to connect to the bus"),
        ("display_unavailable", "environment", r"cannot open display|Missing X server|unable to open X display"),
        ("out_of_memory", "environment", r"Cannot allocate memory|OutOfMemoryError|^Killed$"),
        ("container_unavailable", "environment", r"Error response from daemon|Cannot connect to the Docker daemon"),
        ("network_unreachable", "environment", r"Could not resolve host|Temporary failure in name resolution"),
        ("missing_module", "ambiguous", r"Cannot find module|MODULE_NOT_FOUND|ModuleNotFoundError"),
        ("no_tests_collected", "ambiguous", r"no tests ran|collected 0 items"),
        ("tests_timed_out", "ambiguous", r"Timeout error: \d+ seconds exceeded"),
    )
)


def classify_text(text: str) -> tuple[str, str] | None:
    for reason, tier, pattern in INFRA_SIGNATURES:
        if text and pattern.search(text):
            return reason, tier
    return None


def parse_test_exit_code(content: str) -> int | None:
    match = TEST_EXIT_CODE_RE.search(content)
    return int(match.group(1)) if match else None


def _resolve_case(case: str, sm: dict[str, str]) -> str | None:
    """The status-map key for `case`; truncated parametrised ids match by prefix when all
    candidates agree on pass-vs-fail (the official workaround for SWE-bench issue #290)."""
    if case in sm:
        return case
    if case.count("[") > case.count("]"):
        matches = [k for k in sm if k.startswith(case)]
        if matches and len({sm[k] in _PASSING for k in matches}) == 1:
            return matches[0]
    return None


def test_passed(case: str, sm: dict[str, str]) -> bool:
    key = _resolve_case(case, sm)
    return key is not None and sm[key] in _PASSING


def test_maintained(case: str, sm: dict[str, str]) -> bool:
    """PASS_TO_PASS: a skipped test is not a regression."""
    key = _resolve_case(case, sm)
    return test_passed(case, sm) or (key is not None and sm[key] == TestStatus.SKIPPED.value)


def test_failed(case: str, sm: dict[str, str]) -> bool:
    key = _resolve_case(case, sm)
    return key is None or sm[key] in (TestStatus.FAILED.value, TestStatus.ERROR.value, TestStatus.SKIPPED.value)


test_passed.__test__ = False  # type: ignore[attr-defined]
test_maintained.__test__ = False  # type: ignore[attr-defined]
test_failed.__test__ = False  # type: ignore[attr-defined]


def parser_for(instance: Instance) -> str:
    """The row's own `log_parser` (5.x rows), else the official parser of its repo (so django
    rows get parse_log_django without saying so), else pytest's."""
    return instance.log_parser or MAP_REPO_TO_PARSER.get(instance.repo) or "parse_log_pytest"


def get_logs_eval(content: str, log_parser: str | None) -> tuple[dict[str, str], bool]:
    """(status map, found) from a whole test_output.txt."""
    parser = get_parser(log_parser)
    if any(code in content for code in (m.APPLY_PATCH_FAIL, m.RESET_FAILED, m.TESTS_ERROR, m.TESTS_TIMEOUT)):
        return {}, False
    if not (m.START_TEST_OUTPUT in content and m.END_TEST_OUTPUT in content):
        return {}, False
    sliced = content.split(m.START_TEST_OUTPUT)[1].split(m.END_TEST_OUTPUT)[0]
    status_map = parser(sliced)
    if not status_map:
        status_map = parser(content)
    if not status_map and not SUITE_RAN.search(content):
        return {}, False
    exit_code = parse_test_exit_code(content)
    if (
        exit_code not in (None, 0)
        and status_map
        and not any(s in (TestStatus.FAILED.value, TestStatus.ERROR.value) for s in status_map.values())
    ):
        return {}, False
    return status_map, True


def get_eval_tests_report(
    status_map: dict[str, str], f2p: list[str], p2p: list[str], *, eval_type: str | None = None
) -> dict[str, dict[str, list[str]]]:
    fail_only = eval_type == "fail_only"

    def check(case: str, success: list[str], failure: list[str], *, maintained: bool) -> None:
        if fail_only:
            (failure if status_map.get(case) == TestStatus.FAILED.value else success).append(case)
        elif (test_maintained if maintained else test_passed)(case, status_map):
            success.append(case)
        elif test_failed(case, status_map):
            failure.append(case)

    f2p_ok: list[str] = []
    f2p_bad: list[str] = []
    for case in f2p:
        check(case, f2p_ok, f2p_bad, maintained=False)
    p2p_ok: list[str] = []
    p2p_bad: list[str] = []
    for case in p2p:
        check(case, p2p_ok, p2p_bad, maintained=True)
    return {
        m.FAIL_TO_PASS: {"success": f2p_ok, "failure": f2p_bad},
        m.PASS_TO_PASS: {"success": p2p_ok, "failure": p2p_bad},
        m.FAIL_TO_FAIL: {"success": [], "failure": []},
        m.PASS_TO_FAIL: {"success": [], "failure": []},
    }


def _ratio(part: dict[str, list[str]]) -> float:
    total = len(part["success"]) + len(part["failure"])
    return 1.0 if total == 0 else len(part["success"]) / total


def get_resolution_status(report: dict[str, dict[str, list[str]]]) -> str:
    f2p = _ratio(report[m.FAIL_TO_PASS])
    p2p = _ratio(report[m.PASS_TO_PASS])
    if f2p == 1 and p2p == 1:
        return m.RESOLVED_FULL
    if 0 < f2p < 1 and p2p == 1:
        return m.RESOLVED_PARTIAL
    return m.RESOLVED_NO


def get_eval_report(instance: Instance, prediction: Prediction, test_output: str) -> dict[str, Any]:
    """The per-instance `report.json` content, keyed by instance id, as the official harness writes it."""
    iid = prediction.instance_id
    entry: dict[str, Any] = {
        "patch_is_None": False,
        "patch_exists": False,
        "patch_successfully_applied": False,
        "resolved": False,
        "infra_failure": False,
    }
    report = {iid: entry}
    if prediction.model_patch is None:
        entry["patch_is_None"] = True
        return report
    entry["patch_exists"] = True
    status_map, found = get_logs_eval(test_output, parser_for(instance))
    if not found:
        classification = classify_text(test_output)
        if classification:
            entry["infra_failure"] = classification[1] == "environment"
            entry["infra_failure_reason"] = classification[0]
        return report
    entry["patch_successfully_applied"] = True
    tests = get_eval_tests_report(
        status_map, instance.FAIL_TO_PASS, instance.PASS_TO_PASS, eval_type=instance.eval_type
    )
    entry["resolved"] = get_resolution_status(tests) == m.RESOLVED_FULL
    entry["tests_status"] = tests
    return report


def official_available() -> bool:
    try:
        import swebench.harness.grading  # noqa: F401
    except Exception:
        return False
    return True


def get_eval_report_official(
    instance: Instance, prediction: Prediction, test_output_path: str
) -> dict[str, Any]:  # pragma: no cover - exercised only where the optional extra is installed
    """The same report from the official package (extra `ampsm_tui[swebench]`)."""
    from swebench.harness.grading import get_eval_report as official
    from swebench.types import TestSpec

    spec = TestSpec(
        instance_id=instance.instance_id,
        image=instance.image or "",
        eval_script_list=[],
        repo=instance.repo,
        version=instance.version,
        FAIL_TO_PASS=instance.FAIL_TO_PASS,
        PASS_TO_PASS=instance.PASS_TO_PASS,
        log_parser=parser_for(instance),
        eval_type=instance.eval_type or "pass_and_fail",
    )
    pred = prediction.model_dump(mode="json")
    return dict(official(test_spec=spec, prediction=pred, test_log_path=test_output_path, include_tests_status=True))
