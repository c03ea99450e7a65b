"""Which `vllm serve` options an extra arg sets, read the way vLLM's own parser reads it.

vLLM's FlexibleArgumentParser (vllm/utils/argparse_utils.py) rewrites the command line before argparse
sees it, and argparse then accepts more spellings than the option's name:
- `--api_key` is `--api-key` (underscores become dashes before the first `.`);
- `--api-key=K` and `--api-k K` (any unique prefix: argparse's allow_abbrev);
- `-tp 2`, `-t 2` (a unique prefix of a short option), and on Python 3.12+ `-t=2`;
- `--no-enable-auto-tool-choice`, `--disable-auto-tool-choice` (the negative forms of a boolean);
- `-ac.backend=X`, `--attention-c.backend X` (a dotted key of a JSON option, merged into one JSON value)
  and `--attention-config '{"backend": "X"}'` (the whole JSON value);
- `-O3`, `-Odecode` (the optimization level), and `--config FILE` (a YAML file whose keys become options).

`option_uses` resolves each word against SERVE_OPTIONS (the pinned vLLM's option strings,
serving/vllm_options.py) with those rules, taking the union of Python 3.11's and 3.12+'s argparse so a
spelling either would read as an option counts. tests/unit/test_argv_vllm_parser.py proves the result
against vLLM's real parser: every spelling refused here sets the option there, and every spelling that
sets an owned option there is refused here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from serving.vllm_options import SERVE_OPTIONS

# The options a plan decides, by argparse dest, and what to set instead.
OWNED_OPTIONS: dict[str, str] = {
    "model": "the model and model source",
    "served_model_name": "served_model_name",
    "host": "host (the bind address)",
    "port": "port",
    "tensor_parallel_size": "tensor_parallel_size",
    "max_model_len": "max_model_len",
    "gpu_memory_utilization": "gpu_memory_utilization",
    "tool_call_parser": "the plan (gpt-oss needs `openai`)",
    "enable_auto_tool_choice": "the plan (always on)",
    "reasoning_parser": "the plan (gpt-oss needs `openai_gptoss`)",
    "api_key": "the VLLM_API_KEY environment variable from a 0600 env file or a Secret (never argv)",
    "kv_cache_dtype": "the plan (fp8 on Blackwell, auto elsewhere)",
    "attention_backend": "the plan (per GPU architecture)",
    "data_parallel_size": "the plan's engine layout (one engine per TP group)",
    # The memory math counts these: set through the plan so the budget and the engine agree.
    "max_num_batched_tokens": "the plan (the recipe's per GPU, 1024 for gpt-oss-120b on one H100)",
    "max_num_seqs": "max_num_seqs",
    "speculative_config": "speculative (the recipe's EAGLE3 draft, counted in the memory math)",
    # A YAML file on the host can set any option above out of this check's sight.
    "config": "extra args, one option at a time (a --config file could set plan-owned options unseen)",
}
# Keys of JSON options that set a plan-owned option another way.
OWNED_KEYS: dict[str, dict[str, str]] = {
    "attention_config": {
        "backend": "the plan (per GPU architecture)",
        "backend_per_kind": "the plan (per GPU architecture)",
    },
}
_SHORT_PREFIX = 2  # argparse reads `-Xvalue` as the one-character option `-X` with its value attached


@dataclass(frozen=True)
class OptionUse:
    """One option an argv word sets, as vLLM's parser reads it."""

    index: int  # position of the word in the sequence
    option: str  # the option string argparse matched (from SERVE_OPTIONS, never user text)
    dest: str
    # JSON options: the key paths set (dotted `-cc.a.b=1` gives ("a", "b")); () for a whole JSON value
    keys: tuple[tuple[str, ...], ...] = ()
    whole_json: bool = False  # the full JSON value: it replaces what dotted keys would merge
    unreadable_json: bool = False  # a JSON value this check cannot parse (vLLM may still expand it)


def _normalise(word: str) -> str:
    """What vLLM hands argparse for a `--` word: underscores to dashes up to the first `.` of the name."""
    if not word.startswith("--"):
        return word
    key, eq, value = word.partition("=")
    name, dot, rest = key[2:].partition(".")
    return "--" + name.replace("_", "-") + dot + rest + eq + value


