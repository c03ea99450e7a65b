"""The systemd one-shot that runs a sampling batch on a deployed host: `gptoss-sample@NAME.service`.

It runs the shipped sampler (`python -m gptoss_sampler`, see gptoss/sample.py) with the Python of the
vLLM venv the roles install, the plan's engine arguments and engine 0's env file, hardened like the
engine units (the same `_hardening.service.j2`). The batch borrows engine 0: the unit conflicts with it
and starts it again when done (OnSuccess=/OnFailure=).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from gptoss.render import (
    HEADER,
    UnitOptions,
    _env,
    _host_settings,
    env_file_path,
    options_for,
    systemd_quote,
    unit_name,
)
from gptoss.sample import SHIPPED_PACKAGE, engine_argv, sampler_sources
from serving import Plan

SAMPLE_PREFIX = "gptoss-sample"
SAMPLE_UNIT = f"{SAMPLE_PREFIX}@.service"
SAMPLE_TEMPLATE = f"{SAMPLE_UNIT}.j2"
BATCH_SUBDIR = "sample"
INSTANCE = "%i"  # systemd's specifier for the instance name: the batch
# Directories that go into Environment= and ExecStart= unquoted: plain absolute paths only.
_PLAIN_PATH = re.compile(r"^/[A-Za-z0-9_./-]+$")


def batch_dir(options: UnitOptions) -> str:
    """Where batches go in and results come out: writable by the service user, under its state dir."""
    return f"{options.state_dir}/{BATCH_SUBDIR}"


def sampler_root(root: str) -> str:
    """The directory on PYTHONPATH that holds the shipped `gptoss_sampler` package (root: vllm_root)."""
    return f"{root}/lib"


def _plain(path: str, what: str) -> str:
    if not _PLAIN_PATH.match(path) or "/../" in f"{path}/":
        raise ValueError(f"{what} {path!r} must be a plain absolute path (letters, digits, _ . / -)")
    return path


def exec_start(plan: Plan, options: UnitOptions) -> str:
    """The venv's python running the sampler on batch `%i`, then `--` and the plan's engine arguments."""
    words = [
        f"{options.venv_dir}/bin/python",
        "-m",
        SHIPPED_PACKAGE,
        "--batch-dir",
        _plain(batch_dir(options), "batch directory"),
        "--batch",
    ]
    tail = ["--", *engine_argv(plan)]
    return " ".join([*map(systemd_quote, words), INSTANCE, *map(systemd_quote, tail)])


def render_sample_unit(plan: Plan, options: UnitOptions, root: str) -> str:
    engine = plan.engines[0]
    text = (
        _env()
        .get_template(SAMPLE_TEMPLATE)
        .render(
            header=HEADER,
            plan=plan,
            engine=engine,
            engine_unit=unit_name(engine),
            unit_prefix=SAMPLE_PREFIX,
            options=options,
            env_file=env_file_path(engine, options),
            batch_dir=batch_dir(options),
            sampler_root=_plain(sampler_root(root), "sampler directory"),
            exec_start=exec_start(plan, options),
        )
    )
    return re.sub(r"\n{3,}", "\n\n", text)


def write_sample(
    plan: Plan, out_dir: str | os.PathLike[str], options: UnitOptions | None = None, root: str | None = None
) -> list[Path]:
    """`gptoss render systemd`'s share: the one-shot unit, and the sampler package to copy into
    `sampler_root(root)` (defaults: the roles' host layout)."""
    options = options or options_for(plan)
    root = root or _host_settings(None).root
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    unit = out / SAMPLE_UNIT
    unit.write_text(render_sample_unit(plan, options, root))
    package = out / SHIPPED_PACKAGE
    package.mkdir(exist_ok=True)
    written = [unit]
    for name, text in sampler_sources().items():
        (package / name).write_text(text)
        written.append(package / name)
    return written
