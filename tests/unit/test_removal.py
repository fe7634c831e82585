"""Removing proven local files (removal.py) on a real disk, with writers that race it."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from circadian_scp_upload.source import removal
from circadian_scp_upload.source.days import ASIDE_PREFIX, LocalFile
from circadian_scp_upload.source.removal import (
    aside_name,
    held_open,
    recover_aside,
    remove_files,
)


def screened(path: Path, relpath: str = "") -> LocalFile:
    st = path.lstat()
    return LocalFile(
        relpath or path.name, path, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns
    )


def remove(files: list[LocalFile]) -> tuple[int, list[str], list[str]]:
    info: list[str] = []
    errors: list[str] = []
    return remove_files(files, info.append, errors.append), info, errors


def test_a_proven_file_goes_and_leaves_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"a")
    removed, info, errors = remove([screened(path)])
    assert (removed, errors) == (1, [])
    assert info == ["removed 1 local files (their server copies are verified)"]
    assert list(tmp_path.iterdir()) == []


def test_a_new_version_renamed_over_the_name_at_the_last_moment_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer renames its new version over the name after the last look and before
    the unlink (the old window): the proven file is the one removed, the new one stays."""
    path = tmp_path / "a.bin"
    path.write_bytes(b"proven")
    local = screened(path)
    looked = held_open

    def writer_strikes(aside: Path) -> bool | None:
        fresh = tmp_path / ".a.bin.tmp"
        fresh.write_bytes(b"new version, never uploaded")
        os.rename(fresh, path)  # rsync's and most writers' way of replacing a file
        return looked(aside)

    monkeypatch.setattr(removal, "held_open", writer_strikes)
    removed, _info, errors = remove([local])
    assert (removed, errors) == (1, [])
    assert path.read_bytes() == b"new version, never uploaded"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_a_version_renamed_over_before_the_move_is_put_back(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"proven")
    local = screened(path)
    fresh = tmp_path / "new"
    fresh.write_bytes(b"proven")  # even the same size and content
    os.utime(fresh, ns=(local.mtime_ns, local.mtime_ns))  # and the same time
    os.rename(fresh, path)
    removed, _info, errors = remove([local])
    assert removed == 0
    assert path.read_bytes() == b"proven"
    assert "changed after they were verified" in errors[0]


def test_a_file_a_writer_still_holds_open_is_kept(tmp_path: Path) -> None:
    """Unlinking it would lose what the writer writes later: another process holds it
    open (a real one), so it stays, put back under its name."""
    path = tmp_path / "log.txt"
    path.write_bytes(b"line 1\n")
    local = screened(path)
    with path.open("ab") as handle:  # the writer's descriptor, ours closed at once
        writer = subprocess.Popen(["sleep", "30"], stdout=handle)
    try:
        deadline = time.monotonic() + 10
        while held_open(path) is not True:
            assert time.monotonic() < deadline, "the writer never opened the file"
            time.sleep(0.02)
        removed, _info, errors = remove([local])
    finally:
        writer.kill()
        writer.wait()
    assert removed == 0
    assert path.read_bytes() == b"line 1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["log.txt"]
    assert "still open in a writer" in errors[0]
    assert held_open(path) is False  # let go: the next pass removes it
    assert remove([screened(path)])[0] == 1


def test_a_file_moved_aside_whose_name_was_taken_is_kept_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"proven")
    local = screened(path)

    def rewritten_and_replaced(aside: Path) -> bool | None:
        aside.write_bytes(b"appended after the proof")  # a writer with an old descriptor
        path.write_bytes(b"and a new file under the name")
        return False

    monkeypatch.setattr(removal, "held_open", rewritten_and_replaced)
    removed, _info, errors = remove([local])
    assert removed == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names[0] == "a.bin"
    assert names[1].startswith("a.bin.csu-kept-")
    assert (tmp_path / names[1]).read_bytes() == b"appended after the proof"
    assert path.read_bytes() == b"and a new file under the name"
    assert any("a newer file took its name" in e for e in errors)


def test_the_private_name_never_replaces_a_file_of_the_instrument(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"proven")
    theirs = tmp_path / aside_name("a.bin")
    theirs.write_bytes(b"the instrument's own file")
    removed, _info, errors = remove([screened(path)])
    assert removed == 0
    assert theirs.read_bytes() == b"the instrument's own file"
    assert path.read_bytes() == b"proven"
    assert "is in the way" in errors[0]


def test_long_names_get_a_short_private_name() -> None:
    assert aside_name("a.bin") == ASIDE_PREFIX + "a.bin"
    long = "x" * 250
    assert len(aside_name(long).encode()) <= 255
    assert aside_name(long) != aside_name("y" * 250)


def test_a_crash_between_the_move_and_the_unlink_is_put_back_only_when_provable(
    tmp_path: Path,
) -> None:
    moved = tmp_path / aside_name("a.bin")
    moved.write_bytes(b"proven")
    os.utime(moved, (1_700_000_000, 1_700_000_000))
    other = tmp_path / aside_name("b.bin")  # a file of that form, no server copy to match
    other.write_bytes(b"data")
    files = [screened(moved), screened(other)]
    back = recover_aside(files, {"a.bin": (6, 1_700_000_000), "b.bin": (9, 1_700_000_000)})
    assert back == ["a.bin"]
    assert (tmp_path / "a.bin").read_bytes() == b"proven"
    assert other.read_bytes() == b"data"  # left: data like any other
    assert not moved.exists()
