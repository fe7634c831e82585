"""The upload against a real sshd: both variants, both kinds of server, removal on and off."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import tree, write_file
from tests.integration.helpers import (
    FUTURE,
    HOSTILE_NAMES,
    PAST,
    TODAY,
    Recorder,
    client,
    leftovers,
    make_day_dirs,
    partial_of,
)
from tests.sshd_server import SSHServer

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("remove", [True, False])
def test_directories_variant_uploads_past_days_only(
    server: SSHServer, remote_dir: Path, tmp_path: Path, remove: bool
) -> None:
    src = tmp_path / "src"
    make_day_dirs(src, [*PAST, TODAY, FUTURE])
    write_file(src / "notes", b"not a day")
    write_file(src / "2024091", b"too short")
    before = tree(src)
    recorder = Recorder()
    with server.connection() as connection:
        report = client(connection, src, remote_dir, remove, recorder).run()

    assert [d.status for d in report.days] == ["uploaded"] * 3
    uploaded = tree(remote_dir)
    assert uploaded == {k: v for k, v in before.items() if k.split("/")[0] in PAST}
    remaining = tree(src)
    if remove:
        assert remaining == {k: v for k, v in before.items() if k.split("/")[0] not in PAST}
        assert not any((src / day).exists() for day in PAST)
    else:
        assert remaining == before
    assert leftovers(src) == leftovers(remote_dir) == []
    assert recorder.errors == []
    assert "2024-09-17: found 0 synced files and 4 unsynced files" in recorder.info


def test_files_variant_groups_dated_files_by_day(
    server: SSHServer, remote_dir: Path, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    names = [
        "20240917-a.txt",
        "20240917-b.txt",
        "20240918.txt",
        f"{TODAY}-x.txt",
        f"{FUTURE}.txt",
        "readme.txt",
        "20240919-skip.csv",
    ]
    for name in names:
        write_file(src / name, name.encode() * 100)
    recorder = Recorder()
    with server.connection() as connection:
        report = client(
            connection,
            src,
            remote_dir,
            True,
            recorder,
            variant="files",
            dated_regex=r"^%Y%m%d.*\.txt$",
        ).run()

    assert [str(d.date) for d in report.days] == ["2024-09-17", "2024-09-18"]
    assert sorted(tree(remote_dir)) == ["20240917-a.txt", "20240917-b.txt", "20240918.txt"]
    assert tree(remote_dir)["20240917-a.txt"] == b"20240917-a.txt" * 100
    assert sorted(tree(src)) == sorted(
        [f"{TODAY}-x.txt", f"{FUTURE}.txt", "readme.txt", "20240919-skip.csv"]
    )
    assert "2024-09-17: found 0 synced files and 2 unsynced files" in recorder.info
    assert leftovers(remote_dir) == leftovers(src) == []


def test_second_run_finds_everything_synced_and_sends_nothing(
    server: SSHServer, remote_dir: Path, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    make_day_dirs(src, PAST)
    with server.connection() as connection:
        client(connection, src, remote_dir, False, Recorder()).run()
        recorder = Recorder()
        report = client(connection, src, remote_dir, False, recorder).run()
    assert sum(d.bytes_sent for d in report.days) == 0
    assert (
        "3 day(s) already on the server, unchanged (2024-09-17 to 2024-09-19): nothing to do"
        in recorder.info
    )


def test_remote_file_with_same_size_but_other_content_is_replaced(
    server: SSHServer, remote_dir: Path, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    write_file(src / "20240917" / "a.txt", b"right content")
    write_file(remote_dir / "20240917" / "a.txt", b"wrong content")
    write_file(remote_dir / "20240917" / "extra.txt", b"server-only data stays")
    os.system(f"chown -R csu-test {remote_dir}")  # noqa: S605 - test setup, fixed path
    recorder = Recorder()
    with server.connection() as connection:
        client(connection, src, remote_dir, True, recorder).run()
    assert tree(remote_dir / "20240917") == {
        "a.txt": b"right content",
        "extra.txt": b"server-only data stays",
    }
    [(kept_as, kept)] = tree(remote_dir / ".csu-replaced").items()
    assert kept_as.endswith("/20240917/a.txt")
    assert kept == b"wrong content"  # replaced, but kept aside: never destroyed
    assert "2024-09-17: found 0 synced files and 1 unsynced files" in recorder.info
    assert not (src / "20240917").exists()


def test_hostile_file_names_arrive_intact_and_reach_no_shell(
    server: SSHServer, remote_dir: Path, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    for index, name in enumerate(HOSTILE_NAMES):
        write_file(src / "20240917" / name, f"{index}:{name}".encode())
        write_file(src / "20240917" / "$(sub dir)" / name, name.encode())
    before = tree(src)
    recorder = Recorder()
    with server.connection() as connection:
        report = client(connection, src, remote_dir, True, recorder).run()
    assert report.days[0].status == "uploaded", recorder.errors
    assert tree(remote_dir) == before
    assert not (src / "20240917").exists()
    home = Path(os.path.expanduser(f"~{server.user}"))
    assert not list(home.glob("pwned*"))
    assert not list(remote_dir.rglob("pwned*"))


def test_empty_day_folders_are_mirrored(
    server: SSHServer, remote_dir: Path, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    (src / "20240917" / "empty-sub").mkdir(parents=True)
    write_file(src / "20240918" / "a", b"a")
    (src / "20240918" / "also-empty").mkdir()
    with server.connection() as connection:
        report = client(connection, src, remote_dir, True, Recorder()).run()
    assert [d.status for d in report.days] == ["uploaded", "uploaded"]
    assert (remote_dir / "20240917" / "empty-sub").is_dir()
    assert (remote_dir / "20240918" / "also-empty").is_dir()
    assert not (src / "20240917").exists()
    assert not (src / "20240918").exists()


def test_progress_is_logged_with_percent_and_counts(
    server: SSHServer, remote_dir: Path, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    make_day_dirs(src, ["20240917"], files_per_day=4)
    recorder = Recorder()
    with server.connection() as connection:
        client(connection, src, remote_dir, False, recorder, progress_interval=0.0).run()
    progress = [m for m in recorder.info if m.endswith(" uploaded")]
    assert all(re.fullmatch(r"2024-09-17: \d+\.\d % \(\d/5\) uploaded", m) for m in progress)
    assert progress[0] == "2024-09-17: 0.0 % (1/5) uploaded"
    assert progress[-1] == "2024-09-17: 100.0 % (5/5) uploaded"
    assert len(progress) > 5


def test_stale_markers_from_a_crashed_run_are_taken_over(
    server: SSHServer, remote_dir: Path, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    make_day_dirs(src, ["20240917"])
    write_file(src / "20240917" / ".do-not-touch", b"left by a crash")
    write_file(remote_dir / "20240917" / ".do-not-touch", b"left by a crash")
    stale = partial_of(remote_dir, remote_dir / "20240917" / "file0.txt")
    write_file(stale, b"stale partial")  # of a small file: sent whole again, over it
    os.system(f"chown -R csu-test {remote_dir}")  # noqa: S605 - test setup, fixed path
    with server.connection() as connection:
        report = client(connection, src, remote_dir, False, Recorder()).run()
    assert report.days[0].status == "uploaded"
    assert leftovers(src) == leftovers(remote_dir) == []
    assert len(tree(remote_dir)) == 4
    assert not stale.exists()


def test_password_login(shell_server: SSHServer, tmp_path: Path) -> None:
    remote = shell_server.new_remote_dir("password-login")
    src = tmp_path / "src"
    make_day_dirs(src, ["20240917"])
    with shell_server.connection(password=shell_server.password, key_filename=None) as connection:
        client(connection, src, remote, False, Recorder()).run()
    assert len(tree(remote)) == 4


def test_remote_connection_accepts_host_colon_port(shell_server: SSHServer, tmp_path: Path) -> None:
    from circadian_scp_upload import RemoteConnection

    connection = RemoteConnection(
        f"127.0.0.1:{shell_server.port}",
        shell_server.user,
        shell_server.password,
        known_hosts_file=shell_server.known_hosts,
        allow_agent=False,
    )
    with connection:
        assert connection.is_alive()


def test_key_renewals_while_commands_end_never_hang_the_connection(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    """paramiko answers the server's close of a channel (every finished stream and hash
    command) from its own thread, and during a key exchange it waits for the exchange,
    which only that thread can finish: 30 s later the connection died (paramiko #822;
    found as one failure in 3 GiB of streamed files, keys renewed every 512 MiB). Here
    keys are renewed every 128 KiB while two channels stream files and end commands."""
    src = tmp_path / "src"
    expected = {}
    for day_name in PAST:
        for index in range(12):
            expected[f"{day_name}/f{index:02d}.bin"] = os.urandom(300_000 + index)
    for relpath, content in expected.items():
        write_file(src / relpath, content)
    dst = shell_server.new_remote_dir("rekey")
    recorder = Recorder()
    with shell_server.connection() as connection:
        transport = connection.session.transports[-1]
        transport.packetizer.REKEY_BYTES = 128 * 1024
        report = client(connection, src, dst, False, recorder).run()
        renewals = transport.key_exchanges - 1
        own = transport.own_answers
        assert transport is connection.session.transports[-1]  # no reconnect in between
    # paramiko still sends its own thread's answers (channel closes, about 65 here)
    # through _send_user_message, the hook of #822: were they to go another way, the
    # hang would be back unnoticed (how many wait for a renewal varies, 0 to a few)
    assert own >= 30, f"{own} answers from paramiko's thread: the hook no longer sees them"
    # about 11 MB went out, keys renewed every 128 KiB: 49 renewals when this was written
    assert renewals >= 20, f"only {renewals} key renewals: REKEY_BYTES no longer applies"
    assert [d.status for d in report.days] == ["uploaded"] * 3, recorder.errors
    assert tree(dst) == expected
    assert leftovers(dst) == []
