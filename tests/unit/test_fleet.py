"""The fleet view (office/fleet.py, office/page.py, ``fleet``) against hostile, malformed
and misleading reports: nothing a station writes runs in the page, stops the command,
hides another station, or keeps its own silence from showing."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from circadian_scp_upload.cli import main
from circadian_scp_upload.errors import RemotePathError
from circadian_scp_upload.office.fleet import (
    MAX_REPORT_BYTES,
    Report,
    fleet_rows,
    read_local,
    read_remote,
)
from circadian_scp_upload.office.page import render_html
from tests.unit.fake_remote import MemoryRemote

UTC = datetime.timezone.utc
HOSTILE = '"><script>alert(1)</script>'
ROOT = Path(__file__).resolve().parents[2]


def iso(moment: datetime.datetime) -> str:
    return moment.isoformat(timespec="seconds")


def sound(name: str, /, **changes: Any) -> dict[str, Any]:
    """A report as an agent writes it, just now, with ``changes``."""
    now = datetime.datetime.now(UTC)
    report: dict[str, Any] = {
        "format": 1,
        "station": name,
        "written": iso(now),
        "agent_version": "1.1.0",
        "timezone": "UTC",
        "interval_seconds": 600,
        "next_contact": iso(now + datetime.timedelta(seconds=600)),
        "upload_window": None,
        "last_pass": {"outcome": "ok", "message": ""},
        "last_success": iso(now),
        "backlog_days": 0,
        "backlog_bytes": 0,
        "oldest_pending_day": None,
        "days": {now.date().isoformat(): "verified"},
        "clock_offset_seconds": None,
    }
    report.update(changes)
    return report


def put(
    root: Path, folder: str, name: str, content: object, age_seconds: float | None = None
) -> Path:
    """Write a report where a station's agent would (``name`` in its destination);
    ``age_seconds`` sets its modification time (the server's time of contact) back."""
    path = root / folder / ".csu" / "stations" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    if age_seconds is not None:
        then = datetime.datetime.now(UTC).timestamp() - age_seconds
        os.utime(path, (then, then))
    return path


def fleet(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["fleet", *args])
    said = capsys.readouterr()
    return code, said.out, said.err


def by_report(stdout: str) -> dict[str, dict[str, Any]]:
    """The JSON rows, by their report file's folder (the station's destination)."""
    return {Path(row["report"]).parents[2].name: row for row in json.loads(stdout)}


# -- 1. nothing a station writes is markup in the page ---------------------------------------


def test_a_hostile_report_puts_no_script_in_the_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    today = datetime.datetime.now(UTC).date().isoformat()
    hostile = sound(
        "st-1",
        days={today: HOSTILE, "<script>x</script>": "failed"},
        agent_version=HOSTILE,
        last_pass={"outcome": "failed", "message": HOSTILE},
        oldest_pending_day=HOSTILE,
        upload_window=HOSTILE,
    )
    put(tmp_path, "st-1", "st-1.json", hostile)
    page = tmp_path / "fleet.html"
    code, out, _err = fleet(capsys, str(tmp_path), "--html", str(page), "--days", "7")
    assert code == 1  # failing
    html = page.read_text()
    assert "<script" not in html.lower()
    assert "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown, as text
    assert 'data-state="unknown"' in html  # an unknown day state is not passed on
    assert "FAILING" in out


def test_render_html_escapes_every_value_it_is_given() -> None:
    today = datetime.datetime.now(UTC)
    [row] = fleet_rows([Report("/srv/up/x/.csu/stations/x.json", None, sound("x"))], today)
    row.station = row.agent_version = row.timezone = HOSTILE
    row.message = row.oldest_pending_day = row.upload_window = HOSTILE
    row.outcome = "failed"
    row.days = {today.date().isoformat(): HOSTILE}  # as if row_from had let it through
    row.report = f"/srv/up/{HOSTILE}.json"
    html = render_html([row], 3, today, unreadable=[(f"/srv/up/{HOSTILE}", HOSTILE)])
    assert "<script" not in html.lower()
    assert 'data-state="&quot;&gt;&lt;script&gt;' in html
    assert html.count("&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;") >= 8


def test_day_states_are_known_states_on_iso_dates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    days = {
        "2026-12-01": "verified",
        "2026-12-02": "pending",
        "2026-12-03": "failed",
        "2026-12-04": "paused",  # a newer agent's state, say: shown as unknown
        "2026-02-30": "failed",  # not a date
        "20261205": "failed",  # not ISO
        "x": "verified",
    }
    put(tmp_path, "st-1", "st-1.json", sound("st-1", days=days))
    code, out, _err = fleet(capsys, str(tmp_path), "--json")
    assert by_report(out)["st-1"]["days"] == {
        "2026-12-01": "verified",
        "2026-12-02": "pending",
        "2026-12-03": "failed",
        "2026-12-04": "unknown",
    }
    assert code == 0


# -- 2. bad input: a row marked BROKEN, never a traceback -------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"last_pass": "x"}, "last_pass"),
        ({"written": 123}, "written"),
        ({"written": "yesterday"}, "written"),
        ({"interval_seconds": "10m"}, "interval_seconds"),
        ({"interval_seconds": float("inf")}, "interval_seconds"),
        ({"interval_seconds": float("nan")}, "interval_seconds"),
        ({"backlog_days": "x"}, "backlog_days"),
        ({"backlog_bytes": 10**400}, "backlog_bytes"),
        ({"days": ["2026-12-01"]}, "days"),
        ({"oldest_pending_day": 5}, "oldest_pending_day"),
        ({"last_pass": {"outcome": ["failed"]}}, "last_pass.'outcome'"),
        ({"station": {"name": "st-1"}}, "station"),
        ({"clock_offset_seconds": "3 s"}, "clock_offset_seconds"),
        ({"next_contact": 1}, "next_contact"),
        ({"last_success": True}, "last_success"),
    ],
)
def test_a_malformed_field_makes_a_broken_row_and_the_others_are_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, Any], field: str
) -> None:
    put(tmp_path, "good", "good.json", sound("good"))
    bad = put(tmp_path, "st-1", "st-1.json", sound("st-1", **change))
    page = tmp_path / "fleet.html"
    code, out, _err = fleet(capsys, str(tmp_path), "--json", "--html", str(page))
    assert code == 1
    rows = by_report(out)
    assert rows["good"]["state"] == "ok"
    assert rows["st-1"]["state"] == "BROKEN"
    assert any(field in problem for problem in rows["st-1"]["problems"]), rows["st-1"]
    assert "BROKEN" in page.read_text()
    code, out, _err = fleet(capsys, str(tmp_path))
    assert code == 1
    [line] = [line for line in out.splitlines() if line.startswith("st-1")]
    assert f"BROKEN {bad}: " in line  # the file
    assert field.split(".")[0] in line  # and the field
    assert out.splitlines()[-1] == "2 station(s): 1 ok, 0 failing, 0 late, 1 broken"


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("[1, 2]", "not a JSON object"),
        ('"a report"', "not a JSON object"),
        ("{not json", "not JSON"),
        (b"\xff\xfe\x00garbage".decode("latin-1"), "not JSON"),
        ("[" * 100_000 + "]" * 100_000, "not JSON"),  # deeper than the parser's recursion
        (json.dumps(sound("st-1", message="x" * MAX_REPORT_BYTES)), "too large"),
    ],
)
def test_a_report_that_is_no_report_is_a_broken_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, said: str
) -> None:
    put(tmp_path, "good", "good.json", sound("good"))
    put(tmp_path, "st-1", "st-1.json", content)
    code, out, _err = fleet(capsys, str(tmp_path), "--json")
    assert code == 1
    rows = by_report(out)
    assert rows["good"]["state"] == "ok"
    assert rows["st-1"]["state"] == "BROKEN"
    assert said in rows["st-1"]["problems"][0]


