"""What enroll tells the server's admin (setup/enroll.py), by the destination."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from circadian_scp_upload.cli import main
from circadian_scp_upload.setup.enroll import kit_command, kit_root


@pytest.mark.parametrize(
    ("destination", "wanted"),
    [
        ("/srv/upload/station-07", ""),  # add-station's default root
        ("/srv/upload/station-07/spectra", ""),
        ("/data/incoming/station-07", "/data/incoming"),
    ],
)
def test_add_station_gets_the_root_above_the_stations_folder(destination: str, wanted: str) -> None:
    assert kit_root(destination, "station-07") == wanted


@pytest.mark.parametrize(
    "destination", ["/srv/measurements/em27", "", "uploads/station-07", "/station-07/x"]
)
def test_a_destination_without_the_accounts_folder_is_said(destination: str) -> None:
    assert kit_root(destination, "station-07") is None
    command, note = kit_command(False, destination, "station-07", "ssh-ed25519 AAAA st")
    assert command == "sudo add-station station-07 'ssh-ed25519 AAAA st'"
    assert note.startswith("(add --root FOLDER: the folder above")


def test_the_printed_command_is_quoted_for_the_admins_shell() -> None:
    """The key's comment is the station's name, and the account comes from CSU_USER:
    neither may break, or inject into, the command the admin pastes as root."""
    hostile = "ssh-ed25519 AAAA it's x'; rm -rf /; '"
    (command,) = kit_command(True, "/srv/upload/o'brien", "o'brien", hostile)
    assert shlex.split(command) == [
        "sudo",
        "add-station",
        "--csu-only",
        "o'brien",
        hostile,
    ]


def test_public_key_prints_the_line_alone_for_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``enroll --public-key > station-07.pub``: stdout is one public key line that
    add-station reads as a .pub file; the key is made once, never again; nothing is
    asked of the server (it may not know the station yet)."""
    for name, value in {
        "CSU_HOST": "127.0.0.1",
        "CSU_PORT": "9",  # nothing answers: --public-key must not ask
        "CSU_USER": "station-07",
        "CSU_STATION": "station-07",
        "CSU_DST": "/srv/upload/station-07",
        "CSU_STATE_DIR": str(tmp_path / "state"),
    }.items():
        monkeypatch.setenv(name, value)
    assert main(["enroll", "--public-key"]) == 0
    first = capsys.readouterr()
    [line] = first.out.splitlines()
    assert line.startswith("ssh-ed25519 AAAA")
    assert line.endswith(" station-07 circadian-scp-upload")
    assert "made now" in first.err
    assert main(["enroll", "--public-key"]) == 0
    again = capsys.readouterr()
    assert again.out == first.out  # the same key, not a new one
    assert "made now" not in again.err
