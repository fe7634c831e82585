"""The source lock and the .do-not-touch markers (markers.py), on a real disk."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest

from circadian_scp_upload.errors import ConfigError, LockedError
from circadian_scp_upload.source.lock import SourceLock
from circadian_scp_upload.source.markers import (
    marker_text,
    remove_local_marker,
    set_local_marker,
)


def test_one_lock_per_source_folder_and_it_goes_with_its_holder(tmp_path: Path) -> None:
    with SourceLock(tmp_path), pytest.raises(LockedError, match="another agent"):
        SourceLock(tmp_path).__enter__()
    with SourceLock(tmp_path):  # released when the first one closed
        pass
    assert list(tmp_path.iterdir()) == []  # no lock file among the data


def test_locking_a_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        SourceLock(tmp_path / "absent").__enter__()


def test_markers_say_who_uploads_which_day_and_go_away(tmp_path: Path) -> None:
    day = datetime.date(2024, 9, 17)
    path = set_local_marker(tmp_path, day)
    assert path.name == ".do-not-touch"
    assert "is uploading 2024-09-17" in path.read_text()
    assert "do not process this day" in marker_text(day)
    remove_local_marker(tmp_path)
    remove_local_marker(tmp_path)  # a second removal is fine
    assert not path.exists()


def test_a_marker_that_is_a_link_is_replaced_never_written_through(tmp_path: Path) -> None:
    """Whoever can write the data folder plants ``.do-not-touch`` as a link to a file of
    the agent's (its key): the link is replaced by a marker, the key stays as it was."""
    key = tmp_path / "state" / "station_key"
    key.parent.mkdir()
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    day_folder = tmp_path / "20240917"
    day_folder.mkdir()
    (day_folder / ".do-not-touch").symlink_to(key)
    path = set_local_marker(day_folder, datetime.date(2024, 9, 17))
    assert key.read_text() == "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    assert not path.is_symlink()
    assert "is uploading 2024-09-17" in path.read_text()
    assert sorted(p.name for p in day_folder.iterdir()) == [".do-not-touch"]
    remove_local_marker(day_folder)
    assert key.exists()
    dangling = day_folder / ".do-not-touch"
    dangling.symlink_to(tmp_path / "absent" / "file")  # a link into nowhere: nothing made there
    set_local_marker(day_folder, datetime.date(2024, 9, 17))
    assert not (tmp_path / "absent").exists()


def test_a_fifo_where_the_marker_goes_does_not_hang_the_agent(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / ".do-not-touch")
    path = set_local_marker(tmp_path, datetime.date(2024, 9, 17))
    assert path.is_file()
    assert "is uploading" in path.read_text()
