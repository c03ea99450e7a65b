"""The option table (serving/options.py): every plan option once, the tools' surfaces generated from it, and
the strict converters they share."""

from __future__ import annotations

import argparse
import dataclasses

import pytest
from pyinfra.api.host import HostData

from gptoss.cli import add_plan_arguments, main, request_from_args
from roles.settings import DEFAULTS, host_data_defaults, plan_request, settings_from_data
from serving import PlanRequest, options
from serving.options import (
    OPTIONS,
    TARGET_SET,
    OptionError,
    to_args,
    to_bool,
    to_float,
    to_int,
    to_list,
    to_mapping,
)
from targets.kubernetes import config as k8s_config
from targets.kubernetes.config import KEYS_BY_NAME, ConfigError, plan_config_keys


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(exit_on_error=False)
    add_plan_arguments(p)
    return p


def test_every_plan_request_field_is_in_the_table_once():
    table = [o.field for o in OPTIONS]
    assert len(table) == len(set(table))
    user_fields = [f.name for f in dataclasses.fields(PlanRequest) if f.name not in TARGET_SET]
    assert sorted(table) == sorted(user_fields)


def test_the_table_takes_plan_request_defaults_and_adds_only_the_required_ones():
    plan_defaults = {
        f.name: f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]
        for f in dataclasses.fields(PlanRequest)
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    }
    for option in OPTIONS:
        if option.field in plan_defaults:
            assert option.default == plan_defaults[option.field], option.field
        else:  # PlanRequest requires it: the deploy tools need a default, the CLI asks
            assert option.cli_required, option.field
        assert option.default is None or option.parse("x", option.default) == option.default, option.field


def test_tool_keys_are_unique_and_spelled_like_their_tool():
    host = [o.host_data for o in OPTIONS if o.host_data]
    stack = [o.stack for o in OPTIONS if o.stack]
    flags = [f for o in OPTIONS for f in o.flags]
    for keys in (host, stack, flags):
        assert len(keys) == len(set(keys))
    assert all(k.startswith("vllm_") for k in host)
    assert all(k[0].islower() and "_" not in k and "-" not in k for k in stack)
    assert all(f.startswith("--") for f in flags)
    # A tool without the key says what it does instead.
    for o in OPTIONS:
        if not (o.host_data and o.stack):
            assert o.adapter, f"{o.field}: not on every tool, so `adapter` must say how the others decide it"
    assert {o.field for o in OPTIONS if not o.stack} == {
        "gpus_per_host",
        "hosts",
        "tensor_parallel_size",
        "port",
        "host",
    }


def test_the_three_surfaces_list_exactly_the_tables_keys():
    dests = {a.dest for a in parser()._actions if a.dest != "help"}
    assert dests == {o.field for o in OPTIONS if o.flags}
    plan_host_keys = {k for k in DEFAULTS if k in {o.host_data for o in OPTIONS}}
    assert plan_host_keys == {o.host_data for o in OPTIONS if o.host_data}
    assert [k.name for k in plan_config_keys()] == [o.stack for o in OPTIONS if o.stack]
    assert set(KEYS_BY_NAME) >= {o.stack for o in OPTIONS if o.stack}


def test_changing_a_default_in_the_table_changes_all_three_surfaces(monkeypatch):
    patched = {
        "goal": "latency",
        "max_model_len": 4096,
        "extra_args": ("--max-num-seqs", "8"),
        "extra_env": {"NCCL_DEBUG": "INFO"},
    }
    table = tuple(
        dataclasses.replace(o, default=patched[o.field]) if o.field in patched else o for o in OPTIONS
    )
    monkeypatch.setattr(options, "OPTIONS", table)

    args = parser().parse_args(["--model", "gpt-oss-20b", "--gpu", "h100"])
    request = request_from_args(args)
    assert (request.goal, request.max_model_len) == ("latency", 4096)
    assert (request.extra_args, request.extra_env) == (("--max-num-seqs", "8"), {"NCCL_DEBUG": "INFO"})

    defaults = host_data_defaults()
    assert defaults["vllm_goal"] == "latency" and defaults["vllm_max_model_len"] == 4096
    assert defaults["vllm_extra_args"] == ("--max-num-seqs", "8")
    assert settings_from_data({}).request.max_model_len == 4096

    stack = {k.name: k.default for k in plan_config_keys()}
    assert stack["goal"] == "latency" and stack["maxModelLen"] == 4096
    assert stack["extraArgs"] == ["--max-num-seqs", "8"] and stack["extraEnv"] == ["NCCL_DEBUG=INFO"]


