"""Check `vllm serve` command lines with the argument parser of the installed vLLM.

Runs INSIDE the parser venv (`scripts/vllm-parser-venv`), never in the project env: it imports vllm.

stdin:  a JSON list; each item is an argv list starting with "vllm", "serve", or an object
        {"argv": [...], "env": {...}} whose env is checked as well.
stdout: a JSON list, one {"ok": bool, "error": str|null, "warnings": [str]} per item, in order.

Everything is checked in one process because importing vLLM takes seconds. A check fails when vLLM
itself would refuse the command line before loading weights:
- the parser rejects it (unknown flag, bad choice, bad value type, a malformed JSON config);
- `validate_parsed_serve_args` raises (what `vllm serve` runs right after parsing);
- `--tool-call-parser` or `--reasoning-parser` names no registered parser (vLLM checks this when the
  API server starts, after the model is loaded; checked here so a typo fails before a 60 GB download);
- `--attention-backend`, `--kv-cache-dtype`, `--block-size`, `--gpu-memory-utilization`,
  `--stream-interval`, `--max-num-batched-tokens`, `-tp` ... hold a value the engine's config classes
  would refuse (argparse accepts any string/int for those; vLLM only rejects them while building the
  engine config, after the server has started);
- an environment variable starting with VLLM_ is unknown to this vLLM (vLLM only logs a warning and
  ignores it, so a stale recipe variable silently does nothing), or holds a value outside its choices;
- `--speculative-config` names a field SpeculativeConfig does not have, holds a value its pydantic field
  refuses (an unknown method, num_speculative_tokens < 1, ...), asks for a draft tensor-parallel size
  vLLM refuses for the target's TP, or uses EAGLE3 with a target vLLM cannot give hidden states to
  (GptOssForCausalLM, the one architecture this bundle serves, must declare SupportsEagle3). vLLM itself checks these only
  when it builds the engine, after downloading both checkpoints.
Deprecated flags do not fail; they come back in "warnings".
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys

# Before importing vllm: pick the CPU platform so nothing probes for CUDA/ROCm drivers.
os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")


class ArgvRejected(Exception):
    """The parser refused the command line (argparse would have printed usage and exited 2)."""


def _build_checker():
    # Imports are here so a broken venv gives one clear traceback, not a half-built checker.
    from vllm import envs
    from vllm.config.attention import AttentionConfig
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.entrypoints.cli.serve import ServeSubcommand
    from vllm.entrypoints.common.cli_args import validate_parsed_serve_args
    from vllm.reasoning import ReasoningParserManager
    from vllm.tool_parsers import ToolParserManager
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    class RaisingParser(FlexibleArgumentParser):
        """vLLM's parser, but error() raises instead of printing usage and exiting."""

        def error(self, message):
            raise ArgvRejected(message)

    # Build the parser exactly as `vllm serve` does (vllm/entrypoints/cli/main.py): a top-level parser
    # with a "serve" subparser made by ServeSubcommand.subparser_init -> make_arg_parser. Subparsers are
    # created with the top-level parser's class, so they raise too.
    top = RaisingParser(description="vLLM CLI")
    subparsers = top.add_subparsers(required=False, dest="subparser")
    serve_parser = ServeSubcommand().subparser_init(subparsers)

    tool_parsers = set(ToolParserManager.list_registered())
    reasoning_parsers = set(ReasoningParserManager.list_registered())
    deprecated_actions = list(getattr(serve_parser, "_deprecated", ()))

    def check_env(env: dict[str, str]) -> list[str]:
        problems = []
        for name, value in sorted(env.items()):
            if not name.startswith("VLLM_"):
                continue
            if name not in envs.environment_variables:
                problems.append(f"environment variable {name} is unknown to vLLM {_vllm_version()}")
                continue
            # Evaluate vLLM's own getter with this value: env_with_choices() raises on a bad choice.
            saved = os.environ.get(name)
            os.environ[name] = str(value)
            try:
                envs.environment_variables[name]()
            except Exception as exc:
                problems.append(f"environment variable {name}={value!r}: {exc}")
            finally:
                if saved is None:
                    del os.environ[name]
                else:
                    os.environ[name] = saved
        return problems

    def check_one(argv: list[str], env: dict[str, str]) -> dict:
        if not isinstance(argv, list) or argv[:2] != ["vllm", "serve"] or len(argv) < 3:
            return _result(False, f"argv must start with 'vllm', 'serve', <model>; got {argv[:3]!r}")
        if not all(isinstance(a, str) for a in argv):
            return _result(False, "every argv element must be a string")
        errors: list[str] = []
        warnings: list[str] = []
        try:
            # stdout carries our JSON answer: nothing vLLM prints while parsing may reach it.
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                args = top.parse_args(argv[1:])
        except ArgvRejected as exc:
            return _result(False, f"vllm serve parser: {exc}")
        except SystemExit as exc:  # --help/--version or a parser path that exits on its own
            return _result(False, f"vllm serve parser exited ({exc.code})")
        except Exception as exc:
            return _result(False, f"vllm serve parser: {type(exc).__name__}: {exc}")

        if args.subparser != "serve":
            errors.append(f"parsed as subcommand {args.subparser!r}, not 'serve'")
        if args.model_tag != argv[2]:
            errors.append(f"model positional parsed as {args.model_tag!r}, expected {argv[2]!r}")

        try:
            validate_parsed_serve_args(args)
        except Exception as exc:
            errors.append(f"validate_parsed_serve_args: {exc}")

        if args.tool_call_parser is not None and args.tool_call_parser not in tool_parsers:
            errors.append(f"--tool-call-parser {args.tool_call_parser!r} is not a registered tool parser")
        reasoning = getattr(args, "reasoning_parser", "") or ""
        if reasoning and reasoning not in reasoning_parsers:
            errors.append(f"--reasoning-parser {reasoning!r} is not a registered reasoning parser")

        backend = getattr(args, "attention_backend", None)
        if backend is not None:
            try:
                AttentionConfig.validate_backend_before(backend)
            except Exception as exc:
                errors.append(f"--attention-backend {backend!r}: {exc}")

        # argparse takes any string/int for these; the pydantic config classes the engine builds next
        # hold the real limits (known KV dtypes, block size > 0, memory fraction in (0, 1],
        # stream interval >= 1, batched tokens vs. model length, TP >= 1). Build them from the args.
        errors.extend(_config_errors(args))
        errors.extend(_speculative_errors(args))

        # The engine-args dataclass is what `vllm serve` builds next; its __post_init__ checks
        # combinations (e.g. the MoE backend literal) without touching a model or a device.
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                AsyncEngineArgs.from_cli_args(args)
        except Exception as exc:
            errors.append(f"AsyncEngineArgs: {type(exc).__name__}: {exc}")

        for action in deprecated_actions:
            if getattr(args, action.dest, action.default) != action.default:
                warnings.append(f"deprecated option {'/'.join(action.option_strings)}")

        errors.extend(check_env(env))
        return _result(not errors, "; ".join(errors) or None, warnings)

    return check_one


