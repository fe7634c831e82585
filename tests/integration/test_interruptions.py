"""Interruptions against a real sshd: kill -9, resume, abort, changes during upload."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from circadian_scp_upload import LockedError
from circadian_scp_upload.source.lock import SourceLock
from tests.conftest import tree, write_file
from tests.integration.helpers import NOW, Recorder, client, leftovers, make_day_dirs, partial_of
from tests.sshd_server import SSHServer

pytestmark = pytest.mark.integration
BIG = 96 * 1024 * 1024
ROOT = Path(__file__).resolve().parents[2]


def big_file(path: Path, size: int = BIG) -> bytes:
    content = os.urandom(1024 * 1024) * (size // (1024 * 1024))
    write_file(path, content)
    return content


def partial_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def test_resumes_a_half_uploaded_file_from_its_end(
    server: SSHServer, remote_dir: Path, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    content = os.urandom(3 * 1024 * 1024 + 17)
    write_file(src / "20240917" / "big.bin", content)
    partial = partial_of(remote_dir, remote_dir / "20240917" / "big.bin")
    write_file(partial, content[: 2 * 1024 * 1024])
    os.system(f"chown -R csu-test {remote_dir}")  # noqa: S605 - test setup, fixed path
    recorder = Recorder()
    with server.connection() as connection:
        report = client(connection, src, remote_dir, True, recorder).run()
    assert report.days[0].status == "uploaded"
    assert "2024-09-17: resuming 'big.bin' from byte 2097152" in recorder.info
    assert report.days[0].bytes_sent == len(content) - 2 * 1024 * 1024
    assert tree(remote_dir) == {"20240917/big.bin": content}
    assert not (src / "20240917").exists()


def test_a_partial_with_a_corrupt_tail_is_restarted(
    server: SSHServer, remote_dir: Path, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    content = os.urandom(1024 * 1024)
    write_file(src / "20240917" / "f.bin", content)
    write_file(
        partial_of(remote_dir, remote_dir / "20240917" / "f.bin"), content[:1000] + b"X" * 1000
    )
    os.system(f"chown -R csu-test {remote_dir}")  # noqa: S605 - test setup, fixed path
    recorder = Recorder()
    with server.connection() as connection:
        report = client(connection, src, remote_dir, False, recorder).run()
    assert report.days[0].bytes_sent == len(content)
    assert tree(remote_dir) == {"20240917/f.bin": content}


def test_kill_9_in_the_middle_of_a_file_then_the_next_run_completes(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    remote_dir = shell_server.new_remote_dir("kill-9")
    src = tmp_path / "src"
    content = big_file(src / "20240917" / "big.bin")
    write_file(src / "20240917" / "small.txt", b"small")
    settings = {
        "now": NOW.isoformat(),
        "user": shell_server.user,
        "port": shell_server.port,
        "key_file": str(shell_server.key_file),
        "known_hosts": str(shell_server.known_hosts),
        "src": str(src),
        "dst": str(remote_dir),
        "remove": True,
    }
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.run_upload", json.dumps(settings)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    partial = partial_of(remote_dir, remote_dir / "20240917" / "big.bin")
    deadline = time.monotonic() + 60
    while partial_size(partial) < 8 * 1024 * 1024 and time.monotonic() < deadline:
        assert process.poll() is None, "the upload ended before it could be killed"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()

    killed_at = partial_size(partial)
    assert 0 < killed_at < len(content)
    assert not (remote_dir / "20240917" / "big.bin").exists()  # nothing partial under its name
    assert (src / "20240917" / "big.bin").read_bytes() == content  # nothing local lost

    recorder = Recorder()
    with shell_server.connection() as connection:
        report = client(connection, src, remote_dir, True, recorder).run()
    resumed = [m for m in recorder.info if "resuming 'big.bin' from byte" in m]
    assert resumed, recorder.info
    assert report.days[0].bytes_sent < len(content)
    assert tree(remote_dir) == {"20240917/big.bin": content, "20240917/small.txt": b"small"}
    assert leftovers(remote_dir) == []
    assert not (src / "20240917").exists()


def test_abort_during_a_long_file_stops_quickly_and_the_next_run_resumes(
    server: SSHServer, remote_dir: Path, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    content = big_file(src / "20240917" / "big.bin", 32 * 1024 * 1024)
    partial = partial_of(remote_dir, remote_dir / "20240917" / "big.bin")

    def abort() -> bool:  # polled before the day and the file, then twice a second in it
        return partial_size(partial) > 0

    recorder = Recorder()
    # 16 MiB/s: the file takes 2 s, so the abort surely lands in its middle
    with server.connection(bandwidth_limit=16 * 1024 * 1024) as connection:
        started = time.monotonic()
        report = client(connection, src, remote_dir, True, recorder, abort=abort).run()
        stopped_after = time.monotonic() - started
    assert report.aborted
    assert stopped_after < 5
    assert "2024-09-17: upload aborted on request; the next run resumes where it stopped" in (
        recorder.info
    )
    assert not (remote_dir / "20240917" / "big.bin").exists()
    assert 0 < partial_size(partial) < len(content)
    assert leftovers(src) == []
    assert not (remote_dir / "20240917" / ".do-not-touch").exists()
    assert (src / "20240917" / "big.bin").read_bytes() == content

    recorder = Recorder()
    with server.connection() as connection:
        client(connection, src, remote_dir, True, recorder).run()
    assert any("resuming 'big.bin'" in m for m in recorder.info)
    assert tree(remote_dir) == {"20240917/big.bin": content}


def test_abort_between_days_leaves_later_days_for_the_next_run(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    remote_dir = shell_server.new_remote_dir("abort-between")
    src = tmp_path / "src"
    make_day_dirs(src, ["20240917", "20240918"])

    def abort() -> bool:  # polled before each day: stop once the first day is complete
        return len(tree(remote_dir / "20240917")) == 4

    with shell_server.connection() as connection:
        report = client(connection, src, remote_dir, False, Recorder(), abort=abort).run()
    assert report.aborted
    assert [d.status for d in report.days] == ["uploaded"]
    assert leftovers(remote_dir) == leftovers(src) == []


def test_a_file_changed_while_its_day_uploads_is_not_removed(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    remote_dir = shell_server.new_remote_dir("changing")
    src = tmp_path / "src"
    write_file(src / "20240917" / "a.txt", b"first version")
    write_file(src / "20240917" / "b.txt", b"b")

    class ChangeAfterUpload(list[str]):
        """Log sink that appends to a.txt once the upload is done, before verification."""

        def append(self, message: str) -> None:
            super().append(message)
            if message.endswith("100.0 % (2/2) uploaded"):
                with (src / "20240917" / "a.txt").open("ab") as handle:
                    handle.write(b" plus more")

    recorder = Recorder()
    recorder.info = ChangeAfterUpload()
    with shell_server.connection() as connection:
        report = client(connection, src, remote_dir, True, recorder).run()
    assert report.days[0].status == "failed"
    assert (src / "20240917" / "a.txt").read_bytes() == b"first version plus more"
    assert not (src / "20240917" / "b.txt").exists()
    assert any("could not be verified" in m for m in recorder.errors)

    with shell_server.connection() as connection:
        report = client(connection, src, remote_dir, True, Recorder()).run()
    assert report.days[0].status == "uploaded"
    assert tree(remote_dir / "20240917") == {"a.txt": b"first version plus more", "b.txt": b"b"}
    [kept] = [v for k, v in tree(remote_dir).items() if k.startswith(".csu-replaced/")]
    assert kept == b"first version"  # the server's earlier copy is kept, not destroyed
    assert not (src / "20240917").exists()


def test_a_second_agent_on_the_same_source_is_refused(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    make_day_dirs(src, ["20240917"])
    remote_dir = shell_server.new_remote_dir("locked")
    with (
        SourceLock(src),
        shell_server.connection() as connection,
        pytest.raises(LockedError, match="another agent is already uploading"),
    ):
        client(connection, src, remote_dir, True, Recorder()).run()
    assert tree(remote_dir) == {}
    assert len(tree(src)) == 4
    # the lock is gone with its holder
    with shell_server.connection() as connection:
        assert client(connection, src, remote_dir, True, Recorder()).run().days