def resolve(word: str) -> set[str]:
    """Option strings argparse may match for `word` (normalised): exact, then unique prefixes.

    Python 3.11 reads `-t=2` as no option (its prefix includes the `=`), 3.12+ as `-tp 2`: both count."""
    if word in SERVE_OPTIONS:
        return {word}
    head = word.split("=", 1)[0]
    if "=" in word and head in SERVE_OPTIONS:
        return {head}
    if len(word) < 2 or not word.startswith("-"):
        return set()
    found: set[str] = set()
    if word.startswith("--"):
        matches = [o for o in SERVE_OPTIONS if o.startswith(head)]
        if len(matches) == 1:
            found.add(matches[0])
        return found
    for prefix in {word, head}:  # 3.11: the whole word; 3.12+: the part before `=`
        matches = [o for o in SERVE_OPTIONS if o == word[:_SHORT_PREFIX] or o.startswith(prefix)]
        if len(set(matches)) == 1:
            found.add(matches[0])
    return found


def _key(part: str) -> str:
    return part.replace("-", "_")


def _leaves(value: object, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            yield from _leaves(inner, (*path, _key(str(key))))
    else:
        yield path


def _json_value(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return text


def option_uses(words: Sequence[str]) -> list[OptionUse]:
    """Every option the words set (words that are values of a previous option set none)."""
    uses: list[OptionUse] = []
    skip: set[int] = set()
    for index, raw in enumerate(words):
        if index in skip or not raw.startswith("-") or raw in ("-", "--"):
            continue
        if raw == "--config":  # vLLM pulls the file in before anything else, on this exact word only
            uses.append(OptionUse(index, "--config", "config"))
            continue
        if raw.startswith("-O") and not raw.startswith("--"):
            uses.append(OptionUse(index, "--optimization-level", "optimization_level"))
            continue
        word = _normalise(raw)
        key, eq, value = word.partition("=")
        if "." in key:  # a dotted key of a JSON option: its value is after `=` or the next word
            name, *path = key.split(".")
            if path and path[-1].endswith("+"):
                path[-1] = path[-1][:-1]
            if not eq and index + 1 < len(words):
                value = words[index + 1]
                skip.add(index + 1)
            leaves = tuple(_leaves(_json_value(value), tuple(_key(p) for p in path)))
            for option in sorted(resolve(name)):
                uses.append(OptionUse(index, option, SERVE_OPTIONS[option][0], keys=leaves))
            continue
        for option in sorted(resolve(word)):
            dest, takes_value = SERVE_OPTIONS[option]
            if dest not in OWNED_KEYS and dest != "compilation_config":
                uses.append(OptionUse(index, option, dest))
                continue
            if not eq and takes_value and index + 1 < len(words) and not words[index + 1].startswith("-"):
                value = words[index + 1]
            parsed = _json_value(value)
            readable = isinstance(parsed, dict)
            leaves = tuple(_leaves(parsed, ())) if readable else ()
            uses.append(OptionUse(index, option, dest, leaves, whole_json=True, unreadable_json=not readable))
    return uses


def _overlaps(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """One key path sets the other (equal, or one is inside the other)."""
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


def owned_conflicts(extra: Sequence[str], planned: Sequence[str]) -> list[tuple[OptionUse, str]]:
    """(use, what to set instead) for every extra-arg option that would set what the plan decides:
    the owned options, owned keys of JSON options, and JSON keys the plan's own argv sets (e.g. the AMD
    recipe's `-cc.pass_config.fuse_rope_kvcache=True`)."""
    plan_keys: dict[str, set[tuple[str, ...]]] = {}
    for use in option_uses(planned):
        if use.keys:
            plan_keys.setdefault(use.dest, set()).update(use.keys)
    found: list[tuple[OptionUse, str]] = []
    for use in option_uses(extra):
        if use.dest in OWNED_OPTIONS:
            found.append((use, OWNED_OPTIONS[use.dest]))
            continue
        owned = OWNED_KEYS.get(use.dest, {})
        if owned and use.unreadable_json:
            found.append((use, "a JSON object this check can read (plain JSON, no 1k-style numbers)"))
            continue
        hit = next((owned[path[0]] for path in use.keys if path and path[0] in owned), None)
        if hit:
            found.append((use, hit))
            continue
        mine = plan_keys.get(use.dest)
        if mine and use.whole_json:
            found.append((use, f"dotted keys ({use.option}.key=value): the plan sets {use.option} keys too"))
        elif mine and any(_overlaps(path, p) for path in use.keys for p in mine):
            found.append((use, "the plan (its recipe sets this key)"))
    return found


__all__ = ["OWNED_KEYS", "OWNED_OPTIONS", "OptionUse", "option_uses", "owned_conflicts", "resolve"]
