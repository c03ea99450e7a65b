"""The Kubernetes containers' scripts, run for real: `sh` for the servers' wait, Python (with a recording
stand-in for huggingface_hub) for the download Job."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from targets.kubernetes.scripts import DOWNLOAD_SCRIPT, WAIT_FOR_WEIGHTS_SCRIPT


def wait(markers: list[Path], timeout_s: float) -> subprocess.CompletedProcess[str] | None:
    env = {"PATH": os.environ["PATH"], "GPTOSS_STAGED_MARKERS": "\n".join(map(str, markers))}
    try:
        return subprocess.run(
            ["sh", "-c", WAIT_FOR_WEIGHTS_SCRIPT], env=env, capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        return None


def test_servers_start_once_every_marker_exists(tmp_path):
    config = tmp_path / "my models" / "config.json"  # a space: one marker per line, never split on it
    config.parent.mkdir()
    config.write_text("{}")
    marker = tmp_path / "openai--gpt-oss-120b+nvidia--gpt-oss-120b-Eagle3-v3"
    marker.write_text("staged\n")
    done = wait([config, marker], timeout_s=10)
    assert done is not None and done.returncode == 0 and done.stdout == ""


def test_servers_keep_waiting_while_one_marker_is_missing(tmp_path):
    present = tmp_path / "config.json"
    present.write_text("{}")
    assert wait([present, tmp_path / "draft-marker"], timeout_s=2) is None


def test_download_job_stages_every_source_then_writes_the_marker(tmp_path):
    stub = tmp_path / "stub" / "huggingface_hub"
    stub.mkdir(parents=True)
    calls = tmp_path / "calls"
    (stub / "__init__.py").write_text(
        "import os\n"
        "def snapshot_download(repo_id, ignore_patterns):\n"
        "    with open(os.environ['CALLS'], 'a') as f:\n"
        "        f.write(repo_id + ' ' + ','.join(ignore_patterns) + '\\n')\n"
    )
    tiktoken = tmp_path / "tiktoken"
    tiktoken.mkdir()
    (tiktoken / "o200k_base.tiktoken").write_text("staged earlier")  # no network in a unit test
    marker = tmp_path / "hf" / ".gptoss-staged" / "m"
    env = {
        "PYTHONPATH": str(stub.parent),
        "CALLS": str(calls),
        "GPTOSS_MODEL_SOURCES": "openai/gpt-oss-120b\nnvidia/gpt-oss-120b-Eagle3-v3",
        "GPTOSS_IGNORE": "original/*,metal/*",
        "TIKTOKEN_ENCODINGS_BASE": str(tiktoken),
        "GPTOSS_TIKTOKEN_URL": "http://127.0.0.1:9/unused",
        "GPTOSS_STAGED_MARKER": str(marker),
    }
    done = subprocess.run([sys.executable, "-c", DOWNLOAD_SCRIPT], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert calls.read_text().splitlines() == [
        "openai/gpt-oss-120b original/*,metal/*",
        "nvidia/gpt-oss-120b-Eagle3-v3 original/*,metal/*",
    ]
    assert marker.read_text().splitlines() == ["openai/gpt-oss-120b", "nvidia/gpt-oss-120b-Eagle3-v3"]
