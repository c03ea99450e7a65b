"""readiness and models: is the server up, and does it serve the model we were told about?"""

from __future__ import annotations

import httpx

from smoke.context import CheckContext
from smoke.http import describe_transport_error, expect_ok, get
from smoke.limits import ClientLimit
from smoke.redact import strip_userinfo
from smoke.result import CheckResult, Recorder
from smoke.server import server_version, show

# Backoff between polls: start fast (a ready server answers at once), cap so a long wait polls politely.
FIRST_DELAY_S = 0.25
MAX_DELAY_S = 5.0
BACKOFF = 1.6
POLL_TIMEOUT_S = 10.0


def _wait_for(ctx: CheckContext, url: str, *, with_key: bool, deadline: float):
    """Poll `url` until it answers 200; return (exchange, attempts) or (None, attempts) at the deadline.

    A 401/403/404 on the model list is final (waiting will not fix a wrong key or URL): it is
    returned at once for the caller to explain.
    """
    delay = FIRST_DELAY_S
    attempts = 0
    last = "no answer yet"
    shown = strip_userinfo(url)
    while True:
        attempts += 1
        # Each poll ends by the check's deadline too (the runner holds every check to its own), so a
        # server that drips its answer a byte at a time can not stretch the wait past --ready-timeout.
        remaining = deadline - ctx.monotonic()
        poll_s = max(0.05, min(POLL_TIMEOUT_S, remaining))
        try:
            kwargs = {} if with_key else {"api_key": None}
            ex = get(ctx, url, timeout_s=poll_s, limit_name="one readiness poll", **kwargs)
            if ex.ok or (with_key and ex.status in (401, 403, 404)):
                return ex, attempts, last
            last = f"HTTP {ex.status}: {ctx.redact.clip(ex.text, 200)}"
        except ClientLimit:
            raise  # the server answered, past a limit of the client's own: waiting will not change that
        except httpx.TransportError as exc:
            last = describe_transport_error(exc, f"GET {shown}", poll_s)
        if ctx.monotonic() + delay >= deadline:
            return None, attempts, last
        ctx.sleep(delay)
        delay = min(delay * BACKOFF, MAX_DELAY_S)


def check_readiness(ctx: CheckContext, rec: Recorder) -> CheckResult:
    ep = ctx.endpoint
    budget = ctx.options.ready_timeout_s
    start = ctx.monotonic()
    deadline = start + budget
    health_url = ep.root_url + ep.profile.health_path
    shown_health = strip_userinfo(health_url)
    ex, attempts, last = _wait_for(ctx, health_url, with_key=False, deadline=deadline)
    if ex is None:
        rec.timings["wait_s"] = ctx.monotonic() - start
        return rec.fail(
            "health", f"{shown_health} not healthy within {budget:g}s ({attempts} polls); last: {last}"
        )
    rec.sub("health", True, f"{shown_health} answered 200 after {attempts} poll(s)")

    models_url = ep.url("/models")
    shown_models = strip_userinfo(models_url)
    ex, attempts, last = _wait_for(ctx, models_url, with_key=True, deadline=deadline)
    rec.timings["wait_s"] = ctx.monotonic() - start
    if ex is None:
        return rec.fail("model_list", f"{shown_models} did not answer 200 within {budget:g}s; last: {last}")
    if ex.status in (401, 403):
        if ep.api_key:
            why = f"the API key from ${ep.api_key_env} was rejected (HTTP {ex.status}): check it matches the server's"
        else:
            why = f"the server wants an API key (HTTP {ex.status}) and ${ep.api_key_env} is not set"
        return rec.fail("model_list", why, ex.evidence())
    if ex.status == 404:
        return rec.fail(
            "model_list",
            f"{shown_models} is 404: the base URL must be the OpenAI root, ending in /v1",
            ex.evidence(),
        )
    data = ex.data.get("data") if isinstance(ex.data, dict) else None
    if not isinstance(data, list):
        return rec.fail("model_list", "the model list is not OpenAI-shaped (no `data` array)", ex.evidence())
    rec.sub("model_list", True, f"{len(data)} model(s) listed after {attempts} poll(s)")
    rec.info["ready_after_s"] = round(rec.timings["wait_s"], 3)
    if ep.profile.version_path:
        # Which Ollama this is decides what the Responses checks expect (smoke/server.py).
        rec.info["server_version"] = show(server_version(ctx))
    return rec.result()


def check_models(ctx: CheckContext, rec: Recorder) -> CheckResult:
    ep = ctx.endpoint
    ex = get(ctx, "/models")
    rec.timings["latency_s"] = ex.elapsed_s
    if not expect_ok(rec, ex, "http_200"):
        return rec.result()
    data = ex.data.get("data") if isinstance(ex.data, dict) else None
    if not isinstance(data, list):
        return rec.fail("shape", "no `data` array in the model list", ex.evidence())
    ids = [m.get("id") for m in data if isinstance(m, dict)]
    entry = next((m for m in data if isinstance(m, dict) and m.get("id") == ep.model), None)
    if entry is None:
        listed = ", ".join(str(i) for i in ids) or "nothing"
        return rec.fail("model_listed", f"model {ep.model!r} is not served here; the server lists: {listed}")
    rec.sub("model_listed", True, f"{ep.model!r} is listed")
    if "max_model_len" in entry:
        rec.info["max_model_len"] = entry["max_model_len"]
        ctx.facts["max_model_len"] = entry["max_model_len"]
    if entry.get("root"):
        rec.info["root"] = str(entry["root"])
    return rec.result()
