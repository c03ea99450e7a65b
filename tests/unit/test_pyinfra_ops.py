"""The custom operations of roles/ops.py through pyinfra's own engine (tests/unit/pyinfra_support.py):
facts in -> commands out, including the no-op case; the commands that matter also run for real with `sh`."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from roles.ops import EndpointAnswers, FileText, Secret, endpoint_ready, install_once, secret_file
from serving.readiness import ReadinessSpec
from targets.systemd.probe import wait_script
from tests.unit.loopback import LoopbackServer, models, status
from tests.unit.pyinfra_support import ByPath, file_fact, run_deploy, sha256

ENV = "/etc/gptoss/gptoss-vllm-0.env"
UPLOADS = "/var/lib/gptoss/.uploads"
TEXT = "VLLM_API_KEY=sk-ops-SECRET-91\n"


def deploy_secret(file_fact_value=None, content: str | None = None):
    facts = {
        "File": ByPath({ENV: file_fact_value} if file_fact_value else {}),
        "Sha256File": ByPath({ENV: sha256(content)} if content is not None else {}),
    }
    return run_deploy(
        lambda: secret_file(name="env file", path=ENV, content=Secret(TEXT), upload_dir=UPLOADS), facts
    )


OWN_AND_MODE = [f"chown root:root {ENV}", f"chmod 600 {ENV}"]


def test_secret_file_missing_is_uploaded_then_owned_and_0600():
    run = deploy_secret()
    assert run.uploads == {ENV: TEXT.encode()}
    assert run.commands[-2:] == OWN_AND_MODE


def test_secret_file_with_other_content_is_replaced():
    run = deploy_secret(file_fact(600), content="VLLM_API_KEY=old\n")
    assert run.uploads == {ENV: TEXT.encode()} and run.commands[-2:] == OWN_AND_MODE


def test_secret_file_already_right_is_a_noop():
    run = deploy_secret(file_fact(600), content=TEXT)
    assert not run.changed_anything, (run.commands, list(run.uploads))


@pytest.mark.parametrize(
    ("fact", "commands"),
    [
        (file_fact(644), [f"chmod 600 {ENV}"]),
        (file_fact(600, user="vllm"), [f"chown root:root {ENV}"]),
        (file_fact(640, group="vllm"), OWN_AND_MODE),
    ],
)
def test_secret_file_with_the_right_content_only_fixes_owner_or_mode(fact, commands):
    run = deploy_secret(fact, content=TEXT)
    assert run.uploads == {} and run.commands == commands


def test_the_secret_is_only_in_the_upload_never_in_a_command():
    for run in (deploy_secret(), deploy_secret(file_fact(644, user="x"), content=TEXT)):
        assert not any("sk-ops-SECRET-91" in c for c in run.commands)


# ---- install_once -----------------------------------------------------------------------------------------


def install_commands(marker_fact: str | None, marker: str, script: str, text: str = "vllm==1 sources=x"):
    def fact(path):
        assert path == marker, f"FileText asked for {path}, not the marker {marker}"
        return marker_fact

    run = run_deploy(
        lambda: install_once(name="install", marker=marker, marker_text=text, script=script),
        {"FileText": fact},
    )
    return run, run.commands


def test_install_once_with_the_marker_in_place_is_a_noop():
    run, _ = install_commands("vllm==1 sources=x", "/opt/v/.gptoss", "exit 1")
    assert not run.changed_anything, run.commands


@pytest.mark.parametrize("old_marker", [None, "vllm==0 sources=x"], ids=["missing", "older-pin"])
def test_install_once_runs_the_script_then_writes_the_marker_last(tmp_path, old_marker):
    marker = tmp_path / "it's a marker"
    _, commands = install_commands(
        old_marker, str(marker), f"echo ran > {shlex.quote(str(tmp_path / 'out'))}"
    )
    (command,) = commands
    assert command.startswith("sh -c ")
    subprocess.run(["sh", "-c", command], check=True, timeout=30)  # the command itself, run as the host would
    assert (tmp_path / "out").read_text() == "ran\n"
    assert marker.read_text() == "vllm==1 sources=x\n"
    # The marker now holds exactly what the FileText fact compares with: the next run is a no-op.
    fact = subprocess.run(["sh", "-c", FileText().command(str(marker))], capture_output=True, text=True)
    assert FileText().process(fact.stdout.splitlines()) == "vllm==1 sources=x"


def test_install_once_leaves_no_marker_when_the_script_fails(tmp_path):
    marker = tmp_path / "marker"
    _, (command,) = install_commands(None, str(marker), "false\necho never")
    proc = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0 and not marker.exists()


def test_file_text_fact_reads_a_missing_file_as_none(tmp_path):
    missing = subprocess.run(
        ["sh", "-c", FileText().command(str(tmp_path / "nope"))], capture_output=True, text=True
    )
    assert FileText().process(missing.stdout.splitlines()) is None


# ---- endpoint_ready -------------------------------------------------------------------------------------

SPEC = ReadinessSpec("gpt-oss-tiny")


def deploy_ready(serving: bool):
    def fact(spec, port, env_file):
        assert (spec, port, env_file) == (SPEC, 8000, ENV)
        return serving

    return run_deploy(
        lambda: endpoint_ready(
            name="serves", spec=SPEC, port=8000, env_file=ENV, unit="gptoss-vllm-0.service", timeout_s=360
        ),
        {"EndpointAnswers": fact},
    )


def test_endpoint_ready_when_it_already_serves_is_a_noop():
    run = deploy_ready(True)
    assert not run.changed_anything, run.commands


def test_endpoint_ready_otherwise_waits_on_the_host_with_the_generated_loop():
    run = deploy_ready(False)
    assert run.commands == [
        "sh -c " + shlex.quote(wait_script(SPEC, 8000, ENV, "gptoss-vllm-0.service", 360))
    ]


def test_endpoint_answers_fact_runs_the_probe(tmp_path):
    env_file = tmp_path / "e.env"
    env_file.write_text("VLLM_API_KEY=k\n")
    fact = EndpointAnswers()
    with LoopbackServer({"/health": status(200), "/v1/models": models("gpt-oss-tiny", key="k")}) as server:
        up = subprocess.run(
            ["sh", "-c", fact.command(SPEC, server.port, str(env_file))], capture_output=True, text=True
        )
    with LoopbackServer({"/health": status(503)}) as down_server:
        down = subprocess.run(
            ["sh", "-c", fact.command(SPEC, down_server.port, str(env_file))], capture_output=True, text=True
        )
    assert fact.process(up.stdout.splitlines()) is True
    assert fact.process(down.stdout.splitlines()) is False
    assert fact.process([]) is False
