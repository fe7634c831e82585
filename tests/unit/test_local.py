"""Local screening (local.py): days, their files, and what is left out, on a real disk."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest

from circadian_scp_upload.errors import ConfigError
from circadian_scp_upload.source.days import DayUnit, Variant, find_days, sha256_file
from circadian_scp_upload.source.patterns import DatedPattern


def touch(path: Path, content: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def screen(
    src: Path, variant: Variant = "directories", pattern: str = r"^%Y%m%d$"
) -> tuple[list[DayUnit], list[str], list[str]]:
    ambiguous: list[str] = []
    misfits: list[str] = []
    days = find_days(
        src,
        variant,
        DatedPattern(pattern),
        lambda name, _dates: ambiguous.append(name),
        misfits.append,
    )
    return days, ambiguous, misfits


def test_directories_are_days_oldest_first_with_files_and_folders(tmp_path: Path) -> None:
    touch(tmp_path / "20240918" / "a.txt")
    touch(tmp_path / "20240917" / "sub" / "deep" / "b.bin")
    (tmp_path / "20240917" / "empty").mkdir()
    touch(tmp_path / "20240917" / ".do-not-touch")
    touch(tmp_path / "notes.txt")
    touch(tmp_path / "20240919")  # a dated file among day folders
    (tmp_path / "20240920").symlink_to(tmp_path / "20240918")
    days, ambiguous, misfits = screen(tmp_path)
    assert [d.date for d in days] == [datetime.date(2024, 9, 17), datetime.date(2024, 9, 18)]
    files = days[0].list_files()
    assert [f.relpath for f in files] == ["sub/deep/b.bin"]  # the marker is never a file
    assert sorted(days[0].folders) == ["empty", "sub", "sub/deep"]
    assert sorted(misfits) == ["20240919", "20240920"]
    assert ambiguous == []


def test_files_are_grouped_by_date(tmp_path: Path) -> None:
    for name in ("20240917-a.txt", "20240917-b.txt", "20240918.txt", "x.txt"):
        touch(tmp_path / name)
    (tmp_path / "20240919-dir.txt").mkdir()
    days, _, _ = screen(tmp_path, "files", r"^%Y%m%d.*\.txt$")
    assert [(d.date.day, d.names) for d in days] == [
        (17, ["20240917-a.txt", "20240917-b.txt"]),
        (18, ["20240918.txt"]),
    ]
    assert days[0].remote_root("/srv/x/") == "/srv/x"


def test_links_and_special_files_inside_a_day_are_skipped(tmp_path: Path) -> None:
    touch(tmp_path / "20240917" / "a")
    (tmp_path / "20240917" / "link").symlink_to(tmp_path / "20240917" / "a")
    os.mkfifo(tmp_path / "20240917" / "fifo")
    [day], _, _ = screen(tmp_path)
    assert [f.relpath for f in day.list_files()] == ["a"]
    assert sorted(day.skipped) == ["fifo", "link"]


def test_ambiguous_names_are_reported(tmp_path: Path) -> None:
    touch(tmp_path / "20240917-20240918.txt")
    days, ambiguous, _ = screen(tmp_path, "files", r"^.*%Y%m%d.*$")
    assert days == []
    assert ambiguous == ["20240917-20240918.txt"]


def test_a_missing_source_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        screen(tmp_path / "absent")


def test_a_file_knows_whether_it_changed_since_screening(tmp_path: Path) -> None:
    touch(tmp_path / "20240917" / "a", b"first")
    [day], _, _ = screen(tmp_path)
    [local] = day.list_files()
    assert local.unchanged()
    assert (
        sha256_file(local.path)
        == "a7937b64b8caa58f03721bb6bacf5c78cb235febe0e70b1b84cd99541461a08e"
    )
    with local.path.open("ab") as handle:
        handle.write(b"+")
    assert not local.unchanged()
    local.path.unlink()
    assert not local.unchanged()
