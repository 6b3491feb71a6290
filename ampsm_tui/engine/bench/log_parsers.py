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
