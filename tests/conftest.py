"""Suite-wide rules.

In CI (the ``CI`` environment variable is set) a skipped end-to-end test is a failure: an e2e test that
silently skips proves nothing, so the run must say so loudly instead of going green. The same holds for a
test marked ``needs_system_tool`` (a unit test that runs a system binary such as promtool): on a developer
machine without the tool it skips and names the apt command; in CI the tool must be there.
"""

from __future__ import annotations

import os

import pytest

pytest_plugins = [
    "tests.e2e.fixtures_vllm",
    "tests.e2e.fixtures_testbed",
]


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    strict = [m for m in ("e2e", "needs_system_tool") if item.get_closest_marker(m) is not None]
    if report.skipped and _in_ci() and strict:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"{strict[0]} test skipped in CI, which counts as a failure: {reason}"
