"""The station's report (station/report.py): bounded in size, and saying when the
station expects to reach the server next."""

from __future__ import annotations

import datetime
import json
from typing import Any

from circadian_scp_upload.config.schedule import UploadWindow
from circadian_scp_upload.report import MAX_BYTES, report_name
from circadian_scp_upload.station.report import bounded, next_contact

UTC = datetime.timezone.utc


def test_long_messages_are_cut_and_old_days_dropped_until_it_fits() -> None:
    days = {
        f"{2020 + i // 365}-{i % 12 + 1:02d}-{i % 28 + 1:02d}x{i}": "verified" for i in range(9000)
    }
    report: dict[str, Any] = {
        "station": "st",
        "last_pass": {"outcome": "failed", "message": "x" * 100_000},
        "jobs": [{"error": "e" * 10_000}] * 500,
        "days": days,
    }
    kept = bounded(report)
    assert len(json.dumps(kept)) <= MAX_BYTES
    assert len(kept["last_pass"]["message"]) == 500
    assert len(kept["jobs"]) == 50
    assert max(kept["days"]) == max(days)  # the newest days stay
    assert report["last_pass"]["message"] == "x" * 100_000  # the status itself untouched


def test_the_next_contact_waits_for_the_upload_window() -> None:
    now = datetime.datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    assert next_contact(now, 600, None) == "2026-12-04T12:10:00+00:00"
    night = UploadWindow.parse("22:00-06:00")
    assert next_contact(now, 600, night) == "2026-12-04T22:10:00+00:00"
    late = datetime.datetime(2026, 12, 4, 23, 0, tzinfo=UTC)
    assert next_contact(late, 600, night) == "2026-12-04T23:10:00+00:00"


def test_a_station_name_becomes_a_safe_file_name() -> None:
    assert report_name("station 07/../x") == "station_07_.._x"
    assert report_name("..") == "station"
