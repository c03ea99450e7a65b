"""`gptoss plan --runtime ollama`: the Ollama plan's flags, request and table (serving/ollama.py decides)."""

from __future__ import annotations

import argparse

from serving import PlanError
from serving.ollama import DEFAULT_HOST, DEFAULT_PORT, OllamaPlan, OllamaRequest
from serving.plan import resolve_accelerator
from targets.systemd.ollama import OLLAMA_LAYOUT

RUNTIMES = ("vllm", "ollama")

# vLLM flags that mean nothing to Ollama, with what to use instead (None: no counterpart).
_VLLM_ONLY: dict[str, tuple[str, object, str | None]] = {
    "hosts": ("--hosts", 1, None),
    "goal": ("--goal", "balanced", "--num-parallel"),
    "tensor_parallel_size": ("--tensor-parallel-size", None, None),
    "max_model_len": ("--max-model-len", None, "--context-length"),
    "gpu_memory_utilization": ("--gpu-memory-utilization", None, None),
    "served_model_name": ("--served-model-name", None, None),
    "model_source": ("--model-source", None, None),
    "extra_args": ("--extra-arg", None, None),
}
_OLLAMA_ONLY = {
    "context_length": "--context-length",
    "num_parallel": "--num-parallel",
    "host_memory_gib": "--host-memory-gib",
    "keep_alive": "--keep-alive",
    "models_dir": "--models-dir",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="vllm",
        help="vllm (GPU servers, the default) or ollama (workstations, PCs and Macs)",
    )
    g = parser.add_argument_group("Ollama plan (--runtime ollama)")
    g.add_argument("--context-length", type=int, default=None, help="pin OLLAMA_CONTEXT_LENGTH")
    g.add_argument("--num-parallel", type=int, default=None, help="pin OLLAMA_NUM_PARALLEL")
    g.add_argument(
        "--host-memory-gib",
        type=float,
        default=None,
        help="RAM of a machine with discrete GPUs: checks that offloaded layers fit",
    )
    g.add_argument("--keep-alive", default=None, help="pin OLLAMA_KEEP_ALIVE (e.g. 30m, -1)")
    g.add_argument(
        "--models-dir",
        default=None,
        help=f"OLLAMA_MODELS (default: {OLLAMA_LAYOUT.models_dir} on Linux machines, Ollama's own on a Mac)",
    )


def check_runtime_flags(args: argparse.Namespace) -> None:
    """Refuse flags of the other runtime, with the one to use instead."""
    if args.runtime == "ollama":
        for attr, (flag, default, instead) in _VLLM_ONLY.items():
            if getattr(args, attr) != default:
                hint = f": use {instead}" if instead else ""
                raise PlanError(f"{flag} is a vLLM option, not an Ollama one{hint}")
    else:
        for attr, flag in _OLLAMA_ONLY.items():
            if getattr(args, attr) is not None:
                raise PlanError(f"{flag} is an Ollama option: add --runtime ollama")


def request_from_args(args: argparse.Namespace, extra_env: dict[str, str]) -> OllamaRequest:
    models_dir = args.models_dir
    if models_dir is None and resolve_accelerator(args.accelerator).vendor != "apple":
        models_dir = OLLAMA_LAYOUT.models_dir
    return OllamaRequest(
        model=args.model,
        accelerator=args.accelerator,
        gpus=args.gpus_per_host,
        host_memory_gib=args.host_memory_gib,
        context_length=args.context_length,
        num_parallel=args.num_parallel,
        keep_alive=args.keep_alive,
        host=DEFAULT_HOST if args.host is None else args.host,
        port=DEFAULT_PORT if args.port is None else args.port,
        models_dir=models_dir,
        extra_env=extra_env,
    )


def format_table(plan: OllamaPlan) -> str:
    m = plan.memory
    rows = [
        ("runtime", f"Ollama {plan.version}"),
        ("model", f"{plan.model.key} as {plan.tag}"),
        ("machine", f"{plan.accelerator.name} x {plan.request.gpus}"),
        (
            "placement",
            {"gpu": "all on the GPU", "gpu+cpu": "GPU and CPU (offload)", "cpu": "CPU only"}[plan.placement],
        ),
        ("context", f"{plan.context_length} tokens x {plan.num_parallel} parallel"),
        ("memory", f"{m.total_gib} GiB needed, {m.gpu_share:.0%} on the GPU"),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
    lines += ["", "memory math:", *(f"  {line}" for line in m.math)]
    lines += ["environment:", *(f"  {k}={v}" for k, v in plan.env.items())]
    lines.append("then:")
    lines.append(f"  ollama pull {plan.tag}")
    lines += [f"warning: {w}" for w in plan.warnings]
    lines += [f"note: {n}" for n in plan.notes]
    return "\n".join(lines)
