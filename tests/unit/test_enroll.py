"""What enroll tells the server's admin (setup/enroll.py), by the destination."""

from __future__ import annotations

import shlex

import pytest

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
