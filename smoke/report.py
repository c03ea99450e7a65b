"""Reports: a terminal table (colour on a TTY), JSON, and JUnit XML for CI systems.

Every string leaving here goes through the redactor, and is redacted before it is shortened, so a key
echoed back by a server (or typed into a URL) never reaches the terminal, a JSON file or a CI artifact,
not even in part. Server text is also made harmless for each format: control characters (a terminal
escape sequence, a NUL) are shown escaped in the table and dropped from the XML, which can not hold them.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

from smoke.endpoint import Redactor
from smoke.result import CheckResult
from smoke.runner import SmokeReport

LABELS = {"passed": "PASS", "failed": "FAIL", "not_supported": "N/S", "skipped": "SKIP"}
COLOURS = {"passed": "32", "failed": "31", "not_supported": "33", "skipped": "90"}
LOAD_KEYS = (
    "output_tokens_per_s",
    "ttft_ms_p50",
    "ttft_ms_p90",
    "ttft_ms_p99",
    "itl_ms_p50",
    "itl_ms_p90",
    "itl_ms_p99",
    "errors",
)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# XML 1.0 allows tab, newline, carriage return and the rest of Unicode except surrogates and U+FFFE/F.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _printable(text: str) -> str:
    """Control characters as visible escapes, so a server can not drive the terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _paint(text: str, status: str, colour: bool) -> str:
    return f"\033[{COLOURS[status]}m{text}\033[0m" if colour else text


def _elapsed(result: CheckResult) -> float:
    return result.timings.get("total_s", 0.0)


def render_table(
    report: SmokeReport, redact: Redactor, *, colour: bool = False, verbose: bool = False
) -> str:
    multi = len(report.endpoints) > 1
    lines: list[str] = []
    width = max([len(r.name) for r in report.results] + [5])

    def show(text: str, limit: int | None = None) -> str:
        text = redact(text) if limit is None else redact.clip(text, limit)
        return _printable(text)

    for endpoint in report.endpoints:
        rows = [r for r in report.results if r.endpoint == endpoint.display_url]
        lines.append(show(f"{endpoint.display_url}  model={endpoint.model}  profile={endpoint.profile.name}"))
        for r in rows:
            label = _paint(f"{LABELS[r.status]:<4}", r.status, colour)
            summary = show(r.summary(), None if verbose else 110)
            lines.append(f"  {r.name:<{width}}  {label}  {_elapsed(r):6.2f}s  {summary}")
            if r.status == "failed" or (verbose and r.subchecks):
                for sc in r.subchecks:
                    if verbose or not sc.passed:
                        mark = "ok " if sc.passed else "BAD"
                        lines.append(f"  {'':<{width}}    {mark} {show(f'{sc.name}: {sc.detail}')}")
                for ev in r.evidence[:3]:
                    text = redact(ev) if verbose else redact.clip(ev, 400, " ...[more with --verbose]")
                    lines.append(f"  {'':<{width}}    evidence: {_printable(text)}")
        load = next((r for r in rows if r.name == "load" and r.info.get("requests")), None)
        if load is not None:
            facts = ", ".join(f"{k}={load.info[k]}" for k in LOAD_KEYS if k in load.info)
            lines.append(f"  load probe: {show(facts)}")
        if multi:
            lines.append("")
    counts = report.counts()
    verdict = "OK" if report.exit_code == 0 else "FAILED"
    lines.append(
        f"{_paint(verdict, 'passed' if report.exit_code == 0 else 'failed', colour)}: "
        f"{counts['passed']} passed, {counts['failed']} failed, {counts['not_supported']} not supported, "
        f"{counts['skipped']} skipped in {report.duration_s:.1f}s "
        f"(readiness wait {report.readiness_wait_s():.1f}s)"
    )
    return "\n".join(lines)


def _redact_obj(obj: Any, redact: Redactor) -> Any:
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {k: _redact_obj(v, redact) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_redact_obj(v, redact) for v in obj]
    return obj


def to_json_dict(report: SmokeReport, redact: Redactor) -> dict[str, Any]:
    data = {
        "tool": "gptoss smoke",
        "exit_code": report.exit_code,
        "duration_s": round(report.duration_s, 3),
        "readiness_wait_s": round(report.readiness_wait_s(), 3),
        "counts": report.counts(),
        "endpoints": [
            {
                "base_url": e.display_url,
                "model": e.model,
                "profile": e.profile.name,
                "api_key_env": e.api_key_env,
                "api_key_set": bool(e.api_key),
            }
            for e in report.endpoints
        ],
        "results": [r.to_dict() for r in report.results],
    }
    return _redact_obj(data, redact)


def render_json(report: SmokeReport, redact: Redactor) -> str:
    return json.dumps(to_json_dict(report, redact), indent=2, default=str)


def render_junit(report: SmokeReport, redact: Redactor) -> str:
    """JUnit XML: one testsuite per endpoint, one testcase per check; not run -> <skipped>."""
    root = ET.Element("testsuites", name="gptoss smoke", time=f"{report.duration_s:.3f}")
    total = {"tests": 0, "failures": 0, "skipped": 0}

    def show(text: str, limit: int | None = None) -> str:
        return _xml_text(redact(text) if limit is None else redact.clip(text, limit))

    for endpoint in report.endpoints:
        rows = [r for r in report.results if r.endpoint == endpoint.display_url]
        suite = ET.SubElement(root, "testsuite", name=show(f"smoke {endpoint.display_url} {endpoint.model}"))
        failures = skips = 0
        for r in rows:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=show(f"smoke.{endpoint.display_url}"),
                name=r.name,
                time=f"{_elapsed(r):.3f}",
            )
            detail = "\n".join(
                [f"{'ok ' if s.passed else 'BAD'} {s.name}: {s.detail}" for s in r.subchecks]
                + [f"evidence: {ev}" for ev in r.evidence]
            )
            if r.status == "failed" or not report.acceptable(r):
                failures += 1
                fail = ET.SubElement(case, "failure", message=show(r.summary(), 500), type=r.status)
                fail.text = show(detail)
            elif r.status in ("skipped", "not_supported"):
                skips += 1
                ET.SubElement(case, "skipped", message=show(f"{LABELS[r.status]}: {r.reason}"))
            if r.info:
                ET.SubElement(case, "system-out").text = show(json.dumps(r.info, default=str))
        suite.set("tests", str(len(rows)))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        suite.set("skipped", str(skips))
        suite.set("time", f"{sum(_elapsed(r) for r in rows):.3f}")
        total["tests"] += len(rows)
        total["failures"] += failures
        total["skipped"] += skips
    for key, value in total.items():
        root.set(key, str(value))
    root.set("errors", "0")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