def _config_errors(args) -> list[str]:
    from vllm.config.cache import CacheConfig
    from vllm.config.parallel import ParallelConfig
    from vllm.config.scheduler import SchedulerConfig

    def given(**fields):
        # Only what the command line set, so the classes' own defaults apply to the rest.
        return {k: v for k, v in fields.items() if v is not None}

    errors = []
    builders = {
        "cache": lambda: CacheConfig(
            **given(
                block_size=args.block_size,
                gpu_memory_utilization=args.gpu_memory_utilization,
                cache_dtype=args.kv_cache_dtype,
                enable_prefix_caching=args.enable_prefix_caching,
            )
        ),
        "scheduler": lambda: SchedulerConfig(
            # "auto"/-1 lengths are resolved from the model later; check against the real maximum then.
            max_model_len=args.max_model_len
            if isinstance(args.max_model_len, int) and args.max_model_len > 0
            else 131072,
            is_encoder_decoder=False,
            **given(
                max_num_batched_tokens=args.max_num_batched_tokens,
                max_num_seqs=args.max_num_seqs,
                stream_interval=args.stream_interval,
                async_scheduling=args.async_scheduling,
                enable_chunked_prefill=args.enable_chunked_prefill,
            ),
        ),
        "parallel": lambda: ParallelConfig(
            **given(
                tensor_parallel_size=args.tensor_parallel_size,
                pipeline_parallel_size=args.pipeline_parallel_size,
                data_parallel_size=args.data_parallel_size,
                disable_custom_all_reduce=args.disable_custom_all_reduce,
            )
        ),
    }
    for name, build in builders.items():
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                build()
        except Exception as exc:
            errors.append(f"{name} config: {' '.join(str(exc).split())}")
    return errors


