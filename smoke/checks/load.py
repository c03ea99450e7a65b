"""A short load probe: N concurrent streamed chat requests; TTFT, inter-token latency, output tokens/s
and errors, as percentiles, with optional pass thresholds.

Measured the way `vllm bench serve` (openai-chat backend) measures them, so the two can be compared on
the same server: TTFT is send -> first chunk with a choice (vLLM sends it when the first token is out),
ITL the gaps between later choice chunks, output tokens come from the usage chunk, and tokens/s is their
sum over the probe's wall time.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from smoke.checks.chat import as_dict, text_of
from smoke.context import CheckContext
from smoke.http import astream, describe_transport_error
from smoke.reasoning import find_reasoning
from smoke.result import CheckResult, Recorder
from smoke.stats import summarize

FILLER_TEXT = (
    "The quick brown fox jumps over the lazy dog while the model under test counts tokens for a short "
    "benchmark of streaming latency and throughput on a small server"
)


def load_prompt(words: int) -> str:
    filler = FILLER_TEXT.split(" ")
    body = " ".join(filler[i % len(filler)] for i in range(max(1, words)))
    return f"Continue this text: {body}"


@dataclass
class RequestSample:
    ok: bool
    error: str = ""
    ttft_s: float | None = None
    itl_s: list[float] = field(default_factory=list)
    latency_s: float = 0.0
    output_tokens: int = 0


def _has_choice(event: dict[str, Any]) -> bool:
    # Not "has text": with harmony the first tokens are channel headers that produce empty deltas, and
    # vLLM's benchmark counts from the first chunk; counting the same way keeps the numbers comparable.
    choices = event.get("choices")
    return isinstance(choices, list) and bool(choices)


def _text(event: dict[str, Any]) -> str:
    delta = as_dict(as_dict(event["choices"][0]).get("delta"))
    reasoning, _ = find_reasoning(delta)
    return reasoning + text_of(delta.get("content"))


async def _one(ctx: CheckContext, client: httpx.AsyncClient, body: dict[str, Any]) -> RequestSample:
    try:
        cap = await astream(ctx, client, "/chat/completions", body)
    except httpx.HTTPError as exc:
        return RequestSample(
            False, describe_transport_error(exc, "load request", ctx.endpoint.request_timeout_s)
        )
    if not cap.ok:
        return RequestSample(
            False, f"HTTP {cap.status}: {ctx.redact.clip(cap.error_message(), 160)}", latency_s=cap.total_s
        )
    if not cap.done or cap.parse_errors:
        return RequestSample(
            False, "stream ended without [DONE] or with unparsable events", latency_s=cap.total_s
        )
    times = [at for at, ev in cap.events if _has_choice(ev)]
    usage = next((ev["usage"] for _, ev in reversed(cap.events) if ev.get("usage")), None)
    tokens = usage.get("completion_tokens", 0) if isinstance(usage, dict) else len(times)
    if not isinstance(tokens, int) or tokens < 0:
        return RequestSample(False, f"usage.completion_tokens is not a count: {ctx.quote(tokens)}")
    if not times or not any(_text(ev) for _, ev in cap.events if _has_choice(ev)):
        return RequestSample(False, "no text arrived", latency_s=cap.total_s)
    return RequestSample(
        True,
        ttft_s=times[0],
        itl_s=[b - a for a, b in itertools.pairwise(times)],
        latency_s=times[-1],  # to the last token, as vLLM's benchmark counts it
        output_tokens=int(tokens or 0),
    )


async def run_probe(ctx: CheckContext) -> tuple[list[RequestSample], float]:
    opts = ctx.options.load
    body: dict[str, Any] = {
        "model": ctx.endpoint.model,
        "messages": [{"role": "user", "content": load_prompt(opts.prompt_words)}],
        "max_tokens": opts.max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if opts.ignore_eos:
        body["ignore_eos"] = True  # a vLLM extension; other servers ignore unknown fields or refuse them
    gate = asyncio.Semaphore(opts.concurrency)
    async with ctx.async_client_factory() as client:

        async def limited() -> RequestSample:
            async with gate:
                return await _one(ctx, client, body)

        start = time.perf_counter()
        samples = await asyncio.gather(*(limited() for _ in range(opts.requests)))
        wall = time.perf_counter() - start
    return list(samples), wall


def check_load(ctx: CheckContext, rec: Recorder) -> CheckResult:
    opts = ctx.options.load
    samples, wall = asyncio.run(run_probe(ctx))
    good = [s for s in samples if s.ok]
    errors = [s for s in samples if not s.ok]
    error_rate = len(errors) / len(samples) if samples else 1.0
    out_tokens = sum(s.output_tokens for s in good)
    tps = out_tokens / wall if wall > 0 else 0.0
    ttft = summarize([s.ttft_s for s in good if s.ttft_s is not None], 1000.0)
    itl = summarize([gap for s in good for gap in s.itl_s], 1000.0)
    e2e = summarize([s.latency_s for s in good], 1000.0)
    rec.timings["wall_s"] = wall
    rec.info.update(
        {
            "requests": len(samples),
            "concurrency": opts.concurrency,
            "max_tokens": opts.max_tokens,
            "errors": len(errors),
            "output_tokens": out_tokens,
            "output_tokens_per_s": round(tps, 2),
            "request_throughput_per_s": round(len(good) / wall, 3) if wall > 0 else 0.0,
        }
    )
    for label, stats in (("ttft_ms", ttft), ("itl_ms", itl), ("latency_ms", e2e)):
        for key, value in stats.items():
            rec.info[f"{label}_{key}"] = round(value, 2)
    rec.sub(
        "errors",
        error_rate <= opts.max_error_rate,
        f"{len(errors)}/{len(samples)} failed (allowed rate {opts.max_error_rate:g})"
        + (f"; first: {errors[0].error}" if errors else ""),
    )
    if good:
        rec.sub("tokens", out_tokens > 0, f"{out_tokens} output tokens, {tps:.1f} tok/s")
    if opts.max_ttft_p50_ms is not None and ttft:
        rec.sub(
            "ttft_p50",
            ttft["p50"] <= opts.max_ttft_p50_ms,
            f"{ttft['p50']:.0f} ms (limit {opts.max_ttft_p50_ms:g})",
        )
    if opts.min_output_tokens_per_s is not None:
        rec.sub(
            "output_tokens_per_s",
            tps >= opts.min_output_tokens_per_s,
            f"{tps:.1f} (minimum {opts.min_output_tokens_per_s:g})",
        )
    return rec.result()
