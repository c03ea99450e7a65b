"""`gptoss smoke` (and `python -m smoke`): a thin CLI over the library.

Exit codes: 0 every check passed (a check that could not run for a stated reason is fine unless it was
named in --checks), 1 a check failed, 2 bad usage (unknown check, unreadable cases file, ...).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from smoke.cases import DEFAULT_CASES_PATH, CaseFileError, load_cases, select_cases
from smoke.checks import CHECKS, GROUPS, SelectionError, select
from smoke.context import LoadOptions, SmokeOptions
from smoke.endpoint import PROFILES, Endpoint, Redactor
from smoke.keyfile import KeyFileError, read_api_key_file
from smoke.limits import DEFAULT_MAX_RESPONSE_BYTES
from smoke.report import render_json, render_junit, render_table
from smoke.result import CheckResult
from smoke.runner import SmokeReport, run_smoke

# Seconds: a day is already far past any sensible wait, and larger values overflow socket timeouts.
MAX_SECONDS = 86_400.0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number more than 0, got {text!r}")
    return value


def _seconds(text: str) -> float:
    value = _positive_float(text)
    if value > MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_SECONDS:g} seconds (a day), got {text!r}")
    return value


def _byte_count(text: str) -> int:
    value = _positive_int(text)
    if value < 1024:
        raise argparse.ArgumentTypeError(f"must be at least 1024 bytes, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    ep = parser.add_argument_group("endpoint")
    ep.add_argument(
        "--base-url",
        action="append",
        dest="base_urls",
        metavar="URL",
        help="OpenAI base URL ending in /v1; repeat once per replica (default: the profile's local URL)",
    )
    ep.add_argument("--model", help="the served model name, e.g. openai/gpt-oss-20b or gpt-oss:20b (Ollama)")
    ep.add_argument(
        "--profile", choices=sorted(PROFILES), default="vllm", help="server family (default: vllm)"
    )
    ep.add_argument(
        "--api-key-env",
        default="OPENAI_API_KEY",
        metavar="NAME",
        help="environment variable holding the API key (default: OPENAI_API_KEY); the key is never printed",
    )
    ep.add_argument(
        "--api-key-file",
        type=Path,
        metavar="FILE",
        help="read the API key from FILE instead (0600 or stricter, as ssh wants its keys); never printed",
    )
    ep.add_argument(
        "--timeout",
        type=_seconds,
        default=120.0,
        metavar="S",
        help="total per request, however the server paces its bytes (default 120)",
    )
    ep.add_argument("--connect-timeout", type=_seconds, default=5.0, metavar="S", help="default 5")
    ep.add_argument(
        "--ready-timeout",
        type=_seconds,
        default=600.0,
        metavar="S",
        help="readiness deadline (default 600)",
    )
    ep.add_argument(
        "--check-timeout",
        type=_seconds,
        default=600.0,
        metavar="S",
        help="total per check other than readiness, all its requests together (default 600)",
    )
    ep.add_argument(
        "--max-response-bytes",
        type=_byte_count,
        default=DEFAULT_MAX_RESPONSE_BYTES,
        metavar="N",
        help=f"stop reading a response past N bytes (default {DEFAULT_MAX_RESPONSE_BYTES}, 8 MiB)",
    )

    sel = parser.add_argument_group("what to check")
    sel.add_argument(
        "--checks",
        action="append",
        metavar="NAMES",
        help=f"comma-separated checks or groups ({', '.join(GROUPS)}); default: all",
    )
    sel.add_argument("--skip", action="append", metavar="NAMES", help="checks or groups to leave out")
    sel.add_argument("--list-checks", action="store_true", help="list the checks and groups, then exit")
    sel.add_argument(
        "--max-tokens",
        type=_positive_int,
        default=512,
        metavar="N",
        help="answer budget per request (default 512)",
    )
    sel.add_argument(
        "--reasoning",
        choices=("required", "optional"),
        default="required",
        help="gpt-oss always sends reasoning text; 'optional' accepts a server that hides it",
    )

    tools = parser.add_argument_group("tool calling")
    tools.add_argument(
        "--tool-cases", type=Path, default=DEFAULT_CASES_PATH, metavar="FILE", help="JSONL tool cases file"
    )
    tools.add_argument(
        "--tool-case", action="append", dest="tool_case_ids", metavar="ID", help="run only these case ids"
    )
    tools.add_argument(
        "--round-trip-case", metavar="ID", help="case for the round trips and streamed call (default: first)"
    )
    tools.add_argument("--strict", action="store_true", help="arguments must equal the expected ones exactly")
    tools.add_argument(
        "--runs",
        type=_positive_int,
        default=1,
        metavar="K",
        help="runs per case, for pass@k and pass^k (k=runs)",
    )
    tools.add_argument(
        "--pass-criterion",
        choices=("pass^k", "pass@k"),
        default="pass^k",
        help="a case passes when all runs pass (pass^k, default) or any run does (pass@k)",
    )

    load = parser.add_argument_group("load probe")
    load.add_argument(
        "--load-concurrency", type=_positive_int, default=4, metavar="N", help="streams at once (4)"
    )
    load.add_argument(
        "--load-requests", type=_positive_int, default=8, metavar="N", help="requests in all (8)"
    )
    load.add_argument(
        "--load-max-tokens", type=_positive_int, default=64, metavar="N", help="per request (64)"
    )
    load.add_argument(
        "--load-prompt-words", type=_positive_int, default=32, metavar="N", help="prompt size (32)"
    )
    load.add_argument("--load-ignore-eos", action="store_true", help="vLLM only: generate exactly max tokens")
    load.add_argument(
        "--load-max-ttft-ms", type=_positive_float, metavar="MS", help="fail when median TTFT is above this"
    )
    load.add_argument(
        "--load-min-tps", type=_positive_float, metavar="TPS", help="fail when output tokens/s is below this"
    )
    load.add_argument(
        "--load-max-error-rate", type=float, default=0.0, metavar="R", help="allowed failed share (default 0)"
    )

    out = parser.add_argument_group("reports")
    out.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="FILE",
        help="JSON report to FILE, or to stdout instead of the table",
    )
    out.add_argument("--junit", type=Path, metavar="FILE", help="JUnit XML report for CI systems")
    out.add_argument("--no-color", action="store_true", help="no colour even on a terminal")
    out.add_argument("-v", "--verbose", action="store_true", help="every sub-check and full evidence")


def _list_checks() -> str:
    lines = [f"{spec.name:<22} {spec.group:<10} {spec.description}" for spec in CHECKS.values()]
    lines.append("")
    lines += [f"group {name:<16} {', '.join(names)}" for name, names in GROUPS.items()]
    lines.append("")
    lines += [f"profile {p.name:<14} {p.example_base_url}  {p.notes}" for p in PROFILES.values()]
    return "\n".join(lines)


def build_options(args: argparse.Namespace) -> SmokeOptions:
    if not 0.0 <= args.load_max_error_rate <= 1.0:
        raise ValueError(
            f"--load-max-error-rate is a share of requests, 0..1; got {args.load_max_error_rate}"
        )
    cases = select_cases(load_cases(args.tool_cases), args.tool_case_ids or [])
    options = SmokeOptions(
        max_tokens=args.max_tokens,
        reasoning=args.reasoning,
        tool_cases=tuple(cases),
        round_trip_case=args.round_trip_case,
        strict=args.strict,
        runs=args.runs,
        pass_criterion=args.pass_criterion,
        ready_timeout_s=args.ready_timeout,
        check_timeout_s=args.check_timeout,
        max_response_bytes=args.max_response_bytes,
        load=LoadOptions(
            concurrency=args.load_concurrency,
            requests=args.load_requests,
            max_tokens=args.load_max_tokens,
            prompt_words=args.load_prompt_words,
            ignore_eos=args.load_ignore_eos,
            max_ttft_p50_ms=args.load_max_ttft_ms,
            min_output_tokens_per_s=args.load_min_tps,
            max_error_rate=args.load_max_error_rate,
        ),
    )
    options.round_trip()  # fails early, with the known ids, when --round-trip-case names no case
    return options


def build_endpoints(args: argparse.Namespace) -> list[Endpoint]:
    if not args.model:
        raise ValueError("--model is required: the served model name, e.g. --model openai/gpt-oss-20b")
    urls = args.base_urls or [PROFILES[args.profile].example_base_url]
    api_key = read_api_key_file(args.api_key_file) if args.api_key_file else None
    return [
        Endpoint.from_env(
            url,
            args.model,
            api_key_env=args.api_key_env,
            profile=args.profile,
            request_timeout_s=args.timeout,
            connect_timeout_s=args.connect_timeout,
            api_key=api_key,
        )
        for url in urls
    ]


def check_report_path(path: str | Path | None, flag: str) -> None:
    """Refuse, before any check runs, a report path that can not be written."""
    if path is None or str(path) == "-":
        return
    target = Path(path)
    parent = target.parent
    if target.is_dir():
        raise ValueError(f"{flag} {target} is a directory; name a file to write the report to")
    if not parent.is_dir():
        raise ValueError(f"{flag} {target}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise ValueError(f"{flag} {target} is not writable by this user")


def _use_colour(args: argparse.Namespace) -> bool:
    return not args.no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()


def _progress(result: CheckResult) -> None:
    """One line per finished check on a terminal's stderr, so a long readiness wait is not silence."""
    print(
        f"  {result.name:<22} {result.status:<13} {result.timings.get('total_s', 0.0):6.2f}s", file=sys.stderr
    )


