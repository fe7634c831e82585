"""The status record, the metrics text and the pings' log tail (status.py, metrics.py,
pings.py), on a real disk, read back by Prometheus's own parser."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from circadian_scp_upload.config.pingurl import check_ping_url
from circadian_scp_upload.source.days import find_days
from circadian_scp_upload.source.patterns import DatedPattern
from circadian_scp_upload.station.metrics import render, write_textfile
from circadian_scp_upload.station.pings import Pinger
from circadian_scp_upload.station.status import Status, StatusBook, read_status


def days(src: Path) -> list:  # type: ignore[type-arg]
    return find_days(src, "directories", DatedPattern(r"^%Y%m%d$"), lambda *_: None)


def test_the_backlog_counts_what_is_not_known_to_be_verified(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for name, size in (("20240917/a", 10), ("20240918/b", 20), ("20240918/c", 30)):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(b"x" * size)
    book = StatusBook(tmp_path / "state", "st-1")
    (tmp_path / "state").mkdir()
    units = days(src)
    book.record_verified("job", units[0], [1, 10, units[0].list_files()[0].mtime_ns])
    backlog = book.backlog("job", units)
    assert (backlog.days, backlog.files, backlog.bytes) == (1, 2, 50)
    assert backlog.oldest_pending_day == "2024-09-18"
    started = datetime.datetime.now(datetime.timezone.utc)
    status = book.finish_pass(started, "failed", "link down", {"job": backlog}, (3, 300))
    assert read_status(tmp_path / "state") == status
    (src / "20240917" / "a").write_bytes(b"y" * 11)  # changed after it was verified
    assert StatusBook(tmp_path / "state", "st-1").backlog("job", days(src)).days == 2


def test_metrics_parse_with_prometheus_and_are_written_atomically(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    book = StatusBook(tmp_path / "state", 'st "7"\n')
    started = datetime.datetime.now(datetime.timezone.utc)
    status = book.finish_pass(started, "ok", "", {}, (5, 500))
    text = render(status)
    path = tmp_path / "csu.prom"
    write_textfile(path, text)
    assert path.stat().st_mode & 0o777 == 0o644
    families = {f.name: f for f in text_string_to_metric_families(path.read_text())}
    assert families["csu_uploaded_files"].type == "counter"
    [sample] = [s for s in families["csu_passes"].samples if s.labels["outcome"] == "ok"]
    assert sample.value == 1
    assert sample.labels["station"] == 'st "7"\n'  # escaped and read back intact
    assert families["csu_last_success_timestamp_seconds"].samples[0].value > 0


def test_metric_values_keep_every_digit() -> None:
    status = Status(
        "st-1",
        last_success="2026-11-24T17:30:17+00:00",
        uploaded_bytes_total=123_456_789_012,
        uploaded_files_total=1_234_567,
    )
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(render(status))
        for s in family.samples
    }
    assert values[("csu_uploaded_bytes_total", (("station", "st-1"),))] == 123_456_789_012
    assert values[("csu_uploaded_files_total", (("station", "st-1"),))] == 1_234_567
    stamp = datetime.datetime.fromisoformat("2026-11-24T17:30:17+00:00").timestamp()
    assert values[("csu_last_success_timestamp_seconds", (("station", "st-1"),))] == stamp


def test_ping_urls_are_checked_and_suffixes_go_into_the_path() -> None:
    for bad in ("hc-ping.com/uuid", "ftp://x/y", "https://kuma/api/push/T?ping="):
        with pytest.raises(ValueError, match=r"http|status") as raised:
            check_ping_url(bad)
        assert "uuid" not in str(raised.value)
    pinger = Pinger("https://hc.example.org/ping/abc?rid=1")
    assert pinger._with("/fail") == "https://hc.example.org/ping/abc/fail?rid=1"
