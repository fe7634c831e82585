"""Data safety, round two: nothing lost, nothing blocks the rest, against a real sshd.

Each test is one case of the data-safety issue (the number in its docstring); the
summary table of the fault suite counts them, and docs/testing.md's fault-suite section
lists them with how they are tested and the outcome.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import tree, write_file
from tests.faults.harness import digest, leftovers
from tests.faults.ledger import LEDGER
from tests.integration.helpers import (
    ROOT,
    Recorder,
    agent,
    agent_env,
    client,
    day,
    make_day_dirs,
    partial_of,
)
from tests.sshd_server import TEST_USER, SSHServer

pytestmark = pytest.mark.faults


def on_disk(root: Path, name: bytes) -> Path:
    """Return the path of a name that is not UTF-8 (as os.scandir gives it)."""
    return Path(os.fsdecode(os.fsencode(root) + b"/" + name))


def test_names_that_are_not_utf8_arrive_byte_for_byte(
    server: SSHServer, remote_dir: Path, tmp_path: Path
) -> None:
    """1: names from Windows instruments or old loggers (Latin-1 bytes)."""
    src = tmp_path / "src"
    names = [b"caf\xe9.dat", b"sub-\xff/na\xefve.txt", b"plain.txt", b"big-\xe9.bin"]
    contents = {}
    for index, name in enumerate(names):
        content = os.urandom(300_000 if name.startswith(b"big") else 100 + index)
        path = on_disk(src / day(-2), name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        contents[name] = content
    odd_day = on_disk(src, day(-3).encode() + b"-\xe9t\xe9")  # a day folder of that kind
    write_file(odd_day / "a.txt", b"odd day")
    env = agent_env(
        server, src, remote_dir, CSU_REMOVE_AFTER_UPLOAD="true", CSU_DATED_REGEX="^%Y%m%d"
    )
    result = agent("once", env)
    assert result.returncode == 0, result.stderr[-2000:]
    for name, content in contents.items():
        assert on_disk(remote_dir / day(-2), name).read_bytes() == content
    assert on_disk(remote_dir, day(-3).encode() + b"-\xe9t\xe9").joinpath("a.txt").exists()
    assert tree(src) == {}
    assert leftovers(src, remote_dir) == []
    LEDGER.faults["names that are not UTF-8"] += len(names) + 1
    LEDGER.runs_completed += 1


def ready_in(zone: ZoneInfo, date: str) -> bool:
    """Whether a day is over plus one hour in ``zone`` now (computed independently)."""
    day_ = datetime.date.fromisoformat(f"{date[:4]}-{date[4:6]}-{date[6:]}")
    end = datetime.datetime.combine(day_ + datetime.timedelta(days=1), datetime.time(), zone)
    return datetime.datetime.now(datetime.timezone.utc) >= end.astimezone(
        datetime.timezone.utc
    ) + datetime.timedelta(hours=1)


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
def test_the_container_time_zone_tz_decides_when_a_day_is_over(
    shell_server: SSHServer, tmp_path: Path, zone: str
) -> None:
    """2: TZ (the container convention) is honoured; a day goes only once over there."""
    src = tmp_path / "src"
    days = [day(offset) for offset in (-2, -1, 0, 1)]
    make_day_dirs(src, days, files_per_day=1)
    dst = shell_server.new_remote_dir(f"zone-{zone.split('/')[1]}")
    env = agent_env(shell_server, src, dst, CSU_TIMEZONE="", TZ=zone)
    checked = agent("check", env)
    assert f"station time zone: {zone} (from TZ)" in checked.stdout, checked.stdout
    result = agent("once", env)
    assert result.returncode == 0, result.stderr[-2000:]
    expected = {d for d in days if ready_in(ZoneInfo(zone), d)}
    days_there = {p.name for p in dst.iterdir() if p.name != ".csu"}  # .csu: the agent's own
    assert days_there == expected
    LEDGER.faults["station time zones (TZ)"] += 1


def test_a_verified_server_file_replaced_by_a_late_writer_is_kept(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    """3: a late writer recreates a file of a day already uploaded and removed."""
    for keep in (True, False):
        src = tmp_path / f"src-{keep}"
        dst = shell_server.new_remote_dir(f"late-writer-{keep}")
        write_file(src / day(-2) / "log.csv", b"first content, verified and removed\n")
        env = agent_env(
            shell_server,
            src,
            dst,
            CSU_REMOVE_AFTER_UPLOAD="true",
            CSU_KEEP_REPLACED=str(keep).lower(),
        )
        assert agent("once", env).returncode == 0
        assert not (src / day(-2)).exists()
        write_file(src / day(-2) / "log.csv", b"second content\n")
        result = agent("once", env)
        assert result.returncode == 0, result.stderr[-2000:]
        assert (dst / day(-2) / "log.csv").read_bytes() == b"second content\n"
        kept = tree(dst / ".csu-replaced")
        if keep:
            assert list(kept.values()) == [b"first content, verified and removed\n"]
            assert "kept the server's earlier copies of 1 file(s)" in result.stderr
        else:
            assert kept == {}
    LEDGER.faults["verified server files replaced by a late writer"] += 2


@pytest.fixture
def case_insensitive_dir(shell_server: SSHServer, tmp_path: Path) -> Iterator[Path]:
    """A server folder on a case-insensitive filesystem (FUSE), as a CIFS share is."""
    backing = shell_server.new_remote_dir(f"casefold-backing-{os.urandom(3).hex()}")
    mount = shell_server.new_remote_dir(f"casefold-{os.urandom(3).hex()}")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.faults.casefold_fs", str(backing), str(mount)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while not os.path.ismount(mount):
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "the FUSE filesystem did not mount"
        time.sleep(0.05)
    (mount / "Probe").write_text("x")
    assert (mount / "PROBE").read_text() == "x"  # really case-insensitive
    (mount / "probe").unlink()
    try:
        yield mount
    finally:
        subprocess.run(["fusermount", "-u", str(mount)], check=False)
        process.wait(10)


def test_names_that_collide_on_a_case_insensitive_server_are_never_removed(
    shell_server: SSHServer, case_insensitive_dir: Path, tmp_path: Path
) -> None:
    """4: local A.bin and a.bin are one file on a CIFS share or a NAS."""
    src = tmp_path / "src"
    upper, lower = os.urandom(400_000), os.urandom(400_000)
    write_file(src / day(-2) / "A.bin", upper)
    write_file(src / day(-2) / "a.bin", lower)
    write_file(src / day(-2) / "Caf\u00e9.txt", b"composed")
    write_file(src / day(-2) / "cafe\u0301.txt", b"decomposed")
    write_file(src / day(-2) / "other.txt", b"no collision")
    env = agent_env(shell_server, src, case_insensitive_dir, CSU_REMOVE_AFTER_UPLOAD="true")
    for _ in range(2):  # a second pass changes nothing of that: no loss, no growth
        result = agent("once", env)
        assert result.returncode == 1, result.stderr[-3000:]  # one name cannot verify
        assert "differ only in letter case or Unicode normalization" in result.stderr
        for name, content in (("A.bin", upper), ("a.bin", lower)):
            assert (src / day(-2) / name).read_bytes() == content  # never removed
        assert (src / day(-2) / "Caf\u00e9.txt").read_bytes() == b"composed"
        assert (src / day(-2) / "cafe\u0301.txt").read_bytes() == b"decomposed"
        assert not (src / day(-2) / "other.txt").exists(), result.stderr  # verified, removed
        remote = case_insensitive_dir / day(-2)
        assert (remote / "other.txt").read_bytes() == b"no collision"
        assert len(list(remote.iterdir())) == 3  # one file for each pair, and other.txt
        assert not (case_insensitive_dir / ".csu-replaced").exists()
    LEDGER.faults["names colliding on a case-insensitive server"] += 2


@pytest.mark.parametrize("keep", [True, False], ids=["keep replaced", "overwrite"])
def test_a_name_that_differs_only_in_case_from_a_server_file_keeps_that_file(
    shell_server: SSHServer, case_insensitive_dir: Path, tmp_path: Path, keep: bool
) -> None:
    """4, 3 (and round three, 5): Data.bin was uploaded, verified and removed; then
    data.bin appears locally. It is never removed locally, whether or not replaced
    server copies are kept."""
    src = tmp_path / "src"
    first, second = os.urandom(300_000), os.urandom(300_000)
    write_file(src / day(-2) / "Data.bin", first)
    env = agent_env(
        shell_server,
        src,
        case_insensitive_dir,
        CSU_REMOVE_AFTER_UPLOAD="true",
        CSU_KEEP_REPLACED=str(keep).lower(),
    )
    assert agent("once", env).returncode == 0
    assert not (src / day(-2)).exists()
    write_file(src / day(-2) / "data.bin", second)
    result = agent("once", env)
    assert "'data.bin' differs only in letter case or normalization from 'Data.bin'" in (
        result.stderr
    )
    assert (src / day(-2) / "data.bin").read_bytes() == second  # never removed
    assert (case_insensitive_dir / day(-2) / "DATA.BIN").read_bytes() == second
    if keep:
        [kept] = tree(case_insensitive_dir / ".csu-replaced").values()
        assert kept == first  # the verified first file lives on, kept aside
    else:
        assert not (case_insensitive_dir / ".csu-replaced").exists()
    LEDGER.faults["a name differing in case from a verified server file"] += 1


def test_two_folders_of_one_date_are_both_uploaded(
    server: SSHServer, remote_dir: Path, tmp_path: Path
) -> None:
    """5: 20240917 and 20240917-rerun under ^%Y%m%d."""
    src = tmp_path / "src"
    write_file(src / "20240917" / "a.txt", b"first")
    write_file(src / "20240917-rerun" / "a.txt", b"rerun")
    recorder = Recorder()
    with server.connection() as connection:
        report = client(connection, src, remote_dir, True, recorder, dated_regex="^%Y%m%d").run()
    assert [d.status for d in report.days] == ["uploaded", "uploaded"]
    assert tree(remote_dir) == {"20240917/a.txt": b"first", "20240917-rerun/a.txt": b"rerun"}
    assert "2024-09-17 ('20240917-rerun'): found 0 synced files and 1 unsynced files" in (
        recorder.info
    )
    assert tree(src) == {}
    LEDGER.faults["two folders of one date"] += 1


def test_a_resumed_file_on_an_sftp_only_server_is_proven_before_its_rename(
    sftp_only_server: SSHServer, tmp_path: Path
) -> None:
    """6: the partial's tail matches, its middle does not."""
    remote_dir = sftp_only_server.new_remote_dir("resume-corrupt-middle")
    src = tmp_path / "src"
    content = os.urandom(3 << 20)
    write_file(src / "20240917" / "big.bin", content)
    corrupt = content[: 1 << 20] + b"X" * 4096 + content[(1 << 20) + 4096 : 2 << 20]
    write_file(partial_of(remote_dir, remote_dir / "20240917" / "big.bin"), corrupt)
    subprocess.run(["chown", "-R", TEST_USER, str(remote_dir)], check=True)
    recorder = Recorder()
    with sftp_only_server.connection() as connection:
        report = client(connection, src, remote_dir, True, recorder).run()
    assert any("resuming 'big.bin' from byte 2097152" in m for m in recorder.info)
    assert report.days[0].status == "failed"
    assert any("checksums differ" in m for m in recorder.errors)
    assert not (remote_dir / "20240917" / "big.bin").exists()  # never under its name
    assert (src / "20240917" / "big.bin").read_bytes() == content
    with sftp_only_server.connection() as connection:
        report = client(connection, src, remote_dir, True, Recorder()).run()
    assert report.days[0].status == "uploaded"
    assert (remote_dir / "20240917" / "big.bin").read_bytes() == content
    LEDGER.faults["a resumed file with a corrupt middle (SFTP only)"] += 1


