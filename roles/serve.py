"""The whole bare-metal deploy for one host: check, install, stage, serve. `deploy.py` calls `serve_gptoss`.

Order matters: the plan and the control-machine secrets are resolved and the host is checked before the
first operation is queued, so a bad request or an unfit host changes nothing.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import DeployError, deploy

from roles.ops import Secret
from roles.preflight import check_host
from roles.sampler import sampling_one_shot
from roles.service import vllm_services
from roles.settings import DEFAULTS, Plan, PlanError, Settings, plan_for, settings_from_data
from roles.system import user_and_directories
from roles.uv import install_uv
from roles.vllm import MARKER as VLLM_MARKER
from roles.vllm import install_vllm, venv_dir, vllm_marker_text
from roles.weights import stage_weights, weights_marker, weights_marker_text
from targets.secrets import read_secret_file


def resolve(settings: Settings) -> Plan:
    try:
        return plan_for(settings)
    except PlanError as err:
        raise DeployError(f"no serving plan for {host.name}: {err}") from err


def read_secret(path: str | None, what: str, data_key: str) -> Secret | None:
    if not path:
        return None
    try:
        return Secret(read_secret_file(path, what))
    except (OSError, ValueError) as err:
        raise DeployError(f"{err} (set by {data_key}; set it to None to go without)") from err


@deploy("Serve gpt-oss with vLLM", data_defaults=DEFAULTS)
def serve_gptoss() -> Plan:
    try:
        settings = settings_from_data(host.data)
    except ValueError as err:
        raise DeployError(str(err)) from err
    plan = resolve(settings)
    api_key = read_secret(settings.api_key_file, "API key", "vllm_api_key_file")
    hf_token = read_secret(settings.hf_token_file, "HF token", "vllm_hf_token_file")
    venv = venv_dir(settings, plan)

    check_host(
        settings,
        plan,
        venv_dir=venv,
        venv_marker=VLLM_MARKER,
        venv_marker_text=vllm_marker_text(settings, plan),
        weights_marker=weights_marker(settings, plan),
        weights_marker_text=weights_marker_text(plan),
    )
    user_and_directories(settings, plan)
    install_uv(settings)
    vllm = install_vllm(settings, plan)
    weights = stage_weights(settings, plan, venv=venv, hf_token=hf_token)
    vllm_services(settings, plan, venv=venv, api_key=api_key, installed=[vllm, weights])
    sampling_one_shot(settings, plan, venv=venv)
    return plan
