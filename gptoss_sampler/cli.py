"""Run one sampling batch with explicit vLLM engine arguments (what the systemd unit and the Job run).

    python -m gptoss_sampler --input in.jsonl --output out.jsonl -- --model DIR --max-model-len 1024 ...
    python -m gptoss_sampler --batch-dir /var/lib/gptoss/sample --batch NAME -- <engine arguments>

The engine arguments after `--` come from the serving plan (`gptoss sample` computes them; the rendered
unit and Job carry them). `--batch NAME` reads DIR/NAME.jsonl and writes DIR/NAME.results.jsonl.
Exit 0: every conversation sampled and parsed; 1: the results file holds rows with an error;
2: bad input, bad engine arguments, or no vLLM here (one line on stderr, nothing written).
"""

from __future__ import annotations

import argparse
import datetime
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from .batch import DEFAULT_TEMPERATURE, DEFAULT_TOP_P, Defaults, dry_run, run_batch
from .conversations import REASONING_EFFORTS, InputError, check_defaults, load
from .engine import EngineArgsError, EngineUnavailable

EXIT_ROW_ERRORS = 1
EXIT_USAGE = 2
# A batch name becomes a file name: no path separators, no leading dot.
BATCH_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    """The batch-wide sampling settings; a conversation's own fields win. Shared with `gptoss sample`."""
    g = parser.add_argument_group("sampling (a conversation's own fields win)")
    g.add_argument("--reasoning-effort", choices=REASONING_EFFORTS, default="medium")
    g.add_argument(
        "--start-date", default=None, help="harmony's current date, YYYY-MM-DD (default: today, UTC)"
    )
    g.add_argument("--max-tokens", type=int, default=None, help="default: what the context leaves")
    g.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE)
    g.add_argument("--top-p", type=float, default=DEFAULT_TOP_P)
    g.add_argument("--seed", type=int, default=None)
    g.add_argument(
        "--dry-run",
        action="store_true",
        help="validate the input and render every prompt with harmony; start no engine, write nothing",
    )


def defaults_from_args(args: argparse.Namespace) -> Defaults:
    start_date = args.start_date or datetime.datetime.now(datetime.UTC).date().isoformat()
    check_defaults(args.reasoning_effort, start_date)
    problems = []
    if args.max_tokens is not None and args.max_tokens < 1:
        problems.append(f"--max-tokens must be 1 or more, not {args.max_tokens}")
    if not 0 <= args.temperature <= 2:
        problems.append(f"--temperature must be from 0 to 2, not {args.temperature:g}")
    if not 0 < args.top_p <= 1:
        problems.append(f"--top-p must be above 0 and at most 1, not {args.top_p:g}")
    if problems:
        raise InputError(problems)
    return Defaults(
        reasoning_effort=args.reasoning_effort,
        start_date=start_date,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
    )


def execute(
    input_path: Path,
    output: Path,
    engine_argv: Sequence[str],
    args: argparse.Namespace,
    vllm_package: str = "vllm",
) -> int:
    """Validate, then dry-run or run the batch; every expected failure is one line and exit 2.
    `vllm_package` is the plan's pin, named when vLLM is missing."""
    try:
        if output.resolve() == input_path.resolve():
            raise InputError([f"--output {output} is the input file: write the results elsewhere"])
        if not args.dry_run and not output.parent.is_dir():
            raise InputError([f"--output {output}: directory {output.parent} does not exist"])
        defaults = defaults_from_args(args)
        conversations = load(input_path)
        if args.dry_run:
            print(dry_run(conversations, engine_argv, defaults))
            return 0
        summary = run_batch(conversations, engine_argv, defaults, output, vllm_package)
    except (InputError, EngineArgsError, EngineUnavailable) as exc:
        print(f"gptoss sample: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"gptoss sample: {summary.line()}", file=sys.stderr)
    return EXIT_ROW_ERRORS if summary.errors else 0


def split_engine_argv(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """(our arguments, the engine arguments after the first `--`)."""
    argv = list(argv)
    if "--" not in argv:
        return argv, []
    cut = argv.index("--")
    return argv[:cut], argv[cut + 1 :]


def main(argv: Sequence[str] | None = None) -> int:
    ours, engine_argv = split_engine_argv(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="python -m gptoss_sampler", description=__doc__.split("\n\n")[0], epilog="-- ENGINE ARGUMENTS"
    )
    parser.add_argument("--input", type=Path, help="JSONL of conversations")
    parser.add_argument("--output", type=Path, help="JSONL of results (replaced atomically)")
    parser.add_argument("--batch-dir", type=Path, help="with --batch: where NAME.jsonl is")
    parser.add_argument("--batch", help="NAME: read BATCH_DIR/NAME.jsonl, write BATCH_DIR/NAME.results.jsonl")
    add_sampling_arguments(parser)
    args = parser.parse_args(ours)
    if args.batch is not None or args.batch_dir is not None:
        if args.input or args.output or args.batch is None or args.batch_dir is None:
            parser.error("use --batch-dir with --batch, or --input with --output")
        if not BATCH_NAME.match(args.batch):
            print(
                f"gptoss sample: batch name {args.batch!r} must be letters, digits and _ . : - "
                "(starting with a letter or digit)",
                file=sys.stderr,
            )
            return EXIT_USAGE
        input_path = args.batch_dir / f"{args.batch}.jsonl"
        output = args.batch_dir / f"{args.batch}.results.jsonl"
    elif args.input is None or args.output is None:
        parser.error("--input and --output are required (or --batch-dir with --batch)")
    else:
        input_path, output = args.input, args.output
    if not engine_argv:
        parser.error("engine arguments are missing: add `-- --model SOURCE ...` (gptoss sample makes them)")
    return execute(input_path, output, engine_argv, args)
