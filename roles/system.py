"""The `vllm` system user and the directories the service and the installs use."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files, server

from roles.settings import DEFAULTS, Plan, Settings


def upload_dir(settings: Settings) -> str:
    return settings.layout.upload_dir


@deploy("Create the vllm user and directories", data_defaults=DEFAULTS)
def user_and_directories(settings: Settings, plan: Plan) -> None:
    user = settings.user
    server.group(name=f"Group {user} exists", group=user, system=True)
    # AMD GPUs are opened through /dev/kfd and /dev/dri/renderD*, owned by the render and video groups.
    groups = ["video", "render"] if plan.accelerator.vendor == "amd" else None
    server.user(
        name=f"System user {user} exists, home {settings.state_dir}, no login shell",
        user=user,
        group=user,
        groups=groups,
        system=True,
        home=settings.state_dir,
        create_home=False,
        ensure_home=False,  # the directory layout below owns it
        shell="/usr/sbin/nologin",
    )
    # (path, owner, mode): code and config belong to root; the service writes only state and caches.
    layout = [
        (settings.root, "root", "755"),
        (settings.state_dir, user, "755"),
        (settings.layout.hf_home, user, "755"),
        (settings.layout.tiktoken_dir, "root", "755"),
        (settings.cache_dir, "root", "755"),
        (settings.layout.vllm_cache_root, user, "755"),
        (settings.layout.uv_cache_dir, "root", "700"),
        (settings.config_dir, "root", "700"),
        (upload_dir(settings), "root", "700"),
    ]
    for path, owner, mode in layout:
        files.directory(
            name=f"Directory {path} exists ({owner}, {mode})",
            path=path,
            user=owner,
            group=owner,
            mode=mode,
        )
