"""Run the real `pyinfra` CLI on deploy.py and read its results table; ask a deployed endpoint directly.

Waiting for a deployed endpoint to serve is smoke.readiness.wait_until_ready, as everywhere else.

Used by the end-to-end tests, `scripts/demo` (via `python -m testbed.deploy_runner`) and bench/deploy_bench.py, so
all three deploy the same way a person does.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TESTBED_INVENTORY = "inventories/testbed.py"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class DeployRun:
    argv: list[str]
    returncode: int
    seconds: float
    output: str  # stdout + stderr, colours stripped

    @property
    def totals(self) -> dict[str, int] | None:
        """pyinfra's `Grand total` row: hosts, success (= changed), error, no_change; None if absent."""
        for line in reversed(self.output.splitlines()):
            if line.strip().startswith("Grand total"):
                cells = line.split()[2:]
                if len(cells) >= 4:
                    values = [0 if c == "-" else int(c) for c in cells[:4]]
                    return dict(zip(("hosts", "changed", "error", "no_change"), values, strict=True))
        return None

    @property
    def changed(self) -> int | None:
        t = self.totals
        return None if t is None else t["changed"]


def pyinfra_executable() -> str:
    """The pyinfra next to this Python (the project venv), else the one on PATH."""
    local = Path(sys.executable).with_name("pyinfra")
    found = str(local) if local.exists() else shutil.which("pyinfra")
    if not found:
        raise FileNotFoundError("pyinfra is not installed: run `uv sync` in the project")
    return found


def run_deploy(
    inventory: str = TESTBED_INVENTORY,
    data: dict[str, object] | None = None,
    extra_args: tuple[str, ...] = (),
    timeout: float = 1800,
    deploy: str = "deploy.py",
) -> DeployRun:
    """The real pyinfra CLI on `deploy` (a deploy file relative to the repository root)."""
    argv = [pyinfra_executable(), "-y", inventory, deploy, *extra_args]
    for key, value in (data or {}).items():
        argv += ["--data", f"{key}={value}"]
    env = dict(os.environ, PYTHONUNBUFFERED="1", NO_COLOR="1")
    started = time.monotonic()
    proc = subprocess.run(
        argv,
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    seconds = time.monotonic() - started
    return DeployRun(argv, proc.returncode, seconds, _ANSI.sub("", proc.stdout + proc.stderr))


def wait_for_ssh(inventory: str = TESTBED_INVENTORY, deadline_s: float = 60) -> float:
    """Seconds until pyinfra itself can run a command on the inventory (sshd may still be settling)."""
    started = time.monotonic()
    while True:
        proc = subprocess.run(
            [pyinfra_executable(), "-y", inventory, "exec", "--", "true"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        if proc.returncode == 0:
            return time.monotonic() - started
        if time.monotonic() - started > deadline_s:
            raise TimeoutError(
                f"pyinfra could not reach {inventory} in {deadline_s:.0f} s: {proc.stdout[-1500:]}"
            )
        time.sleep(2)


def http_json(url: str, api_key: str | None = None, timeout: float = 5) -> dict:
    request = urllib.request.Request(url)
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
    return json.loads(body) if body else {}


def ensure_api_key(path: str | os.PathLike[str]) -> Path:
    """A 0600 API key file for the test endpoint, made once with a random key."""
    p = Path(path).expanduser()
    if not p.exists():
        import secrets

        p.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(24) + "\n")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="deploy with pyinfra and print a one-line JSON summary")
    parser.add_argument("--inventory", default=TESTBED_INVENTORY)
    parser.add_argument("--data", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    data = dict(item.split("=", 1) for item in args.data)
    run = run_deploy(args.inventory, data)
    sys.stderr.write(run.output)
    print(json.dumps({"returncode": run.returncode, "seconds": round(run.seconds, 1), "totals": run.totals}))
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
