"""Structured results: every check returns one `CheckResult` made of named sub-checks.

A check never raises into the runner on a server fault: it records what it saw (status code, body
excerpt, timings) so the report can say *why* it failed, not just that it did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["passed", "failed", "not_supported", "skipped"]
STATUSES: tuple[Status, ...] = ("passed", "failed", "not_supported", "skipped")


@dataclass(frozen=True)
class SubCheck:
    name: str
    passed: bool
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


@dataclass
class CheckResult:
    name: str
    status: Status
    subchecks: list[SubCheck] = field(default_factory=list)
    # Seconds unless the key says otherwise (e.g. `output_tokens_per_s`).
    timings: dict[str, float] = field(default_factory=dict)
    # What the server said when something failed (redacted before it is reported).
    evidence: list[str] = field(default_factory=list)
    # Why the check did not run, or a one-line summary of the outcome.
    reason: str = ""
    # Extra facts worth reporting that are not pass/fail (e.g. which reasoning field the server uses).
    info: dict[str, Any] = field(default_factory=dict)
    endpoint: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def summary(self) -> str:
        """One line for the table: the reason, else the first failed sub-check, else the info."""
        if self.reason:
            return self.reason
        failed = [s for s in self.subchecks if not s.passed]
        if failed:
            first = failed[0]
            more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
            return f"{first.name}: {first.detail}{more}"
        return ", ".join(f"{k}={v}" for k, v in self.info.items() if isinstance(v, str | int | float))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "endpoint": self.endpoint,
            "status": self.status,
            "passed": self.passed,
            "reason": self.reason,
            "summary": self.summary(),
            "subchecks": [s.to_dict() for s in self.subchecks],
            "timings": dict(self.timings),
            "info": dict(self.info),
            "evidence": list(self.evidence),
        }


class Recorder:
    """Collects sub-checks for one check; `result()` derives the status from them."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.subchecks: list[SubCheck] = []
        self.timings: dict[str, float] = {}
        self.evidence: list[str] = []
        self.info: dict[str, Any] = {}

    def sub(self, name: str, passed: bool, detail: str = "") -> bool:
        self.subchecks.append(SubCheck(name, bool(passed), detail))
        return bool(passed)

    def fail(self, name: str, detail: str, evidence: str | None = None) -> CheckResult:
        """Record a failed sub-check that ends the check, with optional evidence."""
        self.sub(name, False, detail)
        if evidence:
            self.evidence.append(evidence)
        return self.result()

    def add_evidence(self, text: str) -> None:
        if text and text not in self.evidence:
            self.evidence.append(text)

    def result(self, reason: str = "") -> CheckResult:
        ok = bool(self.subchecks) and all(s.passed for s in self.subchecks)
        return CheckResult(
            name=self.name,
            status="passed" if ok else "failed",
            subchecks=list(self.subchecks),
            timings=dict(self.timings),
            evidence=list(self.evidence),
            reason=reason,
            info=dict(self.info),
        )

    def not_supported(self, reason: str, evidence: str | None = None) -> CheckResult:
        return CheckResult(
            name=self.name,
            status="not_supported",
            subchecks=list(self.subchecks),
            timings=dict(self.timings),
            evidence=[evidence] if evidence else [],
            reason=reason,
            info=dict(self.info),
        )


def skipped(name: str, reason: str) -> CheckResult:
    return CheckResult(name=name, status="skipped", reason=reason)