def test_cli_host_data_and_stack_config_make_the_same_request():
    cli = request_from_args(
        parser().parse_args(
            [
                "--model=gpt-oss-20b",
                "--gpu=l4",
                "--max-model-len=32768",
                "--gpu-memory-utilization=0.85",
                "--served-model-name=chat",
                "--extra-arg=--max-num-seqs",
                "--extra-arg=8",
                "--extra-env=NCCL_DEBUG=INFO",
            ]
        )
    )
    host = settings_from_data(
        {
            "vllm_model": "gpt-oss-20b",
            "vllm_accelerator": "l4",
            "vllm_max_model_len": "32768",
            "vllm_gpu_memory_utilization": 0.85,
            "vllm_served_model_name": "chat",
            "vllm_extra_args": ["--max-num-seqs", "8"],
            "vllm_extra_env": '{"NCCL_DEBUG": "INFO"}',
        }
    ).request
    stack = k8s_config.plan_request(
        {
            "model": "gpt-oss-20b",
            "accelerator": "l4",
            "gpusPerReplica": 1,
            "maxModelLen": 32768,
            "gpuMemoryUtilization": "0.85",
            "servedModelName": "chat",
            "extraArgs": ["--max-num-seqs", "8"],
            "extraEnv": ["NCCL_DEBUG=INFO"],
        }
    )
    assert host == cli
    assert dataclasses.replace(stack, paths=None, tensor_parallel_size=None) == cli


def test_an_unset_option_reads_as_none_on_every_tool():
    assert (
        request_from_args(parser().parse_args(["--model", "gpt-oss-20b", "--gpu", "h100"])).max_model_len
        is None
    )
    assert settings_from_data({"vllm_max_model_len": None}).request.max_model_len is None
    assert settings_from_data({"vllm_served_model_name": ""}).request.served_model_name is None
    request = k8s_config.plan_request({"maxModelLen": 0, "gpuMemoryUtilization": "", "gpusPerReplica": 1})
    assert (request.max_model_len, request.gpu_memory_utilization) == (None, None)


@pytest.mark.parametrize("word", ["true", "TRUE", "yes", "on", "1", 1, True])
def test_bool_accepts_the_usual_words(word):
    assert to_bool("k", word) is True


@pytest.mark.parametrize("word", ["false", "No", "off", "0", 0, False])
def test_bool_accepts_the_usual_false_words(word):
    assert to_bool("k", word) is False


@pytest.mark.parametrize("bad", ["ture", "", "2", 2, None, [], 0.0])
def test_bool_refuses_anything_else_by_name(bad):
    with pytest.raises(OptionError, match=r"^k must be true or false"):
        to_bool("k", bad)


@pytest.mark.parametrize("bad", ["eighty", "1.5", "", "1e3", True, 1.0, None])
def test_int_is_strict(bad):
    with pytest.raises(OptionError, match=r"^vllm_port must be an integer"):
        to_int("vllm_port", bad)
    assert to_int("k", " 8100 ") == 8100 and to_int("k", 7) == 7


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "0.9x", True, None, ""])
def test_float_is_strict_and_finite(bad):
    with pytest.raises(OptionError, match=r"^k must be a number"):
        to_float("k", bad)
    assert to_float("k", "0.92") == 0.92 and to_float("k", 1) == 1.0


def test_no_key_echoes_its_value():
    # Not even an innocent-looking key: a secret pasted into the wrong one must not reach a log.
    with pytest.raises(OptionError) as err:
        to_int("apiKeyRotationDays", "sk-live-123")
    assert "sk-live-123" not in str(err.value) and "apiKeyRotationDays" in str(err.value)
    with pytest.raises(OptionError) as err:
        to_int("cacheSizeGi", "sk-live-123")
    assert "sk-live-123" not in str(err.value) and "cacheSizeGi must be an integer" in str(err.value)
    # KEY=VALUE items may carry a secret by mistake: the error names the position only.
    with pytest.raises(OptionError) as err:
        to_mapping("extraEnv", ["A=1", "sk-live-123"])
    assert "sk-live-123" not in str(err.value) and "item 2" in str(err.value)


def test_text_lists_split_on_commas_but_arguments_never_do():
    assert to_list("k", "apps,monitoring") == ("apps", "monitoring")
    assert to_list("k", '["a,b", "c"]') == ("a,b", "c")
    assert to_args("k", '--override-generation-config={"a":1,"b":2}') == (
        '--override-generation-config={"a":1,"b":2}',
    )
    assert to_args("k", '["--max-num-seqs", "8"]') == ("--max-num-seqs", "8")
    assert to_args("k", None) == () and to_args("k", ("--x",)) == ("--x",)
    with pytest.raises(OptionError, match="JSON array"):
        to_args("k", "[not json")
    with pytest.raises(OptionError, match="k item 1 must be text"):
        to_args("k", [{"a": 1}])


def test_mappings_from_every_shape():
    expected = {"A": "1", "B": "x=y"}
    assert to_mapping("k", {"A": 1, "B": "x=y"}) == expected
    assert to_mapping("k", ["A=1", "B=x=y"]) == expected
    assert to_mapping("k", '{"A": 1, "B": "x=y"}') == expected
    assert to_mapping("k", '["A=1", "B=x=y"]') == expected
    assert to_mapping("k", "A=1,B=x=y") == expected
    for bad in ({"A": None}, {"A": True}, "=1", 5):
        with pytest.raises(OptionError, match=r"^k "):
            to_mapping("k", bad)


