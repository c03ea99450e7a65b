"""A sampling batch: render every conversation, start the engine once, generate, parse, write.

Everything that can be wrong with the input is found before the engine starts (minutes for a big model):
the JSONL is validated by the caller, every prompt is rendered here first, and vLLM's parser checks the
engine arguments. A conversation whose prompt leaves no room in the context becomes a result with an
error instead of failing the batch.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import engine as vllm_engine
from .conversations import Conversation
from .results import base_record, failed_record, sampled_record, write_jsonl

# OpenAI's recommendation for gpt-oss: sample at temperature 1.0 and top_p 1.0.
DEFAULT_TEMPERATURE = 1.0
DEFAULT_TOP_P = 1.0
# What a harmony stop token means for the turn.
STOP_REASONS = {"<|return|>": "stop", "<|call|>": "tool_calls"}


@dataclass(frozen=True)
class Defaults:
    """Batch-wide settings; a conversation's own fields win."""

    reasoning_effort: str
    start_date: str
    max_tokens: int | None = None  # None: whatever the context leaves after the prompt
    temperature: float = DEFAULT_TEMPERATURE
    top_p: float = DEFAULT_TOP_P
    seed: int | None = None


@dataclass(frozen=True)
class Summary:
    conversations: int
    sampled: int
    errors: int
    tool_calls: int
    engine_start_s: float
    generate_s: float
    output: Path | None

    def line(self) -> str:
        where = f" -> {self.output}" if self.output else ""
        return (
            f"{self.conversations} conversation(s): {self.sampled} sampled, {self.tool_calls} tool call(s), "
            f"{self.errors} error(s); engine start {self.engine_start_s:.1f} s, "
            f"generation {self.generate_s:.1f} s{where}"
        )


def render_all(conversations: Sequence[Conversation], defaults: Defaults) -> list[list[int]]:
    from .harmony_io import render_prompt

    return [
        render_prompt(c, reasoning_effort=defaults.reasoning_effort, start_date=defaults.start_date)
        for c in conversations
    ]


def sampling_params(conv: Conversation, defaults: Defaults, room: int, stop_token_ids: list[int]) -> dict:
    """SamplingParams keywords for one conversation; max_tokens capped to the `room` the context leaves."""
    s = conv.sampling
    wanted = s.max_tokens if s.max_tokens is not None else defaults.max_tokens
    params: dict[str, Any] = {
        "max_tokens": min(wanted, room) if wanted is not None else room,
        "temperature": s.temperature if s.temperature is not None else defaults.temperature,
        "top_p": s.top_p if s.top_p is not None else defaults.top_p,
        "stop_token_ids": stop_token_ids,
        "detokenize": False,  # harmony reads the token ids
    }
    seed = s.seed if s.seed is not None else defaults.seed
    if seed is not None:
        params["seed"] = seed
    return params


def finish_reason(generated: vllm_engine.Generated, decode) -> str | None:
    if generated.finish_reason == "length":
        return "length"
    last = generated.token_ids[-1:] if generated.token_ids else []
    if isinstance(generated.stop_reason, int):
        last = [generated.stop_reason]
    return STOP_REASONS.get(decode(last), generated.finish_reason) if last else generated.finish_reason


def run_batch(
    conversations: Sequence[Conversation],
    engine_argv: Sequence[str],
    defaults: Defaults,
    output: Path,
    vllm_package: str = "vllm",
    log=lambda text: print(f"gptoss sample: {text}", file=sys.stderr, flush=True),
) -> Summary:
    """Sample every conversation with one vLLM engine and write one result per conversation to `output`."""
    vllm_engine.require_vllm(vllm_package)
    from .harmony_io import encoding, parse_completion, stop_token_ids

    prompts = render_all(conversations, defaults)
    engine_args = vllm_engine.parse_engine_args(engine_argv)
    log(f"starting vLLM with {' '.join(engine_argv)}")
    started = time.monotonic()
    engine = vllm_engine.Engine(engine_args)
    engine_start_s = time.monotonic() - started
    max_len = engine.max_model_len
    stops = stop_token_ids()

    bases = [base_record(c, defaults.reasoning_effort, defaults.start_date) for c in conversations]
    fitting = [i for i, p in enumerate(prompts) if len(p) < max_len]
    log(
        f"engine ready in {engine_start_s:.1f} s; sampling {len(fitting)} of {len(conversations)} conversation(s)"
    )
    started = time.monotonic()
    generated = engine.generate(
        [prompts[i] for i in fitting],
        [sampling_params(conversations[i], defaults, max_len - len(prompts[i]), stops) for i in fitting],
    )
    generate_s = time.monotonic() - started

    records: list[dict[str, Any]] = [
        failed_record(
            base,
            f"the prompt has {len(prompt)} tokens; the engine's context is {max_len} (max model length): "
            "shorten the conversation or plan a longer --max-model-len",
            prompt_tokens=len(prompt),
        )
        for base, prompt in zip(bases, prompts, strict=True)
    ]
    decode = encoding().decode
    for i, out in zip(fitting, generated, strict=True):
        parsed = parse_completion(out.token_ids)
        records[i] = sampled_record(
            bases[i],
            prompt_tokens=len(prompts[i]),
            completion_tokens=len(out.token_ids),
            finish_reason=finish_reason(out, decode),
            messages=parsed.messages,
            error=parsed.error,
        )
    write_jsonl(output, records)
    return Summary(
        conversations=len(records),
        sampled=len(fitting),
        errors=sum(1 for r in records if r["error"]),
        tool_calls=sum(len(r["tool_calls"]) for r in records),
        engine_start_s=engine_start_s,
        generate_s=generate_s,
        output=output,
    )


def dry_run(conversations: Sequence[Conversation], engine_argv: Sequence[str], defaults: Defaults) -> str:
    """Validate and render without an engine: what a real run would feed vLLM, as one report."""
    vllm_engine.require_harmony()
    sizes = [len(p) for p in render_all(conversations, defaults)]
    return (
        f"{len(conversations)} conversation(s) valid, prompts of {min(sizes)}-{max(sizes)} tokens (harmony); "
        f"engine arguments: {' '.join(engine_argv)}"
    )
