"""The one translator of transport failures (remote/errors.py), without a server."""

from __future__ import annotations

import errno

import paramiko
import pytest

from circadian_scp_upload.errors import RemotePathError, TransientError
from circadian_scp_upload.remote.errors import Translator


def translator(free: int | None = None, up: bool = True) -> tuple[Translator, list[str]]:
    closed: list[str] = []
    asked: list[str] = []

    def free_space(path: str) -> int | None:
        asked.append(path)
        return free

    found = Translator(
        "server", 22, "station", "key", None, lambda: up, lambda: closed.append("x"), free_space
    )
    return found, closed + asked


@pytest.mark.parametrize(
    "error",
    [TimeoutError("timed out"), ConnectionResetError(), EOFError(), paramiko.SSHException("x")],
)
def test_link_faults_close_the_connection_and_are_transient(error: Exception) -> None:
    translate, _ = translator()
    with (
        pytest.raises(TransientError, match="failed during upload to '/d/f'"),
        translate("upload to", "/d/f"),
    ):
        raise error


def test_what_the_server_says_about_a_path_is_a_refusal() -> None:
    translate, _ = translator(free=10)
    with pytest.raises(RemotePathError, match="does not exist"), translate("stat", "/x"):
        raise OSError(errno.ENOENT, "No such file")
    with pytest.raises(RemotePathError, match="permission denied"), translate("write", "/x"):
        raise PermissionError(errno.EACCES, "denied")
    with (
        pytest.raises(RemotePathError, match="the server's disk is full"),
        translate("write", "/d/x"),
    ):
        raise OSError("Failure")


def test_a_bug_is_not_mistaken_for_a_link_fault() -> None:
    translate, _ = translator()
    with pytest.raises(TypeError), translate("stat", "/x"):
        raise TypeError("a bug")


def test_a_refusal_on_a_dead_link_is_a_link_fault() -> None:
    translate, _ = translator(up=False)
    with pytest.raises(TransientError), translate("write", "/x"):
        raise OSError("Failure")
