"""Parse `gptoss sample` engine arguments with the installed vLLM, through the sampler's own code.

Runs INSIDE the parser venv (`scripts/vllm-parser-venv`) with the repository on PYTHONPATH: it calls
`gptoss_sampler.engine.parse_engine_args`, the function a batch uses before it starts `vllm.LLM`.

stdin:  a JSON list of argv lists (engine arguments, no `vllm serve`).
stdout: a JSON list, one {"ok": bool, "error": str|null, "parsed": {...}|null} per item, in order; `parsed`
        holds the EngineArgs fields the plan decides, as vLLM read them.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys

os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")

FIELDS = (
    "model",
    "tensor_parallel_size",
    "max_model_len",
    "gpu_memory_utilization",
    "kv_cache_dtype",
    "max_num_batched_tokens",
    "enforce_eager",
    "disable_custom_all_reduce",
    "block_size",
)


def main() -> int:
    logging.disable(logging.WARNING)
    from gptoss_sampler.engine import EngineArgsError, parse_engine_args

    results = []
    for argv in json.load(sys.stdin):
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                args = parse_engine_args(argv)
        except EngineArgsError as exc:
            results.append({"ok": False, "error": str(exc), "parsed": None})
            continue
        parsed = {name: getattr(args, name, None) for name in FIELDS}
        results.append({"ok": True, "error": None, "parsed": json.loads(json.dumps(parsed, default=str))})
    json.dump(results, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
