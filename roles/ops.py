"""Operations the stock pyinfra set lacks: secret files that never show in output, install-once steps
keyed by a marker, and a wait for vLLM's endpoints that is a no-op when they already answer.

Operation bodies run at execution time in pyinfra 3, so the facts they read are current (e.g. the health
check after a restart earlier in the same deploy).
"""

from __future__ import annotations

import hashlib
import shlex
from io import StringIO

from pyinfra import host
from pyinfra.api import FactBase, FileUploadCommand, StringCommand, operation
from pyinfra.facts.files import File, Sha256File

from serving.readiness import ReadinessSpec
from targets.systemd.probe import probe_script, wait_script


class Secret:
    """A string that prints as <redacted>: pyinfra logs operation arguments in verbose modes."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__


@operation()
def secret_file(path: str, content: Secret, upload_dir: str, user: str = "root", group: str = "root"):
    """
    Ensure `path` holds `content`, mode 0600, owned by user:group; never prints the content.

    Unlike files.put, nothing of the file reaches the output (files.put shows a diff with --diff), and
    the upload lands in `upload_dir` (0700 root) before it is moved into place, so no copy is ever
    readable by other users.
    """
    text = content.reveal()
    want = hashlib.sha256(text.encode()).hexdigest()
    current = host.get_fact(File, path=path)
    if not current or host.get_fact(Sha256File, path=path) != want:
        yield FileUploadCommand(
            StringIO(text),
            path,
            remote_temp_filename=host.get_temp_filename(path, temp_directory=upload_dir),
        )
        yield StringCommand("chown", f"{user}:{group}", shlex.quote(path))
        yield StringCommand("chmod", "600", shlex.quote(path))
        return
    if current.get("user") == user and current.get("group") == group and current.get("mode") == 600:
        host.noop(f"{path} holds the wanted content, 0600 {user}:{group}")
        return
    if current.get("user") != user or current.get("group") != group:
        yield StringCommand("chown", f"{user}:{group}", shlex.quote(path))
    if current.get("mode") != 600:
        yield StringCommand("chmod", "600", shlex.quote(path))


class FileText(FactBase):
    """A small text file's content, or None when it is missing."""

    def command(self, path: str) -> str:
        q = shlex.quote(path)
        return f"if [ -f {q} ]; then echo present; cat {q}; else echo missing; fi"

    def process(self, output):
        lines = list(output)
        if not lines or lines[0] != "present":
            return None
        return "\n".join(lines[1:])


@operation()
def install_once(marker: str, marker_text: str, script: str):
    """
    Run `script` (sh, `set -e`) unless `marker` already holds `marker_text`; write the marker last.

    The marker records what was installed (package pin and sources). A changed pin reruns the script; an
    interrupted run left no marker and reruns too.
    """
    if host.get_fact(FileText, path=marker) == marker_text:
        host.noop(f"{marker} records this install already")
        return
    full = f"set -e\n{script}\nprintf '%s\\n' {shlex.quote(marker_text)} > {shlex.quote(marker)}"
    yield StringCommand("sh", "-c", shlex.quote(full))


class EndpointAnswers(FactBase):
    """True when the engine on `port` serves `spec` (health, then the model listed), asked on the host."""

    def command(self, spec: ReadinessSpec, port: int, env_file: str) -> str:
        return "sh -c " + shlex.quote(
            probe_script(spec, port, env_file, timeout_s=3) + " && echo yes || echo no"
        )

    def process(self, output):
        return bool(output) and output[-1] == "yes"


@operation()
def endpoint_ready(spec: ReadinessSpec, port: int, env_file: str, unit: str, timeout_s: int):
    """
    Wait until vLLM behind `unit` serves `spec`: /health answers and the model list names the served model.

    No change when it already serves; otherwise a loop on the host with the plan's startup budget,
    failing early (with the journal's tail) if systemd gives up on the unit.
    """
    if host.get_fact(EndpointAnswers, spec=spec, port=port, env_file=env_file):
        host.noop(f"{unit} already serves {spec.served_name} on port {port}")
        return
    yield StringCommand("sh", "-c", shlex.quote(wait_script(spec, port, env_file, unit, timeout_s)))
