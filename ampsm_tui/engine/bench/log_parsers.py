"""Test-log parsers: a log's text to `{test name: status}`, with the official status names.

Ported from the official package's `harness/log_parsers/python.py` line for line, so a log
parses to the same map here and there (a test in test_bench_grading proves it when the package
is installed). More parsers are added with `@register("parse_log_<name>")`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum

from ..errors import UsageError


class TestStatus(StrEnum):
    __test__ = False  # not a pytest class

    FAILED = "FAILED"
    PASSED = "PASSED"
    SKIPPED = "SKIPPED"
    ERROR = "ERROR"
    XFAIL = "XFAIL"


Parser = Callable[[str], dict[str, str]]
PARSER_REGISTRY: dict[str, Parser] = {}
DEFAULT_PARSER = "parse_log_pytest"

_STATUSES = tuple(s.value for s in TestStatus)
_SKIP_SUMMARY_COUNT = re.compile(r"^\[\d+\]$")


def register(name: str) -> Callable[[Parser], Parser]:
    def add(fn: Parser) -> Parser:
        PARSER_REGISTRY[name] = fn
        return fn

    return add


def get_parser(name: str | None) -> Parser:
    key = name or DEFAULT_PARSER
    try:
        return PARSER_REGISTRY[key]
    except KeyError:
        known = ", ".join(sorted(PARSER_REGISTRY))
        raise UsageError(f"unknown log_parser {key!r} (known: {known})") from None


def _is_skip_summary(status: str, name: str) -> bool:
    """pytest's `SKIPPED [N] path:line: reason` summary line names no test."""
    return status == TestStatus.SKIPPED.value and bool(_SKIP_SUMMARY_COUNT.match(name))


@register("parse_log_pytest")
def parse_log_pytest(log: str) -> dict[str, str]:
    """`pytest -rA` short summary lines: `PASSED tests/x.py::test_a`, `FAILED ... - message`."""
    status_map: dict[str, str] = {}
    for line in log.split("\n"):
        if line.startswith(_STATUSES):
            if line.startswith(TestStatus.FAILED.value):
                line = line.replace(" - ", " ")
            parts = line.split()
            if len(parts) <= 1 or _is_skip_summary(parts[0], parts[1]):
                continue
            status_map[parts[1]] = parts[0]
    return status_map


_OPTION = re.compile(r"(.*?)\[(.*)\]")


@register("parse_log_pytest_options")
def parse_log_pytest_options(log: str) -> dict[str, str]:
    """As pytest, with parametrize ids that are absolute paths cut to their last component."""
    status_map: dict[str, str] = {}
    for line in log.split("\n"):
        if line.startswith(_STATUSES):
            if line.startswith(TestStatus.FAILED.value):
                line = line.replace(" - ", " ")
            parts = line.split()
            if len(parts) <= 1 or _is_skip_summary(parts[0], parts[1]):
                continue
            has_option = _OPTION.search(parts[1])
            if has_option:
                main, option = has_option.groups()
                if option.startswith("/") and not option.startswith("//") and "*" not in option:
                    option = "/" + option.split("/")[-1]
                name = f"{main}[{option}]"
            else:
                name = parts[1]
            status_map[name] = parts[0]
    return status_map


_ESCAPES = str.maketrans("", "", "".join(chr(c) for c in range(1, 32)))


@register("parse_log_pytest_v2")
def parse_log_pytest_v2(log: str) -> dict[str, str]:
    """Colour codes stripped; also the `name STATUS` form of older pytest versions."""
    status_map: dict[str, str] = {}
    for line in log.split("\n"):
        line = re.sub(r"\[(\d+)m", "", line).translate(_ESCAPES)
        if line.startswith(_STATUSES):
            if line.startswith(TestStatus.FAILED.value):
                line = line.split(" - ", 1)[0]
            parts = line.split()
            if len(parts) >= 2 and not _is_skip_summary(parts[0], parts[1]):
                status_map[" ".join(parts[1:])] = parts[0]
        elif line.endswith(_STATUSES):
            parts = line.split()
            if len(parts) >= 2:
                status_map[" ".join(parts[:-1])] = parts[-1]
    return status_map


_DJANGO_PASS_SUFFIXES = (" ... ok", " ... OK", " ...  OK")
_DJANGO_INTERRUPTED = (
    r"^(.*?)\s\.\.\.\sTesting\ against\ Django\ installed\ in\ ((?s:.*?))\ silenced\)\.\nok$",
    r"^(.*?)\s\.\.\.\sInternal\ Server\ Error:\ \/(.*)\/\nok$",
    r"^(.*?)\s\.\.\.\sSystem check identified no issues \(0 silenced\)\nok$",
)


