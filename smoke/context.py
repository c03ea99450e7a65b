"""Everything a check needs, injected: the endpoint, options, HTTP clients and the clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from smoke.cases import DEFAULT_CASES_PATH, ToolCase, load_cases
from smoke.endpoint import Endpoint
from smoke.limits import DEFAULT_MAX_RESPONSE_BYTES
from smoke.redact import Redactor


@dataclass(frozen=True)
class LoadOptions:
    """The short load probe: N streams at once, R requests in all, with optional pass thresholds."""

    concurrency: int = 4
    requests: int = 8
    max_tokens: int = 64
    # Approximate prompt length in words; a filler prompt of this size is sent.
    prompt_words: int = 32
    # vLLM's `ignore_eos` keeps generating to max_tokens, which makes runs comparable with `vllm bench`.
    ignore_eos: bool = False
    max_ttft_p50_ms: float | None = None
    min_output_tokens_per_s: float | None = None
    max_error_rate: float = 0.0


@dataclass(frozen=True)
class SmokeOptions:
    max_tokens: int = 512
    # gpt-oss always reasons; `optional` accepts a server or checkpoint that sends no reasoning text.
    reasoning: Literal["required", "optional"] = "required"
    tool_cases: tuple[ToolCase, ...] = ()
    # The case used for round trips and streamed tool calls (default: the first case).
    round_trip_case: str | None = None
    strict: bool = False
    runs: int = 1
    pass_criterion: Literal["pass^k", "pass@k"] = "pass^k"
    ready_timeout_s: float = 600.0
    # Every other check, all its requests together (the load probe included).
    check_timeout_s: float = 600.0
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    load: LoadOptions = field(default_factory=LoadOptions)

    def cases(self) -> tuple[ToolCase, ...]:
        return self.tool_cases or tuple(load_cases(DEFAULT_CASES_PATH))

    def round_trip(self) -> ToolCase:
        cases = self.cases()
        if self.round_trip_case:
            for case in cases:
                if case.id == self.round_trip_case:
                    return case
            raise ValueError(
                f"round-trip case {self.round_trip_case!r} is not among the tool cases: "
                + ", ".join(c.id for c in cases)
            )
        return cases[0]


def _default_async_client() -> httpx.AsyncClient:
    return httpx.AsyncClient()


@dataclass
class CheckContext:
    endpoint: Endpoint
    options: SmokeOptions
    client: httpx.Client
    # Called once per async section (the load probe, the Agents SDK); the caller closes what it gets.
    async_client_factory: Callable[[], httpx.AsyncClient] = _default_async_client
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    # Facts one check leaves for later ones (e.g. which reasoning field the server uses).
    facts: dict[str, Any] = field(default_factory=dict)
    # Masks the endpoint's secrets in server text; built from the endpoint when not given.
    redact: Redactor = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.redact is None:
            self.redact = Redactor.for_endpoints([self.endpoint])

    def timeout(self, seconds: float | None = None) -> httpx.Timeout:
        """Per socket operation; the total for a request is `request_budget`'s deadline."""
        total = seconds if seconds is not None else self.endpoint.request_timeout_s
        return httpx.Timeout(total, connect=min(self.endpoint.connect_timeout_s, total))

    def request_budget(self, seconds: float | None = None, name: str | None = None) -> tuple[float, str]:
        """(seconds, what sets them) for one request's total deadline: --timeout unless a check sets
        a shorter one of its own (`name` says which, for the message)."""
        if seconds is None or seconds == self.endpoint.request_timeout_s:
            return self.endpoint.request_timeout_s, "--timeout"
        return seconds, name or "this probe's own limit"

    def quote(self, text: Any, limit: int = 80) -> str:
        """Server text for a sub-check detail: redacted first, then cut to `limit`, then quoted."""
        return repr(self.redact.clip(str(text), limit))
