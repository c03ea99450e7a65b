"""The generated probes, run for real against HTTP servers on 127.0.0.1.

Host probe (targets/systemd/probe.py): `sh` with the real curl, sed and python3, the key read from an env
file written by the real renderer; wrappers record every argv so the key's absence from them is checked,
not assumed. Container probe (targets/kubernetes/scripts.py): `python3 -c` with VLLM_API_KEY in its env.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from serving import PlanRequest, plan_serving, readiness_for
from serving.readiness import ReadinessSpec
from targets.kubernetes.config import settings_from_values
from targets.kubernetes.objects import build_objects
from targets.kubernetes.scripts import readiness_command
from targets.systemd import options_for, render_env
from targets.systemd.probe import probe_script, wait_script
from tests.unit.loopback import LoopbackServer, free_port, models, status

NAME = "gpt-oss-tiny"
SPEC = ReadinessSpec(NAME)
TOOLS = ("curl", "sed", "python3")

pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in TOOLS),
    reason=f"the host probe needs {', '.join(TOOLS)} on PATH (as on every host the roles accept)",
)

HOSTILE_KEYS = [
    "plain-KEY_123",
    'has "quotes" and \\ backslashes \\\\',
    "dollar $HOME `id` $(touch PWNED) ${IFS}",
    "semi;colon&amp|pipe>redir<in 'single' \"double",
    '"starts-with-a-quote',
    "ends-with-a-backslash\\",
    'header = "Authorization: Bearer injected"',
]


def write_env_file(path: Path, key: str | None) -> Path:
    """The engine's env file exactly as a deploy writes it (render_env), 0600."""
    plan = plan_serving(PlanRequest(model="gpt-oss-tiny", accelerator="cpu"))
    text = render_env(plan, plan.engines[0], options_for(plan), {"VLLM_API_KEY": key} if key else {})
    path.write_text(text)
    path.chmod(0o600)
    return path


