"""`gptoss`: a thin command line over the serving plan, its renderers and the smoke suite.

    gptoss plan --model gpt-oss-120b --gpu h100 --gpus 8 --goal throughput [--format json]
    gptoss render systemd --out DIR --model ... --gpu ... [--api-key-file F]
    gptoss render k8s --out DIR --model ... --gpu ...
    gptoss smoke --base-url http://127.0.0.1:8000/v1 --model NAME

Impossible plans exit 2 with the reason on stderr and nothing on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from serving import ACCELERATORS, GOALS, MODELS, Plan, PlanError, PlanRequest, plan_serving

EXIT_PLAN_ERROR = 2


def add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("serving plan")
    g.add_argument("--model", required=True, help=f"one of {', '.join(MODELS)}")
    g.add_argument(
        "--gpu", "--accelerator", dest="accelerator", required=True, help=f"one of {', '.join(ACCELERATORS)}"
    )
    g.add_argument("--gpus", dest="gpus_per_host", type=int, default=1, help="GPUs per host (default 1)")
    g.add_argument("--hosts", type=int, default=1, help="hosts or replicas of that size (default 1)")
    g.add_argument("--goal", choices=GOALS, default="balanced")
    g.add_argument(
        "--tensor-parallel-size",
        "--tp",
        type=int,
        default=None,
        help="pin the tensor-parallel size instead of letting the goal choose",
    )
    g.add_argument("--max-model-len", type=int, default=None)
    g.add_argument("--gpu-memory-utilization", type=float, default=None)
    g.add_argument("--port", type=int, default=8000)
    g.add_argument("--host", default="0.0.0.0", help="address vLLM binds (default 0.0.0.0)")
    g.add_argument("--served-model-name", default=None)
    g.add_argument("--model-source", default=None, help="a local directory or HF id to load instead")
    g.add_argument(
        "--extra-arg",
        dest="extra_args",
        action="append",
        default=[],
        help="one more vLLM argument (repeat; `--extra-arg=--flag` for dashed values)",
    )
    g.add_argument("--extra-env", action="append", default=[], metavar="KEY=VALUE")


def request_from_args(args: argparse.Namespace) -> PlanRequest:
    extra_env = {}
    for item in args.extra_env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise PlanError(f"--extra-env {item!r} is not KEY=VALUE")
        extra_env[key] = value
    return PlanRequest(
        model=args.model,
        accelerator=args.accelerator,
        gpus_per_host=args.gpus_per_host,
        hosts=args.hosts,
        goal=args.goal,
        max_model_len=args.max_model_len,
        gpu_memory_utilization=args.gpu_memory_utilization,
        port=args.port,
        host=args.host,
        served_model_name=args.served_model_name,
        model_source=args.model_source,
        tensor_parallel_size=args.tensor_parallel_size,
        extra_args=tuple(args.extra_args),
        extra_env=extra_env,
    )


def format_plan_table(plan: Plan) -> str:
    rows = [
        ("model", f"{plan.model.key} ({plan.model_source}) served as {plan.served_model_name}"),
        (
            "accelerator",
            f"{plan.accelerator.name} x {plan.request.gpus_per_host} per host, {plan.hosts} host(s)",
        ),
        ("goal", plan.request.goal),
        ("tensor parallel", str(plan.tensor_parallel_size)),
        ("engines", f"{plan.engines_per_host} per host, {plan.total_engines} in total"),
        ("vLLM", f"{plan.vllm_package} / image {plan.image}"),
        ("max model len", str(plan.max_model_len)),
    ]
    if plan.memory:
        m = plan.memory
        rows += [
            (
                "weights / GPU",
                f"{m.weights_per_gpu_gib} GiB of {m.gpu_memory_gib} GiB (usable {m.usable_gib})",
            ),
            (
                "KV cache",
                f"{m.kv_cache_per_gpu_gib} GiB/GPU = {m.kv_cache_tokens:,} tokens per engine "
                f"({m.kv_bytes_per_token // 1024} KiB/token), "
                f"{m.full_context_sequences} full-context sequences",
            ),
        ]
    if plan.shm_size_gib:
        rows.append(("/dev/shm", f"{plan.shm_size_gib} GiB"))
    rows.append(("startup budget", f"{plan.startup_timeout_s} s"))
    width = max(len(k) for k, _ in rows)
    lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
    for engine in plan.engines:
        gpus = ",".join(map(str, engine.gpu_ids)) or "-"
        lines.append(f"{'engine ' + str(engine.index):<{width}}  GPUs {gpus}  port {engine.port}")
    lines.append("")
    lines.append("environment:")
    lines += [f"  {k}={v}" for k, v in plan.engines[0].env.items()]
    lines.append("command (engine 0):")
    lines.append("  " + " ".join(plan.engines[0].argv))
    for w in plan.warnings:
        lines.append(f"warning: {w}")
    for n in plan.notes:
        lines.append(f"note: {n}")
    return "\n".join(lines)


def cmd_plan(args: argparse.Namespace) -> int:
    plan = plan_serving(request_from_args(args))
    if args.format == "json":
        print(json.dumps(plan.to_dict(), indent=2))
    else:
        print(format_plan_table(plan))
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    request = request_from_args(args)
    out = Path(args.out)
    if args.target == "systemd":
        from targets.systemd import DEFAULT_LAYOUT, write_systemd

        plan = plan_serving(replace(request, paths=DEFAULT_LAYOUT.serving_paths()))
        written = write_systemd(plan, out, api_key_file=args.api_key_file)
    else:
        from targets.kubernetes import default_settings, write_kubernetes

        settings = default_settings(args.namespace, **k8s_overrides(args.set))
        written = write_kubernetes(plan_serving(request), out, namespace=args.namespace, settings=settings)
    for path in written:
        print(path)
    return 0


def k8s_overrides(items: list[str]) -> dict[str, object]:
    """`--set key=value` pairs for the Kubernetes settings, typed like the Pulumi stack config keys."""
    from targets.kubernetes.config import KEYS_BY_NAME, ConfigError

    values: dict[str, object] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        spec = KEYS_BY_NAME.get(key)
        if not sep or spec is None:
            raise ConfigError(
                f"--set {item!r}: use KEY=VALUE with a key of Pulumi.yaml's config, e.g. cacheSizeGi=200"
            )
        if spec.type == "integer":
            try:
                values[key] = int(raw)
            except ValueError:
                raise ConfigError(f"--set {key} must be an integer, not {raw!r}") from None
        elif spec.type == "boolean":
            if raw.lower() not in ("true", "false"):
                raise ConfigError(f"--set {key} must be true or false, not {raw!r}")
            values[key] = raw.lower() == "true"
        elif spec.type == "array":
            values[key] = [part for part in raw.split(",") if part]
        else:
            values[key] = raw
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gptoss", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("plan", help="decide how vLLM serves a model on given GPUs")
    add_plan_arguments(p)
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=cmd_plan)

    r = sub.add_parser("render", help="write the plan as systemd units or Kubernetes YAML")
    r.add_argument("target", choices=("systemd", "k8s"))
    r.add_argument("--out", required=True, help="directory to write into")
    r.add_argument(
        "--api-key-file",
        default=None,
        help="systemd: a file holding the API key, copied into the 0600 env file",
    )
    r.add_argument("--namespace", default="gptoss", help="k8s: namespace for the objects")
    r.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="k8s: a Pulumi.yaml config key, e.g. apiKeySecretName=my-key or cacheStorageClass=efs",
    )
    add_plan_arguments(r)
    r.set_defaults(func=cmd_render)

    try:
        from smoke import cli as smoke_cli
    except ImportError:  # the smoke package is still being built
        smoke_cli = None
    if smoke_cli is not None and hasattr(smoke_cli, "add_arguments"):
        s = sub.add_parser("smoke", help="check a live OpenAI-compatible endpoint the way SDKs use it")
        smoke_cli.add_arguments(s)
        s.set_defaults(func=smoke_cli.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (PlanError, ValueError) as err:  # PlanError, and the k8s settings' ConfigError/SettingsError
        print(f"gptoss: {err}", file=sys.stderr)
        return EXIT_PLAN_ERROR


if __name__ == "__main__":
    sys.exit(main())
