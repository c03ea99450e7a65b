"""Where things live on a systemd host: the one definition of the host layout.

The pyinfra roles take their layout defaults from `HostLayout` (roles/settings.py), `gptoss render systemd`
uses it as is, and the plan gets the paths vLLM reads and writes from `serving_paths()`.
"""

from __future__ import annotations

from dataclasses import dataclass

from serving import Plan, ServingPaths
from serving.validate import check_path, check_user_name


@dataclass(frozen=True)
class HostLayout:
    user: str = "vllm"  # system user the service runs as
    root: str = "/opt/gptoss"  # uv and the vLLM venvs
    state_dir: str = "/var/lib/gptoss"  # HF_HOME, tiktoken, the service's home
    cache_dir: str = "/var/cache/gptoss"  # VLLM_CACHE_ROOT (torch.compile cache), uv's cache
    config_dir: str = "/etc/gptoss"  # env files (0600) and secrets, root only

    def __post_init__(self) -> None:
        # These reach unit directives (a relative EnvironmentFile= is ignored by systemd: the key would be
        # lost and the endpoint open; a space splits ReadWritePaths=) and shell lines of the roles.
        check_user_name(self.user, "vllm_user")
        for name in ("root", "state_dir", "cache_dir", "config_dir"):
            check_path(getattr(self, name), f"vllm_{name}")

    @property
    def uv_venv(self) -> str:
        return f"{self.root}/uv"

    @property
    def uv_bin(self) -> str:
        return f"{self.uv_venv}/bin/uv"

    @property
    def hf_home(self) -> str:
        return f"{self.state_dir}/hf"

    @property
    def tiktoken_dir(self) -> str:
        return f"{self.state_dir}/tiktoken"

    @property
    def vllm_cache_root(self) -> str:
        return f"{self.cache_dir}/vllm"

    @property
    def uv_cache_dir(self) -> str:
        return f"{self.cache_dir}/uv"

    @property
    def sampler_dir(self) -> str:
        """On PYTHONPATH of the sampling one-shot: holds the shipped `gptoss_sampler` package (root's)."""
        return f"{self.root}/lib"

    @property
    def batch_dir(self) -> str:
        """Sampling batches in (NAME.jsonl) and results out (NAME.results.jsonl): the service user's."""
        return f"{self.state_dir}/sample"

    @property
    def upload_dir(self) -> str:
        """Where secret uploads land before they are moved into place (0700 root, same filesystem)."""
        return f"{self.config_dir}/.upload"

    def serving_paths(self) -> ServingPaths:
        return ServingPaths(
            hf_home=self.hf_home, vllm_cache_root=self.vllm_cache_root, tiktoken_dir=self.tiktoken_dir
        )

    def venv_dir(self, plan: Plan) -> str:
        """One venv per pinned package (`vllm==0.33.0` -> /opt/gptoss/vllm-0.33.0): a new pin is a new
        venv, so the old one keeps serving until the unit is switched over."""
        name, _, version = plan.vllm_package.partition("==")
        return f"{self.root}/{name}-{version}"


DEFAULT_LAYOUT = HostLayout()
