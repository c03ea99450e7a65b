"""Direct sampling as a target: the plan's engine for `vllm.LLM`, and the sampler that ships to run it.

A sampling batch (`gptoss_sampler`) runs the plan's engine as a library instead of behind `vllm serve`:
`engine_argv` keeps the plan's engine flags (model source, max model length, tensor parallelism, recipe
flags) and drops only what belongs to the HTTP server, so nothing re-decides the engine. The sampler
package is self-contained, so the systemd one-shot (targets/systemd/sample.py) and the Kubernetes Job
(targets/kubernetes/sample.py) ship its files (`sampler_sources`) next to the vLLM they run with.
"""

from __future__ import annotations

from pathlib import Path

import gptoss_sampler
from serving import Plan

SAMPLER_PACKAGE = "gptoss_sampler"  # run as `python -m gptoss_sampler`
SAMPLER_DIR = Path(gptoss_sampler.__file__).resolve().parent
# The package, file by file, as shipped (a test keeps the list whole).
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


def engine_argv(plan: Plan, engine_index: int = 0) -> list[str]:
    """The plan's engine flags for `vllm.LLM`: `vllm serve SOURCE ...` -> `--model SOURCE ...` minus the
    server's flags. Engine 0 by default: a batch takes engine 0's place (and GPUs)."""
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