def test_a_report_that_is_a_link_is_not_followed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A station makes ``a.json -> /dev/zero`` over SFTP (or a link to a report or a file
    it may not read): the report is a broken row, and nothing is read through it."""
    put(tmp_path, "good", "good.json", sound("good"))
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps(sound("st-1")))
    stations = tmp_path / "st-1" / ".csu" / "stations"
    stations.mkdir(parents=True)
    (stations / "st-1.json").symlink_to(elsewhere)
    (stations / "zero.json").symlink_to("/dev/zero")
    os.mkfifo(stations / "fifo.json")  # must not hang the read
    code, out, _err = fleet(capsys, str(tmp_path), "--json")
    assert code == 1
    rows = {Path(row["report"]).name: row for row in json.loads(out)}
    assert rows["good.json"]["state"] == "ok"
    for name in ("st-1.json", "zero.json"):
        assert rows[name]["state"] == "BROKEN"
        assert "a symbolic link, not followed" in rows[name]["problems"][0]
    assert rows["fifo.json"]["problems"][0] == "not a regular file"


def test_bad_arguments_are_a_message_and_a_bad_page_path_is_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    put(tmp_path, "st-1", "st-1.json", sound("st-1"))
    for bad in (["--late-after", "nan"], ["--late-after", "-5"], ["--days", "0"]):
        with pytest.raises(SystemExit) as raised:
            main(["fleet", str(tmp_path), *bad])
        assert raised.value.code == 2
        assert "argument " in capsys.readouterr().err
    code, _out, err = fleet(capsys, str(tmp_path), "--html", str(tmp_path / "no" / "p.html"))
    assert code == 2
    assert "the page cannot be written to" in err
    assert "Traceback" not in err


# -- 2. unreadable folders: listed, and the others read on ----------------------------------


@pytest.fixture
def shared_root() -> Iterator[Path]:
    """A folder that other users can reach (pytest's tmp_path is root's alone)."""
    root = Path(tempfile.mkdtemp(prefix="csu-fleet-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_a_folder_the_reader_may_not_read_is_listed_and_the_others_are_read(
    shared_root: Path,
) -> None:
    """The server kit makes each station's folder 0750, owned by the station: the admin
    (or the container's user) reads the fleet as another user. Really unprivileged here:
    the command runs as ``nobody``."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv to run the command as another user")
    nobody = pwd.getpwnam("nobody")
    put(shared_root, "st-1", "st-1.json", sound("st-1"))
    put(shared_root, "st-2", "st-2.json", sound("st-2"))
    (shared_root / "st-2").chmod(0o000)
    put(shared_root, "st-3", "st-3.json", sound("st-3"))
    (shared_root / "st-3" / ".csu" / "stations").chmod(0o700)
    command = [setpriv, f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}"]
    command += ["--clear-groups", sys.executable, "-m", "circadian_scp_upload", "fleet"]
    result = subprocess.run(
        [*command, str(shared_root)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr  # unreadable: not a failure
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith("st-1 ")
    assert lines[1].endswith(" ok")
    assert f"unreadable: {shared_root / 'st-2'} (Permission denied)" in lines
    assert f"unreadable: {shared_root / 'st-3' / '.csu' / 'stations'} (Permission denied)" in lines
    assert lines[-1] == "1 station(s): 1 ok, 0 failing, 0 late, 0 broken; 2 folder(s) unreadable"
    as_json = subprocess.run(
        [*command, str(shared_root), "--json"], cwd=ROOT, capture_output=True, text=True
    )
    assert [row["station"] for row in json.loads(as_json.stdout)] == ["st-1"]
    assert f"unreadable: {shared_root / 'st-2'} (Permission denied)" in as_json.stderr


def test_a_root_that_is_not_there_is_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = fleet(capsys, str(tmp_path / "absent"))
    assert code == 1
    assert out == ""
    assert f"unreadable: {tmp_path / 'absent'} (No such file or directory)" in err


def memory_fleet() -> MemoryRemote:
    remote = MemoryRemote()
    now = int(datetime.datetime.now(UTC).timestamp())
    for station in ("st-1", "st-2", "st-3"):
        folder = f"/srv/up/{station}/.csu/stations"
        remote.make_folders([folder])
        remote.files[f"{folder}/{station}.json"] = json.dumps(sound(station)).encode()
        remote.mtimes[f"{folder}/{station}.json"] = now
    return remote


def test_over_ssh_a_refused_folder_is_listed_and_the_others_are_read() -> None:
    remote = memory_fleet()
    remote.fail("list", "/srv/up/st-2", RemotePathError("permission denied to list st-2"))
    remote.fail("list", "/srv/up/st-3/.csu/stations", RemotePathError("permission denied"))
    found = read_remote(remote, "/srv/up")
    assert [report.path for report in found.reports] == ["/srv/up/st-1/.csu/stations/st-1.json"]
    assert found.unreadable == [
        ("/srv/up/st-2", "permission denied to list st-2"),
        ("/srv/up/st-3/.csu/stations", "permission denied"),
    ]


def test_over_ssh_a_report_is_read_256_kib_at_most(monkeypatch: pytest.MonkeyPatch) -> None:
    """A report that grew after it was listed is read no further than the limit; one
    listed as larger is not read at all."""
    remote = memory_fleet()
    big = "/srv/up/st-2/.csu/stations/st-2.json"
    remote.files[big] = b" " * (10 * MAX_REPORT_BYTES)
    pieces: list[int] = []
    listed = remote.list_files
    real_read = remote.read_file

    def list_small(root: str, recursive: bool) -> Any:
        listing = listed(root, recursive)
        if "st-2.json" in listing.files:  # as it was when listed: small
            entry = listing.files["st-2.json"]
            listing.files["st-2.json"] = type(entry)(100, False, True, entry.mtime)
        return listing

    def counting(path: str) -> Iterator[bytes]:
        for piece in real_read(path):
            pieces.append(len(piece))
            yield piece

    monkeypatch.setattr(remote, "list_files", list_small)
    monkeypatch.setattr(remote, "read_file", counting)
    found = read_remote(remote, "/srv/up")
    [broken] = [report for report in found.reports if report.problem]
    assert broken.path == big
    assert broken.problem.startswith("too large")
    assert sum(pieces) <= MAX_REPORT_BYTES + 32768 * 3  # the reports, and the limit
    monkeypatch.undo()
    found = read_remote(remote, "/srv/up")
    [broken] = [report for report in found.reports if report.problem]
    assert broken.problem == f"too large ({10 * MAX_REPORT_BYTES} bytes)"


def test_over_ssh_an_entry_that_is_no_regular_file_is_not_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    remote = memory_fleet()
    listed = remote.list_files

    def with_a_link(root: str, recursive: bool) -> Any:
        listing = listed(root, recursive)
        if root.endswith("st-1/.csu/stations"):
            entry = listing.files["st-1.json"]
            listing.files["st-1.json"] = type(entry)(0, False, False, entry.mtime)
        return listing

    monkeypatch.setattr(remote, "list_files", with_a_link)
    found = read_remote(remote, "/srv/up")
    assert ("read", "/srv/up/st-1/.csu/stations/st-1.json") not in remote.log
    assert found.reports[0].problem == "not a regular file"


# -- 3. trust: one station cannot hide another; the server's clock judges ---------------------


def test_one_station_cannot_hide_another_stations_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Station a writes ``a/.csu/stations/b.json`` claiming to be b, fresh and well, to
    hide b's failing row or to break it: a report counts for the folder it is in, so b's
    own row is there as b said, untouched, and a's forgery is noted as folder a's."""
    put(tmp_path, "a", "a.json", sound("a"))
    forged = put(tmp_path, "a", "b.json", sound("b", written="2099-01-01T00:00:00+00:00"))
    real = put(
        tmp_path, "b", "b.json", sound("b", last_pass={"outcome": "failed", "message": "disk"})
    )
    put(tmp_path, "a", "c.json", sound("a"))  # named for another station than it claims
    code, out, _err = fleet(capsys, str(tmp_path), "--json")
    assert code == 1
    rows = {row["report"]: row for row in json.loads(out)}
    assert rows[str(real)]["outcome"] == "failed"  # b's own row is there
    assert rows[str(real)]["problems"] == []  # and not broken by a's claim
    assert (rows[str(real)]["state"], rows[str(real)]["folder"]) == ("FAILING", "b")
    assert rows[str(forged)]["folder"] == "a"
    assert (
        "also reported from folder 'b'; this row is from folder 'a'"
        in rows[str(forged)]["notes"][0]
    )
    assert "also reported from folder 'a'" in rows[str(real)]["notes"][0]
    odd = rows[str(tmp_path / "a" / ".csu" / "stations" / "c.json")]
    assert "claims to be station 'a', but is named c.json" in odd["problems"]
    # two reports of one folder claiming one station: that folder's own problem
    assert rows[str(tmp_path / "a" / ".csu" / "stations" / "a.json")]["state"] == "BROKEN"
    text = fleet(capsys, str(tmp_path))[1]
    assert sum(line.startswith("b ") for line in text.splitlines()) == 2
    assert f"note: {forged}: station 'b' is also reported from folder 'b'" in text


def test_lateness_is_judged_by_the_servers_time_of_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A station whose clock says "just now" but whose report reached the server five
    hours ago is late; one whose clock is five hours behind but reported now is not."""
    put(tmp_path, "fast", "fast.json", sound("fast"), age_seconds=5 * 3600)
    behind = datetime.datetime.now(UTC) - datetime.timedelta(hours=5)
    slow = sound(
        "slow",
        written=iso(behind),
        next_contact=iso(behind + datetime.timedelta(seconds=600)),
        clock_offset_seconds=None,
    )
    put(tmp_path, "slow", "slow.json", slow)
    code, out, _err = fleet(capsys, str(tmp_path), "--json")
    assert code == 1
    rows = by_report(out)
    assert rows["fast"]["state"] == "LATE"
    assert 3 * 3600 < rows["fast"]["late_by_seconds"] < 4 * 3600  # 5 h - 10 min - 1 h
    assert abs(rows["fast"]["clock_offset_seconds"] + 5 * 3600) < 60  # station ahead
    assert rows["slow"]["state"] == "ok"
    assert abs(rows["slow"]["clock_offset_seconds"] - 5 * 3600) < 60  # station behind
    assert rows["slow"]["written"] == iso(behind)


def test_a_closed_upload_window_is_not_lateness(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The station said its next pass reaches the server in ten hours (its window is
    closed until then): five hours of silence are not late; eleven and more are."""
    now = datetime.datetime.now(UTC)
    waiting = sound(
        "st-1",
        written=iso(now),
        next_contact=iso(now + datetime.timedelta(hours=10)),
        upload_window="22:00-06:00",
    )
    put(tmp_path, "st-1", "st-1.json", waiting, age_seconds=5 * 3600)
    code, out, _err = fleet(capsys, str(tmp_path), "--json")
    [row] = json.loads(out)
    assert (code, row["state"], row["upload_window"]) == (0, "ok", "22:00-06:00")
    due = datetime.datetime.fromisoformat(row["due"])
    assert abs((due - (now + datetime.timedelta(hours=5))).total_seconds()) < 60
    put(tmp_path, "st-1", "st-1.json", waiting, age_seconds=12 * 3600)
    code, out, _err = fleet(capsys, str(tmp_path), "--json")
    assert (code, json.loads(out)[0]["state"]) == (1, "LATE")
    page = tmp_path / "fleet.html"
    fleet(capsys, str(tmp_path), "--html", str(page))
    assert "22:00-06:00" in page.read_text()


@pytest.mark.parametrize(
    "change",
    [
        {"interval_seconds": 1e12},
        {"next_contact": "9999-12-31T23:59:59+00:00"},
        {"written": "0001-01-01T00:00:00+00:00", "next_contact": "9999-12-31T00:00:00+00:00"},
    ],
)
def test_no_claim_of_a_station_keeps_it_from_ever_being_late(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, Any]
) -> None:
    put(tmp_path, "st-1", "st-1.json", sound("st-1", **change), age_seconds=30 * 86400)
    code, out, _err = fleet(capsys, str(tmp_path), "--json")
    [row] = json.loads(out)
    assert (code, row["state"]) == (1, "LATE")


def test_a_report_time_set_ahead_makes_no_station_look_fresh(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The station set its report's modification time a year ahead (SFTP lets it): the
    server's change time, which no client sets, is its contact, and it is no fresher."""
    path = put(tmp_path, "st-1", "st-1.json", sound("st-1"), age_seconds=-365 * 86400)
    assert path.stat().st_mtime > time.time() + 300 * 86400  # the station's word
    _code, out, _err = fleet(capsys, str(tmp_path), "--json")
    [row] = json.loads(out)
    contact = datetime.datetime.fromisoformat(row["last_contact"]).timestamp()
    assert abs(contact - path.stat().st_ctime) < 2
    assert row["contact_source"] == "server"


def test_a_report_from_the_future_over_sftp_is_broken() -> None:
    """Over SFTP the modification time is all there is: ahead of the clock, it is no
    contact to trust, and the row says whose word its time is."""
    now = datetime.datetime.now(UTC)
    report = Report("/srv/up/x/.csu/stations/x.json", now.timestamp() + 365 * 86400, sound("x"))
    [row] = fleet_rows([dataclasses.replace(report, source="station")], now)
    assert row.state == "BROKEN"
    assert "in the future" in row.problems[0]
    assert row.contact_source == "station"


def test_the_local_and_the_remote_reading_agree(tmp_path: Path) -> None:
    remote = memory_fleet()
    for path, data in remote.files.items():
        local = tmp_path / path.lstrip("/")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(data)
        os.utime(local, (remote.mtimes[path], remote.mtimes[path]))
    over_ssh = fleet_rows(read_remote(remote, "/srv/up").reports)
    here = fleet_rows(read_local(tmp_path / "srv" / "up").reports)
    assert [(r.station, r.state, r.last_contact) for r in over_ssh] == [
        (r.station, r.state, r.last_contact) for r in here
    ]


def test_enrolled_stations_without_a_report_are_missing_and_hostile_records_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """add-station's records (root-owned, but read as data): a station whose folder
    holds no report is MISSING; one that reported is not doubled; a record that is a
    link, a FIFO, oversized or not a record is listed as unreadable, never followed."""
    root, records = tmp_path / "srv", tmp_path / "stations"
    records.mkdir()
    put(root, "station-a", "station-a.json", sound("station-a"))
    for user in ("station-a", "station-b"):
        (records / f"{user}.conf").write_text(f"user={user}\nfolder={root / user}\n")
    (records / "outside.conf").write_text(f"user=outside\nfolder={tmp_path / 'elsewhere'}\n")
    (records / "garbage.conf").write_text("<html>not a record</html>\n")
    (records / "huge.conf").write_text("user=huge\n" + "x" * 100_000 + f"\nfolder={root}/huge\n")
    (records / "link.conf").symlink_to(records / "station-b.conf")
    os.mkfifo(records / "fifo.conf")
    code = main(["fleet", str(root), "--stations", str(records), "--json"])
    said = capsys.readouterr()
    assert code == 1
    rows = {row["station"]: row for row in json.loads(said.out)}
    assert set(rows) == {"station-a", "station-b"}  # outside ROOT: not this fleet's
    assert rows["station-a"]["state"] == "ok"
    assert rows["station-b"]["state"] == "MISSING"
    assert rows["station-b"]["report"] == str(root / "station-b")
    for name in ("garbage.conf", "link.conf", "fifo.conf", "huge.conf"):
        assert f"unreadable: {records / name}" in said.err, said.err
