"""promtool (Debian's `prometheus` package) for the rule and dashboard tests, and the PromQL walks they share.

Tests that use `promtool_bin()` are marked `needs_system_tool`: without promtool they skip with the apt
command on a developer machine, and in CI (tests/conftest.py) the skip fails the run.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import promql_parser
import pytest
import yaml

PROMTOOL_TESTS = Path(__file__).resolve().parents[1] / "promtool"


def promtool_bin() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed: apt-get install prometheus (scripts/system-deps installs it)")
    return found


def promtool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool_bin(), *map(str, args)], capture_output=True, text=True, timeout=120, cwd=cwd, check=False
    )


def check_exprs_with_promtool(exprs: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    """Prometheus's own parser over bare expressions: each becomes a recording rule of one file."""
    rules = [{"record": f"check:expr_{i}", "expr": expr} for i, expr in enumerate(exprs)]
    path = tmp / "exprs.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "exprs", "rules": rules}]}, width=10_000))
    return promtool("check", "rules", path)


def metric_names(expr: str) -> set[str]:
    """Every metric an expression selects, read from its syntax tree (promql-parser)."""
    found: set[str] = set()

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            found.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def matchers(expr: str) -> list[tuple[str, str, str]]:
    """(label, operator, value) of every matcher in an expression."""
    found: list[tuple[str, str, str]] = []

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector):
            found.extend((m.name, str(m.op).rsplit(".", 1)[-1], m.value) for m in node.matchers.matchers)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found
