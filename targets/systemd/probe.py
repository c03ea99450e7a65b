"""Shell, generated from the plan's ReadinessSpec, that asks on the host itself whether an engine serves.

The pyinfra roles run it (roles/ops.py): as a fact (does it serve now?) and as a wait after a (re)start;
the Ollama role asks its authenticating front the same way (roles/ollama_ops.py, the key from the front's
key map instead of an env file).
Ready means what smoke.readiness means: `/health` answers 200, then the model list names the served model
(an exact match of an `id`, not a substring of the JSON).

The API key never reaches an argv: sed reads VLLM_API_KEY's line from the engine's env file (0600 root),
undoes the env file's quoting (targets/systemd/render.py `env_line_value`), escapes it for curl's config
syntax and pipes `header = "Authorization: Bearer ..."` into `curl -K -`. It is in no command line and no
shell variable. Every other value spliced into the script is validated (the spec, the port) or quoted.
"""

from __future__ import annotations

import shlex

from serving.readiness import ReadinessSpec

# sed: the first VLLM_API_KEY line, without the name; unquote "..." and its backslash escapes (the env
# file's syntax); escape backslash and double quote again (curl's config syntax); print it as a header.
# `[=]` rather than a bare `=`: the script is printed by pyinfra's verbose modes, and an env-file line
# (`NAME=value`) must never appear in a deploy's output, not even as a pattern (the deploy e2e asserts it).
_KEY_TO_CURL_CONFIG = r"""/^VLLM_API_KEY[=]/{
s/^VLLM_API_KEY[=]//
s/^"\(.*\)"$/\1/
s/\\\(.\)/\1/g
s/[\\"]/\\&/g
s/.*/header = "Authorization: Bearer &"/p
q
}"""

# python3 (on every host the roles accept): exit 0 only when argv[1] is the `id` of a listed model.
_MODEL_LISTED = (
    "import json, sys\n"
    "try:\n"
    "    ids = [m.get('id') for m in json.load(sys.stdin)['data'] if isinstance(m, dict)]\n"
    "except Exception:\n"
    "    sys.exit(1)\n"
    "sys.exit(0 if sys.argv[1] in ids else 1)\n"
)


def _checked_port(port: int) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port {port!r} must be an integer from 1 to 65535")
    return port


def env_file_key(env_file: str) -> str:
    """sh printing curl's config line `header = "Authorization: Bearer <key>"` from an engine's env file."""
    return f"sed -n {shlex.quote(_KEY_TO_CURL_CONFIG)} {shlex.quote(env_file)}"


def readiness_probe(
    spec: ReadinessSpec, base_url: str, key_config: str, timeout_s: int = 5, tls: bool = False
) -> str:
    """sh that exits 0 when `base_url` answers `spec`'s health path, then lists `spec.served_name` as a model
    `id`. `key_config` is sh printing curl's config line for the key (piped into `curl -K -`, never argv);
    `tls`: https whose certificate names the host, not the loopback address asked (so not verified)."""
    q = shlex.quote
    curl = f"curl -fsS{' -k' if tls else ''} --noproxy '*' -m {int(timeout_s)}"
    return (
        f"{curl} -o /dev/null {q(base_url + spec.health_path)}"
        f" && {key_config}"
        f" | {curl} -K - {q(base_url + spec.models_path)}"
        f" | python3 -c {q(_MODEL_LISTED)} {q(spec.served_name)}"
    )


def probe_script(spec: ReadinessSpec, port: int, env_file: str, timeout_s: int = 5) -> str:
    """sh that exits 0 when the engine on 127.0.0.1:`port` serves `spec`, reading the key from `env_file`."""
    base = f"http://127.0.0.1:{_checked_port(port)}"
    return readiness_probe(spec, base, env_file_key(env_file), timeout_s)


def wait_script(spec: ReadinessSpec, port: int, env_file: str, unit: str, timeout_s: int) -> str:
    """sh that waits until the probe passes, at most `timeout_s` seconds (backoff 1, 2, 4, 5, 5 ... s),
    and fails early, with the journal's tail, when systemd gives up on `unit`."""
    q = shlex.quote
    budget = int(timeout_s)
    return f"""deadline=$(( $(date +%s) + {budget} ))
delay=1
until {probe_script(spec, port, env_file)}; do
  state=$(systemctl show -p ActiveState --value {q(unit)})
  if [ "$state" = failed ] || [ "$(date +%s)" -ge "$deadline" ]; then
    echo {q(f"{unit} is not serving after its {budget} s budget")} "(state $state); its journal:" >&2
    journalctl -u {q(unit)} -n 40 --no-pager >&2
    exit 1
  fi
  sleep "$delay"
  delay=$(( delay * 2 > 5 ? 5 : delay * 2 ))
done
echo {q(f"{unit} answers on port {port} and lists {spec.served_name}")}
"""
