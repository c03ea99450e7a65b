"""`gptoss`: a thin command line over the serving plan, its renderers and the smoke suite.

    gptoss plan --model gpt-oss-120b --gpu h100 --gpus 8 --goal throughput [--format json] [--explain]
    gptoss plan --runtime ollama --model gpt-oss-20b --gpu rtx4090 [--format json]
    gptoss render systemd --out DIR --model ... --gpu ... [--api-key-file F]
    gptoss render k8s --out DIR --model ... --gpu ...
    gptoss render prometheus-rules --out DIR --model ... --gpu ... [--engine-job J] [--alert KEY=VALUE]
    gptoss render dashboard --out DIR --model ... --gpu ...
    gptoss smoke --base-url http://127.0.0.1:8000/v1 --model NAME
    gptoss sample --input conv.jsonl --output results.jsonl --model ... --gpu ...   (needs vLLM)

Impossible plans exit 2 with the reason on stderr and nothing on stdout.
"""

from __future__ import annotations

import argparse
import difflib
import json
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from gptoss import ollama_cli
from serving import Plan, PlanError, PlanRequest, options, plan_serving
from serving.ollama import plan_ollama
from serving.options import Option, OptionError
from serving.reasons import Reason

EXIT_PLAN_ERROR = 2


def _cli_help(option: Option) -> str:
    text = option.help
    if option.cli_hint:
        text += f"; {option.cli_hint}"
    if option.kind.many:
        text += " (repeat for more)"
    elif option.nullable:
        text += f" (default: {option.unset})"
    elif not option.cli_required:
        text += f" (default {option.default})"
    return text.replace("%", "%%")  # argparse formats help with %


def _cli_type(option: Option, flag: str) -> Callable[[str], Any]:
    """The option's strict converter, reporting through argparse (exit 2 with the usage)."""

    def convert(text: str) -> Any:
        try:
            return option.kind.convert(flag, text)
        except OptionError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    convert.__name__ = option.kind.name
    return convert


