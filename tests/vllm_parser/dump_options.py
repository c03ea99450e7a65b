"""Print every option string of vLLM's `vllm serve` parser as JSON: {option: [dest, takes_value]}.

Runs INSIDE the parser venv (scripts/vllm-parser-venv). `uv run python -m devtools.vllm_options` turns the
output into serving/vllm_options.py, the snapshot the plan matches extra args against the way vLLM's own
parser does (exact names, unique prefixes); tests/unit/test_argv_vllm_parser.py checks the snapshot is
still this parser's.
"""

from __future__ import annotations

import json
import logging
import os
import sys

os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")


def serve_parser():
    from vllm.entrypoints.cli.serve import ServeSubcommand
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    top = FlexibleArgumentParser(description="vLLM CLI")
    subparsers = top.add_subparsers(required=False, dest="subparser")
    return ServeSubcommand().subparser_init(subparsers)


def main() -> int:
    logging.disable(logging.WARNING)
    parser = serve_parser()
    options = {
        option: [action.dest, action.nargs != 0]
        for option, action in sorted(parser._option_string_actions.items())
    }
    json.dump(options, sys.stdout, indent=0, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
