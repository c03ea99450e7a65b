"""Secret files: read only when private (like ssh), written without following links, 0600 and ours before
their first byte, and never echoed in an error."""

from __future__ import annotations

import os
import stat

import pytest

from serving import PlanRequest, plan_serving
from targets.files import OutputError, write_file
from targets.secrets import SecretFileError, read_secret_file
from targets.systemd.render import write_systemd

KEY = "sk-secret-0123456789abcdef"
FOREIGN_UID = 4242


def tiny():
    return plan_serving(PlanRequest(model="gpt-oss-tiny", accelerator="cpu"))


def key_file(tmp_path, mode=0o600, content=KEY + "\n"):
    path = tmp_path / "api-key"
    path.write_text(content)
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_private_key_files_are_read(tmp_path, mode):
    assert read_secret_file(key_file(tmp_path, mode), "API key") == KEY


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o666, 0o620])
def test_group_or_world_accessible_key_files_are_refused_like_ssh(tmp_path, mode):
    with pytest.raises(SecretFileError, match="chmod 600") as err:
        read_secret_file(key_file(tmp_path, mode), "API key")
    assert KEY[:10] not in str(err.value)


@pytest.mark.skipif(os.geteuid() != 0, reason="making a file owned by another user needs root")
def test_key_files_owned_by_someone_else_are_refused(tmp_path):
    path = key_file(tmp_path)
    os.chown(path, FOREIGN_UID, FOREIGN_UID)
    with pytest.raises(SecretFileError, match="belongs to uid 4242"):
        read_secret_file(path, "API key")


def test_missing_empty_and_non_file_key_files_get_a_sentence(tmp_path):
    with pytest.raises(SecretFileError, match="does not exist: create it with"):
        read_secret_file(tmp_path / "nope", "API key")
    with pytest.raises(SecretFileError, match="empty"):
        read_secret_file(key_file(tmp_path, content="\n"), "API key")
    with pytest.raises(SecretFileError, match="not a regular file"):
        read_secret_file(tmp_path, "API key")


def test_env_file_write_replaces_a_planted_symlink_instead_of_following_it(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (out / "gptoss-vllm-0.env").symlink_to(victim)
    write_systemd(tiny(), out, api_key_file=key_file(tmp_path))
    assert victim.read_text() == "precious\n"
    env = out / "gptoss-vllm-0.env"
    assert not env.is_symlink()
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert f"VLLM_API_KEY={KEY}" in env.read_text().splitlines()


@pytest.mark.skipif(os.geteuid() != 0, reason="a file owned by another user needs root to make")
def test_env_file_write_drops_a_foreign_owner_and_a_wide_mode(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    old = out / "gptoss-vllm-0.env"
    old.write_text("OLD=1\n")
    old.chmod(0o644)
    os.chown(old, FOREIGN_UID, FOREIGN_UID)
    write_systemd(tiny(), out, api_key_file=key_file(tmp_path))
    info = old.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (os.geteuid(), 0o600)


def test_mode_is_set_before_the_first_byte(tmp_path, monkeypatch):
    seen: list[int] = []
    real_write = os.write

    def spying_write(fd, data):
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", spying_write)
    old_umask = os.umask(0)  # a permissive umask must not widen the file either
    try:
        write_file(tmp_path / "secret.env", "VLLM_API_KEY=" + KEY, mode=0o600)
    finally:
        os.umask(old_umask)
    assert seen and set(seen) == {0o600}


def test_out_pointing_at_a_file_is_a_sentence_and_nothing_is_written(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(OutputError, match="is a file, not a directory"):
        write_systemd(tiny(), target)
    assert target.read_text() == "x"


def test_no_temporary_file_is_left_when_a_write_fails(tmp_path, monkeypatch):
    def failing_rename(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(OSError):
        write_file(tmp_path / "x.env", "A=1\n", mode=0o600)
    assert list(tmp_path.iterdir()) == []
