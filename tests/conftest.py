"""Suite-wide rules.

In CI (the ``CI`` environment variable is set) a skipped end-to-end test is a failure: an e2e test that
silently skips proves nothing, so the run must say so loudly instead of going green.
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
    if report.skipped and _in_ci() and item.get_closest_marker("e2e") is not None:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"e2e test skipped in CI, which counts as a failure: {reason}"
