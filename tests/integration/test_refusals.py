"""Refusals against a real sshd: host keys, credentials, permissions, a file in the way."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from circadian_scp_upload import AuthenticationError, HostKeyError
from tests.conftest import tree, write_file
from tests.integration.helpers import Recorder, client, leftovers, make_day_dirs
from tests.sshd_server import SSHServer

pytestmark = pytest.mark.integration


def other_host_key_line(server: SSHServer, tmp_path: Path) -> str:
    key = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    kind, blob = key.with_suffix(".pub").read_text().split()[:2]
    return f"[127.0.0.1]:{server.port} {kind} {blob}\n"


def test_unknown_host_key_is_refused_with_fingerprint_and_fix(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(HostKeyError) as raised:
        shell_server.connection(known_hosts_file=empty).connect()
    message = str(raised.value)
    assert f"[127.0.0.1]:{shell_server.port}" in message
    assert shell_server.host_key_fingerprint in message
    assert "ssh-keyscan -p" in message


def test_missing_known_hosts_file_is_refused(shell_server: SSHServer, tmp_path: Path) -> None:
    with pytest.raises(HostKeyError, match="is not known"):
        shell_server.connection(known_hosts_file=tmp_path / "absent").connect()


def test_changed_host_key_is_refused_even_with_accept_new(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(other_host_key_line(shell_server, tmp_path))
    for accept_new in (False, True):
        with pytest.raises(HostKeyError, match="CHANGED") as raised:
            shell_server.connection(
                known_hosts_file=known, accept_new_host_key=accept_new
            ).connect()
        assert shell_server.host_key_fingerprint in str(raised.value)
        assert "ssh-keygen -R" in str(raised.value)


def test_pinned_fingerprint_is_trusted_and_a_wrong_one_refused(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    nothing = tmp_path / "absent"
    with shell_server.connection(
        known_hosts_file=nothing, host_key_fingerprint=shell_server.host_key_fingerprint
    ) as connection:
        assert connection.is_alive()
    wrong = "SHA256:" + "A" * 43
    with pytest.raises(HostKeyError, match="not the pinned"):
        shell_server.connection(known_hosts_file=nothing, host_key_fingerprint=wrong).connect()


def test_accept_new_records_the_key_then_trusts_it(shell_server: SSHServer, tmp_path: Path) -> None:
    known = tmp_path / "ssh" / "known_hosts"
    with shell_server.connection(known_hosts_file=known, accept_new_host_key=True):
        pass
    assert known.read_text().startswith(f"[127.0.0.1]:{shell_server.port} ssh-ed25519 ")
    with shell_server.connection(known_hosts_file=known) as connection:
        assert connection.is_alive()


def test_wrong_password_is_an_authentication_error_without_the_secret(
    shell_server: SSHServer,
) -> None:
    with pytest.raises(AuthenticationError, match="refused the login") as raised:
        shell_server.connection(password="wrong-secret-pw", key_filename=None).connect()
    assert "wrong-secret-pw" not in str(raised.value)


def test_wrong_key_is_an_authentication_error(shell_server: SSHServer, tmp_path: Path) -> None:
    key = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    with pytest.raises(AuthenticationError, match="by key"):
        shell_server.connection(key_filename=key).connect()


def test_not_writable_remote_folder_fails_the_day_and_keeps_local_data(
    server: SSHServer, remote_dir: Path, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    make_day_dirs(src, ["20240917", "20240918"])
    before = tree(src)
    remote_dir.chmod(0o555)
    recorder = Recorder()
    with server.connection() as connection:
        report = client(connection, src, remote_dir, True, recorder).run()
    assert [d.status for d in report.days] == ["failed", "failed"]
    assert any("permission denied" in m and "2024-09-17" in m for m in recorder.errors)
    assert tree(src) == before
    assert leftovers(src) == []


def test_remote_path_that_is_a_file_fails_that_day_only(
    server: SSHServer, remote_dir: Path, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    make_day_dirs(src, ["20240917", "20240918"])
    write_file(remote_dir / "20240917", b"a file where the day folder belongs")
    os.system(f"chown -R csu-test {remote_dir}")  # noqa: S605 - test setup, fixed path
    recorder = Recorder()
    with server.connection() as connection:
        report = client(connection, src, remote_dir, True, recorder).run()
    assert [d.status for d in report.days] == ["failed", "uploaded"]
    assert any("is a file, but a folder is needed" in m for m in recorder.errors)
    assert len(tree(src / "20240917")) == 4
    assert not (src / "20240918").exists()
    assert leftovers(src) == []


def test_ambiguous_day_names_are_reported_and_skipped(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    remote_dir = shell_server.new_remote_dir("ambiguous")
    src = tmp_path / "src"
    write_file(src / "20240917-20240918.txt", b"which day?")
    write_file(src / "20240917.txt", b"clear")
    recorder = Recorder()
    with shell_server.connection() as connection:
        client(
            connection,
            src,
            remote_dir,
            True,
            recorder,
            variant="files",
            dated_regex=r"^.*%Y%m%d.*$",
        ).run()
    assert tree(remote_dir) == {"20240917.txt": b"clear"}
    assert (src / "20240917-20240918.txt").exists()
    assert any("'20240917-20240918.txt'" in m and "several dates" in m for m in recorder.errors)


def test_symlinks_are_never_followed_nor_removed(shell_server: SSHServer, tmp_path: Path) -> None:
    remote_dir = shell_server.new_remote_dir("symlinks")
    src = tmp_path / "src"
    secret = write_file(tmp_path / "outside" / "secret.txt", b"outside the source")
    write_file(src / "20240917" / "a.txt", b"a")
    (src / "20240917" / "link").symlink_to(secret)
    recorder = Recorder()
    with shell_server.connection() as connection:
        client(connection, src, remote_dir, True, recorder).run()
    assert tree(remote_dir) == {"20240917/a.txt": b"a"}
    assert (src / "20240917" / "link").is_symlink()
    assert secret.read_bytes() == b"outside the source"
    assert any("'link'" in m and "not a regular file" in m for m in recorder.errors)
