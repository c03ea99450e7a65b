"""Stateful Responses API: `store: true`, then `previous_response_id` and GET /v1/responses/{id}.

Servers that keep no responses are "not supported", never a failure: Ollama's /v1/responses is stateless
by design (it answers `store: false` and ignores previous_response_id), and vLLM keeps responses only with
VLLM_ENABLE_RESPONSES_API_STORE=1 (otherwise it answers `store: false` too). The stateless way, handing
back the output items, is what `responses_round_trip` checks. A server that says it stored a response and
then cannot continue from it fails.
"""

from __future__ import annotations

from typing import Any

from smoke.checks.responses import body, output_text, route_missing
from smoke.context import CheckContext
from smoke.http import Exchange, expect_ok, get, post
from smoke.result import CheckResult, Recorder
from smoke.server import responses_missing_hint, server_version, show

FIRST = "Remember the word 'harbour'. Reply with one short sentence."
FOLLOW_UP = "Which word did I ask you to remember? Answer in one short sentence."


def _stateless(ctx: CheckContext) -> str:
    """How this server family does without stored responses."""
    profile = ctx.endpoint.profile.name
    if profile == "ollama":
        return (
            f"Ollama {show(server_version(ctx))}'s /v1/responses is stateless: it stores no response and "
            "ignores previous_response_id; send the previous output items back instead (responses_round_trip)"
        )
    return (
        "this vLLM keeps no responses (it stores them only with VLLM_ENABLE_RESPONSES_API_STORE=1): "
        "previous_response_id and GET /v1/responses/{id} are not available; send the output items back instead"
    )


def _data(ex: Exchange) -> dict[str, Any]:
    return ex.data if isinstance(ex.data, dict) else {}


def check_responses_stateful(ctx: CheckContext, rec: Recorder) -> CheckResult:
    first = post(ctx, "/responses", body(ctx, FIRST, store=True))
    rec.timings["first_s"] = first.elapsed_s
    if route_missing(ctx, first):
        return rec.not_supported(
            f"POST /v1/responses answered HTTP {first.status}: this server has no Responses API"
            f"{responses_missing_hint(ctx)}",
            first.evidence(),
        )
    if not expect_ok(rec, first, "http_200"):
        return rec.result()
    stored = _data(first).get("store")
    rec.info["store"] = stored
    if stored is not True:
        # Asked to store, the server says it did not (or says nothing): stateless.
        return rec.not_supported(
            f"asked for store=true, the server answered store={stored!r}: {_stateless(ctx)}"
        )
    response_id = _data(first).get("id")
    if not isinstance(response_id, str) or not response_id:
        return rec.fail(
            "response_id", f"a stored response without an id: {ctx.quote(response_id)}", first.evidence()
        )

    follow = post(ctx, "/responses", body(ctx, FOLLOW_UP, previous_response_id=response_id))
    rec.timings["follow_up_s"] = follow.elapsed_s
    if not expect_ok(rec, follow, "previous_response_id_accepted"):
        return rec.result()
    echoed = _data(follow).get("previous_response_id")
    rec.sub("previous_response_id_echoed", echoed == response_id, f"previous_response_id={ctx.quote(echoed)}")
    text = output_text([i for i in _data(follow).get("output") or [] if isinstance(i, dict)])
    rec.sub("follow_up_answer", bool(text.strip()), f"{len(text)} chars: {ctx.quote(text)}")

    retrieved = get(ctx, f"/responses/{response_id}")
    rec.timings["retrieve_s"] = retrieved.elapsed_s
    if expect_ok(rec, retrieved, "retrieve_200"):
        rec.sub(
            "retrieved_same_id",
            _data(retrieved).get("id") == response_id,
            f"GET /v1/responses/{ctx.redact.clip(response_id, 80)} -> id={ctx.quote(_data(retrieved).get('id'))}",
        )
    if not all(s.passed for s in rec.subchecks):
        rec.add_evidence(follow.evidence())
    return rec.result()
