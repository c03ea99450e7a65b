"""End to end on the systemd test host: a unit we render hands the program exactly the plan's argv and
environment, for tricky-but-legal values (spaces, quotes, %, $, backquotes, backslashes, unicode).

The unit is the real renderer's output for a plan with such extra args and extra env, installed under its
own name with a stand-in `vllm` (a shell script that writes its argv and environment, NUL-separated) and
the same hardening (User=, SystemCallFilter=, ProtectSystem=strict, ...). The oracles are systemd itself:
`systemctl show -p ExecStart`, the manager's parsed argv over D-Bus (`busctl --json`), and what the
process really received. The real vLLM unit runs under the same sandbox in test_deploy_testbed.py.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from testbed import nspawn

from serving import PlanRequest, plan_serving
from targets.systemd.layout import HostLayout
from targets.systemd.render import options_for, render_env, render_unit

pytestmark = pytest.mark.e2e

UNIT = "gptoss-quoting-probe.service"
LAYOUT = HostLayout(
    user="nobody",
    root="/opt/gptoss-probe",
    state_dir="/var/lib/gptoss-probe",
    cache_dir="/var/cache/gptoss-probe",
    config_dir="/etc/gptoss-probe",
)
VENV = "/opt/gptoss-probe/venv"
TRICKY_ARGS = (
    "--allowed-origins",
    '["https://a b.example", "100%", "$HOME", "${HOME}", "`id`", "$(id)", "ü✓😀"]',
    "--chat-template",
    'it\'s "quoted" \\ back\\slash; #not-a-comment %n %% $$',
    "--response-role",
    "  spaced  ",
)
TRICKY_ENV = {
    "GPTOSS_PROBE_SPACES": "  a b  ",
    "GPTOSS_PROBE_QUOTES": 'it\'s "quoted"',
    "GPTOSS_PROBE_DOLLAR": "$HOME ${HOME} $(id) $$",
    "GPTOSS_PROBE_BACKTICK": "`id`",
    "GPTOSS_PROBE_BACKSLASH": "a\\b\\\\c\\",
    "GPTOSS_PROBE_UNICODE": "ünïcødé ✓ 😀",
    "GPTOSS_PROBE_PERCENT": "100%",
}
KEY = "k-\"$HOME`id`'\\-ü-0123456789"
# Writes its argv and environment where the sandbox lets `nobody` write, then exits 0.
PROBE = """#!/bin/sh
printf '%s\\0' "$0" "$@" > /var/lib/gptoss-probe/argv.part && mv /var/lib/gptoss-probe/argv.part /var/lib/gptoss-probe/argv
env -0 > /var/lib/gptoss-probe/env
"""


def ssh(command: str, stdin: bytes | None = None, timeout: float = 60) -> bytes:
    proc = subprocess.run(nspawn.ssh_argv([command]), input=stdin, capture_output=True, timeout=timeout)
    assert proc.returncode == 0, f"{command}: {proc.stderr.decode(errors='replace')}"
    return proc.stdout


def put(path: str, data: str, mode: str) -> None:
    ssh(f"umask 077 && cat > {path} && chmod {mode} {path}", stdin=data.encode())


@pytest.fixture(scope="module")
def probed(testbed_host):
    plan = plan_serving(
        PlanRequest(
            model="gpt-oss-tiny",
            accelerator="cpu",
            served_model_name="gpt-oss_tiny@probe:1",
            extra_args=TRICKY_ARGS,
            extra_env=TRICKY_ENV,
            paths=LAYOUT.serving_paths(),
        )
    )
    engine = plan.engines[0]
    options = options_for(plan, LAYOUT, venv_dir=VENV, group="nogroup", writable_paths=(LAYOUT.state_dir,))
    ssh(
        f"mkdir -p {VENV}/bin {LAYOUT.config_dir} {LAYOUT.state_dir} && chown nobody:nogroup {LAYOUT.state_dir} "
        f"&& rm -f {LAYOUT.state_dir}/argv {LAYOUT.state_dir}/env"
    )
    put(f"{VENV}/bin/vllm", PROBE, "755")
    put(
        f"{LAYOUT.config_dir}/gptoss-vllm-0.env",
        render_env(plan, engine, options, {"VLLM_API_KEY": KEY}),
        "600",
    )
    put(f"/etc/systemd/system/{UNIT}", render_unit(plan, engine, options), "644")
    ssh(f"systemctl daemon-reload && systemctl start {UNIT}")
    deadline = time.monotonic() + 60
    while ssh(f"test -f {LAYOUT.state_dir}/argv && echo yes || echo no").strip() != b"yes":
        assert time.monotonic() < deadline, ssh(f"journalctl -u {UNIT} -n 30 --no-pager").decode()
        time.sleep(0.5)
    received_argv = ssh(f"cat {LAYOUT.state_dir}/argv").decode().split("\0")[:-1]
    received_env = dict(
        item.split("=", 1) for item in ssh(f"cat {LAYOUT.state_dir}/env").decode().split("\0") if "=" in item
    )
    shown = ssh(f"systemctl show -p ExecStart {UNIT}").decode()
    path = "/org/freedesktop/systemd1/unit/" + UNIT.replace("-", "_2d").replace(".", "_2e")
    bus = json.loads(
        ssh(
            f"busctl --json=short get-property org.freedesktop.systemd1 {path} "
            "org.freedesktop.systemd1.Service ExecStart"
        )
    )
    yield {"plan": plan, "argv": received_argv, "env": received_env, "shown": shown, "bus": bus}
    ssh(
        f"systemctl stop {UNIT}; rm -rf /etc/systemd/system/{UNIT} /opt/gptoss-probe {LAYOUT.state_dir} "
        f"{LAYOUT.config_dir} && systemctl daemon-reload"
    )


def test_the_process_receives_exactly_the_plans_argv(probed):
    plan_argv = list(probed["plan"].engines[0].argv)
    assert probed["argv"] == [f"{VENV}/bin/vllm", *plan_argv[1:]]


def test_the_manager_parsed_the_plans_argv(probed):
    """systemd's parsed ExecStart (over D-Bus) holds the words before its spawn-time $$ -> $ pass."""
    path, argv = probed["bus"]["data"][0][:2]  # a(sasbttttuii): path, argv, ignore-failure, timestamps...
    assert path == f"{VENV}/bin/vllm"
    assert [word.replace("$$", "$") for word in argv] == probed["argv"]
    assert "argv[]=" in probed["shown"] and "100%" in probed["shown"]


def test_the_process_environment_is_the_plans_plus_the_key(probed):
    env = probed["env"]
    for key, value in {**probed["plan"].engines[0].env, **TRICKY_ENV}.items():
        assert env.get(key) == value, key
    assert env["VLLM_API_KEY"] == KEY