def add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per option of the table (serving/options.py) that the CLI offers."""
    g = parser.add_argument_group("serving plan")
    for option in options.OPTIONS:
        if not option.flags:
            continue
        kw: dict[str, Any] = {"dest": option.field, "help": _cli_help(option)}
        if option.kind.many:
            # Each occurrence is one item; request_from_args converts the collected list.
            kw |= {"action": "append", "default": None, "metavar": option.metavar}
        else:
            kw |= {"type": _cli_type(option, option.flags[0]), "default": option.default}
        if option.choices:
            kw["choices"] = option.choices
        if option.cli_required:
            kw["required"] = True
            del kw["default"]
        g.add_argument(*option.flags, **kw)


def request_from_args(args: argparse.Namespace) -> PlanRequest:
    values: dict[str, Any] = {}
    for option in options.OPTIONS:
        if option.flags:
            raw = getattr(args, option.field)
            if option.kind.many:
                raw = option.parse(option.flags[0], option.default if raw is None else raw)
            elif raw is None:
                raw = option.default  # a flag whose default the subcommand left open (plan: --port, --host)
            values[option.field] = raw
    return PlanRequest(**values)


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
    lines.append("  " + shlex.join(plan.engines[0].argv))
    for w in plan.warnings:
        lines.append(f"warning: {w}")
    for n in plan.notes:
        lines.append(f"note: {n}")
    return "\n".join(lines)


def _reason_item(reason: Reason) -> str:
    if reason.value is None:
        return reason.item
    if reason.item.startswith("-"):
        return f"{reason.item} {shlex.quote(reason.value)}"
    if reason.item == "model":
        return f"model {reason.value}"
    return f"{reason.item}={reason.value}"


def format_explain(plan: Plan) -> str:
    """One line per flag and variable of engine 0: why it is there, and where that comes from."""
    shown = [(_reason_item(r), r) for r in plan.reasons]
    width = min(48, max(len(text) for text, _ in shown))
    lines = ["why each flag and variable (engine 0):"]
    for text, r in shown:
        lines.append(f"  {text.ljust(width)}  {r.why} [{r.source}]")
    if plan.not_applied:
        lines.append("recipe lines left out:")
        lines += [f"  {rule.summary} [{rule.kind}: {rule.source}]" for rule in plan.not_applied]
    lines.append("known limitations no flag fixes:")
    lines += [f"  {rule.summary} [{rule.kind}: {rule.source}]" for rule in plan.limitations]
    return "\n".join(lines)


def cmd_plan(args: argparse.Namespace) -> int:
    ollama_cli.check_runtime_flags(args)
    if args.runtime == "ollama":
        extra_env = options.by_field()["extra_env"].parse("--extra-env", args.extra_env or {})
        ollama = plan_ollama(ollama_cli.request_from_args(args, extra_env))
        print(
            json.dumps(ollama.to_dict(), indent=2)
            if args.format == "json"
            else ollama_cli.format_table(ollama)
        )
        return 0
    plan = plan_serving(request_from_args(args))
    if args.format == "json":
        print(json.dumps(plan.to_dict(), indent=2))  # carries `reasons` with or without --explain
    else:
        print(format_plan_table(plan))
        if args.explain:
            print()
            print(format_explain(plan))
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    request = request_from_args(args)
    out = Path(args.out)
    if args.sample_batch and args.target != "k8s":
        raise ValueError(
            "--sample-batch is for k8s: a systemd host runs a batch with `systemctl start gptoss-sample@NAME`"
        )
    if args.target != "k8s" and (args.set or args.namespace is not None):
        raise ValueError(f"--set and --namespace are for `render k8s`, not `render {args.target}`")
    if args.target != "systemd" and args.api_key_file is not None:
        raise ValueError(
            "--api-key-file is for `render systemd`: Kubernetes reads the key from a Secret "
            "(--set apiKeySecretName=NAME, created with kubectl)"
        )
    if args.target == "systemd":
        from targets.systemd import DEFAULT_LAYOUT, write_systemd
        from targets.systemd.sample import write_sample

        plan = plan_serving(replace(request, paths=DEFAULT_LAYOUT.serving_paths()))
        written = write_systemd(plan, out, api_key_file=args.api_key_file)
        written += write_sample(plan, out)
    elif args.target in ("prometheus-rules", "dashboard"):
        from targets.monitoring import write_monitoring

        written = write_monitoring(
            args.target,
            plan_serving(request),
            out,
            engine_job=args.engine_job,
            router_job=args.router_job,
            alert_overrides=key_values(args.alert, "--alert"),
        )
    else:
        from targets.kubernetes import default_settings, write_kubernetes

        namespace = args.namespace or "gptoss"
        settings = default_settings(namespace, **k8s_overrides(args.set))
        plan = plan_serving(request)
        written = write_kubernetes(plan, out, namespace=namespace, settings=settings)
        if args.sample_batch:
            from targets.kubernetes.sample import write_sample as write_sample_job

            written += write_sample_job(plan, out, settings, args.sample_batch)
    for path in written:
        print(path)
    return 0


def key_values(items: list[str], flag: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} {item!r} is not KEY=VALUE")
        pairs[key] = value
    return pairs


def cmd_sample(args: argparse.Namespace) -> int:
    from gptoss import sample

    return sample.run(plan_serving(request_from_args(args)), args)


def k8s_overrides(items: list[str]) -> dict[str, object]:
    """`--set key=value` pairs for the Kubernetes settings, typed like the Pulumi stack config keys."""
    from targets.kubernetes.config import ADAPTED_FIELDS, KEYS_BY_NAME, PLAN_KEYS, ConfigError

    values: dict[str, object] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        spec = KEYS_BY_NAME.get(key)
        if not sep or not key:  # the item is not echoed: it may be a secret pasted in the wrong place
            raise ConfigError(
                "--set takes KEY=VALUE with a key of Pulumi.yaml's config, e.g. cacheSizeGi=200"
            )
        if key in ("apiKey", "hfToken"):  # the value is not echoed
            raise ConfigError(
                f"--set {key}: a secret never goes on a command line (ps and shell history keep it): create "
                f"the Secret with kubectl and --set {key}SecretName=NAME"
            )
        if key == "namespace":
            raise ConfigError("--set namespace: `render k8s` has its own flag for it: use --namespace")
        if key in values:
            raise ConfigError(f"--set {key} is given twice: keep one")
        if spec is None:
            close = difflib.get_close_matches(key, list(KEYS_BY_NAME), n=1)
            hint = f"did you mean {close[0]}?" if close else "use a key of Pulumi.yaml's config"
            raise ConfigError(f"--set {key}: unknown key; {hint} (secrets come from existing Secrets)")
        if key in PLAN_KEYS:  # the plan comes from the flags; --set would be silently ignored
            by_field = options.by_field()
            fields = ADAPTED_FIELDS.get(key) or [o.field for o in options.OPTIONS if o.stack == key]
            flags = " and ".join(by_field[f].flags[0] for f in fields)
            raise ConfigError(f"--set {key} is part of the serving plan: use {flags}")
        values[key] = spec.read(raw)
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gptoss", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("plan", help="decide how vLLM (or Ollama) serves a model on given hardware")
    add_plan_arguments(p)
    ollama_cli.add_arguments(p)
    # Each runtime has its own port and bind address (vLLM 8000 on all addresses, Ollama 11434 on loopback).
    p.set_defaults(port=None, host=None)
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument(
        "--explain",
        action="store_true",
        help="say why each flag and variable is there and where that comes from (JSON always has `reasons`)",
    )
    p.set_defaults(func=cmd_plan)

    r = sub.add_parser(
        "render",
        help="write the plan as systemd units, Kubernetes YAML, Prometheus rules or a Grafana dashboard",
    )
    r.add_argument("target", choices=("systemd", "k8s", "prometheus-rules", "dashboard"))
    r.add_argument("--out", required=True, help="directory to write into")
    r.add_argument(
        "--api-key-file",
        default=None,
        help="systemd: a file holding the API key, copied into the 0600 env file",
    )
    r.add_argument("--namespace", default=None, help="k8s: namespace for the objects (default gptoss)")
    r.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="k8s: a Pulumi.yaml config key, e.g. apiKeySecretName=my-key or cacheStorageClass=efs",
    )
    r.add_argument(
        "--engine-job",
        default="gptoss-vllm",
        help="prometheus-rules, dashboard: the Prometheus job that scrapes the engines (default gptoss-vllm)",
    )
    r.add_argument(
        "--router-job",
        default="gptoss-router",
        help="prometheus-rules, dashboard: the Prometheus job that scrapes vllm-router (default gptoss-router)",
    )
    r.add_argument(
        "--alert",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="prometheus-rules: an alert threshold, e.g. waiting_requests=16 or engine_down_for=2m",
    )
    r.add_argument(
        "--sample-batch",
        metavar="NAME",
        help="k8s: also write the sampler ConfigMap and a Job sampling /models/sample/NAME.jsonl (gptoss sample)",
    )
    add_plan_arguments(r)
    r.set_defaults(func=cmd_render)

    sample_parser = sub.add_parser(
        "sample", help="sample a JSONL of conversations with the vLLM library, harmony in and out"
    )
    from gptoss.sample import add_arguments as add_sample_arguments

    add_sample_arguments(sample_parser)
    add_plan_arguments(sample_parser)
    sample_parser.set_defaults(func=cmd_sample)

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
    except OSError as err:  # a path the user gave that cannot be read or written
        where = f" {err.filename}" if err.filename else ""
        print(f"gptoss: cannot use{where}: {err.strerror or err}", file=sys.stderr)
        return EXIT_PLAN_ERROR


if __name__ == "__main__":
    sys.exit(main())
