"""Hostile input against every entry point: the CLI, pyinfra host data, the Pulumi stack config and the
renderers. Each case ends in one of two ways, never a third:

- refused: exit 2 (CLI) or a PlanError/ValueError (library) whose message is one line, not a traceback,
  and holds no secret (not even 10 characters of it);
- accepted: the artifacts mean exactly the plan (unit ExecStart words, env file read by sh and by
  systemd's parser model, YAML), with no injected directive, no command run, no secret outside the 0600
  env file.

Every loop here runs over a fixed list.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from gptoss.cli import main
from roles.settings import plan_for, settings_from_data
from serving import PlanError, PlanRequest, plan_serving
from targets.kubernetes.config import plan_request, settings_from_values
from targets.kubernetes.objects import build_objects, promql_string
from targets.systemd.render import UnitOptions, options_for, render_env, render_unit
from targets.systemd.syntax import env_assignment, exec_word, unit_text
from tests.systemd_syntax import parse_env_file, parse_exec_start

SECRET = "sk-HOSTILE-SECRET-0123456789abcdef"
WINDOW = 10
TINY = ["--model", "gpt-oss-tiny", "--gpu", "cpu"]
GPU = ["--model", "gpt-oss-20b", "--gpu", "h100"]


def leaks(text: str, secret: str = SECRET) -> bool:
    """True when any 10-character piece of the secret shows in `text`."""
    return any(secret[i : i + WINDOW] in text for i in range(len(secret) - WINDOW + 1))


def assert_refusal_message(message: str) -> None:
    assert message.strip(), "an empty refusal"
    assert "Traceback" not in message
    assert len(message.strip().splitlines()) == 1, f"not one sentence: {message!r}"
    assert not leaks(message), f"the secret leaks: {message!r}"


def run_cli(capsys, argv: list[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own usage errors: exit 2 with a usage line, still no traceback
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def key_files(tmp_path):
    files = {}
    for name, mode in (("good", 0o600), ("world", 0o644), ("group", 0o640)):
        path = tmp_path / f"key-{name}"
        path.write_text(SECRET + "\n")
        path.chmod(mode)
        files[name] = str(path)
    (tmp_path / "a-file").write_text("x")
    files["file"] = str(tmp_path / "a-file")
    files["dir"] = str(tmp_path)
    files["out"] = str(tmp_path / "out")
    return files


# ------------------------------------------------------------------------------------------------ the CLI

CLI_REFUSED = [
    (
        "newline in an extra arg",
        ["plan", *TINY, "--extra-arg=--enforce-eager\n", "--extra-arg=ExecStartPre=+/bin/id"],
    ),
    ("CR in an extra arg", ["plan", *TINY, "--extra-arg=a\rb"]),
    ("NUL in an extra arg", ["plan", *TINY, "--extra-arg=a\x00b"]),
    ("ESC in an extra arg", ["plan", *TINY, "--extra-arg=\x1b[2J"]),
    ("line separator in an extra arg", ["plan", *TINY, "--extra-arg=a\u2028b"]),
    ("bidi override in an extra arg", ["plan", *TINY, "--extra-arg=\u202egnp.exe"]),
    ("api key by prefix", ["plan", *GPU, f"--extra-arg=--api-k={SECRET}"]),
    ("api key by underscore", ["plan", *GPU, "--extra-arg=--api_key", f"--extra-arg={SECRET}"]),
    ("api key dotted", ["plan", *GPU, f"--extra-arg=--api-key.x={SECRET}"]),
    ("api key exact", ["plan", *GPU, "--extra-arg=--api-key", f"--extra-arg={SECRET}"]),
    ("port by prefix", ["plan", *GPU, "--extra-arg=--por=9"]),
    ("tp by short prefix", ["plan", *GPU, "--extra-arg=-t", "--extra-arg=2"]),
    ("tool choice switched off", ["plan", *GPU, "--extra-arg=--disable-auto-tool-choice"]),
    ("attention backend by JSON", ["plan", *GPU, "--extra-arg=-ac.backend=FLASH_ATTN"]),
    ("a config file", ["plan", *GPU, "--extra-arg=--config", "--extra-arg=/tmp/x.yaml"]),
    ("a bare --", ["plan", *GPU, "--extra-arg=--"]),
    ("percent in the served name", ["plan", *TINY, "--served-model-name", "gpt%n"]),
    ("quote in the served name", ["plan", *TINY, "--served-model-name", 'a"b']),
    ("newline in the served name", ["plan", *TINY, "--served-model-name", "a\nb"]),
    ("space in the served name", ["plan", *TINY, "--served-model-name", "a b"]),
    ("model source traversal", ["plan", *GPU, "--model-source", "../../etc"]),
    ("model source with a space", ["plan", *GPU, "--model-source", "/srv/my models"]),
    ("model source relative", ["plan", *GPU, "--model-source", "./srv/models"]),
    ("bind host injection", ["plan", *TINY, "--host", "0.0.0.0; id"]),
    ("secret env name OPENAI_API_KEY", ["plan", *TINY, "--extra-env", f"OPENAI_API_KEY={SECRET}"]),
    (
        "secret env name AWS_SECRET_ACCESS_KEY",
        ["plan", *TINY, "--extra-env", f"AWS_SECRET_ACCESS_KEY={SECRET}"],
    ),
    ("secret env name GITHUB_TOKEN", ["plan", *TINY, "--extra-env", f"GITHUB_TOKEN={SECRET}"]),
    ("secret env name DB_PASSWORD", ["plan", *TINY, "--extra-env", f"DB_PASSWORD={SECRET}"]),
    (
        "secret env name credentials",
        ["plan", *TINY, "--extra-env", f"GOOGLE_APPLICATION_CREDENTIALS={SECRET}"],
    ),
    ("secret env name lowercase apikey", ["plan", *TINY, "--extra-env", f"apikey={SECRET}"]),
    ("secret env name VLLM_API_KEY", ["plan", *TINY, "--extra-env", f"VLLM_API_KEY={SECRET}"]),
    ("a secret without KEY=", ["plan", *TINY, "--extra-env", SECRET]),
    ("PATH in the env file", ["plan", *TINY, "--extra-env", "PATH=/tmp/evil"]),
    ("LD_PRELOAD in the env file", ["plan", *TINY, "--extra-env", "LD_PRELOAD=/tmp/evil.so"]),
    ("IFS in the env file", ["plan", *TINY, "--extra-env", "IFS=x"]),
    ("BASH_ENV in the env file", ["plan", *TINY, "--extra-env", "BASH_ENV=/tmp/x"]),
    ("newline in an env value", ["plan", *TINY, "--extra-env", "A=1\nExecStartPre=/bin/id"]),
    ("bad env name", ["plan", *TINY, "--extra-env", "A-B=1"]),
    ("env name twice", ["plan", *TINY, "--extra-env", "A=1", "--extra-env", "A=2"]),
    ("port 0", ["plan", *TINY, "--port", "0"]),
    ("port not a number", ["plan", *TINY, "--port", "80;id"]),
    ("gpus not a number", ["plan", *GPU, "--gpus", "two"]),
    ("unknown model", ["plan", "--model", "gpt-oss-20b\nx", "--gpu", "h100"]),
    ("unknown accelerator", ["plan", "--model", "gpt-oss-20b", "--gpu", "h100%n"]),
]


@pytest.mark.parametrize(("name", "argv"), CLI_REFUSED, ids=[c[0] for c in CLI_REFUSED])
def test_cli_refuses_with_a_sentence(capsys, name, argv):
    code, out, err = run_cli(capsys, argv)
    assert code == 2, (name, out, err)
    assert out == ""
    assert not leaks(err)
    assert "Traceback" not in err


CLI_FILE_REFUSED = [
    ("render systemd --out a file", ["render", "systemd", "--out", "{file}", *TINY]),
    ("render k8s --out a file", ["render", "k8s", "--out", "{file}", *GPU]),
    ("missing key file", ["render", "systemd", "--out", "{out}", *TINY, "--api-key-file", "{dir}/nope"]),
    ("world-readable key file", ["render", "systemd", "--out", "{out}", *TINY, "--api-key-file", "{world}"]),
    ("group-readable key file", ["render", "systemd", "--out", "{out}", *TINY, "--api-key-file", "{group}"]),
    ("key file is a directory", ["render", "systemd", "--out", "{out}", *TINY, "--api-key-file", "{dir}"]),
    ("--set apiKey", ["render", "k8s", "--out", "{out}", *GPU, "--set", f"apiKey={SECRET}"]),
    ("--set hfToken", ["render", "k8s", "--out", "{out}", *GPU, "--set", f"hfToken={SECRET}"]),
    ("--set a secret without KEY=", ["render", "k8s", "--out", "{out}", *GPU, "--set", SECRET]),
    ("--set replicas", ["render", "k8s", "--out", "{out}", *GPU, "--set", "replicas=3"]),
    ("--set namespace", ["render", "k8s", "--out", "{out}", *GPU, "--set", "namespace=other"]),
    ("--set model", ["render", "k8s", "--out", "{out}", *GPU, "--set", "model=gpt-oss-120b"]),
    ("--set extraArgs", ["render", "k8s", "--out", "{out}", *GPU, "--set", f"extraArgs=--api-key={SECRET}"]),
    ("--set an unknown key", ["render", "k8s", "--out", "{out}", *GPU, "--set", "cacheSizeGib=3"]),
    ("--set a key twice", ["render", "k8s", "--out", "{out}", *GPU, "--set", "name=a", "--set", "name=b"]),
    ("--set a bad integer", ["render", "k8s", "--out", "{out}", *GPU, "--set", f"cacheSizeGi={SECRET}"]),
    ("--set a bad boolean", ["render", "k8s", "--out", "{out}", *GPU, "--set", "createNamespace=ture"]),
    ("--set without a value", ["render", "k8s", "--out", "{out}", *GPU, "--set", "cacheSizeGi"]),
    ("namespace kube-system", ["render", "k8s", "--out", "{out}", *GPU, "--namespace", "kube-system"]),
    ("namespace default", ["render", "k8s", "--out", "{out}", *GPU, "--namespace", "default"]),
    ("namespace not a label", ["render", "k8s", "--out", "{out}", *GPU, "--namespace", "Bad_NS"]),
    ("image with a newline", ["render", "k8s", "--out", "{out}", *GPU, "--set", "image=a:1\nb"]),
    ("image digest malformed", ["render", "k8s", "--out", "{out}", *GPU, "--set", "imageDigest=sha256:xyz"]),
    (
        "prometheus URL with a password",
        ["render", "k8s", "--out", "{out}", *GPU, "--set", f"prometheusUrl=http://u:{SECRET}@p:9090"],
    ),
    (
        "prometheus URL with a quote",
        ["render", "k8s", "--out", "{out}", *GPU, "--set", 'prometheusUrl=http://p"/'],
    ),
    (
        "smoke package without opt-in",
        ["render", "k8s", "--out", "{out}", *GPU, "--set", "smokePackage=gptoss-vllm==0.1.0"],
    ),
    ("smoke job without image", ["render", "k8s", "--out", "{out}", *GPU, "--set", "smokeJob=true"]),
    ("node selector key", ["render", "k8s", "--out", "{out}", *GPU, "--set", "nodeSelector=a b=c"]),
    ("toleration key", ["render", "k8s", "--out", "{out}", *GPU, "--set", "tolerations=a b:NoSchedule"]),
    ("secret name", ["render", "k8s", "--out", "{out}", *GPU, "--set", "apiKeySecretName=Bad Name"]),
    ("allowed namespace", ["render", "k8s", "--out", "{out}", *GPU, "--set", "allowedNamespaces=ok,Not_OK"]),
    ("k8s with a key file", ["render", "k8s", "--out", "{out}", *GPU, "--api-key-file", "{good}"]),
    ("systemd with --set", ["render", "systemd", "--out", "{out}", *TINY, "--set", "name=x"]),
]


@pytest.mark.parametrize(("name", "argv"), CLI_FILE_REFUSED, ids=[c[0] for c in CLI_FILE_REFUSED])
def test_cli_refuses_files_paths_and_settings_with_a_sentence(capsys, key_files, name, argv):
    argv = [
        word.format(**key_files) if "{" in word and "}" in word and '{"' not in word else word
        for word in argv
    ]
    code, out, err = run_cli(capsys, argv)
    assert code == 2, (name, out, err)
    assert_refusal_message(err.removeprefix("gptoss: "))
    out_dir = key_files["out"]
    if os.path.isdir(out_dir):
        for entry in os.listdir(out_dir):
            assert not leaks(Path(out_dir, entry).read_text()), entry


def test_cli_accepts_tricky_but_legal_values_and_the_unit_means_the_plan(capsys, key_files):
    tricky = ['it\'s "quoted"', "100%", "$HOME", "`id`", "a b", "ünïcødé ✓", "back\\slash"]
    argv = ["render", "systemd", "--out", key_files["out"], *TINY, "--api-key-file", key_files["good"]]
    argv += ["--extra-arg=--chat-template", *[f"--extra-arg={t}" for t in tricky]]
    argv += ["--extra-env", "TRICKY=" + " ".join(tricky)]
    code, out, err = run_cli(capsys, argv)
    assert code == 0, err
    unit = Path(key_files["out"], "gptoss-vllm-0.service").read_text()
    env = Path(key_files["out"], "gptoss-vllm-0.env").read_text()
    exec_start = next(line.split("=", 1)[1] for line in unit.splitlines() if line.startswith("ExecStart="))
    assert parse_exec_start(exec_start)[-len(tricky) :] == tricky
    assert parse_env_file(env)["TRICKY"] == " ".join(tricky)
    assert not leaks(unit) and not leaks(out) and not leaks(err)
    assert parse_env_file(env)["VLLM_API_KEY"] == SECRET


# ------------------------------------------------------------------------------------------ pyinfra host data

HOST_DATA_REFUSED = [
    {"vllm_offline": "ture"},
    {"vllm_offline": "2"},
    {"vllm_wait": "maybe"},
    {"vllm_unit_kernel_protection": "nope"},
    {"vllm_ofline": True},
    {"vllm_extra_arg": ["--enforce-eager"]},
    {"vllm_api_key": SECRET},
    {"vllm_gpus": True},
    {"vllm_gpus": "2.5"},
    {"vllm_port": 8000.5},
    {"vllm_port": "80;id"},
    {"vllm_max_model_len": [1]},
    {"vllm_extra_env": "{not json"},
    {"vllm_extra_env": ["A"]},
    {"vllm_extra_args": {"a": 1}},
    {"vllm_config_dir": "etc/gptoss"},
    {"vllm_config_dir": "/etc/gpt oss"},
    {"vllm_state_dir": "/var/lib/%n"},
    {"vllm_state_dir": "/var/lib/$HOME"},
    {"vllm_cache_dir": "/var/cache/../../tmp"},
    {"vllm_root": "/opt/gptoss\nExecStartPre=+/bin/id"},
    {"vllm_user": "root;id"},
    {"vllm_user": "Vllm"},
    {"vllm_extra_args": ["--enforce-eager\n", "ExecStartPre=+/bin/id"]},
    {"vllm_extra_args": [f"--api-k={SECRET}"]},
    {"vllm_extra_args": ["--served_model_name", "x"]},
    {"vllm_extra_env": {"OPENAI_API_KEY": SECRET}},
    {"vllm_extra_env": {"HF_TOKEN": SECRET}},
    {"vllm_extra_env": {"LD_PRELOAD": "/tmp/x.so"}},
    {"vllm_extra_env": {"A": "1\nB=2"}},
    {"vllm_served_model_name": "a%b"},
    {"vllm_served_model_name": "x\nDescription=y"},
    {"vllm_model_source": "/srv/models/../x"},
    {"vllm_bind": "0.0.0.0 --api-key x"},
    {"vllm_endpoint_host": "evil.example/x#"},
    {"vllm_endpoint_host": "u:pw@evil.example"},
]
BASE_HOST_DATA = {"vllm_model": "gpt-oss-tiny", "vllm_accelerator": "cpu"}


@pytest.mark.parametrize("data", HOST_DATA_REFUSED, ids=[next(iter(d)) for d in HOST_DATA_REFUSED])
def test_host_data_refuses_with_a_sentence(data):
    with pytest.raises((PlanError, ValueError)) as err:
        plan_for(settings_from_data({**BASE_HOST_DATA, **data}))
    assert_refusal_message(str(err.value))


def _directives(unit: str) -> list[str]:
    return [line.split("=", 1)[0] for line in unit.splitlines() if line and not line.startswith(("#", "["))]


def test_host_data_with_tricky_values_renders_the_plan_and_nothing_else(tmp_path):
    tricky_env = {"QUOTES": 'it\'s "q"', "DOLLAR": "$(touch pwned) ${HOME}", "TICK": "`touch pwned`"}
    settings = settings_from_data(
        {
            **BASE_HOST_DATA,
            "vllm_extra_args": ["--chat-template", "a b %n $HOME `id` ünï"],
            "vllm_extra_env": tricky_env,
            "vllm_served_model_name": "gpt-oss_tiny@x:1",
        }
    )
    plan = plan_for(settings)
    plain = plan_for(settings_from_data(BASE_HOST_DATA))
    options = options_for(plan, settings.layout)
    unit = render_unit(plan, plan.engines[0], options)
    assert _directives(unit) == _directives(render_unit(plain, plain.engines[0], options_for(plain)))
    exec_start = next(line.split("=", 1)[1] for line in unit.splitlines() if line.startswith("ExecStart="))
    assert parse_exec_start(exec_start)[1:] == list(plan.engines[0].argv[1:])
    env = tmp_path / "x.env"
    env.write_text(render_env(plan, plan.engines[0], options, {"VLLM_API_KEY": SECRET}))
    script = 'set -a; . "$1"; printf "%s\\0" "$QUOTES" "$DOLLAR" "$TICK" "$VLLM_API_KEY"'
    proc = subprocess.run(["sh", "-c", script, "sh", str(env)], capture_output=True, cwd=tmp_path, timeout=30)
    assert proc.stdout.decode().split("\0")[:-1] == [*tricky_env.values(), SECRET]
    assert not (tmp_path / "pwned").exists()
    assert not leaks(unit)


# ------------------------------------------------------------------------------------ Pulumi stack config

STACK_REFUSED = [
    {"namespace": "kube-system"},
    {"namespace": "kube-public"},
    {"namespace": "kube-node-lease"},
    {"namespace": "default"},
    {"namespace": "UPPER"},
    {"namespace": "a" * 64},
    {"name": "Bad"},
    {"name": "x\ny"},
    {"apiKeySecretName": "has space"},
    {"apiKeySecretKey": "bad/key"},
    {"hfTokenSecretName": "x\n"},
    {"cacheStorageClass": "efs sc"},
    {"cacheSizeGi": -1},
    {"image": "vllm/vllm-openai:v1 --privileged"},
    {"imageDigest": "sha256:" + "g" * 64},
    {"smokeImage": "python:3.11\n"},
    {"smokeImageDigest": "md5:abc"},
    {"prometheusUrl": 'http://p:9090/?q="x"'},
    {"prometheusUrl": f"https://user:{SECRET}@prom:9090"},
    {"nodeSelector": ["no-equals"]},
    {"nodeSelector": ["bad key=v"]},
    {"nodeSelector": ["k=bad value"]},
    {"tolerations": ["k=v:Sometimes"]},
    {"tolerations": ["bad key:NoSchedule"]},
    {"allowedNamespaces": ["Not_OK"]},
    {"allowedNamespaces": [{"a": 1}]},
    {"autoscalingMaxReplicas": 0},
    {"autoscalingQueueThreshold": 0},
    {"smokePackage": "gptoss-vllm"},
    {"smokePackage": "gptoss-vllm @ https://example.com/x.whl"},
    {"replicas": "three"},
    {"createNamespace": "ture"},
    {"unknownKey": 1},
    {"smokeJb": True},
    {"runAsNonRoot": "maybe"},
    {"extraEnv": [SECRET]},
    {"extraEnv": [f"OPENAI_API_KEY={SECRET}"]},
    {"extraEnv": ["A=1", "A=2"]},
    {"extraArgs": [f"--api-key={SECRET}"]},
    {"extraArgs": ["--enforce-eager\nx"]},
    {"servedModelName": 'x"}) or vector(1000) #'},
    {"servedModelName": "x\ny"},
    {"modelSource": "../../etc/passwd"},
    {"gpuMemoryUtilization": "lots"},
]


@pytest.mark.parametrize(
    "values", STACK_REFUSED, ids=[f"{next(iter(v))}-{i}" for i, v in enumerate(STACK_REFUSED)]
)
def test_stack_config_refuses_with_a_sentence(values):
    base = {"model": "gpt-oss-20b", "accelerator": "h100", "gpusPerReplica": 1}
    with pytest.raises((PlanError, ValueError)) as err:
        merged = {**base, **values}
        build_objects(plan_serving(plan_request(merged)), settings_from_values(merged))
    assert_refusal_message(str(err.value))


def test_stack_config_with_tricky_legal_values_renders_yaml_that_parses_back():
    values = {
        "model": "gpt-oss-20b",
        "accelerator": "h100",
        "gpusPerReplica": 1,
        "servedModelName": "org/gpt-oss_20b@v1:x",
        "extraArgs": ["--chat-template", 'it\'s "q" %n $HOME `id` ünï: {a: b}\n'[:-1]],
        "extraEnv": ["TRICKY=a: b # c 'd' \"e\" $f"],
        "monitoring": True,
        "autoscaling": True,
    }
    plan = plan_serving(plan_request(values))
    objects = build_objects(plan, settings_from_values(values))
    for obj in objects:
        assert yaml.safe_load(yaml.safe_dump(obj)) == obj
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == list(plan.engines[0].argv)
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["TRICKY"] == "a: b # c 'd' \"e\" $f"
    query = next(o for o in objects if o["kind"] == "ScaledObject")["spec"]["triggers"][0]["metadata"][
        "query"
    ]
    assert query.count('"') == 4 and 'model_name="org/gpt-oss_20b@v1:x"' in query


# ------------------------------------------------------------------------------------------ the renderers


def _options(plan, **overrides):
    return options_for(plan, **overrides)


TINY_PLAN = plan_serving(PlanRequest(model="gpt-oss-tiny", accelerator="cpu"))
RENDERER_REFUSED = [
    ("relative venv", lambda: _options(TINY_PLAN, venv_dir="opt/v")),
    ("venv with a space", lambda: _options(TINY_PLAN, venv_dir="/opt/my venv")),
    ("venv with a newline", lambda: _options(TINY_PLAN, venv_dir="/opt/v\nExecStartPre=/bin/id")),
    ("state dir with %", lambda: _options(TINY_PLAN, state_dir="/var/%h")),
    ("writable path relative", lambda: _options(TINY_PLAN, writable_paths=("var/lib",))),
    ("user with a space", lambda: _options(TINY_PLAN, user="v llm")),
    ("group with a newline", lambda: _options(TINY_PLAN, group="g\nUser=root")),
    ("unknown device rule", lambda: _options(TINY_PLAN, device_allow=("/dev/sda rw",))),
    ("secret extra env on the unit path", lambda: _options(TINY_PLAN, extra_env={"OPENAI_API_KEY": SECRET})),
    ("shell var extra env on the unit path", lambda: _options(TINY_PLAN, extra_env={"PATH": "/tmp"})),
    ("newline extra env value on the unit path", lambda: _options(TINY_PLAN, extra_env={"A": "1\nB=2"})),
    ("env assignment bad name", lambda: env_assignment("A B", "1")),
    ("env assignment newline value", lambda: env_assignment("A", f"{SECRET}\nB=2")),
    ("exec word newline", lambda: exec_word("a\nb")),
    ("unit text newline", lambda: unit_text("a\nExecStartPre=/bin/id", "description")),
    ("unit text continuation", lambda: unit_text("a\\", "description")),
    ("promql newline", lambda: promql_string("a\nb")),
    (
        "plan extra env through UnitOptions collision",
        lambda: render_env(
            TINY_PLAN,
            TINY_PLAN.engines[0],
            UnitOptions(**{**_options(TINY_PLAN).__dict__, "extra_env": {"HF_HUB_OFFLINE": "0"}}),
            {},
        ),
    ),
]


@pytest.mark.parametrize(("name", "call"), RENDERER_REFUSED, ids=[c[0] for c in RENDERER_REFUSED])
def test_renderers_refuse_with_a_sentence(name, call):
    with pytest.raises((PlanError, ValueError)) as err:
        call()
    assert_refusal_message(str(err.value))


def test_the_suite_is_large_enough():
    total = len(CLI_REFUSED) + len(CLI_FILE_REFUSED) + len(HOST_DATA_REFUSED) + len(STACK_REFUSED)
    total += len(RENDERER_REFUSED) + 3  # the three accepted-and-checked cases
    assert total >= 100, total