@register("parse_log_django")
def parse_log_django(log: str) -> dict[str, str]:
    """Django's runtests.py at --verbosity 2: `test_x (module.Class) ... ok|FAIL|ERROR|skipped`,
    with the official workarounds for results interrupted by other output."""
    status_map: dict[str, str] = {}
    prev_test: str | None = None
    for raw in log.split("\n"):
        line = raw.strip()
        if "--version is equivalent to version" in line:
            status_map["--version is equivalent to version"] = TestStatus.PASSED.value
        if " ... " in line:
            prev_test = line.split(" ... ")[0]
        for suffix in _DJANGO_PASS_SUFFIXES:
            if line.endswith(suffix):
                if line.strip().startswith("Applying sites.0002_alter_domain_unique...test_no_migrations"):
                    line = line.split("...", 1)[-1].strip()
                status_map[line.rsplit(suffix, 1)[0]] = TestStatus.PASSED.value
                break
        if " ... skipped" in line:
            status_map[line.split(" ... skipped")[0]] = TestStatus.SKIPPED.value
        if line.endswith(" ... FAIL"):
            status_map[line.split(" ... FAIL")[0]] = TestStatus.FAILED.value
        if line.startswith("FAIL:"):
            status_map[line.split()[1].strip()] = TestStatus.FAILED.value
        if line.endswith(" ... ERROR"):
            status_map[line.split(" ... ERROR")[0]] = TestStatus.ERROR.value
        if line.startswith("ERROR:"):
            status_map[line.split()[1].strip()] = TestStatus.ERROR.value
        if line.lstrip().startswith("ok") and prev_test is not None:
            status_map[prev_test] = TestStatus.PASSED.value
    for pattern in _DJANGO_INTERRUPTED:
        for match in re.finditer(pattern, log, re.MULTILINE):
            status_map[match.group(1)] = TestStatus.PASSED.value
    return status_map


@register("parse_log_sympy")
def parse_log_sympy(log: str) -> dict[str, str]:
    """SymPy's bin/test --verbose: `test_name ok|F|E`, and failure headers `___ path.py:test ___`."""
    status_map: dict[str, str] = {}
    for match in re.findall(r"(_*) (.*)\.py:(.*) (_*)", log):
        status_map[f"{match[1]}.py:{match[2]}"] = TestStatus.FAILED.value
    for raw in log.split("\n"):
        line = raw.strip()
        if line.startswith("test_"):
            if line.endswith(" E"):
                status_map[line.split()[0]] = TestStatus.ERROR.value
            if line.endswith(" F"):
                status_map[line.split()[0]] = TestStatus.FAILED.value
            if line.endswith(" ok"):
                status_map[line.split()[0]] = TestStatus.PASSED.value
    return status_map


@register("parse_log_seaborn")
def parse_log_seaborn(log: str) -> dict[str, str]:
    status_map: dict[str, str] = {}
    for line in log.split("\n"):
        parts = line.split()
        if len(parts) < 2:
            continue
        if line.startswith(TestStatus.FAILED.value):
            status_map[parts[1]] = TestStatus.FAILED.value
        elif f" {TestStatus.PASSED.value} " in line:
            if parts[1] == TestStatus.PASSED.value:
                status_map[parts[0]] = TestStatus.PASSED.value
        elif line.startswith(TestStatus.PASSED.value):
            status_map[parts[1]] = TestStatus.PASSED.value
    return status_map


@register("parse_log_matplotlib")
def parse_log_matplotlib(log: str) -> dict[str, str]:
    status_map: dict[str, str] = {}
    for line in log.split("\n"):
        line = line.replace("MouseButton.LEFT", "1").replace("MouseButton.RIGHT", "3")
        if line.startswith(_STATUSES):
            if line.startswith(TestStatus.FAILED.value):
                line = line.replace(" - ", " ")
            parts = line.split()
            if len(parts) <= 1 or _is_skip_summary(parts[0], parts[1]):
                continue
            status_map[parts[1]] = parts[0]
    return status_map


#: The official per-repo aliases (`parse_log_flask` is `parse_log_pytest`, ...), so a row's
#: `log_parser` may name either.
for _alias, _target in {
    "parse_log_astroid": "parse_log_pytest",
    "parse_log_flask": "parse_log_pytest",
    "parse_log_marshmallow": "parse_log_pytest",
    "parse_log_pvlib": "parse_log_pytest",
    "parse_log_pyvista": "parse_log_pytest",
    "parse_log_sqlfluff": "parse_log_pytest",
    "parse_log_xarray": "parse_log_pytest",
    "parse_log_pydicom": "parse_log_pytest_options",
    "parse_log_requests": "parse_log_pytest_options",
    "parse_log_pylint": "parse_log_pytest_options",
    "parse_log_astropy": "parse_log_pytest_v2",
    "parse_log_scikit": "parse_log_pytest_v2",
    "parse_log_sphinx": "parse_log_pytest_v2",
}.items():
    PARSER_REGISTRY[_alias] = PARSER_REGISTRY[_target]
