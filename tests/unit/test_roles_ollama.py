"""The Ollama role and the front role through pyinfra's own engine: facts in, commands out.

Each test gives a fake host's facts (tests/unit/pyinfra_support.py) and reads back what the deploy would
run: a bare host gets everything, a deployed host nothing, a changed setting exactly its consequences,
and a host that cannot be served gets a DeployError before the first command.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import subprocess
import threading

import pytest
from pyinfra.api import DeployError

from roles.front import authenticating_front, front_for, front_settings
from roles.ollama import FRONT_NAME, MARKER, UNIT_NAME, serve_ollama
from roles.ollama_ops import front_probe, key_from_map
from roles.ollama_settings import plan_for, release_for, settings_from_data
from serving.catalog import OLLAMA_LINUX_SHA256
from targets.nginx import render_key_map, render_site
from targets.systemd.ollama import render_env, render_unit, unit_options
from tests.unit.pyinfra_support import ByPath, file_fact, run_deploy, sha1, sha256

KEY = "0123456789abcdef0123456789abcdef0123456789abcdef"
SHA = OLLAMA_LINUX_SHA256["amd64"]
INSTALL = "/opt/ollama/0.32.7"
ARCHIVE = "/var/cache/gptoss-ollama/ollama-0.32.7-linux-amd64.tar.zst"


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "api-key"
    path.write_text(KEY + "\n")
    path.chmod(0o600)
    return str(path)


def bare_host(**overrides):
    """A Debian workstation with nothing of ours on it."""
    facts = {
        "Which": lambda command: f"/usr/bin/{command}",
        "Arch": "x86_64",
        "Os": "Linux",
        "DebPackages": {},
        "Users": {},
        "Groups": [],
        "Directory": ByPath(),
        "File": ByPath(),
        "Link": ByPath(),
        "Sha1File": ByPath(),
        "Sha256File": ByPath(),
        "FileText": lambda path: None,
        "SystemdStatus": {},
        "SystemdEnabled": {},
        "OllamaModels": lambda port: None,
        "FrontServes": lambda front, tag: False,
    }
    facts.update(overrides)
    return facts


def deployed_host(data: dict, **overrides):
    """The facts of a host the role has deployed with `data`: every file rendered as the role renders it."""
    settings = settings_from_data(data)
    plan = plan_for(settings)
    release = release_for(settings, "x86_64", plan.accelerator.vendor)
    options = unit_options(plan, settings.layout, settings.unit_kernel_protection, version=release.version)
    fs = front_settings(data)
    front = front_for(fs, FRONT_NAME, settings.port)
    dirs = {
        "/opt/ollama": file_fact(755),
        "/var/lib/ollama": file_fact(750, "ollama", "ollama"),
        "/var/lib/ollama/models": file_fact(750, "ollama", "ollama"),
        "/var/cache/gptoss-ollama": file_fact(700),
        "/etc/gptoss-ollama": file_fact(700),
        "/etc/gptoss-front": file_fact(700),
        "/etc/gptoss-front/.upload": file_fact(700),
        "/etc/systemd/system": file_fact(755),
        "/etc/nginx/conf.d": file_fact(755),
        "/usr/local/bin": file_fact(755),
    }
    unit_path = f"/etc/systemd/system/{UNIT_NAME}"
    rendered = {
        unit_path: render_unit(plan, options),
        options.env_file: render_env(plan),
        front.site_file: render_site(front),
    }
    files_ = {path: file_fact(644) for path in rendered}
    files_[release.archive] = file_fact(600)
    files_[front.key_file] = file_fact(600)
    facts = bare_host(
        DebPackages={"zstd": ["1.5"], "curl": ["7.88"], "python3": ["3.11"], "nginx-light": ["1.22"]},
        Users={
            "ollama": {
                "home": "/var/lib/ollama",
                "shell": "/usr/sbin/nologin",
                "group": "ollama",
                "groups": [],
            }
        },
        Groups=["ollama"],
        Directory=ByPath(dirs),
        File=ByPath(files_),
        Link=ByPath(
            {
                "/usr/local/bin/ollama": {
                    "link_target": f"{INSTALL}/bin/ollama",
                    "user": "root",
                    "group": "root",
                }
            }
        ),
        Sha1File=ByPath({path: sha1(text) for path, text in rendered.items()}),
        Sha256File=ByPath({release.archive: release.sha256, front.key_file: sha256(render_key_map(KEY))}),
        FileText=lambda path: release.marker_text if path == f"{INSTALL}/{MARKER}" else None,
        SystemdStatus={UNIT_NAME: True, "nginx.service": True},
        SystemdEnabled={UNIT_NAME: True, "nginx.service": True},
        OllamaModels=lambda port: [plan.tag],
        FrontServes=lambda front, tag: True,
    )
    facts.update(overrides)
    return facts


def test_a_bare_workstation_gets_the_pinned_release_the_unit_the_front_and_the_model(key_file):
    data = {"front_api_key_file": key_file}
    run = run_deploy(serve_ollama, bare_host(), data)
    assert run.ran("apt-get update") and run.ran("install zstd curl") and run.ran("install nginx-light")
    assert run.ran("useradd") and "-s /usr/sbin/nologin" in run.ran("useradd")[0]
    # The release: downloaded from its GitHub asset, checked against the pinned digest, unpacked per version.
    (download,) = run.ran("curl -sSLf")
    assert "https://github.com/ollama/ollama/releases/download/v0.32.7/ollama-linux-amd64.tar.zst" in download
    assert any(SHA in c and "SHA256 did not match" in c for c in run.commands)
    (unpack,) = run.ran("tar --zstd")
    assert "sha256sum -c --status" in unpack and SHA in unpack  # checked again right before unpacking
    assert f"mv {INSTALL}.partial {INSTALL}" in unpack
    assert run.ran(f"ln -s {INSTALL}/bin/ollama /usr/local/bin/ollama")
    # The unit and env file are exactly what the renderer makes; Ollama binds loopback only.
    unit = run.uploads[f"/etc/systemd/system/{UNIT_NAME}"].decode()
    assert f"ExecStart={INSTALL}/bin/ollama serve" in unit and "ProtectSystem=strict" in unit
    env = run.uploads["/etc/gptoss-ollama/gptoss-ollama.env"].decode()
    assert "OLLAMA_HOST=127.0.0.1:11434" in env and "OLLAMA_MODELS=/var/lib/ollama/models" in env
    assert run.ran("systemctl daemon-reload") and run.ran(f"systemctl start {UNIT_NAME}")
    # The front: key map 0600, site validated with nginx -t before nginx reloads.
    assert run.uploads["/etc/gptoss-front/ollama.key.map"].decode() == render_key_map(KEY)
    assert run.ran("chmod 600 /etc/gptoss-front/ollama.key.map")
    order = run.commands
    validate = next(i for i, c in enumerate(order) if c.startswith("nginx -t"))
    reload_ = next(i for i, c in enumerate(order) if c == "systemctl reload nginx.service")
    assert validate < reload_
    # Pull only then, and the wait through the front.
    assert run.ran("ollama pull gpt-oss:20b") and run.ran("http://127.0.0.1:11435/v1/models")
    # The key travels in the 0600 key map only: never in a command, the site or the unit.
    assert not [c for c in run.commands if KEY in c]
    for path, content in run.uploads.items():
        assert (KEY in content.decode()) == (path == "/etc/gptoss-front/ollama.key.map"), path


def test_a_deployed_workstation_changes_nothing(key_file):
    data = {"front_api_key_file": key_file}
    run = run_deploy(serve_ollama, deployed_host(data), data)
    assert run.commands == [] and run.uploads == {}


def test_a_longer_context_rewrites_the_env_file_and_restarts_ollama_only(key_file):
    old = {"front_api_key_file": key_file}
    new = {**old, "ollama_context_length": 8192}
    run = run_deploy(serve_ollama, deployed_host(old), new)
    assert list(run.uploads) == ["/etc/gptoss-ollama/gptoss-ollama.env"]
    assert "OLLAMA_CONTEXT_LENGTH=8192" in run.uploads["/etc/gptoss-ollama/gptoss-ollama.env"].decode()
    env_file = "/etc/gptoss-ollama/gptoss-ollama.env"
    assert run.commands == [
        f"chown root:root {env_file}",
        f"chmod 644 {env_file}",
        f"systemctl restart {UNIT_NAME}",
    ]


def test_a_new_key_rewrites_the_key_map_and_reloads_nginx_without_touching_ollama(key_file, tmp_path):
    other = tmp_path / "other-key"
    other.write_text("f" * 48 + "\n")
    other.chmod(0o600)
    run = run_deploy(
        serve_ollama, deployed_host({"front_api_key_file": key_file}), {"front_api_key_file": str(other)}
    )
    assert list(run.uploads) == ["/etc/gptoss-front/ollama.key.map"]
    assert [c for c in run.commands if "restart" in c] == []
    assert run.ran("nginx -t") and run.ran("systemctl reload nginx.service")


def test_a_missing_model_is_pulled_and_nothing_else_changes(key_file):
    data = {"front_api_key_file": key_file}
    run = run_deploy(serve_ollama, deployed_host(data, OllamaModels=lambda port: []), data)
    assert len(run.commands) == 1 and "ollama pull gpt-oss:20b" in run.commands[0]
    assert "resuming" in run.commands[0]  # an interrupted pull is retried within the budget


def test_air_gapped_hosts_unpack_the_staged_archive_after_checking_it(key_file):
    data = {"front_api_key_file": key_file, "ollama_archive_file": "/srv/ollama/ollama-linux-amd64.tar.zst"}
    run = run_deploy(serve_ollama, bare_host(), data)
    assert run.ran("curl -sSLf") == []  # no download
    (unpack,) = run.ran("tar --zstd")
    assert "sha256sum -c --status" in unpack and "/srv/ollama/ollama-linux-amd64.tar.zst" in unpack


def test_amd_hosts_need_the_rocm_digest_and_then_get_both_archives_and_the_gpu_groups(key_file):
    data = {"front_api_key_file": key_file, "ollama_accelerator": "mi300x"}
    with pytest.raises(DeployError, match="ollama_rocm_sha256"):
        run_deploy(serve_ollama, bare_host(), data)
    rocm = "a" * 64
    run = run_deploy(serve_ollama, bare_host(), {**data, "ollama_rocm_sha256": rocm})
    assert len(run.ran("curl -sSLf")) == 2 and "ollama-linux-amd64-rocm.tar.zst" in run.ran("curl -sSLf")[1]
    assert len(run.ran("tar --zstd")[0].split("tar --zstd")) == 3  # both archives into one directory
    assert "-G video,render" in run.ran("useradd")[0]
    assert "DeviceAllow=char-kfd rw" in run.uploads[f"/etc/systemd/system/{UNIT_NAME}"].decode()


@pytest.mark.parametrize(
    ("data", "facts", "needle"),
    [
        ({"ollama_accelerator": "m4-max-64gb"}, {}, "Homebrew"),
        ({"ollama_model": "gpt-oss-120b", "ollama_accelerator": "m3-pro-36gb"}, {}, "needs about"),
        ({}, {"Arch": "riscv64"}, "riscv64"),
        ({}, {"Which": lambda command: None}, "systemctl"),
        ({}, {"SystemdStatus": {"ollama.service": True}}, "systemctl disable --now ollama.service"),
        ({}, {"Link": ByPath({"/usr/local/bin/ollama": False})}, "is a file, not a link"),
        ({"ollama_version": "0.33.0"}, {}, "set ollama_sha256"),
        ({"ollama_sha256": "not-a-digest"}, {}, "64 lowercase hex"),
        ({"ollama_context_length": "lots"}, {}, "ollama_context_length"),
        ({"front_api_key_file": None}, {}, "front_api_key_file is not set"),
        ({"front_port": 11434}, {}, "cannot both use port"),
    ],
)
def test_hosts_that_cannot_be_served_are_refused_before_any_command(key_file, data, facts, needle):
    with pytest.raises(DeployError, match=needle.replace("(", r"\(")) as err:
        run_deploy(serve_ollama, bare_host(**facts), {"front_api_key_file": key_file, **data})
    assert KEY not in str(err.value)


def test_a_key_nginx_could_not_hold_safely_is_refused(tmp_path):
    bad = tmp_path / "key"
    bad.write_text('abc"; include /etc/shadow; #' + "x" * 40 + "\n")
    bad.chmod(0o600)
    with pytest.raises(DeployError, match="openssl rand -hex 24"):
        run_deploy(serve_ollama, bare_host(), {"front_api_key_file": str(bad)})


def test_the_front_alone_is_a_no_op_when_deployed_and_reloads_only_on_change(key_file):
    data = {"front_api_key_file": key_file, "front_port": 8443}
    fs = front_settings(data)
    front = front_for(fs, "vllm", 8000, "/health", forward_authorization=True)
    deployed = bare_host(
        DebPackages={"nginx-light": ["1.22"], "curl": ["7.88"]},
        Directory=ByPath(
            {
                "/etc/gptoss-front": file_fact(700),
                "/etc/gptoss-front/.upload": file_fact(700),
                "/etc/nginx/conf.d": file_fact(755),
            }
        ),
        File=ByPath({front.site_file: file_fact(644), front.key_file: file_fact(600)}),
        Sha1File=ByPath({front.site_file: sha1(render_site(front))}),
        Sha256File=ByPath({front.key_file: sha256(render_key_map(KEY))}),
        SystemdStatus={"nginx.service": True},
        SystemdEnabled={"nginx.service": True},
    )
    args = ("vllm", 8000, "/health", True)
    assert run_deploy(authenticating_front, deployed, data, *args).commands == []
    moved = run_deploy(authenticating_front, deployed, {**data, "front_port": 9443}, *args)
    assert (
        list(moved.uploads) == [front.site_file]
        and "listen 0.0.0.0:9443;" in moved.uploads[front.site_file].decode()
    )
    assert moved.ran("nginx -t") and moved.ran("systemctl reload nginx.service")
    assert 'Authorization ""' not in moved.uploads[front.site_file].decode()  # vLLM checks the key itself


def test_the_probe_reads_the_key_back_from_the_map_the_front_includes(tmp_path):
    """The wait's shell extracts exactly the key from the rendered key map (run by a real sh)."""
    path = tmp_path / "ollama.key.map"
    path.write_text(render_key_map(KEY))
    out = subprocess.run(["sh", "-c", key_from_map(str(path))], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == KEY


def test_the_front_probe_wants_the_exact_model_id_the_key_and_a_401_without_it(tmp_path):
    """front_probe run by a real sh against a loopback server: the tag must be a listed id (not a substring
    of the JSON), the key must open /v1/models and its absence must be refused; the key is in no argv."""
    key_map = tmp_path / "ollama.key.map"
    key_map.write_text(render_key_map(KEY))
    answers: dict[str, object] = {}

    class Front(http.server.BaseHTTPRequestHandler):
        def log_message(self, *_):
            pass

        def do_GET(self):
            if self.path == "/":
                return self._send(200, b"Ollama is running")
            if self.headers.get("Authorization") != f"Bearer {KEY}":
                return self._send(answers["without_key"], b"")
            self._send(200, json.dumps({"object": "list", "data": answers["models"]}).encode())

        def _send(self, status, body):
            self.send_response(status)
            self.end_headers()
            self.wfile.write(body)

    server = http.server.HTTPServer(("127.0.0.1", 0), Front)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        front = front_for(front_settings({"front_port": server.server_port}), FRONT_NAME, 11434, "/")
        front = dataclasses.replace(front, key_file=str(key_map))
        script = front_probe(front, "gpt-oss:20b", timeout=3)
        assert KEY not in script

        def probe(models, without_key=401):
            answers.update(models=models, without_key=without_key)
            return subprocess.run(["sh", "-c", script], capture_output=True, timeout=30).returncode

        assert probe([{"id": "gpt-oss:20b"}]) == 0
        assert probe([{"id": "gpt-oss:20b-x", "parent": "gpt-oss:20b"}]) != 0  # a substring is not the id
        assert probe([{"id": "gpt-oss:20b"}], without_key=200) != 0  # a front that lets anyone in
    finally:
        server.shutdown()
