"""The recipe's `--speculative-config` JSON reaches vLLM byte for byte on every path: the systemd unit's
ExecStart (systemd's quoting; `systemd-analyze verify` accepts that unit in test_render.py), the Kubernetes
container command (YAML and the builder), the CLI's shell line.

The value holds double quotes, braces, colons and commas: each renderer must keep it one argv element.
"""

from __future__ import annotations

import json
import shlex

import yaml

from targets.kubernetes.objects import build_objects
from targets.kubernetes.yaml import default_settings, dump
from targets.systemd.render import exec_start, options_for
from tests.unit.test_render import speculative_plan as spec_plan


def spec_value(argv) -> str:
    return list(argv)[list(argv).index("--speculative-config") + 1]


def test_the_plan_carries_the_recipes_json_as_one_argv_element():
    value = spec_value(spec_plan().engines[0].argv)
    assert json.loads(value) == {
        "model": "nvidia/gpt-oss-120b-Eagle3-v3",
        "num_speculative_tokens": 7,
        "method": "eagle3",
        "draft_tensor_parallel_size": 1,
    }


def test_systemd_exec_start_splits_back_to_the_plans_argv():
    plan = spec_plan()
    engine = plan.engines[0]
    line = exec_start(engine, options_for(plan))
    # systemd's ExecStart= rules for these characters match POSIX shell words: double quotes group,
    # backslash escapes a quote inside them.
    words = shlex.split(line)
    assert tuple(words[1:]) == engine.argv[1:]
    assert json.loads(spec_value(words))["method"] == "eagle3"


def test_kubernetes_command_keeps_the_json_through_yaml():
    plan = spec_plan()
    objects = build_objects(plan, default_settings())
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    loaded = yaml.safe_load(dump(deployment))["spec"]["template"]["spec"]["containers"][0]
    for command in (container["command"], loaded["command"]):
        value = spec_value(command)
        assert isinstance(value, str), "YAML must not turn the JSON into a mapping"
        assert value == spec_value(plan.engines[0].argv)


def test_cli_table_prints_a_shell_line_that_splits_back():
    from gptoss.cli import format_plan_table

    plan = spec_plan()
    line = format_plan_table(plan).split("command (engine 0):\n", 1)[1].splitlines()[0].strip()
    assert tuple(shlex.split(line)) == plan.engines[0].argv
