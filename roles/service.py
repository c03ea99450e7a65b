"""One hardened systemd unit per engine, rendered from the plan; restarted only when something it runs
changed, then waited for until /health and /v1/models answer."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.facts.files import FindFiles
from pyinfra.facts.systemd import SystemdStatus
from pyinfra.operations import files, python, systemd
from pyinfra.operations.util import any_changed

from roles.ops import Secret, endpoint_ready, secret_file
from roles.settings import DEFAULTS, Plan, Settings
from roles.system import upload_dir
from serving.readiness import readiness_for
from targets.systemd import (
    UNIT_PREFIX,
    UnitOptions,
    env_file_path,
    options_for,
    render_env,
    render_unit,
    unit_name,
)

UNIT_DIR = "/etc/systemd/system"


def unit_options(settings: Settings, plan: Plan, venv: str) -> UnitOptions:
    return options_for(
        plan,
        settings.layout,
        kernel_protection=settings.unit_kernel_protection,
        syscall_filter=settings.unit_syscall_filter,
        venv_dir=venv,
    )


def endpoint_host(settings: Settings) -> str:
    return settings.endpoint_host or host.data.get("ssh_hostname") or host.name


def run_smoke(
    base_url: str, model: str, api_key: Secret | None, checks: str | None = None, profile: str = "vllm"
) -> None:
    """`gptoss smoke` from the control machine; a failure fails the deploy."""
    env = dict(os.environ)
    argv = [sys.executable, "-m", "gptoss.cli", "smoke", "--base-url", base_url, "--model", model]
    argv += ["--profile", profile]
    if checks:
        argv += ["--checks", checks]
    if api_key is not None:
        env["GPTOSS_DEPLOY_SMOKE_KEY"] = api_key.reveal()
        argv += ["--api-key-env", "GPTOSS_DEPLOY_SMOKE_KEY"]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
    print(proc.stdout)
    if proc.returncode != 0:
        raise RuntimeError(
            f"smoke checks failed against {base_url} (exit {proc.returncode}): {proc.stderr[-2000:]}"
        )


@deploy("Run vLLM as systemd services", data_defaults=DEFAULTS)
def vllm_services(
    settings: Settings,
    plan: Plan,
    venv: str,
    api_key: Secret | None,
    installed: Sequence[OperationMeta | None],
) -> None:
    options = unit_options(settings, plan, venv)
    secrets = {"VLLM_API_KEY": api_key.reveal()} if api_key is not None else {}
    wanted = {unit_name(e) for e in plan.engines}

    # Engines a previous plan had and this one does not: stop, disable and remove them.
    existing = host.get_fact(FindFiles, path=UNIT_DIR, fname=f"{UNIT_PREFIX}-*.service", maxdepth=1) or []
    stale = sorted(os.path.basename(p) for p in existing if os.path.basename(p) not in wanted)
    removed_units = []
    for name in stale:
        systemd.service(
            name=f"Old engine {name} is stopped and disabled", service=name, running=False, enabled=False
        )
        removed_units.append(
            files.file(name=f"Old unit {name} is removed", path=f"{UNIT_DIR}/{name}", present=False)
        )
        files.file(
            name=f"Old env file of {name} is removed",
            path=f"{settings.config_dir}/{name.removesuffix('.service')}.env",
            present=False,
        )

    per_engine = []
    for engine in plan.engines:
        name = unit_name(engine)
        unit = files.put(
            name=f"Unit {name} runs engine {engine.index} on port {engine.port}",
            src=StringIO(render_unit(plan, engine, options)),
            dest=f"{UNIT_DIR}/{name}",
            user="root",
            group="root",
            mode="644",
        )
        env = secret_file(
            name=f"Env file of {name} holds the plan's environment and the API key (0600 root)",
            path=env_file_path(engine, options),
            content=Secret(render_env(plan, engine, options, secrets)),
            upload_dir=upload_dir(settings),
        )
        per_engine.append((engine, name, unit, env))

    units_changed = any_changed(*(u for _, _, u, _ in per_engine), *removed_units)
    systemd.daemon_reload(name="systemd has loaded the changed units", _if=units_changed)

    status = host.get_fact(SystemdStatus) or {}
    ready = readiness_for(plan)
    started_ops = []
    for engine, name, unit, env in per_engine:
        was_running = bool(status.get(name))
        restart = None
        if was_running:
            # Restart only for a change in what the engine runs: its unit, its env file or the vLLM venv.
            restart = systemd.service(
                name=f"{name} is restarted because its unit, env file or vLLM changed",
                service=name,
                restarted=True,
                _if=any_changed(unit, env, *(op for op in installed if op is not None)),
            )
        start = systemd.service(
            name=f"{name} is enabled and running", service=name, running=True, enabled=True
        )
        started_ops += [op for op in (restart, start) if op is not None]
        if settings.wait:
            endpoint_ready(
                name=f"{name} answers {ready.health_path} and lists {ready.served_name} on {ready.models_path}",
                spec=ready,
                port=engine.port,
                env_file=env_file_path(engine, options),
                unit=name,
                timeout_s=plan.startup_timeout_s,
            )

    if settings.smoke:
        address = endpoint_host(settings)
        for engine in plan.engines:
            python.call(
                name=f"Smoke checks pass against http://{address}:{engine.port}/v1",
                function=run_smoke,
                base_url=f"http://{address}:{engine.port}/v1",
                model=plan.served_model_name,
                api_key=api_key,
                checks=settings.smoke_checks,
                _if=any_changed(*started_ops),
            )
