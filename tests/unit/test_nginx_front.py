"""The authenticating front, proven with the real nginx: `nginx -t` parses the rendered site, and an nginx
started on 127.0.0.1 with it in front of a loopback HTTP server answers 401 without the key, proxies with
it, streams, and keeps the key out of its logs and away from the upstream.

nginx is a system package (`nginx-light`, installed by scripts/system-deps); without it these tests skip
with that reason (and in CI a skip is a failure). Every server here binds 127.0.0.1 on a free port and is
stopped by the test that started it.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from targets.nginx import Front, FrontError, render_key_map, render_site

KEY = "0123456789abcdef0123456789abcdef0123456789abcdef"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


@pytest.fixture
def nginx():
    """The nginx binary; without it the test skips, and in CI fails (the front's proof must not vanish)."""
    if NGINX is None:
        why = "nginx is not installed: apt-get install nginx-light (scripts/system-deps does)"
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail(f"{why}; in CI this proof may not be skipped")
        pytest.skip(why)
    return NGINX


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Upstream(http.server.ThreadingHTTPServer):
    """A stand-in for Ollama on loopback: records what reached it; /stream sends a chunk, then waits until
    the test releases the second one (so a proxy that held the answer back would deliver nothing in time)."""

    daemon_threads = True

    def __init__(self):
        self.seen: list[dict] = []
        self.release = threading.Event()
        super().__init__(("127.0.0.1", 0), UpstreamHandler)


class UpstreamHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        server: Upstream = self.server  # type: ignore[assignment]
        server.seen.append({"path": self.path, "headers": dict(self.headers)})
        if self.path == "/":
            self._send(200, b"Ollama is running", "text/plain")
        elif self.path.startswith("/v1/models"):
            self._send(
                200,
                json.dumps({"object": "list", "data": [{"id": "gpt-oss:20b"}]}).encode(),
                "application/json",
            )
        elif self.path == "/stream":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._chunk(b"data: first\n\n")
            server.release.wait(10)
            self._chunk(b"data: second\n\n")
            self._chunk(b"")
        else:
            self._send(404, b"not found", "text/plain")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.do_GET()

    def _send(self, status, body, kind):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _chunk(self, data: bytes):
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


@pytest.fixture
def upstream():
    server = Upstream()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


def main_config(workdir: Path, site: Path) -> Path:
    """A minimal nginx.conf holding the site in http{} the way Debian's includes conf.d/*.conf."""
    for sub in ("body", "proxy", "logs"):
        (workdir / sub).mkdir(exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must reach the temp dirs below
    conf = workdir / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\npid {workdir}/nginx.pid;\nerror_log {workdir}/logs/main-error.log;\n"
        "events { worker_connections 64; }\n"
        "http {\n"
        f"    client_body_temp_path {workdir}/body;\n    proxy_temp_path {workdir}/proxy;\n"
        f"    fastcgi_temp_path {workdir}/proxy;\n    uwsgi_temp_path {workdir}/proxy;\n"
        f"    scgi_temp_path {workdir}/proxy;\n"
        f"    access_log {workdir}/logs/default-access.log;\n"
        f"    include {site};\n"
        "}\n"
    )
    return conf


def front_in(workdir: Path, upstream_port: int, **kw) -> Front:
    return Front(
        name="ollama",
        listen_address="127.0.0.1",
        listen_port=free_port(),
        upstream_port=upstream_port,
        key_file=str(workdir / "ollama.key.map"),
        log_dir=str(workdir / "logs"),
        **kw,
    )


def write_front(workdir: Path, front: Front, key: str = KEY) -> Path:
    workdir.mkdir(exist_ok=True)
    key_path = Path(front.key_file)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(render_key_map(key))
    site = workdir / "front.conf"
    site.write_text(render_site(front))
    return main_config(workdir, site)


def nginx_test(conf: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [NGINX, "-t", "-c", str(conf), "-p", str(conf.parent)], capture_output=True, text=True, timeout=30
    )


class Running:
    def __init__(self, conf: Path):
        self.conf = conf
        proc = subprocess.run(
            [NGINX, "-c", str(conf), "-p", str(conf.parent)], capture_output=True, text=True, timeout=30
        )
        assert proc.returncode == 0, proc.stderr
        self.pid = int((conf.parent / "nginx.pid").read_text())

    def stop(self):
        os.kill(self.pid, signal.SIGQUIT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)


@pytest.fixture
def running_front(nginx, tmp_path, upstream):
    started: list[Running] = []

    def start(**kw) -> tuple[Front, str]:
        workdir = tmp_path / f"nginx{len(started)}"
        workdir.mkdir()
        front = front_in(workdir, upstream.server_address[1], **kw)
        conf = write_front(workdir, front)
        started.append(Running(conf))
        scheme = "https" if front.tls_certificate else "http"
        base = f"{scheme}://127.0.0.1:{front.listen_port}"
        # nginx answers once its workers are up; bounded.
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(base + "/", timeout=1, verify=False)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        return front, base

    yield start
    for run in started:
        run.stop()


def logs_of(front: Front) -> str:
    return "".join(Path(p).read_text() for p in (front.access_log, front.error_log) if Path(p).exists())


def test_nginx_accepts_the_rendered_front(nginx, tmp_path):
    conf = write_front(tmp_path, front_in(tmp_path, 11434))
    proc = nginx_test(conf)
    assert proc.returncode == 0, proc.stderr
    assert KEY not in proc.stderr + proc.stdout


def test_nginx_rejects_a_broken_site_so_the_parser_is_really_consulted(nginx, tmp_path):
    conf = write_front(tmp_path, front_in(tmp_path, 11434))
    site = tmp_path / "front.conf"
    site.write_text(site.read_text().replace("proxy_buffering off;", "proxy_buffering sometimes;"))
    proc = nginx_test(conf)
    assert proc.returncode != 0 and "proxy_buffering" in proc.stderr


def test_without_the_key_401_with_it_the_upstream_answers(running_front, upstream):
    _, base = running_front()
    assert httpx.get(base + "/", timeout=5).text == "Ollama is running"  # health: no key needed
    refused = httpx.get(base + "/v1/models", timeout=5)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
    assert refused.headers["www-authenticate"].startswith("Bearer")
    for header in (f"Bearer {KEY}x", f"Bearer {KEY.upper()}", f"Token {KEY}", KEY, f"Bearer  {KEY}"):
        assert httpx.get(base + "/v1/models", headers={"Authorization": header}, timeout=5).status_code == 401
    assert [s["path"] for s in upstream.seen] == ["/", "/"]  # nothing refused reached Ollama
    served = httpx.get(base + "/v1/models", headers={"Authorization": f"Bearer {KEY}"}, timeout=5)
    assert served.status_code == 200 and served.json()["data"][0]["id"] == "gpt-oss:20b"
    lower = httpx.get(base + "/v1/models", headers={"Authorization": f"bearer {KEY}"}, timeout=5)
    assert lower.status_code == 200  # the scheme is case-insensitive (RFC 9110), the key is not
    headers = upstream.seen[-1]["headers"]
    assert "Authorization" not in headers  # Ollama never sees the key
    assert headers["Host"] == "localhost"  # Ollama's allowed-hosts check passes
    assert httpx.post(base + "/", timeout=5).status_code == 403  # the open path is GET only


def test_the_key_is_in_no_log_even_in_a_query_string(running_front):
    front, base = running_front()
    httpx.get(base + "/v1/models", params={"api_key": KEY}, timeout=5)
    httpx.get(base + "/v1/models", headers={"Authorization": f"Bearer {KEY}"}, params={"key": KEY}, timeout=5)
    httpx.get(base + "/v1/models", headers={"Authorization": f"Bearer {KEY}x"}, timeout=5)
    logs = logs_of(front)
    assert "/v1/models" in logs and " 401 " in logs and " 200 " in logs  # the requests were logged
    assert KEY not in logs and KEY[:16] not in logs


def test_streamed_tokens_reach_the_client_as_they_come(running_front, upstream):
    _, base = running_front()
    headers = {"Authorization": f"Bearer {KEY}"}
    with (
        httpx.Client(timeout=5) as client,
        client.stream("GET", base + "/stream", headers=headers) as response,
    ):
        assert response.status_code == 200
        chunks = response.iter_bytes()
        first = next(chunks)  # arrives while the upstream still holds the second chunk back
        assert b"first" in first
        upstream.release.set()
        rest = b"".join(chunks)
    assert b"second" in first + rest


def test_forwarding_the_key_is_for_upstreams_that_check_it_themselves(running_front, upstream):
    _, base = running_front(forward_authorization=True, health_path="/health")
    assert httpx.get(base + "/v1/models", timeout=5).status_code == 401
    httpx.get(base + "/v1/models", headers={"Authorization": f"Bearer {KEY}"}, timeout=5)
    assert upstream.seen[-1]["headers"]["Authorization"] == f"Bearer {KEY}"


def test_tls_front(running_front, tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: it makes the test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    _, base = running_front(tls_certificate=str(cert), tls_certificate_key=str(key))
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    assert httpx.get(base + "/v1/models", verify=context, timeout=5).status_code == 401
    assert (
        httpx.get(
            base + "/v1/models", verify=context, headers={"Authorization": f"Bearer {KEY}"}, timeout=5
        ).status_code
        == 200
    )


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"name": "ollama; include /etc/shadow"}, "front name"),
        ({"listen_address": "0.0.0.0; listen 80"}, "not an IP address"),
        ({"listen_port": 0}, "TCP port"),
        ({"key_file": "/etc/x.map; include /etc/shadow"}, "absolute path"),
        ({"key_file": "relative.map"}, "absolute path"),
        ({"health_path": "/ { return 200; }"}, "health path"),
        ({"upstream_host_header": "a b"}, "Host header"),
        ({"tls_certificate": "/etc/cert.pem"}, "both a certificate and its key"),
        ({"max_body": "1g; x"}, "max body"),
        ({"listen_port": 11434}, "cannot both use port"),
    ],
)
def test_hostile_values_never_reach_the_config(change, needle):
    front = replace(Front("ollama", "0.0.0.0", 11435, 11434, "/etc/gptoss-front/ollama.key.map"), **change)
    with pytest.raises(FrontError, match=needle):
        render_site(front)


@pytest.mark.parametrize("key", ["short", 'a"b' * 20, "a" * 31, "a b" * 20, "k$" * 20, "é" * 40, "a\nb" * 20])
def test_keys_are_letters_digits_dash_underscore_only(key):
    with pytest.raises(FrontError, match="openssl rand -hex 24"):
        render_key_map(key)
