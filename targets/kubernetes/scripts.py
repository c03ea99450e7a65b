"""Shell and Python snippets the Kubernetes objects run in their containers. They read every variable
part from the container environment or argv (never from string formatting), so no value is spliced into code."""

from __future__ import annotations

from serving.readiness import ReadinessSpec

# The readiness probe, generated from the plan's ReadinessSpec: ready means what smoke.readiness means,
# /health answers 200, then the model list names the served model. vLLM requires the key on /v1/*, and
# httpGet probes cannot read a Secret, so this runs inside the container and takes the key from the
# container's environment; nothing secret is in the pod spec. argv: port, health path, models path, served
# name. Proxies from the environment are ignored: the probe asks its own container on loopback.
READINESS_SCRIPT = (
    "import json, os, sys, urllib.request\n"
    "port, health, models, name = sys.argv[1:5]\n"
    "base = 'http://127.0.0.1:' + port\n"
    "http = urllib.request.build_opener(urllib.request.ProxyHandler({}))\n"
    "key = os.environ.get('VLLM_API_KEY')\n"
    "try:\n"
    "    http.open(base + health, timeout=5).close()\n"
    "    asked = urllib.request.Request(base + models, headers={'Authorization': 'Bearer ' + key} if key else {})\n"
    "    with http.open(asked, timeout=5) as answer:\n"
    "        ids = [m.get('id') for m in json.load(answer)['data'] if isinstance(m, dict)]\n"
    "except Exception as error:\n"
    "    sys.exit(f'not ready: {type(error).__name__}: {error}')\n"
    "sys.exit(0 if name in ids else f'not ready: {name!r} is not listed')\n"
)


def readiness_command(spec: ReadinessSpec, port: int) -> list[str]:
    """The exec probe's command: the script and its arguments, every value an argv word of its own."""
    return [
        "python3",
        "-c",
        READINESS_SCRIPT,
        str(port),
        spec.health_path,
        spec.models_path,
        spec.served_name,
    ]


# One file per line in GPTOSS_STAGED_MARKERS (a local model's config.json, the download Job's marker).
WAIT_FOR_WEIGHTS_SCRIPT = (
    'printf "%s\\n" "$GPTOSS_STAGED_MARKERS" | while IFS= read -r marker; do '
    '[ -n "$marker" ] || continue; '
    'until [ -f "$marker" ]; do echo "waiting for the model download: $marker"; sleep 15; done; done'
)

# Every id in GPTOSS_MODEL_SOURCES (one per line: the model, a speculative draft), then the tokenizer file,
# then the marker the servers wait for. snapshot_download skips finished files, so a retry resumes.
DOWNLOAD_SCRIPT = (
    "import os, pathlib, urllib.request\n"
    "from huggingface_hub import snapshot_download\n"
    "sources = os.environ['GPTOSS_MODEL_SOURCES'].split()\n"
    "for source in sources:\n"
    "    snapshot_download(repo_id=source, ignore_patterns=os.environ['GPTOSS_IGNORE'].split(','))\n"
    "    print('downloaded', source)\n"
    "tik = pathlib.Path(os.environ['TIKTOKEN_ENCODINGS_BASE'])\n"
    "tik.mkdir(parents=True, exist_ok=True)\n"
    "dest = tik / 'o200k_base.tiktoken'\n"
    "if not dest.exists():\n"
    "    urllib.request.urlretrieve(os.environ['GPTOSS_TIKTOKEN_URL'], tik / 'o200k_base.tiktoken.part')\n"
    "    (tik / 'o200k_base.tiktoken.part').rename(dest)\n"
    "marker = pathlib.Path(os.environ['GPTOSS_STAGED_MARKER'])\n"
    "marker.parent.mkdir(parents=True, exist_ok=True)\n"
    "marker.write_text('\\n'.join(sources) + '\\n')\n"
    "print('staged', *sources)\n"
)

SMOKE_SCRIPT = (
    'set -e\nif [ -n "$GPTOSS_SMOKE_PACKAGE" ]; then\n'
    "  python -m venv /tmp/venv\n"
    '  /tmp/venv/bin/pip install --no-cache-dir --quiet --only-binary=:all: "$GPTOSS_SMOKE_PACKAGE"\n'
    '  PATH="/tmp/venv/bin:$PATH"\nfi\n'
    'exec gptoss smoke --base-url "$GPTOSS_BASE_URL" --model "$GPTOSS_MODEL" --api-key-env OPENAI_API_KEY '
    '--ready-timeout "$GPTOSS_READY_TIMEOUT"\n'
)
