"""Property tests (hypothesis): any input is either refused with a sentence, or renders to an artifact
that parses back to exactly the plan.

- systemd unit: ExecStart words (the model in tests/systemd_syntax.py, itself proven against systemd's
  own parser and systemd-analyze) are the plan's argv; the unit's directives are the ones a plain plan
  has, no more (nothing injected).
- env file: systemd's parser model, systemd's own parser (libsystemd, when installed) and a real `sh`
  sourcing it all give exactly the engine's environment plus the key, and sh runs nothing.
- Kubernetes YAML: yaml.safe_load gives back exactly the objects; the server's command is the argv.
- A refusal never repeats the input it refused.
"""

from __future__ import annotations

import subprocess

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from serving import PlanError, PlanRequest, plan_serving
from targets.kubernetes.config import settings_from_values
from targets.kubernetes.objects import build_objects
from targets.kubernetes.settings import K8S_PATHS
from targets.kubernetes.yaml import dump
from targets.systemd.layout import DEFAULT_LAYOUT
from targets.systemd.render import options_for, render_env, render_unit
from tests.systemd_syntax import Libsystemd, parse_env_file, parse_exec_start

LIBSYSTEMD = Libsystemd.find()
SETTINGS = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
# Printable text with the characters that matter to units, shells and YAML, plus some that must be refused.
SPECIAL = " \"'\\$`%;#&|<>(){}[]*?~!=:,@\n\r\t\x00\x1b\u2028\u202eü✓😀中"
PRINTABLE_SPECIAL = " \"'\\$`%;#&|<>(){}[]*?~!=:,@ü✓😀中-"
printable = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp"))
    | st.sampled_from(PRINTABLE_SPECIAL),
    max_size=24,
)
anything = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from(SPECIAL), max_size=24
)
words = st.one_of(printable, printable, printable, anything)
env_names = st.from_regex(r"[A-Z_][A-Z0-9_]{0,12}", fullmatch=True) | st.sampled_from(
    ["PATH", "LD_PRELOAD", "OPENAI_API_KEY", "HF_TOKEN", "MY_SECRET", "A B", "1A", "TOKENIZERS_PARALLELISM"]
)
served_names = st.one_of(st.none(), words, st.from_regex(r"[a-z0-9][a-z0-9._:/@+-]{0,20}", fullmatch=True))
KEY = "k-\"$`'\\ü-0123456789"


def _directives(unit: str) -> list[str]:
    return [line.split("=", 1)[0] for line in unit.splitlines() if line and not line.startswith(("#", "["))]


PLAIN = plan_serving(
    PlanRequest(model="gpt-oss-tiny", accelerator="cpu", paths=DEFAULT_LAYOUT.serving_paths())
)
PLAIN_DIRECTIVES = _directives(render_unit(PLAIN, PLAIN.engines[0], options_for(PLAIN)))


def _plan(extra_args, extra_env, served, **request):
    return plan_serving(
        PlanRequest(
            extra_args=tuple(extra_args),
            extra_env=extra_env,
            served_model_name=served,
            **request,
        )
    )


def _refusal_repeats_input(message: str, inputs: list[str]) -> bool:
    return any(len(text) >= 10 and text in message for text in inputs)


@SETTINGS
@given(st.lists(words, max_size=6), st.dictionaries(env_names, words, max_size=4), served_names)
def test_systemd_artifacts_are_refused_or_mean_exactly_the_plan(
    tmp_path_factory, extra_args, extra_env, served
):
    try:
        plan = _plan(
            extra_args,
            extra_env,
            served,
            model="gpt-oss-tiny",
            accelerator="cpu",
            paths=DEFAULT_LAYOUT.serving_paths(),
        )
        engine = plan.engines[0]
        options = options_for(plan)
        unit = render_unit(plan, engine, options)
        env_text = render_env(plan, engine, options, {"VLLM_API_KEY": KEY})
    except (PlanError, ValueError) as err:
        event("refused")
        message = str(err)
        assert "\n" not in message.strip()
        assert not _refusal_repeats_input(message, [*extra_args, *extra_env.values()])
        return
    event("rendered")
    assert _directives(unit) == PLAIN_DIRECTIVES, "a value added or removed a directive"
    exec_start = next(line.split("=", 1)[1] for line in unit.splitlines() if line.startswith("ExecStart="))
    assert parse_exec_start(exec_start) == [f"{options.venv_dir}/bin/vllm", *engine.argv[1:]]
    expected_env = {**engine.env, "VLLM_API_KEY": KEY}
    assert parse_env_file(env_text) == expected_env
    directory = tmp_path_factory.mktemp("env")
    path = directory / "x.env"
    path.write_text(env_text)
    if LIBSYSTEMD is not None:
        assert LIBSYSTEMD.load_env_file(str(path)) == expected_env
    names = list(expected_env)
    script = 'set -a; . "$1"; shift; for n in "$@"; do eval "printf \'%s\\0\' \\"\\$$n\\""; done'
    proc = subprocess.run(
        ["sh", "-c", script, "sh", str(path), *names], capture_output=True, timeout=30, cwd=directory
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().split("\0")[:-1] == list(expected_env.values())
    assert [p.name for p in directory.iterdir()] == ["x.env"], "sourcing the env file created a file"


@SETTINGS
@given(st.lists(words, max_size=6), st.dictionaries(env_names, words, max_size=4), served_names)
def test_kubernetes_yaml_is_refused_or_parses_back_to_exactly_the_plan(extra_args, extra_env, served):
    try:
        plan = _plan(extra_args, extra_env, served, model="gpt-oss-20b", accelerator="h100", paths=K8S_PATHS)
        objects = build_objects(plan, settings_from_values({"monitoring": True, "autoscaling": True}))
    except (PlanError, ValueError) as err:
        event("refused")
        assert not _refusal_repeats_input(str(err), [*extra_args, *extra_env.values()])
        return
    event("rendered")
    for obj in objects:
        assert yaml.safe_load(dump(obj)) == obj
    server = next(o for o in objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][
        0
    ]
    assert server["command"] == list(plan.engines[0].argv)
    env = {e["name"]: e.get("value") for e in server["env"] if "value" in e}
    assert {k: v for k, v in env.items() if k != "HOME"} == plan.env  # device visibility is the kubelet's
