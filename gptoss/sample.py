"""`gptoss sample`: direct sampling with the vLLM library, the engine set up by the serving plan.

    gptoss sample --input conv.jsonl --output results.jsonl --model gpt-oss-20b --gpu h100
    gptoss sample --dry-run --input conv.jsonl --output x --model gpt-oss-120b --gpu h100 --gpus 8

The plan decides the engine (model source, max model length, tensor parallelism, recipe flags and
environment), exactly as for `vllm serve`; `engine_argv` keeps its engine flags and drops only what
belongs to the HTTP server. The batch itself runs in `gptoss.sampler`, which is self-contained so that it
can be shipped alone (`SAMPLER_FILES`) into the vLLM venv of a deployed host and into the sample Job.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path

from serving import Plan

SAMPLER_DIR = Path(__file__).resolve().parent / "sampler"
# The package, file by file, as shipped to hosts and pods (a test keeps the list whole).
SAMPLER_FILES = (
    "__init__.py",
    "__main__.py",
    "batch.py",
    "cli.py",
    "conversations.py",
    "engine.py",
    "harmony_io.py",
    "results.py",
)
# The name the shipped copy is imported as (`python -m gptoss_sampler`): its imports are relative, and the
# host has no `gptoss` package.
SHIPPED_PACKAGE = "gptoss_sampler"

# Flags of `vllm serve` that configure the HTTP server, not the engine (flag -> takes a value). The
# engine has no port to bind, and harmony, not vLLM's parsers, reads the completion.
SERVER_FLAGS: dict[str, bool] = {
    "--served-model-name": True,
    "--host": True,
    "--port": True,
    "--tool-call-parser": True,
    "--enable-auto-tool-choice": False,
    "--reasoning-parser": True,
}


# Environment the plan sets from where a deployed host keeps things (ServingPaths) and whether its weights
# are staged there (HF_HUB_OFFLINE). On the machine that runs `gptoss sample` itself, its own environment
# says that; the plan's env file says it on hosts, the pod spec in the Job.
HOST_LAYOUT_ENV = ("HF_HOME", "VLLM_CACHE_ROOT", "TIKTOKEN_ENCODINGS_BASE", "HF_HUB_OFFLINE")


def engine_argv(plan: Plan, engine_index: int = 0) -> list[str]:
    """The plan's engine flags for `vllm.LLM`: `vllm serve SOURCE ...` -> `--model SOURCE ...` minus the
    server's flags. Engine 0 by default: a batch borrows engine 0's GPUs."""
    argv = list(plan.engines[engine_index].argv)
    if argv[:2] != ["vllm", "serve"] or len(argv) < 3:
        raise ValueError(f"engine {engine_index} argv is not `vllm serve MODEL ...`: {argv[:3]}")
    out = ["--model", argv[2]]
    rest = argv[3:]
    i = 0
    while i < len(rest):
        flag, has_inline_value, _ = rest[i].partition("=")
        if flag in SERVER_FLAGS:
            i += 1 if has_inline_value or not SERVER_FLAGS[flag] else 2
            continue
        out.append(rest[i])
        i += 1
    return out


def sampler_sources() -> dict[str, str]:
    """File name -> source of the sampler package, for hosts (pyinfra) and pods (a ConfigMap)."""
    return {name: (SAMPLER_DIR / name).read_text(encoding="utf-8") for name in SAMPLER_FILES}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from gptoss.sampler.cli import add_sampling_arguments

    parser.add_argument("--input", type=Path, required=True, help="JSONL of conversations")
    parser.add_argument("--output", type=Path, required=True, help="JSONL of results (replaced atomically)")
    add_sampling_arguments(parser)


def local_env(plan: Plan) -> dict[str, str]:
    """Engine 0's environment (recipe variables, device visibility) without the host layout."""
    return {k: v for k, v in plan.engines[0].env.items() if k not in HOST_LAYOUT_ENV}


def run(plan: Plan, args: argparse.Namespace) -> int:
    """Run the batch in this process with the plan's engine. The plan's environment (`local_env`) fills in
    what the caller's leaves unset, before vLLM is imported (it reads some variables at import)."""
    from gptoss.sampler.cli import execute

    if not args.dry_run and importlib.util.find_spec("vllm") is not None:
        for key, value in local_env(plan).items():
            os.environ.setdefault(key, value)
    return execute(args.input, args.output, engine_argv(plan), args, plan.vllm_package)
