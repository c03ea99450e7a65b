"""Runs the selected checks against each endpoint and collects one report."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from smoke.checks import CHECKS
from smoke.context import CheckContext, SmokeOptions
from smoke.endpoint import Endpoint
from smoke.http import describe_transport_error
from smoke.limits import within
from smoke.redact import Redactor
from smoke.result import CheckResult, Recorder, skipped
from smoke.transport import guarded_async_client, guarded_client


@dataclass
class SmokeReport:
    endpoints: list[Endpoint]
    results: list[CheckResult]
    # Checks the user named: for those, "skipped" or "not supported" is a failure too.
    explicit: set[str] = field(default_factory=set)
    duration_s: float = 0.0

    def counts(self) -> dict[str, int]:
        out = {"passed": 0, "failed": 0, "not_supported": 0, "skipped": 0}
        for r in self.results:
            out[r.status] += 1
        return out

    def acceptable(self, result: CheckResult) -> bool:
        """Passed, or did not run for a stated reason the user did not explicitly rule out."""
        if result.passed:
            return True
        return result.status in ("skipped", "not_supported") and result.name not in self.explicit

    @property
    def exit_code(self) -> int:
        return 0 if self.results and all(self.acceptable(r) for r in self.results) else 1

    def readiness_wait_s(self) -> float:
        return sum(r.timings.get("wait_s", 0.0) for r in self.results if r.name == "readiness")


def check_budget(options: SmokeOptions, name: str) -> tuple[float, str]:
    """(seconds, the option that sets them): the total time one check may take, all its requests together."""
    if name == "readiness":
        return options.ready_timeout_s, "--ready-timeout"
    return options.check_timeout_s, "--check-timeout"


def _run_one(ctx: CheckContext, name: str) -> CheckResult:
    spec = CHECKS[name]
    rec = Recorder(name)
    start = time.perf_counter()
    try:
        with within(*check_budget(ctx.options, name)):
            result = spec.fn(ctx, rec)
    except httpx.HTTPError as exc:
        result = rec.fail("request", describe_transport_error(exc, name, ctx.endpoint.request_timeout_s))
    except Exception as exc:  # a bug or a server answer we did not foresee: report it, never crash the run
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        result = rec.fail(
            "unexpected",
            ctx.redact.clip(f"{type(exc).__name__}: {exc}", 500),
            evidence=ctx.redact.clip(tb, 800),
        )
    result.timings.setdefault("total_s", time.perf_counter() - start)
    return result


def run_endpoint(
    endpoint: Endpoint,
    options: SmokeOptions,
    names: list[str],
    *,
    client: httpx.Client,
    async_client_factory: Callable[[], httpx.AsyncClient] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    on_result: Callable[[CheckResult], Any] | None = None,
    redact: Redactor | None = None,
) -> list[CheckResult]:
    ctx_kwargs: dict[str, Any] = {"sleep": sleep, "monotonic": monotonic, "redact": redact}
    if async_client_factory is not None:
        ctx_kwargs["async_client_factory"] = async_client_factory
    ctx = CheckContext(endpoint=endpoint, options=options, client=client, **ctx_kwargs)
    results: list[CheckResult] = []
    blocked = ""
    for name in names:
        if blocked:
            result = skipped(name, blocked)
        else:
            result = _run_one(ctx, name)
            if name == "readiness" and not result.passed:
                blocked = "not run: the endpoint is not ready (see readiness)"
        result.endpoint = endpoint.display_url
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def run_smoke(
    endpoints: list[Endpoint],
    options: SmokeOptions,
    names: list[str],
    *,
    explicit: set[str] | None = None,
    client: httpx.Client | None = None,
    async_client_factory: Callable[[], httpx.AsyncClient] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    on_result: Callable[[CheckResult], Any] | None = None,
) -> SmokeReport:
    """Run `names` against every endpoint in turn (one per replica); clients are injectable for tests.

    Without injected clients it makes guarded ones (`smoke.transport`): they reach only these endpoints
    and hold every socket operation to the deadline and every body to the size cap. Inject both clients or
    neither: readiness, load and the SDK checks use the async one, and a guarded real one next to an
    injected (fake) client would send those checks to the network.
    """
    if client is not None and async_client_factory is None:
        raise ValueError("inject async_client_factory together with client (e.g. both on one MockTransport)")
    urls = [e.base_url for e in endpoints]
    own_client = client is None
    http = client if client is not None else guarded_client(urls, options.max_response_bytes)
    if async_client_factory is None:

        def async_client_factory() -> httpx.AsyncClient:
            return guarded_async_client(urls, options.max_response_bytes)

    redact = Redactor.for_endpoints(endpoints)
    start = time.perf_counter()
    try:
        results: list[CheckResult] = []
        for endpoint in endpoints:
            results += run_endpoint(
                endpoint,
                options,
                names,
                client=http,
                async_client_factory=async_client_factory,
                sleep=sleep,
                monotonic=monotonic,
                on_result=on_result,
                redact=redact,
            )
    finally:
        if own_client:
            http.close()
    return SmokeReport(endpoints, results, set(explicit or ()), time.perf_counter() - start)
