"""Hostile reports: what a station can write into its own ``.csu/stations`` folder over
SFTP, read by ``fleet`` on the server as its admin runs it.

A station may write any number of files of any size and kind, name itself after another
station, and set its files' modification times. None of that may hide, break or forge
another station's row, make a dead station look alive, or make ``fleet`` read without
bound. The flood, the borrowed name and the time set ahead each did one of those on the
previous release; the odd files held there already and are kept here.
"""

from __future__ import annotations

import datetime
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from circadian_scp_upload.cli import main
from circadian_scp_upload.office.fleet import MAX_REPORT_BYTES, MAX_REPORTS_PER_FOLDER
from tests.faults.ledger import LEDGER
from tests.unit.test_fleet import put, sound

UTC = datetime.timezone.utc


def fleet_json(
    capsys: pytest.CaptureFixture[str], root: Path
) -> tuple[int, list[dict[str, Any]], str]:
    code = main(["fleet", str(root), "--json"])
    said = capsys.readouterr()
    return code, json.loads(said.out) if said.out.strip() else [], said.err


def test_a_flood_of_reports_is_read_only_up_to_a_bound(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A station writes 300 reports of almost the size limit each: fleet reads the first
    ones of that folder only, says how many it left out, and the other station's row is
    read as ever."""
    padding = "x" * (MAX_REPORT_BYTES - 2048)
    for number in range(300):
        put(tmp_path, "flood", f"s{number:03d}.json", sound(f"s{number:03d}", pad=padding))
    put(tmp_path, "quiet", "quiet.json", sound("quiet"))
    _code, rows, err = fleet_json(capsys, tmp_path)
    from_flood = [row for row in rows if row["folder"] == "flood"]
    assert len(from_flood) == MAX_REPORTS_PER_FOLDER
    assert f"300 reports, {300 - MAX_REPORTS_PER_FOLDER} left out" in err
    [quiet] = [row for row in rows if row["folder"] == "quiet"]
    assert quiet["state"] == "ok"
    LEDGER.faults["hostile report: a flood of reports"] += 300


def test_a_station_cannot_break_or_hide_another_by_its_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Station "evil" writes, in its own folder, reports in the names of "good" (failing
    in truth) and "other" (well): good's own row stays as good said, not BROKEN, not
    hidden; the forgeries are evil's, noted as such."""
    real = put(tmp_path, "good", "good.json", sound("good", last_pass={"outcome": "failed"}))
    put(tmp_path, "other", "other.json", sound("other"))
    put(tmp_path, "evil", "good.json", sound("good"))
    put(tmp_path, "evil", "other.json", sound("other", last_pass={"outcome": "refused"}))
    _code, rows, _err = fleet_json(capsys, tmp_path)
    by_report = {row["report"]: row for row in rows}
    assert by_report[str(real)]["state"] == "FAILING"
    assert by_report[str(real)]["problems"] == []
    other = by_report[str(tmp_path / "other" / ".csu" / "stations" / "other.json")]
    assert (other["state"], other["problems"]) == ("ok", [])
    for row in rows:
        if row["folder"] == "evil":
            assert "this row is from folder 'evil'" in row["notes"][0]
    LEDGER.faults["hostile report: another station's name"] += 2


def test_a_report_time_set_ahead_buys_no_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The station sets its report's modification time 50 minutes ahead (within the
    clock tolerance): its contact stays the server's change time of the file, so a
    station that then dies is late as soon as it would be without the trick."""
    path = put(tmp_path, "sly", "sly.json", sound("sly"))
    ahead = time.time() + 50 * 60
    os.utime(path, (ahead, ahead))
    _code, [row], _err = fleet_json(capsys, tmp_path)
    contact = datetime.datetime.fromisoformat(row["last_contact"]).timestamp()
    assert abs(contact - path.stat().st_ctime) < 2, row
    assert contact < ahead - 40 * 60
    LEDGER.faults["hostile report: time set ahead"] += 1


@pytest.mark.parametrize("kind", ["fifo", "link to a secret", "huge sparse", "not JSON"])
def test_odd_files_are_broken_rows_never_a_hang_or_a_leak(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    folder = tmp_path / "odd" / ".csu" / "stations"
    folder.mkdir(parents=True)
    target = folder / "odd.json"
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps(sound("odd", last_pass={"message": "root:x:0:0"})))
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "link to a secret":
        target.symlink_to(secret)
    elif kind == "huge sparse":
        with target.open("wb") as handle:
            handle.truncate(8 << 30)  # 8 GiB of nothing: read no further than the limit
    else:
        target.write_bytes(b"\xff{" * 1000)
    started = time.monotonic()
    code, rows, _err = fleet_json(capsys, tmp_path)
    assert time.monotonic() - started < 10
    assert code == 1
    [row] = rows
    assert row["state"] == "BROKEN"
    assert "root:x" not in json.dumps(row)
    LEDGER.faults[f"hostile report: {kind}"] += 1