def _speculative_errors(args) -> list[str]:
    spec = getattr(args, "speculative_config", None)
    if spec is None:
        return []
    if not isinstance(spec, dict):
        return [f"--speculative-config must be a JSON object, got {type(spec).__name__}"]
    from typing import Annotated

    from pydantic import TypeAdapter, ValidationError
    from vllm.config.parallel import ParallelConfig
    from vllm.config.speculative import SpeculativeConfig

    fields = SpeculativeConfig.__pydantic_fields__
    errors = []
    for key, value in spec.items():
        name = key.replace("-", "_")  # vLLM normalises keys the same way (create_speculative_config)
        if name not in fields:
            errors.append(f"--speculative-config: SpeculativeConfig has no field {key!r}")
            continue
        info = fields[name]
        kind = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        try:
            TypeAdapter(kind).validate_python(value)
        except ValidationError as exc:
            errors.append(f"--speculative-config {key}={value!r}: {' '.join(str(exc).split())}")
    draft_tp = spec.get("draft_tensor_parallel_size")
    if isinstance(draft_tp, int):
        try:
            SpeculativeConfig._verify_and_get_draft_tp(
                ParallelConfig(tensor_parallel_size=args.tensor_parallel_size or 1), draft_tp
            )
        except ValueError as exc:
            errors.append(f"--speculative-config: {exc}")
    if spec.get("method") == "eagle3" and "SupportsEagle3" not in _gpt_oss_interfaces():
        errors.append("--speculative-config: this vLLM's GptOssForCausalLM does not implement SupportsEagle3")
    return errors


def _gpt_oss_interfaces() -> set[str]:
    """The base classes GptOssForCausalLM declares, read from the source: importing the model module
    needs packages (einops, ...) this parser-only venv leaves out."""
    import ast
    import importlib.util

    origin = importlib.util.find_spec("vllm.model_executor.models.gpt_oss").origin
    with open(origin, encoding="utf-8") as source:
        tree = ast.parse(source.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "GptOssForCausalLM":
            return {ast.unparse(base) for base in node.bases}
    return set()


def _vllm_version() -> str:
    import vllm

    return getattr(vllm, "__version__", "?")


def _result(ok: bool, error: str | None, warnings: list[str] | None = None) -> dict:
    return {"ok": ok, "error": error, "warnings": warnings or []}


def main() -> int:
    logging.disable(logging.WARNING)  # vLLM's own log lines would interleave with our JSON otherwise
    try:
        items = json.load(sys.stdin)
    except json.JSONDecodeError as exc:
        print(f"check_argv: stdin is not JSON: {exc}", file=sys.stderr)
        return 2
    if not isinstance(items, list):
        print("check_argv: stdin must be a JSON list of argv lists", file=sys.stderr)
        return 2
    check_one = _build_checker()
    results = []
    for item in items:
        if isinstance(item, dict):
            results.append(check_one(item.get("argv"), dict(item.get("env") or {})))
        else:
            results.append(check_one(item, {}))
    json.dump(results, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
