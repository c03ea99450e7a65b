"""End to end: the Ollama role's authenticating nginx front, for real, on the systemd test host.

No Ollama release can be installed where this bundle is tested, so the front stands in front of the vLLM
engine the test host serves (the same renderer, key map and role; only the upstream differs: vLLM's port,
/health as the open path, and the Authorization header handed on because vLLM checks the same key). The
proof: the real pyinfra CLI deploys it (a second run changes nothing), `gptoss smoke` passes through it with
its auth check, a request without the key gets nginx's 401, and the key is in no nginx log.

Root, systemd-nspawn, the wheelhouse and the tiny checkpoint are required (as for test_deploy_testbed.py);
the rootfs carries nginx-light (harness/testbed/rootfs.py ROOTFS_PACKAGES): the test host is offline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from testbed.deploy_runner import ensure_api_key, run_deploy, wait_for_ssh

from tests.e2e.test_deploy_testbed import MODEL, group_data, prerequisites_missing

pytestmark = pytest.mark.e2e

FRONT_PORT = 8443
FRONT_DEPLOY = "tests/e2e/deploy_vllm_front.py"
SITE = "/etc/nginx/conf.d/gptoss-front-vllm.conf"
KEY_MAP = "/etc/gptoss-front/vllm.key.map"


def answer(url: str, key: str | None = None) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url)
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode()


@pytest.fixture(scope="module")
def front(testbed_host):
    missing = prerequisites_missing()
    if missing:
        pytest.skip(missing)
    key_file = ensure_api_key(group_data()["vllm_api_key_file"])
    key = key_file.read_text().strip()
    wait_for_ssh()
    # vLLM first (a no-op when test_deploy_testbed.py deployed it already), then the front before it.
    engine = run_deploy()
    assert engine.returncode == 0, engine.output[-4000:]
    data = {"front_port": FRONT_PORT, "front_api_key_file": str(key_file)}
    first = run_deploy(data=data, deploy=FRONT_DEPLOY, extra_args=("-vvv", "--debug", "--diff"))
    assert first.returncode == 0, first.output[-6000:]
    second = run_deploy(data=data, deploy=FRONT_DEPLOY)
    return {
        "host": testbed_host.host,  # testinfra over ssh
        "key": key,
        "first": first,
        "second": second,
        "base": f"http://{testbed_host.address}:{FRONT_PORT}",
    }


def test_the_front_deploys_once_and_then_changes_nothing(front):
    assert front["first"].changed and front["first"].changed > 0
    assert front["second"].returncode == 0 and front["second"].changed == 0, front["second"].output[-3000:]
    assert front["key"] not in front["first"].output + front["second"].output


def test_the_key_map_is_root_only_and_nginx_accepts_the_configuration(front):
    h = front["host"]
    key_map = h.file(KEY_MAP)
    assert (key_map.user, key_map.group, key_map.mode) == ("root", "root", 0o600)
    assert h.file("/etc/gptoss-front").mode == 0o700
    assert front["key"] not in h.file(SITE).content_string
    assert h.run("nginx -t").rc == 0
    assert h.service("nginx").is_running and h.service("nginx").is_enabled
    # nginx's workers run as www-data and cannot read the key; the master (root) read it at load.
    assert h.run("runuser -u www-data -- cat " + KEY_MAP).rc != 0


def test_without_the_key_nginx_answers_401_itself(front):
    status, headers, body = answer(front["base"] + "/v1/models")
    assert status == 401
    # nginx's own answer (vLLM's 401 says {"error": "Unauthorized"} and has no WWW-Authenticate).
    assert json.loads(body)["error"]["code"] == "invalid_api_key"
    assert headers.get("WWW-Authenticate", "").startswith("Bearer")
    assert answer(front["base"] + "/v1/models", front["key"] + "x")[0] == 401
    assert answer(front["base"] + "/health")[0] == 200  # the open path, like vLLM's own /health
    status, _, body = answer(front["base"] + "/v1/models", front["key"])
    assert status == 200 and json.loads(body)["data"][0]["id"] == MODEL


def test_smoke_passes_through_the_front_with_its_auth_check(front):
    env = dict(os.environ, GPTOSS_FRONT_KEY=front["key"])
    argv = [
        sys.executable,
        "-m",
        "gptoss.cli",
        "smoke",
        "--base-url",
        front["base"] + "/v1",
        "--model",
        MODEL,
        "--checks",
        "readiness,models,chat,chat_stream,auth,bad_request",
        "--api-key-env",
        "GPTOSS_FRONT_KEY",
        "--json",
        "-",
    ]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    auth = next(r for r in report["results"] if r["name"] == "auth")
    assert auth["status"] == "passed" and {s["name"] for s in auth["subchecks"]} >= {"models_without_key"}
    assert front["key"] not in proc.stdout + proc.stderr


def test_the_key_is_in_no_nginx_log(front):
    h = front["host"]
    # A key in the query string too: the front logs the path without it.
    answer(front["base"] + "/v1/models?api_key=" + front["key"], front["key"])
    logs = h.check_output("cat /var/log/nginx/*.log")
    assert "/v1/models" in logs and " 401 " in logs and " 200 " in logs  # the requests are there
    assert front["key"] not in logs and front["key"][:12] not in logs