class Host:
    """A PATH whose curl, sed and python3 log their argv before running the real ones."""

    def __init__(self, tmp: Path) -> None:
        self.bin = tmp / "bin"
        self.bin.mkdir()
        self.log = tmp / "argv.log"
        for tool in TOOLS:
            wrapper = self.bin / tool
            wrapper.write_text(
                f'#!/bin/sh\nprintf "%s\\n" "{tool} $*" >> {self.log}\nexec {shutil.which(tool)} "$@"\n'
            )
            wrapper.chmod(0o755)
        self.cwd = tmp

    def env(self, **extra: str) -> dict[str, str]:
        return {"PATH": f"{self.bin}:{os.environ['PATH']}", "LC_ALL": "C", **extra}

    def sh(self, script: str, timeout: float = 30, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["sh", "-c", script],
            env=self.env(**extra),
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def argv_log(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


@pytest.fixture
def host(tmp_path) -> Host:
    return Host(tmp_path)


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_host_probe_hands_any_key_to_curl_on_stdin_only(host, tmp_path, key):
    env_file = write_env_file(tmp_path / "gptoss-vllm-0.env", key)
    with LoopbackServer({"/health": status(200), "/v1/models": models(NAME, key=key)}) as server:
        script = probe_script(SPEC, server.port, str(env_file))
        proc = host.sh(script)
    assert proc.returncode == 0, proc.stderr
    assert ("/v1/models", f"Bearer {key}") in {(s.path, s.authorization) for s in server.seen}
    assert key not in script
    logged = host.argv_log()
    assert "curl" in logged and "sed" in logged and "python3" in logged
    assert key not in logged, "the key reached an argv"
    assert not (tmp_path / "PWNED").exists(), "a value from the env file was executed"


def test_host_probe_without_a_key_asks_without_one(host, tmp_path):
    env_file = write_env_file(tmp_path / "e.env", None)
    with LoopbackServer({"/health": status(200), "/v1/models": models(NAME)}) as server:
        assert host.sh(probe_script(SPEC, server.port, str(env_file))).returncode == 0
    assert [s.authorization for s in server.seen] == [None, None]


@pytest.mark.parametrize(
    ("routes", "key_in_file", "asked_models"),
    [
        ({"/health": status(503), "/v1/models": models(NAME)}, "k", False),
        ({"/health": status(200), "/v1/models": models(NAME, key="right")}, "wrong", True),
        ({"/health": status(200), "/v1/models": models("openai/gpt-oss-20b")}, "k", True),
        (
            {"/health": status(200), "/v1/models": models(NAME + "-chat")},
            "k",
            True,
        ),  # a prefix is not a match
        ({"/health": status(200), "/v1/models": status(200, {"models": [NAME]})}, "k", True),
        ({"/health": status(200), "/v1/models": status(500)}, "k", True),
    ],
    ids=["unhealthy", "wrong-key", "other-model", "name-prefix", "not-openai", "error"],
)
def test_host_probe_fails_unless_the_model_is_served(host, tmp_path, routes, key_in_file, asked_models):
    env_file = write_env_file(tmp_path / "e.env", key_in_file)
    with LoopbackServer(routes) as server:
        proc = host.sh(probe_script(SPEC, server.port, str(env_file)))
    assert proc.returncode != 0
    assert ("/v1/models" in server.paths()) == asked_models


def test_host_probe_fails_when_nothing_listens(host, tmp_path):
    env_file = write_env_file(tmp_path / "e.env", "k")
    assert host.sh(probe_script(SPEC, free_port(), str(env_file))).returncode != 0


def test_host_probe_ignores_proxies_from_the_environment(host, tmp_path):
    env_file = write_env_file(tmp_path / "e.env", "k")
    dead_proxy = f"http://127.0.0.1:{free_port()}"
    with LoopbackServer({"/health": status(200), "/v1/models": models(NAME, key="k")}) as server:
        proc = host.sh(
            probe_script(SPEC, server.port, str(env_file)), http_proxy=dead_proxy, HTTP_PROXY=dead_proxy
        )
    assert proc.returncode == 0, proc.stderr


def test_probe_values_are_validated_or_quoted(tmp_path):
    with pytest.raises(ValueError, match="port"):
        probe_script(SPEC, 0, "/etc/x.env")
    odd = ReadinessSpec("it's a $(model) `name`")
    script = probe_script(odd, 8000, "/etc/it's.env")
    proc = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True, timeout=10)
    assert proc.returncode == 0, proc.stderr  # parses as sh; the served name is one quoted word


# ---- the wait loop the roles run after a (re)start ------------------------------------------------------


def stub(host: Host, name: str, body: str) -> None:
    path = host.bin / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def test_wait_script_waits_for_a_late_server_with_backoff(host, tmp_path):
    stub(host, "systemctl", "echo activating")
    stub(host, "journalctl", "echo journal-tail")
    env_file = write_env_file(tmp_path / "e.env", "k")
    port = free_port()
    server = LoopbackServer({"/health": status(200), "/v1/models": models(NAME, key="k")}, port=port)
    starter = threading.Timer(1.5, server.start)
    starter.start()
    try:
        started = time.monotonic()
        proc = host.sh(wait_script(SPEC, port, str(env_file), "gptoss-vllm-0.service", 30), timeout=40)
        took = time.monotonic() - started
    finally:
        starter.join()
        server.stop()
    assert proc.returncode == 0, proc.stderr
    assert f"gptoss-vllm-0.service answers on port {port} and lists {NAME}" in proc.stdout
    assert 1.5 <= took < 10


def test_wait_script_stops_at_once_when_systemd_gives_up(host, tmp_path):
    stub(host, "systemctl", "echo failed")
    stub(host, "journalctl", "echo 'vllm: CUDA out of memory'")
    env_file = write_env_file(tmp_path / "e.env", "k")
    started = time.monotonic()
    proc = host.sh(wait_script(SPEC, free_port(), str(env_file), "gptoss-vllm-0.service", 600))
    assert proc.returncode == 1 and time.monotonic() - started < 10
    assert "gptoss-vllm-0.service is not serving after its 600 s budget (state failed)" in proc.stderr
    assert "CUDA out of memory" in proc.stderr


def test_wait_script_honours_its_budget(host, tmp_path):
    stub(host, "systemctl", "echo activating")
    stub(host, "journalctl", "true")
    env_file = write_env_file(tmp_path / "e.env", "k")
    started = time.monotonic()
    proc = host.sh(wait_script(SPEC, free_port(), str(env_file), "u.service", 3), timeout=30)
    took = time.monotonic() - started
    assert proc.returncode == 1 and "not serving after its 3 s budget" in proc.stderr
    assert 2 <= took < 10, f"took {took:.1f} s for a 3 s budget"


# ---- the Kubernetes readiness probe ---------------------------------------------------------------------


def run_container_probe(port: int, key: str | None, spec: ReadinessSpec = SPEC, **env: str):
    command = readiness_command(spec, port)
    child_env = {"PATH": os.environ["PATH"], **env}
    if key is not None:
        child_env["VLLM_API_KEY"] = key
    return subprocess.run(
        [sys.executable, *command[1:]], env=child_env, capture_output=True, text=True, timeout=30
    )


def test_the_builder_uses_the_generated_container_probe():
    plan = plan_serving(PlanRequest(model="gpt-oss-120b", accelerator="h100", served_model_name="prod"))
    (deployment,) = [o for o in build_objects(plan, settings_from_values({})) if o["kind"] == "Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["exec"]["command"] == readiness_command(
        readiness_for(plan), plan.request.port
    )
    assert container["startupProbe"]["httpGet"]["path"] == readiness_for(plan).health_path


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_container_probe_passes_with_the_key_from_its_environment(key):
    with LoopbackServer({"/health": status(200), "/v1/models": models(NAME, key=key)}) as server:
        proc = run_container_probe(server.port, key)
    assert proc.returncode == 0, proc.stderr
    assert not any(key in word for word in readiness_command(SPEC, server.port))


@pytest.mark.parametrize(
    ("routes", "key", "fragment"),
    [
        ({"/health": status(503), "/v1/models": models(NAME)}, "k", "HTTP Error 503"),
        ({"/health": status(200), "/v1/models": models(NAME, key="right")}, "sk-wrong-77", "HTTP Error 401"),
        ({"/health": status(200), "/v1/models": models("other")}, "k", f"{NAME!r} is not listed"),
        ({"/health": status(200), "/v1/models": status(200, {"x": 1})}, "k", "KeyError"),
    ],
    ids=["unhealthy", "wrong-key", "other-model", "not-openai"],
)
def test_container_probe_fails_with_a_reason_and_no_key(routes, key, fragment):
    with LoopbackServer(routes) as server:
        proc = run_container_probe(server.port, key)
    assert proc.returncode == 1 and fragment in proc.stderr
    assert key not in proc.stderr + proc.stdout


def test_container_probe_ignores_proxies_and_works_without_a_key():
    dead_proxy = f"http://127.0.0.1:{free_port()}"
    with LoopbackServer({"/health": status(200), "/v1/models": models(NAME)}) as server:
        proc = run_container_probe(server.port, None, http_proxy=dead_proxy, HTTP_PROXY=dead_proxy)
    assert proc.returncode == 0, proc.stderr
    assert [s.authorization for s in server.seen] == [None, None]
