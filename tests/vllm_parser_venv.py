"""Find (or, with GPTOSS_BUILD_VENVS=1, build) the vLLM 0.33.0 parser venv and run check_argv.py in it.

The venv lives outside the repo (~/.cache/gptoss/venvs/vllm-parser-0.33.0, made by scripts/vllm-parser-venv)
because it is 2.2 GB; tests only ever talk to it through a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from serving.pins import VLLM_VERSION

REPO = Path(__file__).resolve().parent.parent
VENV_SCRIPT = REPO / "scripts" / "vllm-parser-venv"
CHECKER = REPO / "tests" / "vllm_parser" / "check_argv.py"
BUILD_TIMEOUT_S = 1800  # a cold build measured 97-112 s here; pip downloads can be much slower elsewhere
CHECK_TIMEOUT_S = 600  # importing vLLM takes ~6 s; parsing is milliseconds per argv


class ParserVenvError(RuntimeError):
    """The parser venv could not be built or the checker did not answer."""


def default_venv_path() -> Path:
    """Where scripts/vllm-parser-venv puts the venv (same rule as the script)."""
    override = os.environ.get("GPTOSS_VLLM_PARSER_VENV")
    return Path(override) if override else Path.home() / f".cache/gptoss/venvs/vllm-parser-{VLLM_VERSION}"


def _build_requested() -> bool:
    return os.environ.get("GPTOSS_BUILD_VENVS", "") == "1"


def _script(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(VENV_SCRIPT), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def find_parser_venv() -> Path | None:
    """The complete venv's path, or None. Never builds (the script's --check compares its stamp)."""
    done = _script("--check", timeout=60)
    if done.returncode == 0 and done.stdout.strip():
        return Path(done.stdout.strip().splitlines()[-1])
    return None


def ensure_parser_venv() -> Path:
    """The venv path; builds it when GPTOSS_BUILD_VENVS=1, otherwise skips the calling test naming what to run."""
    venv = find_parser_venv()
    if venv is not None:
        return venv
    if not _build_requested():
        pytest.skip(
            f"vLLM 0.33.0 parser venv {default_venv_path()} is missing or incomplete: build it with "
            "scripts/vllm-parser-venv (about 2 minutes, 2.2 GB), or set GPTOSS_BUILD_VENVS=1"
        )
    done = _script(timeout=BUILD_TIMEOUT_S)
    if done.returncode != 0:
        raise ParserVenvError(
            f"scripts/vllm-parser-venv failed (exit {done.returncode}):\n{done.stderr[-4000:]}"
        )
    return Path(done.stdout.strip().splitlines()[-1])


def run_checker(venv: Path, items: list) -> list[dict]:
    """Check every item (an argv list, or {"argv": [...], "env": {...}}) in ONE checker process."""
    done = subprocess.run(
        [str(venv / "bin" / "python"), str(CHECKER)],
        input=json.dumps(items),
        capture_output=True,
        text=True,
        timeout=CHECK_TIMEOUT_S,
        check=False,
        # The checker must not inherit a developer's VLLM_* variables: they would be judged as the plan's.
        env={k: v for k, v in os.environ.items() if not k.startswith("VLLM_")},
    )
    if done.returncode != 0:
        raise ParserVenvError(f"check_argv.py exited {done.returncode}:\n{done.stderr[-4000:]}")
    results = json.loads(done.stdout)
    if len(results) != len(items):
        raise ParserVenvError(f"check_argv.py answered {len(results)} results for {len(items)} argvs")
    return results
