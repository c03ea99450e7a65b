"""`gptoss sample`: direct sampling with the vLLM library in this process, the engine from the serving plan.

    gptoss sample --input conv.jsonl --output results.jsonl --model gpt-oss-20b --gpu h100
    gptoss sample --dry-run --input conv.jsonl --output x --model gpt-oss-120b --gpu h100 --gpus 8

The plan decides the engine (targets/sample.py's `engine_argv`) and its environment; the batch itself is
`gptoss_sampler`, the same code the systemd one-shot and the Kubernetes Job run.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path

from serving import Plan
from serving.caches import STARTUP_CACHES
from targets.sample import engine_argv

# Environment the plan sets from where a deployed host keeps things (ServingPaths: the weights, the start-up
# caches under the cache root, the tokenizer file) and whether its weights are staged there
# (HF_HUB_OFFLINE). On the machine that runs `gptoss sample` itself, its own environment says that; the
# plan's env file says it on hosts, the pod spec in the Job.
HOST_LAYOUT_ENV = (
    "HF_HOME",
    *(cache.variable for cache in STARTUP_CACHES),
    "TIKTOKEN_ENCODINGS_BASE",
    "HF_HUB_OFFLINE",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from gptoss_sampler.cli import add_sampling_arguments

    parser.add_argument("--input", type=Path, required=True, help="JSONL of conversations")
    parser.add_argument("--output", type=Path, required=True, help="JSONL of results (replaced atomically)")
    add_sampling_arguments(parser)


def local_env(plan: Plan) -> dict[str, str]:
    """Engine 0's environment (recipe variables, device visibility) without the host layout."""
    return {k: v for k, v in plan.engines[0].env.items() if k not in HOST_LAYOUT_ENV}


def run(plan: Plan, args: argparse.Namespace) -> int:
    """Run the batch in this process with the plan's engine. The plan's environment (`local_env`) fills in
    what the caller's leaves unset, before vLLM is imported (it reads some variables at import)."""
    from gptoss_sampler.cli import execute

    if not args.dry_run and importlib.util.find_spec("vllm") is not None:
        for key, value in local_env(plan).items():
            os.environ.setdefault(key, value)
    return execute(args.input, args.output, engine_argv(plan), args, plan.vllm_package)
