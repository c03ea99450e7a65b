"""Which options extra words really set in vLLM's `vllm serve` parser.

Runs INSIDE the parser venv (scripts/vllm-parser-venv), like check_argv.py. The plan refuses extra args
that would set what it owns (serving/vllm_args.py); this is the oracle that test compares against.

stdin:  {"base": ["vllm", "serve", ...], "cases": [[word, ...], ...]}
stdout: one object per case, in order:
        {"error": str|null,        # the parser refused base + case
         "dests": [str],           # argparse dests whose action ran for the case's words (not the base's)
         "attention_keys": [str],  # attention_config keys the case set (backend, backend_per_kind)
         "compilation": {...}|null}  # the compilation_config JSON vLLM's parser built (before the config
                                     # class validates it: on this CPU-only venv it turns ROCm passes off)
Each action's __call__ is wrapped to record its dest, so a flag set to the value it already had (e.g.
--enable-auto-tool-choice twice) still counts as set.
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import logging
import os
import sys

os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")


class Rejected(Exception):
    pass


def build():
    from vllm.entrypoints.cli.serve import ServeSubcommand
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    class RaisingParser(FlexibleArgumentParser):
        def error(self, message):
            raise Rejected(message)

    top = RaisingParser(description="vLLM CLI")
    subparsers = top.add_subparsers(required=False, dest="subparser")
    serve = ServeSubcommand().subparser_init(subparsers)
    calls: list[str] = []
    raw_compilation: list[str] = []
    for action in serve._actions:
        if action.dest == "compilation_config" and not getattr(action.type, "_recording", False):
            original_type = action.type

            def recording_type(text, _original=original_type):
                raw_compilation.append(text)
                return _original(text)

            recording_type._recording = True
            action.type = recording_type
    patched: set[type] = set()
    for action in serve._actions:
        owner = next(c for c in type(action).__mro__ if "__call__" in c.__dict__)
        if owner in patched:
            continue
        patched.add(owner)
        original = owner.__call__

        def recording(self, parser, namespace, values, option_string=None, _original=original):
            calls.append(self.dest)
            return _original(self, parser, namespace, values, option_string)

        owner.__call__ = recording
    return top, calls, raw_compilation


def parse(top, calls, argv):
    calls.clear()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        args = top.parse_args(argv[1:])
    return args, list(calls)


def attention_keys(args) -> list[str]:
    config = getattr(args, "attention_config", None)
    if config is None:
        return []
    keys = []
    if getattr(config, "backend", None) is not None:
        keys.append("backend")
    if getattr(config, "backend_per_kind", None):
        keys.append("backend_per_kind")
    return keys


def main() -> int:
    logging.disable(logging.WARNING)
    request = json.load(sys.stdin)
    top, calls, raw_compilation = build()

    def compilation() -> dict | None:
        return json.loads(raw_compilation[-1]) if raw_compilation else None

    base = request["base"]
    raw_compilation.clear()
    base_args, base_calls = parse(top, calls, base)
    base_compilation = compilation()
    base_attention = set(attention_keys(base_args))
    results = []
    for case in request["cases"]:
        raw_compilation.clear()
        try:
            args, case_calls = parse(top, calls, [*base, *case])
        except (Rejected, SystemExit, Exception) as exc:  # argparse error, --help, or a type check
            results.append({"error": f"{type(exc).__name__}: {exc}"[:300], "dests": [], "attention_keys": []})
            continue
        extra = collections.Counter(case_calls) - collections.Counter(base_calls)
        results.append(
            {
                "error": None,
                "dests": sorted(extra),
                "attention_keys": sorted(set(attention_keys(args)) - base_attention),
                "compilation": compilation(),
            }
        )
    json.dump({"base_compilation": base_compilation, "results": results}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
