"""How long the kernel leaves an ordinary process unscheduled while a vLLM CPU server is under load.

A process sleeps 1 ms in a loop and records every wake-up that came more than 30 ms late, once at normal
priority and once at real-time priority (SCHED_FIFO 1), while our load probe keeps the server busy. No
HTTP is measured: this isolates the effect that makes a load client on the server's own small machine
read whole streams at once (bench/load_vs_vllm_bench.py runs its clients at real-time priority for it).

    uv run python bench/scheduling_stalls.py --start chat
    uv run python bench/scheduling_stalls.py --base-url http://127.0.0.1:8011/v1 --model gpt-oss-tiny-chat

Needs root (or CAP_SYS_NICE) for the real-time half. A benchmark script: it prints and writes numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from smoke.checks.load import run_probe
from smoke.context import CheckContext, LoadOptions, SmokeOptions
from smoke.endpoint import Endpoint
from smoke.readiness import wait_until_ready

LATE_S = 0.030


def sleeper(seconds: float, realtime: bool, out: Any) -> None:
    """Runs in its own process so that its scheduling class is its own."""
    if realtime:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    gaps = []
    end = time.monotonic() + seconds
    while (start := time.monotonic()) < end:
        time.sleep(0.001)
        gap = time.monotonic() - start
        if gap > LATE_S:
            gaps.append(gap)
    out.put(gaps)


def keep_busy(endpoint: Endpoint, stop: threading.Event) -> int:
    load = LoadOptions(concurrency=4, requests=32, max_tokens=64, ignore_eos=True)
    rounds = 0
    with httpx.Client() as client:
        ctx = CheckContext(endpoint, SmokeOptions(load=load), client)
        while not stop.is_set():
            asyncio.run(run_probe(ctx))
            rounds += 1
    return rounds


def measure(endpoint: Endpoint, seconds: float) -> dict[str, Any]:
    with httpx.Client() as client:  # warm the server up before measuring
        ctx = CheckContext(endpoint, SmokeOptions(load=replace(LoadOptions(), ignore_eos=True)), client)
        asyncio.run(run_probe(ctx))
    stop = threading.Event()
    busy = threading.Thread(target=keep_busy, args=(endpoint, stop), daemon=True)
    busy.start()
    results: dict[str, Any] = {}
    try:
        for label, realtime in (("normal", False), ("realtime", True)):
            queue: multiprocessing.Queue = multiprocessing.Queue()
            proc = multiprocessing.Process(target=sleeper, args=(seconds, realtime, queue))
            proc.start()
            gaps = queue.get(timeout=seconds + 60)
            proc.join()
            results[label] = {
                "late_wakeups": len(gaps),
                "longest_ms": round(max(gaps, default=0.0) * 1000, 1),
                "total_late_s": round(sum(gaps), 2),
                "seconds": seconds,
            }
            print(
                f"{label:<8} {len(gaps):3} wake-ups more than {LATE_S * 1000:.0f} ms late in {seconds:.0f} s, "
                f"longest {results[label]['longest_ms']:.0f} ms, {results[label]['total_late_s']:.1f} s lost",
                flush=True,
            )
    finally:
        stop.set()
        busy.join(timeout=120)
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base-url")
    p.add_argument("--model")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY")
    p.add_argument("--start", choices=("chat", "tools"), help="start this tiny checkpoint on loopback first")
    p.add_argument("--seconds", type=float, default=30.0, help="how long each half measures (default 30)")
    p.add_argument(
        "--ready-timeout",
        type=float,
        default=60.0,
        help="seconds to wait for --base-url to serve (default 60)",
    )
    p.add_argument("--out", type=Path, help="write the numbers as JSON here")
    args = p.parse_args()
    if os.geteuid() != 0:
        p.error("needs root (SCHED_FIFO for the real-time half)")
    if args.start:
        from testbed import local_vllm

        with local_vllm.serve_checkpoint(args.start) as server:
            endpoint = Endpoint.from_env(server.base_url, server.model, api_key_env=server.export_key())
            results = measure(endpoint, args.seconds)
    elif args.base_url and args.model:
        endpoint = Endpoint.from_env(args.base_url, args.model, api_key_env=args.api_key_env)
        ready = wait_until_ready(
            endpoint.root_url, endpoint.model, api_key=endpoint.api_key, deadline_s=args.ready_timeout
        )
        if not ready.ready:
            print(f"error: the endpoint is not serving: {ready.detail}", file=sys.stderr)
            return 1
        results = measure(endpoint, args.seconds)
    else:
        p.error("give --base-url and --model of a ready endpoint, or --start chat|tools")
    if args.out:
        results["machine"] = {"cores": os.cpu_count()}
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