def write_reports(report: SmokeReport, args: argparse.Namespace, redact: Redactor) -> None:
    """Print the table (or JSON) and write the report files; an OSError names the file it failed on."""
    if args.json == "-":
        print(render_json(report, redact))
    else:
        print(render_table(report, redact, colour=_use_colour(args), verbose=args.verbose))
        if args.json:
            _write(Path(args.json), render_json(report, redact) + "\n", "--json")
    if args.junit:
        _write(args.junit, render_junit(report, redact), "--junit")


def _write(path: Path, text: str, flag: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ReportWriteError(f"{flag} {path}: cannot write the report: {exc.strerror}") from None


class ReportWriteError(OSError):
    pass


def run(
    args: argparse.Namespace,
    *,
    client: httpx.Client | None = None,
    async_client_factory: Callable[[], httpx.AsyncClient] | None = None,
) -> int:
    """Run `gptoss smoke` for parsed `args`; the clients are injectable (tests use a MockTransport)."""
    if args.list_checks:
        print(_list_checks())
        return 0
    try:
        names, explicit = select(args.checks, args.skip)
        options = build_options(args)
        endpoints = build_endpoints(args)
        check_report_path(args.json, "--json")
        check_report_path(args.junit, "--junit")
    except (SelectionError, CaseFileError, KeyFileError, ValueError) as exc:
        print(f"gptoss smoke: error: {exc}", file=sys.stderr)
        return 2
    redact = Redactor.for_endpoints(endpoints)
    progress = _progress if sys.stderr.isatty() else None
    if progress is not None:
        print(
            f"gptoss smoke: {len(names)} checks x {len(endpoints)} endpoint(s); waiting up to "
            f"{options.ready_timeout_s:g}s for readiness...",
            file=sys.stderr,
        )
    report = run_smoke(
        endpoints,
        options,
        names,
        explicit=explicit,
        client=client,
        async_client_factory=async_client_factory,
        on_result=progress,
    )
    try:
        write_reports(report, args, redact)
    except ReportWriteError as exc:
        print(f"gptoss smoke: error: {exc}", file=sys.stderr)
        return 2
    return report.exit_code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gptoss smoke",
        description="Smoke and conformance checks for an OpenAI-compatible gpt-oss endpoint (vLLM or Ollama).",
    )
    add_arguments(parser)
    return parser


def main(argv: list[str] | None = None, **clients: Any) -> int:
    return run(build_parser().parse_args(argv), **clients)
