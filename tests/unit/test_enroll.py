"""What enroll tells the server's admin (service/enroll.py), by the destination."""

from __future__ import annotations

import pytest

from circadian_scp_upload.service.enroll import kit_root


@pytest.mark.parametrize(
    ("destination", "wanted"),
    [
        ("/srv/upload/station-07", ""),  # add-station's default root
        ("/srv/upload/station-07/spectra", ""),
        ("/data/incoming/station-07", " --root /data/incoming"),
        ("/station-07/x", " --root /"),
    ],
)
def test_add_station_gets_the_root_above_the_stations_folder(destination: str, wanted: str) -> None:
    assert kit_root(destination, "station-07") == wanted


@pytest.mark.parametrize("destination", ["/srv/measurements/em27", "", "uploads/station-07"])
def test_a_destination_without_the_accounts_folder_is_said(destination: str) -> None:
    assert kit_root(destination, "station-07").startswith(" --root <folder above")
