"""Shell and Python snippets the Kubernetes objects run in their containers. They read every variable
part from the container environment (never from string formatting), so no value is spliced into code."""

# vLLM requires the key on /v1/*; httpGet probes cannot read a Secret, so this runs inside the container,
# takes the key from the container's environment and checks the served model is listed. argv[1] is the
# port, argv[2] the served model name; nothing secret is in the pod spec.
READINESS_SCRIPT = (
    "import json, os, sys, urllib.request\n"
    "req = urllib.request.Request(f'http://127.0.0.1:{sys.argv[1]}/v1/models', "
    "headers={'Authorization': 'Bearer ' + os.environ['VLLM_API_KEY']})\n"
    "ids = [m['id'] for m in json.load(urllib.request.urlopen(req, timeout=5))['data']]\n"
    "sys.exit(0 if sys.argv[2] in ids else 1)\n"
)

WAIT_FOR_WEIGHTS_SCRIPT = (
    'until [ -f "$GPTOSS_STAGED_MARKER" ]; do '
    'echo "waiting for the model download: $GPTOSS_STAGED_MARKER"; sleep 15; done'
)

DOWNLOAD_SCRIPT = (
    "import os, pathlib, urllib.request\n"
    "from huggingface_hub import snapshot_download\n"
    "source = os.environ['GPTOSS_MODEL_SOURCE']\n"
    "snapshot_download(repo_id=source, ignore_patterns=os.environ['GPTOSS_IGNORE'].split(','))\n"
    "tik = pathlib.Path(os.environ['TIKTOKEN_ENCODINGS_BASE'])\n"
    "tik.mkdir(parents=True, exist_ok=True)\n"
    "dest = tik / 'o200k_base.tiktoken'\n"
    "if not dest.exists():\n"
    "    urllib.request.urlretrieve(os.environ['GPTOSS_TIKTOKEN_URL'], tik / 'o200k_base.tiktoken.part')\n"
    "    (tik / 'o200k_base.tiktoken.part').rename(dest)\n"
    "marker = pathlib.Path(os.environ['GPTOSS_STAGED_MARKER'])\n"
    "marker.parent.mkdir(parents=True, exist_ok=True)\n"
    "marker.write_text(source + '\\n')\n"
    "print('staged', source)\n"
)

SMOKE_SCRIPT = (
    'set -e\nif [ -n "$GPTOSS_SMOKE_PACKAGE" ]; then\n'
    "  python -m venv /tmp/venv\n"
    '  /tmp/venv/bin/pip install --no-cache-dir --quiet --only-binary=:all: "$GPTOSS_SMOKE_PACKAGE"\n'
    '  PATH="/tmp/venv/bin:$PATH"\nfi\n'
    'exec gptoss smoke --base-url "$GPTOSS_BASE_URL" --model "$GPTOSS_MODEL" --api-key-env OPENAI_API_KEY '
    '--ready-timeout "$GPTOSS_READY_TIMEOUT"\n'
)
