"""readiness and models: is the server up, and does it serve the model we were told about?"""

from __future__ import annotations

from serving.readiness import ReadinessSpec, ReadinessSpecError
from smoke.context import CheckContext
from smoke.http import expect_ok, get
from smoke.readiness import ReadinessResult, run_isolated, wait_until_ready_async
from smoke.redact import strip_userinfo
from smoke.result import CheckResult, Recorder
from smoke.server import server_version, show


def check_readiness(ctx: CheckContext, rec: Recorder) -> CheckResult:
    """smoke.readiness's wait against this endpoint, under the deadline of --ready-timeout.

    Its requests go through the context's async client (the guarded one outside tests), which also holds
    every socket operation to the check's deadline that the runner opened.
    """
    ep = ctx.endpoint
    root = ep.root_url
    try:
        # Health lives at the server root, the model list under the base URL (/v1/models for .../v1).
        spec = ReadinessSpec(ep.model, ep.profile.health_path, ep.url("/models").removeprefix(root))
    except ReadinessSpecError as err:
        return rec.fail("model_list", str(err))

    async def wait() -> ReadinessResult:
        async with ctx.async_client_factory() as client:
            return await wait_until_ready_async(
                root,
                spec,
                deadline_s=ctx.options.ready_timeout_s,
                api_key=ep.api_key,
                client=client,
                max_body_bytes=ctx.options.max_response_bytes,
                monotonic=ctx.monotonic,
                sleep=ctx.sleep,
            )

    result = run_isolated(wait())
    rec.timings["wait_s"] = result.elapsed_s
    evidence = ctx.redact.clip(result.evidence, 800)
    if result.stage == "health":
        return rec.fail("health", ctx.redact(result.detail))
    shown_health = strip_userinfo(root + spec.health_path)
    rec.sub("health", True, f"{shown_health} answered 200 after {result.health_polls} poll(s)")
    if result.outcome == "unauthorized":
        if ep.api_key:
            why = f"the API key from ${ep.api_key_env} was rejected (HTTP {result.http_status}): check it matches the server's"
        else:
            why = f"the server wants an API key (HTTP {result.http_status}) and ${ep.api_key_env} is not set"
        return rec.fail("model_list", why, evidence)
    if result.outcome == "not_found":
        shown_models = strip_userinfo(result.url)
        return rec.fail(
            "model_list",
            f"{shown_models} is 404: the base URL must be the OpenAI root, ending in /v1",
            evidence,
        )
    if not result.ready:
        return rec.fail("model_list", ctx.redact(result.detail), evidence)
    rec.sub("model_list", True, f"{ep.model!r} listed after {result.models_polls} poll(s)")
    rec.info["ready_after_s"] = round(result.elapsed_s, 3)
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
