"""Start-up caches: every directory vLLM, torch.compile/Inductor, Triton and FlashInfer fill while an engine
starts, placed under one cache root that the target keeps across restarts.

Without this, the second start of an engine redoes work whose results sat in directories a restart throws
away: the systemd unit runs with PrivateTmp=yes (Inductor's default is /tmp/torchinductor_<user>), and a
Kubernetes pod's home is an emptyDir (Triton's ~/.triton/cache, FlashInfer's ~/.cache/flashinfer).

Where each default lives and why it moves (read in the sources of the pinned versions):
- VLLM_CACHE_ROOT (vllm/envs.py; default ~/.cache/vllm): vLLM's torch.compile artifacts
  (torch_compile_cache/<hash>/rank_<i>: the AOT-compiled graph, Inductor's output for it) and FlashInfer's
  autotuning results (flashinfer_autotune_cache/, vllm/model_executor/warmup/flashinfer_autotune_cache.py).
- TORCHINDUCTOR_CACHE_DIR (PyTorch; default /tmp/torchinductor_<user>): vLLM points it into its own cache
  while it compiles (vllm/compilation/decorators.py, compiler_interface.py), but torch may fill the default
  before that, and eager engines never redirect it.
- TRITON_CACHE_DIR (Triton; default ~/.triton/cache): compiled Triton kernels and, because vLLM sets
  TRITON_CACHE_AUTOTUNING=1 (vllm/env_override.py), their autotuning results. vLLM keeps a caller's value
  ("unless the caller supplies a Triton cache", compiler_interface.py), so kernels JIT-compiled outside
  torch.compile (the MXFP4 MoE and attention kernels) land here too.
- FLASHINFER_WORKSPACE_BASE (FlashInfer flashinfer/jit/env.py; default $HOME): FlashInfer builds its JIT
  modules under <base>/.cache/flashinfer/<version>/<arch>/cached_ops and downloads TRT-LLM cubins to
  <base>/.cache/flashinfer/cubins when no flashinfer-cubin package is installed. This is the 10-15 minute
  MXFP4 MoE build on Blackwell. NVIDIA only.
- CUDA_CACHE_PATH (the CUDA driver; default ~/.nv/ComputeCache): PTX the driver compiles for this GPU.
  NVIDIA only.
"""

from __future__ import annotations

from dataclasses import dataclass

from serving.catalog import AcceleratorSpec
from serving.reasons import Explained
from serving.rules import STARTUP_CACHES as STARTUP_CACHES_RULE


@dataclass(frozen=True)
class StartupCache:
    variable: str
    subdir: str  # under the cache root; "" is the root itself
    default: str  # where the tool puts it when the variable is unset
    contents: str  # what a start fills there
    vendors: tuple[str, ...]  # the accelerator vendors whose stack fills it


STARTUP_CACHES: tuple[StartupCache, ...] = (
    StartupCache(
        "VLLM_CACHE_ROOT",
        "",
        "~/.cache/vllm",
        "vLLM's torch.compile artifacts (the AOT-compiled graph and Inductor's code for it) and FlashInfer "
        "autotuning results",
        ("nvidia", "amd", "cpu"),
    ),
    StartupCache(
        "TORCHINDUCTOR_CACHE_DIR",
        "torchinductor",
        "/tmp/torchinductor_<user>",
        "Inductor's compiled code outside vLLM's own compile (private to one run under PrivateTmp, one life "
        "of a pod)",
        ("nvidia", "amd", "cpu"),
    ),
    StartupCache(
        "TRITON_CACHE_DIR",
        "triton",
        "~/.triton/cache",
        "compiled Triton kernels (the MXFP4 MoE and attention kernels) and their autotuning results",
        ("nvidia", "amd"),  # the CPU build runs no Triton kernels
    ),
    StartupCache(
        "FLASHINFER_WORKSPACE_BASE",
        "flashinfer",
        "~/.cache/flashinfer",
        "FlashInfer's JIT-built modules and downloaded cubins (in .cache/flashinfer below it): the 10-15 "
        "minute MXFP4 MoE build on Blackwell",
        ("nvidia",),
    ),
    StartupCache(
        "CUDA_CACHE_PATH",
        "nv-compute-cache",
        "~/.nv/ComputeCache",
        "PTX the CUDA driver compiles for this GPU",
        ("nvidia",),
    ),
)


def startup_cache_env(cache_root: str, acc: AcceleratorSpec) -> Explained:
    """The variables that put every start-up cache of this accelerator's stack under `cache_root`."""
    out = Explained()
    root = cache_root.rstrip("/") or "/"
    for cache in STARTUP_CACHES:
        if acc.vendor not in cache.vendors:
            continue
        path = f"{root.rstrip('/')}/{cache.subdir}" if cache.subdir else root
        out.setenv(
            cache.variable, path, rule=STARTUP_CACHES_RULE, why=f"{cache.contents} (default {cache.default})"
        )
    return out