def test_every_tool_refuses_the_same_bad_value_naming_its_own_key(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["plan", "--model", "gpt-oss-20b", "--gpu", "h100", "--gpus", "two"])
    assert exit_info.value.code == 2 and "--gpus must be an integer" in capsys.readouterr().err
    with pytest.raises(ValueError, match="host data vllm_gpus must be an integer"):
        settings_from_data({"vllm_gpus": "two"})
    with pytest.raises(ConfigError, match="config gpusPerReplica must be an integer"):
        k8s_config.plan_request({"gpusPerReplica": "two"})
    # A misspelt boolean used to read as false on the pyinfra path; now every tool refuses it.
    with pytest.raises(ValueError, match="vllm_smoke must be true or false"):
        settings_from_data({"vllm_smoke": "ture"})
    code = main(["render", "k8s", "--out", str(tmp_path), "--model", "gpt-oss-20b", "--gpu", "l4",
                 "--set", "monitoring=ture"])  # fmt: skip
    assert code == 2 and "monitoring must be true or false" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("item", "flag"),
    [
        ("maxModelLen=2048", "--max-model-len"),
        ("model=gpt-oss-120b", "--model"),
        ("gpusPerReplica=4", "--gpus and --tensor-parallel-size"),
        ("replicas=2", "--hosts"),
    ],
)
def test_set_refuses_plan_keys_and_names_the_flag(tmp_path, capsys, item, flag):
    code = main(
        ["render", "k8s", "--out", str(tmp_path), "--model", "gpt-oss-20b", "--gpu", "l4", "--set", item]
    )
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert f"part of the serving plan: use {flag}" in err


def test_unknown_host_data_key_is_refused_with_the_nearest():
    with pytest.raises(
        ValueError, match="unknown host data vllm_max_model_length: did you mean vllm_max_model_len"
    ):
        settings_from_data({"vllm_max_model_length": 2048})
    # pyinfra's own host data (keys without the prefix) is none of the roles' business.
    assert settings_from_data({"ssh_user": "ubuntu", "_sudo": True}).request.model == "gpt-oss-20b"


def test_pyinfra_host_data_object_is_read_with_its_keys_checked():
    """roles/serve.py passes `host.data` itself: layered data and the deploy's data defaults."""
    data = HostData(None, {"vllm_gpus": 4, "vllm_goal": "throughput"}, lambda: DEFAULTS)
    settings = settings_from_data(data)
    assert (settings.request.gpus_per_host, settings.request.goal) == (4, "throughput")
    assert plan_request(settings).paths is not None and plan_request(settings).hosts == 1
    with pytest.raises(ValueError, match="did you mean vllm_goal"):
        settings_from_data(HostData(None, {"vllm_gaol": "latency"}, lambda: DEFAULTS))


def test_stack_config_text_is_read_by_the_same_converters():
    """Pulumi keeps config values as text (arrays as JSON), as `--set` passes them."""
    assert KEYS_BY_NAME["extraArgs"].read('["--max-num-seqs", "8"]') == ("--max-num-seqs", "8")
    assert KEYS_BY_NAME["extraEnv"].read('["A=1", "B=2"]') == {"A": "1", "B": "2"}
    assert KEYS_BY_NAME["allowedNamespaces"].read("apps,monitoring") == ("apps", "monitoring")
    assert KEYS_BY_NAME["createNamespace"].read("false") is False
    assert KEYS_BY_NAME["maxModelLen"].read("0") is None
    assert KEYS_BY_NAME["gpuMemoryUtilization"].read("0.92") == 0.92
    with pytest.raises(ConfigError, match="config gpuMemoryUtilization must be a number"):
        KEYS_BY_NAME["gpuMemoryUtilization"].read("most")


@pytest.mark.parametrize(
    ("item", "says"),
    [
        ("apiKey=sk-live-123", "--set apiKey: a secret never goes on a command line"),
        ("sk-live-123", "--set takes KEY=VALUE"),
        ("=sk-live-123", "--set takes KEY=VALUE"),
    ],
)
def test_set_never_echoes_a_secret_pasted_in_the_wrong_place(tmp_path, capsys, item, says):
    code = main(
        ["render", "k8s", "--out", str(tmp_path), "--model", "gpt-oss-20b", "--gpu", "l4", "--set", item]
    )
    err = capsys.readouterr().err
    assert code == 2 and says in err and "sk-live-123" not in err, err


def test_set_names_the_nearest_key(tmp_path, capsys):
    code = main(
        [
            "render",
            "k8s",
            "--out",
            str(tmp_path),
            "--model",
            "gpt-oss-20b",
            "--gpu",
            "l4",
            "--set",
            "cacheSize=2",
        ]
    )
    assert code == 2 and "did you mean cacheSizeGi?" in capsys.readouterr().err