def test_names_of_250_bytes_upload_under_a_short_temporary_name(
    server: SSHServer, remote_dir: Path, tmp_path: Path
) -> None:
    """7: names near NAME_MAX (255 bytes); the temporary names are short whatever the name
    (a hash in the destination's .csu/partial)."""
    src = tmp_path / "src"
    small_name, large_name = "s" * 246 + ".dat", "\u00e9" * 123 + ".dat"  # 250, 250 bytes
    write_file(src / day(-2) / small_name, b"small")
    large = os.urandom(400_000)
    write_file(src / day(-2) / large_name, large)
    result = agent("once", agent_env(server, src, remote_dir, CSU_REMOVE_AFTER_UPLOAD="true"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert (remote_dir / day(-2) / small_name).read_bytes() == b"small"
    assert (remote_dir / day(-2) / large_name).read_bytes() == large
    assert leftovers(src, remote_dir) == []
    LEDGER.faults["names of 250 bytes"] += 2


def test_a_file_deleted_after_screening_or_unreadable_is_digested_later(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    """16 (in part): a local file that vanishes fails its day only; the data of the
    other days goes on (the library run sees the file listed, then gone)."""
    src = tmp_path / "src"
    dst = shell_server.new_remote_dir("vanishing")
    make_day_dirs(src, ["20240917", "20240918"], files_per_day=2)
    recorder = Recorder()
    with shell_server.connection() as connection:
        upload = client(connection, src, dst, True, recorder)
        days = upload.ready_days()
        files = days[0].list_files()
        (src / "20240917" / "file1.txt").unlink()
        days[0].list_files = lambda: files  # type: ignore[method-assign]
        upload.ready_days = lambda report_odd_names=True: days  # type: ignore[method-assign]
        report = upload.run()
    assert [d.status for d in report.days] == ["failed", "uploaded"]
    assert any("cannot read the local file" in m and "file1.txt" in m for m in recorder.errors)
    assert digest(dst / "20240918" / "sub" / "deeper" / "data.bin")
    LEDGER.faults["local files gone after screening"] += 1
