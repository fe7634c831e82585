"""Data safety, round three: every server version kept, removal re-checked at the last
moment, proofs before renames and before removal, against a real sshd.

Each test is one case of the issue (the number in its docstring); the fault suite's
summary table counts them.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from circadian_scp_upload.engine.verify import RemoteHasher
from tests.conftest import tree, write_file
from tests.faults.ledger import LEDGER
from tests.integration.helpers import (
    PAST,
    Recorder,
    agent,
    agent_env,
    client,
    day,
    partial_of,
    status_of,
)
from tests.sshd_server import TEST_USER, SSHServer

pytestmark = pytest.mark.faults
MARKER = ".do-not-touch"
DAY = PAST[0]  # a past day for the library runs (their clock is fixed)


def test_every_server_version_of_a_late_writers_file_is_kept(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    """1: v1 uploaded and removed, v2 and v3 recreated by a late writer the same day:
    with removal on the server holds the only copy of each, and none is overwritten."""
    src = tmp_path / "src"
    dst = shell_server.new_remote_dir("late-writer-versions")
    env = agent_env(
        shell_server, src, dst, CSU_REMOVE_AFTER_UPLOAD="true", CSU_STATE_DIR=str(tmp_path / "st")
    )
    versions = [f"version {n}\n".encode() for n in range(1, 5)]
    for version in versions:
        write_file(src / day(-2) / "log.csv", version)
        result = agent("once", env)
        assert result.returncode == 0, result.stderr[-3000:]
        assert not (src / day(-2)).exists()
    assert (dst / day(-2) / "log.csv").read_bytes() == versions[-1]
    assert sorted(tree(dst / ".csu-replaced").values()) == versions[:-1]  # none lost
    assert "'" + day(-2) + "/log.csv' was replaced 3 times within a day" in result.stderr
    assert status_of(env)["replaced_kept_total"] == 3
    LEDGER.faults["a late writer's file replaced three times in a day"] += 1


@pytest.mark.parametrize("receiving", [True, False], ids=["new data", "removal only"])
def test_a_stale_remote_marker_stays_until_local_removal_is_done(
    shell_server: SSHServer, tmp_path: Path, receiving: bool
) -> None:
    """2: a marker left by a pass cut short (releasing it needs the link) is released
    last, after the manifest and after local removal, never with the temporary files."""
    src = tmp_path / "src"
    dst = shell_server.new_remote_dir(f"stale-marker-{receiving}")
    write_file(src / DAY / "a.bin", b"a" * 1000)
    write_file(src / DAY / "b.bin", b"b" * 1000)
    if not receiving:  # uploaded and verified earlier, removal turned on since
        with shell_server.connection() as connection:
            client(connection, src, dst, False, Recorder()).run()
    write_file(dst / DAY / MARKER, b"left by a pass cut short\n")
    # named like an earlier version's temporary file: a file of the instrument's, kept
    write_file(dst / DAY / ".c.bin.csu-partial", b"not ours")
    subprocess.run(["chown", "-R", TEST_USER, str(dst)], check=True)
    seen: dict[str, bool] = {}
    recorder = Recorder()

    def info(message: str) -> None:
        recorder.info.append(message)
        if "removed 2 local files" in message:
            seen["marker at removal"] = (dst / DAY / MARKER).exists()
        if "checksums" in message:
            seen["manifest with the marker"] = (dst / DAY / "SHA256SUMS").exists()

    with shell_server.connection() as connection:
        upload = client(connection, src, dst, True, recorder, manifest=True)
        upload.callbacks.log_info = info
        report = upload.run()
    assert report.days[0].status == "uploaded", recorder.errors
    assert seen == {"marker at removal": True, "manifest with the marker": True}
    assert not (dst / DAY / MARKER).exists()  # released at the very end
    assert (dst / DAY / ".c.bin.csu-partial").read_bytes() == b"not ours"
    LEDGER.faults["a stale remote marker kept until removal is done"] += 1


def test_a_file_changed_after_its_proof_is_not_removed(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    """3: a writer touches a file between its checksum and its removal: it stays."""
    src = tmp_path / "src"
    dst = shell_server.new_remote_dir("changed-after-proof")
    write_file(src / DAY / "steady.bin", b"s" * 5000)
    write_file(src / DAY / "late.bin", b"l" * 5000)
    recorder = Recorder()
    touched = []

    def info(message: str) -> None:
        recorder.info.append(message)
        late = src / DAY / "late.bin"
        if "checksums of all 2 files match" in message and late.exists():
            with late.open("ab") as handle:
                handle.write(b"one more line\n")
            touched.append(True)

    with shell_server.connection() as connection:
        upload = client(connection, src, dst, True, recorder)
        upload.callbacks.log_info = info
        upload.run()
    assert touched, "the proof must be logged before anything is removed"
    assert not (src / DAY / "steady.bin").exists()
    assert (src / DAY / "late.bin").read_bytes() == b"l" * 5000 + b"one more line\n"
    assert any("changed after they were verified" in e for e in recorder.errors)
    with shell_server.connection() as connection:  # the next pass takes the new content
        client(connection, src, dst, True, Recorder()).run()
    assert (dst / DAY / "late.bin").read_bytes() == b"l" * 5000 + b"one more line\n"
    assert not (src / DAY).exists()
    LEDGER.faults["a file changed between its proof and its removal"] += 1


def test_a_resumed_file_is_read_back_when_the_servers_hasher_fails(
    shell_server: SSHServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """4: the partial's tail matches, its middle does not, and hashing on the server
    fails: the file is read back and never renamed into place unproven."""
    monkeypatch.setattr(RemoteHasher, "file_checksum", lambda _self, _path, _size: None)
    dst = shell_server.new_remote_dir("resume-hasher-fails")
    src = tmp_path / "src"
    content = os.urandom(3 << 20)
    write_file(src / DAY / "big.bin", content)
    corrupt = content[: 1 << 20] + b"X" * 4096 + content[(1 << 20) + 4096 : 2 << 20]
    write_file(partial_of(dst, dst / DAY / "big.bin"), corrupt)
    subprocess.run(["chown", "-R", TEST_USER, str(dst)], check=True)
    recorder = Recorder()
    with shell_server.connection() as connection:
        report = client(connection, src, dst, True, recorder).run()
    assert any("resuming 'big.bin' from byte 2097152" in m for m in recorder.info)
    assert report.days[0].status == "failed"
    assert any("checksums differ" in m for m in recorder.errors), recorder.errors
    assert not (dst / DAY / "big.bin").exists()  # never under its name unproven
    assert (src / DAY / "big.bin").read_bytes() == content
    with shell_server.connection() as connection:
        report = client(connection, src, dst, True, Recorder()).run()
    assert report.days[0].status == "uploaded"
    assert (dst / DAY / "big.bin").read_bytes() == content
    LEDGER.faults["a resumed file proven by read-back when the hasher fails"] += 1


def test_removal_never_trusts_size_and_time_of_a_corrupted_server_copy(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    """10: the server copy rots after verification, size and modification time kept.
    With removal on it is checksummed: uploaded again, or, where the server refuses
    that, reported, and the local file stays."""
    src = tmp_path / "src"
    dst = shell_server.new_remote_dir("rotten-copy")
    content = os.urandom(50_000)
    write_file(src / DAY / "data.bin", content)
    with shell_server.connection() as connection:
        client(connection, src, dst, False, Recorder()).run()
    copy = dst / DAY / "data.bin"
    stat = copy.stat()
    copy.write_bytes(b"\0" * len(content))  # same size
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same time
    (dst / DAY).chmod(0o555)  # the server refuses the new upload
    recorder = Recorder()
    with shell_server.connection() as connection:
        report = client(connection, src, dst, True, recorder).run()
    assert report.days[0].status == "failed"
    assert (src / DAY / "data.bin").read_bytes() == content  # never trusted
    assert recorder.errors, "the refusal is reported"
    (dst / DAY).chmod(0o755)
    recorder = Recorder()
    with shell_server.connection() as connection:
        report = client(connection, src, dst, True, recorder).run()
    assert "found 0 synced files and 1 unsynced files" in " ".join(recorder.info)
    assert copy.read_bytes() == content  # uploaded again, then proven
    assert not (src / DAY).exists()
    LEDGER.faults["a rotten server copy with size and time kept"] += 1


def test_the_proof_is_logged_before_the_removal(shell_server: SSHServer, tmp_path: Path) -> None:
    """11: an operator reads the log top down: the checksums match, then files go."""
    src = tmp_path / "src"
    dst = shell_server.new_remote_dir("proof-first")
    write_file(src / DAY / "a.txt", b"a")
    recorder = Recorder()
    with shell_server.connection() as connection:
        client(connection, src, dst, True, recorder).run()
    lines = [line.split(": ", 1)[1] for line in recorder.info]
    assert lines.index("checksums of all 1 files match") < lines.index(
        "removed 1 local files (their server copies are verified)"
    ), lines
    assert lines[-1] == "done"


def test_the_server_decision_says_what_durability_it_gives(
    server: SSHServer, tmp_path: Path
) -> None:
    """6: once per connection, and in ``check``."""
    src = tmp_path / "src"
    dst = server.new_remote_dir(f"durability-{os.urandom(3).hex()}")
    write_file(src / day(-2) / "a.txt", b"a")
    env = agent_env(server, src, dst, CSU_REMOVE_AFTER_UPLOAD="true")
    result = agent("once", env)
    assert result.returncode == 0, result.stderr[-2000:]
    checked = agent("check", env)
    expected = (
        "durability: fsync@openssh.com for each file, sync of its folder before local removal"
        if not server.sftp_only
        else "durability: fsync@openssh.com for each file; a rename is not made durable"
    )
    assert expected in result.stderr
    assert expected in checked.stdout
    LEDGER.faults["durability said per server"] += 1
