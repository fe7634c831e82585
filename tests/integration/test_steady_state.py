"""Steady state against a real sshd: a pass over verified days costs a listing, not a read.

A day with nothing to upload touches nothing: no marker is written and no folder's or
file's modification time changes, on either side (writing and removing a marker would
change its folder's time, so unchanged times prove no marker came and went).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from circadian_scp_upload import ConfigError
from tests.conftest import tree
from tests.integration.helpers import PAST, Recorder, client, leftovers, make_day_dirs
from tests.sshd_server import SSHServer

pytestmark = pytest.mark.integration


def times(root: Path) -> dict[str, int]:
    """Return the modification time of every file and folder below ``root`` (and itself)."""
    found = {".": root.stat().st_mtime_ns}
    for path in root.rglob("*"):
        found[path.relative_to(root).as_posix()] = path.lstat().st_mtime_ns
    return found


def test_a_second_pass_writes_no_marker_and_changes_no_time(
    server: SSHServer, remote_dir: Path, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    make_day_dirs(src, PAST)
    with server.connection() as connection:
        client(connection, src, remote_dir, False, Recorder()).run()
    local_before, remote_before = times(src), times(remote_dir)
    for relpath, content in tree(src).items():  # the server keeps the local times
        assert (remote_dir / relpath).stat().st_mtime == int((src / relpath).stat().st_mtime)
        assert (remote_dir / relpath).read_bytes() == content

    recorder = Recorder()
    with server.connection() as connection:
        report = client(connection, src, remote_dir, False, recorder).run()
    assert [d.idle for d in report.days] == [True, True, True]
    assert sum(d.bytes_sent for d in report.days) == 0
    assert times(src) == local_before
    assert times(remote_dir) == remote_before
    assert recorder.errors == []


def test_a_file_changed_after_upload_is_sent_again(
    server: SSHServer, remote_dir: Path, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    make_day_dirs(src, ["20240917"])
    with server.connection() as connection:
        client(connection, src, remote_dir, False, Recorder()).run()
    changed = src / "20240917" / "file0.txt"
    size = changed.stat().st_size
    changed.write_bytes(b"Z" * size)  # same size, other content, a later time
    os.utime(changed, (changed.stat().st_atime, changed.stat().st_mtime + 5))
    recorder = Recorder()
    with server.connection() as connection:
        report = client(connection, src, remote_dir, False, recorder).run()
    assert report.days[0].uploaded == 1
    assert "2024-09-17: found 3 synced files and 1 unsynced files" in recorder.info
    assert tree(remote_dir / "20240917") == tree(src / "20240917")
    replaced = {k.split("/", 1)[1]: v for k, v in tree(remote_dir / ".csu-replaced").items()}
    assert replaced == {"20240917/file0.txt": b"20240917-0\n" * 50}
    assert leftovers(remote_dir) == []


@pytest.fixture
def read_only_source(tmp_path: Path) -> Iterator[Path]:
    """A data folder bind-mounted read-only (as `-v /srv/data:/data:ro` gives a container)."""
    data = tmp_path / "data"
    make_day_dirs(data, PAST)
    mount = tmp_path / "ro"
    mount.mkdir()
    subprocess.run(["mount", "--bind", str(data), str(mount)], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_read_only_source_with_removal_off_uploads(
    server: SSHServer, remote_dir: Path, read_only_source: Path
) -> None:
    with pytest.raises(OSError, match="Read-only file system"):
        (read_only_source / "probe").write_text("x")
    recorder = Recorder()
    with server.connection() as connection:
        report = client(connection, read_only_source, remote_dir, False, recorder).run()
    assert [d.status for d in report.days] == ["uploaded"] * 3
    assert tree(remote_dir) == tree(read_only_source)
    assert leftovers(remote_dir) == []
    assert recorder.errors == []
    notices = [m for m in recorder.info if "is read-only: no local .do-not-touch markers" in m]
    assert len(notices) == 1


def test_a_read_only_source_with_removal_on_is_a_configuration_error(
    shell_server: SSHServer, read_only_source: Path
) -> None:
    remote_dir = shell_server.new_remote_dir("read-only-remove")
    with (
        shell_server.connection() as connection,
        pytest.raises(ConfigError, match="is read-only, but files are to be removed"),
    ):
        client(connection, read_only_source, remote_dir, True, Recorder()).run()
    assert tree(remote_dir) == {}
