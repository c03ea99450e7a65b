"""Smoke and conformance checks for a deployed gpt-oss endpoint (vLLM or Ollama).

Library use::

    import httpx
    from smoke import Endpoint, SmokeOptions, run_smoke, select

    names, explicit = select(["core", "tools"])
    report = run_smoke([Endpoint.from_env("http://127.0.0.1:8000/v1", "openai/gpt-oss-20b")],
                       SmokeOptions(), names, explicit=explicit, client=httpx.Client())
    report.exit_code, [r.to_dict() for r in report.results]
"""

from smoke.cases import ToolCase, load_cases
from smoke.checks import CHECKS, GROUPS, select
from smoke.context import CheckContext, LoadOptions, SmokeOptions
from smoke.endpoint import PROFILES, Endpoint, Profile, Redactor
from smoke.result import CheckResult, Status, SubCheck
from smoke.runner import SmokeReport, run_smoke

__all__ = [
    "CHECKS",
    "GROUPS",
    "PROFILES",
    "CheckContext",
    "CheckResult",
    "Endpoint",
    "LoadOptions",
    "Profile",
    "Redactor",
    "SmokeOptions",
    "SmokeReport",
    "Status",
    "SubCheck",
    "ToolCase",
    "load_cases",
    "run_smoke",
    "select",
]
