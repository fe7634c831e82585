"""Hostile and odd input: names, links, empty days, 50,000 files, files that keep changing,
a dated name of the wrong kind, and agents that share a source or a server."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from tests.faults.harness import check_final, digest, leftovers, make_files
from tests.faults.ledger import LEDGER
from tests.integration.helpers import (
    HOSTILE_NAMES,
    Recorder,
    agent,
    agent_env,
    client,
    day,
    start_agent,
    wait_for,
)
from tests.sshd_server import SSHServer

pytestmark = pytest.mark.faults
MANY_FILES = 50_000


def test_hostile_names_links_empty_days_and_a_dated_file_among_day_folders(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    src, dst = tmp_path / "src", shell_server.new_remote_dir("fault-odd-names")
    files = {f"{day(-2)}/{name}": 100 + i for i, name in enumerate(HOSTILE_NAMES)}
    files |= {f"{day(-2)}/-sub dir $(x)/{name}": 10 for name in HOSTILE_NAMES}
    original = make_files(src, files)
    (src / day(-3)).mkdir()  # an empty day
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside the source folder")
    (src / day(-2) / "link-to-outside").symlink_to(outside / "secret.txt")
    (src / day(-4)).symlink_to(outside)  # a dated link in place of a day folder
    (src / day(-5)).write_text("a file where a day folder belongs")

    result = agent("once", agent_env(shell_server, src, dst, CSU_REMOVE_AFTER_UPLOAD="true"))
    assert result.returncode == 0, result.stderr
    LEDGER.faults["hostile file names"] += len(files)
    LEDGER.faults["symlinks and stray files"] += 3
    LEDGER.runs_completed += 1
    check_final(original, src, dst, removed=set(original))
    assert (dst / day(-3)).is_dir()
    assert not (src / day(-3)).exists()
    assert (src / day(-2) / "link-to-outside").is_symlink()
    assert not (dst / day(-2) / "link-to-outside").exists()
    assert not (dst / day(-4)).exists()
    assert (src / day(-4)).is_symlink()
    assert (outside / "secret.txt").read_text() == "outside the source folder"
    assert (src / day(-5)).is_file()
    assert not (dst / day(-5)).exists()
    assert f"skipping '{day(-5)}': it is dated but not a folder" in result.stderr
    assert f"skipping '{day(-4)}': it is dated but a link" in result.stderr


def test_a_day_with_50000_files(shell_server: SSHServer, tmp_path: Path) -> None:
    src, dst = tmp_path / "src", shell_server.new_remote_dir("fault-many-files")
    files = {f"20240917/d{i // 1000:02d}/f{i:05d}.txt": 64 + i % 64 for i in range(MANY_FILES)}
    original = make_files(src, files)
    recorder = Recorder()
    with shell_server.connection() as connection:
        started = time.monotonic()
        report = client(connection, src, dst, True, recorder).run()
        seconds = time.monotonic() - started
    assert report.days[0].status == "uploaded", recorder.errors[:3]
    assert "2024-09-17: found 0 synced files and 50000 unsynced files" in recorder.info
    LEDGER.runs_completed += 1
    LEDGER.notes["one day of 50,000 files, seconds"] = f"{seconds:.0f}"
    check_final(original, src, dst, removed=set(original))


def test_a_file_growing_while_it_uploads_is_never_removed_unverified(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    src, dst = tmp_path / "src", shell_server.new_remote_dir("fault-growing")
    path = src / "20240917" / "growing.log"
    path.parent.mkdir(parents=True)
    path.write_bytes(os.urandom(8 << 20))
    stop = threading.Event()

    def grow() -> None:
        while not stop.is_set():
            with path.open("ab") as handle:
                handle.write(os.urandom(4096))
            time.sleep(0.01)

    writer = threading.Thread(target=grow, daemon=True)
    recorder = Recorder()
    with shell_server.connection(bandwidth_limit=16 << 20) as connection:
        writer.start()
        report = client(connection, src, dst, True, recorder).run()
        stop.set()
        writer.join()
    assert report.days[0].status == "failed"
    assert any("could not be verified" in m for m in recorder.errors)
    assert path.exists(), "a file that changed during its upload must stay local"
    LEDGER.faults["file growing during upload"] += 1

    final = digest(path)
    with shell_server.connection() as connection:
        report = client(connection, src, dst, True, Recorder()).run()
    assert report.days[0].status == "uploaded"
    assert digest(dst / "20240917" / "growing.log") == final
    assert not path.exists()
    assert leftovers(src, dst) == []


def test_two_agents_on_one_source_one_refuses_and_two_sources_share_a_server(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    src_a, src_b = tmp_path / "a" / "src", tmp_path / "b" / "src"
    dst_a = shell_server.new_remote_dir("fault-concurrent-a")
    dst_b = shell_server.new_remote_dir("fault-concurrent-b")
    original_a = make_files(src_a, {f"{day(-2)}/big.bin": 6 << 20, f"{day(-3)}/x": 10})
    original_b = make_files(src_b, {f"{day(-2)}/other.bin": 3 << 20})
    env_a = agent_env(shell_server, src_a, dst_a, CSU_BANDWIDTH_LIMIT_KIB="4096")
    first = start_agent("once", env_a)
    wait_for(lambda: any(dst_a.rglob("*.csu-partial")))
    second = agent("once", env_a)  # same source: refused
    other = agent("once", agent_env(shell_server, src_b, dst_b))  # another source, same server
    _, first_err = first.communicate(timeout=120)
    assert second.returncode == 3, second.stderr
    assert "another agent is already uploading" in second.stderr
    assert other.returncode == 0, other.stderr
    assert first.returncode == 0, first_err
    LEDGER.faults["second agent on the same source"] += 1
    LEDGER.runs_completed += 2
    check_final(original_a, src_a, dst_a, removed=set())
    check_final(original_b, src_b, dst_b, removed=set())
