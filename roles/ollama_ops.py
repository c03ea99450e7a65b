"""Operations of the Ollama role that pyinfra lacks: pull the model only when Ollama does not list it
(resuming an interrupted pull), and wait until the authenticating front serves it.

Both are no-ops when their fact says the host is there already, so a second deploy changes nothing. The
scripts are pure functions of their inputs (tests/unit/test_roles_ollama.py runs the key extraction with
a real shell).
"""

from __future__ import annotations

import json
import shlex

from pyinfra import host
from pyinfra.api import FactBase, StringCommand, operation

from serving.readiness import ReadinessSpec
from targets.nginx import Front
from targets.systemd.probe import readiness_probe


class OllamaModels(FactBase):
    """The model names Ollama on 127.0.0.1:`port` lists (GET /api/tags), or None when it does not answer."""

    def command(self, port: int) -> str:
        return f"curl -fsS -m 5 http://127.0.0.1:{int(port)}/api/tags 2>/dev/null || true"

    def process(self, output):
        text = "\n".join(output).strip()
        if not text:
            return None
        try:
            models = json.loads(text).get("models") or []
        except (ValueError, AttributeError):
            return None
        return [m.get("name") for m in models if isinstance(m, dict)]


def key_from_map(key_file: str) -> str:
    """Shell printing the key held in a front's key map (targets/nginx render_key_map), for a probe."""
    pattern = r's/^"~^(?i:bearer) \([A-Za-z0-9_-]*\)\$" 1;$/\1/p'
    return f"sed -n {shlex.quote(pattern)} {shlex.quote(key_file)}"


def front_probe(front: Front, tag: str, timeout: int = 5) -> str:
    """Shell that exits 0 when the front answers its health path without a key, lists `tag` as a model id on
    /v1/models with the key (targets/systemd/probe.py, the plan's readiness) and refuses it without (401).
    The key goes to curl on stdin, never argv."""
    address = "127.0.0.1" if front.listen_address in ("0.0.0.0", "::") else front.listen_address
    if ":" in address:
        address = f"[{address}]"
    tls = bool(front.tls_certificate)
    base = f"{'https' if tls else 'http'}://{address}:{front.listen_port}"
    spec = ReadinessSpec(served_name=tag, health_path=front.health_path)
    # the key map's key as curl's config line, through a pipe: in no argv and no shell variable
    key_config = f"{key_from_map(front.key_file)} | sed 's/.*/header = \"Authorization: Bearer &\"/'"
    unauthenticated = f"curl -sS{' -k' if tls else ''} --noproxy '*' -m {int(timeout)} -o /dev/null"
    return (
        readiness_probe(spec, base, key_config, timeout, tls=tls)
        + f' && [ "$({unauthenticated} -w "%{{http_code}}" {shlex.quote(base + spec.models_path)})" = 401 ]'
    )


class FrontServes(FactBase):
    """True when the front answers as `front_probe` checks, asked on the host itself."""

    def command(self, front: Front, tag: str) -> str:
        return "sh -c " + shlex.quote(front_probe(front, tag, timeout=3) + " && echo yes || echo no")

    def process(self, output):
        return bool(output) and output[-1] == "yes"


def pull_script(binary: str, port: int, tag: str, unit: str, log: str, timeout_s: int) -> str:
    """Wait for Ollama to answer, then `ollama pull` until it completes or the budget is spent. A pull that
    stops (network, restart) resumes where it stopped the next time round."""
    q = shlex.quote
    base = f"http://127.0.0.1:{int(port)}"
    return f"""
deadline=$(( $(date +%s) + {int(timeout_s)} ))
started=$(date +%s)
until curl -fsS -m 3 -o /dev/null {base}/; do
  if [ "$(systemctl show -p ActiveState --value {q(unit)})" = failed ] || [ $(( $(date +%s) - started )) -ge 120 ]; then
    echo "{unit} does not answer on {base} after 120 s; its journal:" >&2
    journalctl -u {q(unit)} -n 40 --no-pager >&2
    exit 1
  fi
  sleep 1
done
until OLLAMA_HOST=127.0.0.1:{int(port)} {q(binary)} pull {q(tag)} > {q(log)} 2>&1; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "ollama pull {tag} did not finish in {int(timeout_s)} s; its last output:" >&2
    tail -c 2000 {q(log)} >&2
    exit 1
  fi
  echo "ollama pull {tag} stopped; resuming in 10 s" >&2
  sleep 10
done
curl -fsS -m 5 {base}/api/tags | grep -qF {q('"name":"' + tag + '"')}
echo "{tag} is pulled"
"""


@operation()
def model_pulled(binary: str, port: int, tag: str, unit: str, log: str, timeout_s: int):
    """
    Ollama lists `tag`: pulled now when missing (resumable), nothing when it is there.
    """
    if tag in (host.get_fact(OllamaModels, port=port) or []):
        return
    yield StringCommand("sh", "-c", shlex.quote(pull_script(binary, port, tag, unit, log, timeout_s)))


@operation()
def front_serves(front: Front, tag: str, timeout_s: int = 60):
    """
    The front answers its health path, refuses requests without the key and lists `tag` with it.
    """
    if host.get_fact(FrontServes, front=front, tag=tag):
        return
    q = shlex.quote
    script = f"""
deadline=$(( $(date +%s) + {int(timeout_s)} ))
until {front_probe(front, tag)}; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "the front on port {front.listen_port} does not serve {tag} with the key after {int(timeout_s)} s:" >&2
    tail -n 20 {q(front.error_log)} >&2
    exit 1
  fi
  sleep 2
done
echo "the front on port {front.listen_port} serves {tag}"
"""
    yield StringCommand("sh", "-c", q(script))
