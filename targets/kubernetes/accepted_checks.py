"""The checkov findings the rendered Kubernetes objects keep on purpose, each with its reason.

tests/unit/test_checkov.py runs checkov (scripts/checkov-venv) over `gptoss render k8s` output for NVIDIA,
AMD and CPU plans, and fails on any finding not listed here, on a listed one that no longer occurs, and
on one found where its `where` says it cannot be. The README's security section is generated from this.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AcceptedCheck:
    check_id: str
    title: str
    kinds: tuple[str, ...]  # the object kinds it may be found on
    where: str  # "all", "amd" (only AMD plans), or "tags" (only when no digest is set)
    reason: str


ACCEPTED_CHECKS: tuple[AcceptedCheck, ...] = (
    AcceptedCheck(
        "CKV_K8S_11",
        "CPU limits should be set",
        ("Deployment",),
        "all",
        "The server requests its CPUs but has no CPU limit: CFS throttling would stall token streaming in "
        "bursts. Its memory limit is set (from the plan).",
    ),
    AcceptedCheck(
        "CKV_K8S_15",
        "Image Pull Policy should be Always",
        ("Deployment", "Job"),
        "all",
        "Images are pinned by version tag (or digest, imageDigest): IfNotPresent reuses the ~10 GB vLLM image a "
        "node already has instead of pulling it again on every start.",
    ),
    AcceptedCheck(
        "CKV_K8S_35",
        "Prefer using secrets as files over secrets as environment variables",
        ("Deployment", "Job"),
        "all",
        "vLLM reads its API key only from VLLM_API_KEY (or argv, which `ps` shows), the smoke client from "
        "OPENAI_API_KEY and huggingface_hub from HF_TOKEN: each comes from a secretKeyRef, never the pod spec.",
    ),
    AcceptedCheck(
        "CKV_K8S_43",
        "Image should use digest",
        ("Deployment", "Job"),
        "tags",
        "Digests are optional: imageDigest and smokeImageDigest pin them (a render with both passes this "
        "check, tested); by default the images are pinned by version tag.",
    ),
    AcceptedCheck(
        "CKV_K8S_23",
        "Minimize the admission of root containers",
        ("Deployment",),
        "amd",
        "AMD only: the ROCm vLLM image opens /dev/kfd and /dev/dri as root (their group ids differ between "
        "host images). NVIDIA, CPU and every Job run as UID 10001.",
    ),
    AcceptedCheck(
        "CKV_K8S_40",
        "Containers should run as a high UID to avoid host conflict",
        ("Deployment",),
        "amd",
        "AMD only, as above: root for ROCm device access.",
    ),
)

__all__ = ["ACCEPTED_CHECKS", "AcceptedCheck"]
