"""The sampling one-shot on the host: the shipped `gptoss_sampler` package and `gptoss-sample@.service`.

Nothing runs at deploy time: `systemctl start gptoss-sample@NAME` later samples
`HostLayout.batch_dir`/NAME.jsonl with the vLLM venv this deploy installed, in place of engine 0
(targets/systemd/sample.py). The package is code, so it belongs to root; the batch directory belongs to
the service user, who writes the results.
"""

from __future__ import annotations

from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import files, systemd

from roles.service import UNIT_DIR, unit_options
from roles.settings import DEFAULTS, Plan, Settings
from targets.sample import SAMPLER_PACKAGE, sampler_sources
from targets.systemd.sample import SAMPLE_UNIT, render_sample_unit


@deploy("Install the sampling one-shot", data_defaults=DEFAULTS)
def sampling_one_shot(settings: Settings, plan: Plan, venv: str) -> None:
    layout = settings.layout
    package_dir = f"{layout.sampler_dir}/{SAMPLER_PACKAGE}"
    for path, owner in (
        (layout.sampler_dir, "root"),
        (package_dir, "root"),
        (layout.batch_dir, settings.user),
    ):
        files.directory(
            name=f"Directory {path} exists ({owner}, 755)", path=path, user=owner, group=owner, mode="755"
        )
    for name, text in sampler_sources().items():
        files.put(
            name=f"Sampler file {package_dir}/{name} is current",
            src=StringIO(text),
            dest=f"{package_dir}/{name}",
            user="root",
            group="root",
            mode="644",
        )
    unit = files.put(
        name=f"Unit {SAMPLE_UNIT} samples a batch with {venv} in place of engine 0",
        src=StringIO(render_sample_unit(plan, unit_options(settings, plan, venv), layout)),
        dest=f"{UNIT_DIR}/{SAMPLE_UNIT}",
        user="root",
        group="root",
        mode="644",
    )
    systemd.daemon_reload(name=f"systemd has loaded the changed {SAMPLE_UNIT}", _if=unit.did_change)
