"""The systemd one-shot that runs a sampling batch on a deployed host: `gptoss-sample@NAME.service`.

It runs the shipped sampler (`python -m gptoss_sampler`, targets/sample.py) with the Python of the vLLM
venv the roles install, the plan's engine arguments and engine 0's env file, hardened like the engine
units (the same `_hardening.service.j2`). `systemctl start gptoss-sample@NAME` reads
`HostLayout.batch_dir`/NAME.jsonl and writes NAME.results.jsonl there. The batch takes engine 0's place:
the unit conflicts with it and starts it again when done (OnSuccess=/OnFailure=).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from serving import Plan
from targets.sample import SAMPLER_PACKAGE, engine_argv, sampler_sources
from targets.systemd.layout import DEFAULT_LAYOUT, HostLayout
from targets.systemd.render import (
    HEADER,
    UnitOptions,
    env_file_path,
    options_for,
    systemd_quote,
    unit_name,
)
from targets.templates import template_env

SAMPLE_PREFIX = "gptoss-sample"
SAMPLE_UNIT = f"{SAMPLE_PREFIX}@.service"
SAMPLE_TEMPLATE = f"{SAMPLE_UNIT}.j2"
INSTANCE = "%i"  # systemd's specifier for the instance name: the batch
# Directories that go into Environment= and ExecStart= unquoted: plain absolute paths only.
_PLAIN_PATH = re.compile(r"^/[A-Za-z0-9_./-]+$")


def _plain(path: str, what: str) -> str:
    if not _PLAIN_PATH.match(path) or "/../" in f"{path}/":
        raise ValueError(f"{what} {path!r} must be a plain absolute path (letters, digits, _ . / -)")
    return path


def exec_start(plan: Plan, options: UnitOptions, layout: HostLayout = DEFAULT_LAYOUT) -> str:
    """The venv's python running the sampler on batch `%i`, then `--` and the plan's engine arguments."""
    words = [
        f"{options.venv_dir}/bin/python",
        "-m",
        SAMPLER_PACKAGE,
        "--batch-dir",
        _plain(layout.batch_dir, "batch directory"),
        "--batch",
    ]
    tail = ["--", *engine_argv(plan)]
    return " ".join([*map(systemd_quote, words), INSTANCE, *map(systemd_quote, tail)])


def render_sample_unit(plan: Plan, options: UnitOptions, layout: HostLayout = DEFAULT_LAYOUT) -> str:
    engine = plan.engines[0]
    text = (
        template_env("targets.systemd")
        .get_template(SAMPLE_TEMPLATE)
        .render(
            header=HEADER,
            plan=plan,
            engine=engine,
            engine_unit=unit_name(engine),
            unit_prefix=SAMPLE_PREFIX,
            options=options,
            env_file=env_file_path(engine, options),
            batch_dir=layout.batch_dir,
            sampler_root=_plain(layout.sampler_dir, "sampler directory"),
            exec_start=exec_start(plan, options, layout),
        )
    )
    return re.sub(r"\n{3,}", "\n\n", text)


def write_sample(
    plan: Plan, out_dir: str | os.PathLike[str], layout: HostLayout = DEFAULT_LAYOUT
) -> list[Path]:
    """`gptoss render systemd`'s share: the one-shot unit, and the sampler package to copy into
    `layout.sampler_dir` (the pyinfra roles install both)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    unit = out / SAMPLE_UNIT
    unit.write_text(render_sample_unit(plan, options_for(plan, layout), layout))
    package = out / SAMPLER_PACKAGE
    package.mkdir(exist_ok=True)
    written = [unit]
    for name, text in sampler_sources().items():
        (package / name).write_text(text)
        written.append(package / name)
    return written
