"""testbed.local_vllm's process handling, against a stand-in server (a few lines of http.server).

The real thing is covered by tests/e2e/test_local_vllm.py; here: readiness in two stages, the key kept out of
argv and out of error messages, early exits and timeouts reported with the log, and a stop that takes the
whole process group down even when a child ignores SIGTERM.
"""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import pytest
from testbed import local_vllm

FAKE_SERVER = textwrap.dedent(
    """
    import http.server, json, os, signal, subprocess, sys, time
    port = int(sys.argv[sys.argv.index("--port") + 1])
    mode = os.environ.get("FAKE_MODE", "ok")
    key = os.environ["VLLM_API_KEY"]
    print("starting; my key is", key, flush=True)  # a careless server: the tail must not show it
    if mode == "crash":
        sys.exit(3)
    # a grandchild that ignores SIGTERM, like a stuck engine process
    subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
    time.sleep(float(os.environ.get("FAKE_DELAY", "0.5")))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/health":
                return self._send(200 if mode != "unhealthy" else 503, {})
            if self.headers.get("Authorization") != "Bearer " + key:
                return self._send(401, {"error": "unauthorized"})
            return self._send(200, {"data": [{"id": os.environ["FAKE_MODEL"]}]})
        def _send(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        def log_message(self, *args):
            pass

    http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
    """
)


@pytest.fixture
def fake(tmp_path, monkeypatch):
    script = tmp_path / "fake_server.py"
    script.write_text(FAKE_SERVER)
    monkeypatch.setenv("FAKE_MODEL", "tiny")

    def run(mode="ok", delay=0.5, timeout=20.0, key="s3cret-key-for-tests"):
        monkeypatch.setenv("FAKE_MODE", mode)
        monkeypatch.setenv("FAKE_DELAY", str(delay))
        port = local_vllm.free_port()
        return local_vllm.start(
            [sys.executable, str(script), "--port", str(port)],
            {"SOME_PLAN_VAR": "1"},
            api_key=key,
            served_model_name="tiny",
            log_path=tmp_path / "server.log",
            ready_timeout_s=timeout,
        )

    return run


def test_start_waits_for_health_and_models_then_stop_kills_the_group(fake):
    server = fake(delay=1.0)
    try:
        assert server.startup_s >= 1.0
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        pids = local_vllm._group_pids(server.process.pid)
        assert len(pids) >= 2  # the server and its SIGTERM-ignoring child
        assert server.rss_bytes() > 0
    finally:
        started = time.monotonic()
        server.stop(grace_s=1.0)
    assert time.monotonic() - started < 10
    assert local_vllm._group_pids(server.process.pid) == []
    for pid in pids:  # gone, or at most a zombie waiting for its parent
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_an_early_exit_is_reported_with_the_log_and_without_the_key(fake):
    with pytest.raises(local_vllm.VllmStartError) as error:
        fake(mode="crash")
    message = str(error.value)
    assert "exited with code 3" in message
    assert "my key is ***" in message
    assert "s3cret-key-for-tests" not in message


def test_a_server_that_never_gets_healthy_times_out_and_is_stopped(fake):
    with pytest.raises(local_vllm.VllmStartError, match="/health not healthy within 3s"):
        fake(mode="unhealthy", timeout=3.0)


def test_the_key_may_not_travel_in_argv(tmp_path):
    with pytest.raises(ValueError, match="argv"):
        local_vllm.start(
            ["vllm", "serve", "m", "--api-key", "abc", "--port", "1"],
            {},
            api_key="abc",
            served_model_name="m",
            log_path=tmp_path / "log",
        )


def test_plan_engine_serves_the_checkpoint_dir_on_loopback(tmp_path):
    engine = local_vllm.plan_engine(tmp_path, "gpt-oss-tiny-chat", 8123)
    argv = list(engine.argv)
    assert argv[:3] == ["vllm", "serve", str(tmp_path)]
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert argv[argv.index("--port") + 1] == "8123"
    assert argv[argv.index("--served-model-name") + 1] == "gpt-oss-tiny-chat"
    assert engine.env["HF_HUB_OFFLINE"] == "1"
    assert engine.env["VLLM_CACHE_ROOT"].startswith(str(local_vllm.STATE_DIR))  # not /var/cache on a dev box
    assert not any("key" in arg.lower() for arg in argv)


def test_a_missing_venv_is_named_with_the_command_that_builds_it(tmp_path):
    problem = local_vllm.venv_problem(tmp_path / "no-venv")
    assert str(tmp_path / "no-venv") in problem
    assert "scripts/vllm-cpu-venv" in problem
    with pytest.raises(local_vllm.VllmUnavailable, match="GPTOSS_BUILD_VENVS=1"):
        local_vllm.ensure_venv(build=False, venv=tmp_path / "no-venv")
