"""The fleet, seen from the server the stations upload to: their reports, read and judged.

Every station writes ``.csu/stations/<station>.json`` in its destination (``report.py``).
``fleet ROOT`` finds the reports below ROOT (the usual layout: one folder per station
under a common root; ``depth`` folders down, dated day folders and hidden ones skipped),
on this machine (the server itself) or over SSH with the agent's own settings, and makes
one row per report file: last contact, last success, backlog, oldest pending day, last
error, and its state: ``ok``, ``FAILING``, ``LATE`` or ``BROKEN``.

A report is what a station says, and a station may be wrong or hostile, so:

- **Contact** is the server's time of the report file's last change: read on the server,
  the earlier of its change time (``st_ctime``, which no client can set) and its
  modification time (which a station can set over SFTP, so it can only make itself look
  older, never fresher); read over SFTP (``--remote``), only the modification time is
  there, and the row says its contact time is the station's word (``contact_source``:
  ``server``, ``station`` or ``station clock`` where the server gave no time at all). The
  station's own ``written`` is kept beside it; the difference is its clock offset. A station
  is LATE when the server has not heard from it by the time it said it would next reach
  the server (``next_contact`` - ``written`` after its last contact; without those, one
  pass interval, taken within 1 min .. 7 d), plus a slack (``--late-after``, else two
  pass intervals, an hour at least).
- A report that cannot be read, is not a regular file (a link is never followed), is
  larger than 256 KiB, is not a JSON object, or has a field of the wrong type, is a
  BROKEN row that names the file and the field; so is a report whose ``station`` is not
  the one its file is named for, and every report of a station that two reports in the
  same folder claim.
- **A report counts for the folder it is in** (the first folder below ROOT: the
  station's account). A name claimed from two folders turns neither row BROKEN: each
  row is shown with its folder and a note naming the other, so a station cannot hide or
  break another's row by writing a report in its own name.
- **Bounded work**: at most ``MAX_REPORTS_PER_FOLDER`` reports are read from one
  ``.csu/stations`` folder (by name; the rest are listed as left out), each read only up
  to ``MAX_REPORT_BYTES`` (a larger one is BROKEN, never read whole), never through a
  link, a FIFO or a device.
  Day states other than verified, pending and failed become ``unknown``; day keys that
  are not ISO dates are dropped.
- A folder that cannot be read (a station's own folder, 0750, seen by the admin) is
  listed as unreadable, and the others are read on.
- **Stations that never reported**: a station that cannot write its report (its key
  never logged in, a folder not its own, a full disk) writes none, and a list of reports
  cannot show it. With ``--stations`` (the server kit's records, one ``USER.conf`` per
  station that add-station enrolled), every enrolled station whose folder holds no report
  is a ``MISSING`` row of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import errno
import json
import math
import os
import posixpath
import re
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PermanentError
from ..remote.api import Listing, Remote, RemoteEntry
from ..report import DAY_STATES, DAYS_KEPT, report_name

REPORTS = (".csu", "stations")
DEFAULT_DEPTH = 2
MAX_REPORT_BYTES = 256 * 1024  # a station's report is a few KB; report.py keeps it to 64
MAX_TEXT = 500  # characters kept of any text in a report
DEFAULT_INTERVAL = 600.0
MIN_INTERVAL = 60.0
MAX_INTERVAL = 7 * 86400.0
MIN_LATE_SECONDS = 3600.0
MAX_DEPTH = 8
MAX_DAYS = DAYS_KEPT  # a report keeps no more
# reports read from one .csu/stations folder: a folder serves one station (or a few
# sharing an account); a station writing thousands makes the rest be left out, said so
MAX_REPORTS_PER_FOLDER = 16
# seconds a report's time on the server may lie ahead of this machine's clock (with
# --remote they are two clocks); more is a station that set it ahead, never to be late
FUTURE_TOLERANCE = 3600.0
DAY_FOLDER = re.compile(r"^\d{6,8}")  # 20240917..., skipped: stations' data, not reports
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FAILING = ("failed", "refused", "config")
UNKNOWN_DAY = "unknown"
STATES = ("ok", "FAILING", "LATE", "MISSING", "BROKEN")
MAX_RECORD_BYTES = 4096  # one of add-station's records is a few lines
UTC = datetime.timezone.utc


@dataclass(frozen=True)
class Report:
    """One report file as found: its path, the server's modification time of it (epoch
    seconds; None when unknown), and its parsed content, or why there is none."""

    path: str
    mtime: float | None  # the time of contact the server gives (see contact_source)
    content: Any = None
    problem: str = ""
    source: str = "server"  # whose word mtime is: the server's, or the station's (SFTP)


@dataclass
class Found:
    """What a search below ROOT found: report files, and folders it could not read."""

    reports: list[Report] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (folder, why)


@dataclass
class StationRow:
    """One report file, as it and the time now say."""

    station: str  # the station the report claims to be from
    report: str  # where the report is
    last_contact: str | None  # the time of contact (ISO, UTC), by contact_source's word
    written: str | None  # the station's own time of it
    clock_offset_seconds: float | None  # the server's clock minus the station's
    due: str | None  # when the server should next hear from it (the server's clock)
    upload_window: str | None
    interval_seconds: float
    last_success: str | None
    outcome: str
    message: str
    backlog_days: int
    backlog_bytes: int
    oldest_pending_day: str | None
    agent_version: str
    timezone: str
    late: bool = False
    late_by_seconds: float = 0.0
    days: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # why the row is BROKEN
    folder: str = ""  # the folder below ROOT the report is in: whose report it is
    contact_source: str = "server"  # "server", "station" (its SFTP mtime), "station clock"
    notes: list[str] = field(default_factory=list)  # said, not BROKEN
    missing: bool = False  # enrolled by the server kit, but no report in its folder

    @property
    def failing(self) -> bool:
        """Whether the station's last pass failed or was refused."""
        return self.outcome in FAILING

    @property
    def state(self) -> str:
        """``BROKEN`` (the report cannot be trusted as it is), else ``LATE`` (its last
        word is old news), else ``FAILING``, else ``ok``."""
        if self.problems:
            return "BROKEN"
        if self.missing:
            return "MISSING"
        return "LATE" if self.late else "FAILING" if self.failing else "ok"


# -- reading ---------------------------------------------------------------------------------


def parse_report(path: str, mtime: float | None, data: bytes) -> Report:
    """Return the report in ``data``, or why it is none (more than ``MAX_REPORT_BYTES``:
    too large, not parsed)."""
    if len(data) > MAX_REPORT_BYTES:
        return Report(path, mtime, problem=f"too large (over {MAX_REPORT_BYTES // 1024} KiB)")
    try:
        return Report(path, mtime, json.loads(data))
    except (ValueError, RecursionError) as error:
        return Report(path, mtime, problem=f"not JSON ({str(error)[:200]})")


def _is_report_name(name: str) -> bool:
    return name.endswith(".json") and not name.startswith(".")


def _searched(name: str) -> bool:
    """Whether reports are looked for below a folder of this name."""
    return not name.startswith(".") and not DAY_FOLDER.match(name)


def _why(error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "a symbolic link, not followed"
    return error.strerror or str(error)


@contextlib.contextmanager
def _open_folder(name: str, parent: int | None) -> Iterator[int]:
    """Open a folder; below ``parent`` (a folder's descriptor) never through a link."""
    nofollow = os.O_NOFOLLOW if parent is not None else 0
    descriptor = os.open(name, os.O_RDONLY | os.O_DIRECTORY | nofollow, dir_fd=parent)
    try:
        yield descriptor
    finally:
        os.close(descriptor)


def read_local(root: Path, depth: int = DEFAULT_DEPTH) -> Found:
    """Return every report below ``root`` on this machine, and the folders it could not
    read. Below ROOT no link is followed; each folder is opened relative to its parent."""
    found = Found()
    _visit_local(None, str(root), str(root), depth, found)
    return found


def _visit_local(parent: int | None, name: str, path: str, depth: int, found: Found) -> None:
    """Read the reports of one folder, then those of its subfolders ``depth`` down."""
    try:
        with _open_folder(name, parent) as folder:
            with os.scandir(folder) as entries:
                subfolders = sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))
            if REPORTS[0] in subfolders:
                _read_local_reports(folder, os.path.join(path, *REPORTS), found)
            for sub in subfolders if depth > 0 else []:
                if _searched(sub):
                    _visit_local(folder, sub, os.path.join(path, sub), depth - 1, found)
    except OSError as error:
        found.unreadable.append((path, _why(error)))


def _read_local_reports(folder: int, path: str, found: Found) -> None:
    """Read the reports in ``.csu/stations`` of an open folder."""
    try:
        with (
            _open_folder(REPORTS[0], folder) as csu,
            _open_folder(REPORTS[1], csu) as stations,
        ):
            with os.scandir(stations) as entries:
                names = sorted(
                    e.name
                    for e in entries
                    if _is_report_name(e.name) and not e.is_dir(follow_symlinks=False)
                )
            for name in _bounded(names, path, found):
                found.reports.append(_read_local_report(stations, name, f"{path}/{name}"))
    except FileNotFoundError:
        return  # a .csu without reports
    except OSError as error:
        found.unreadable.append((path, _why(error)))


def _read_local_report(stations: int, name: str, path: str) -> Report:
    """Read one report: never through a link, a regular file only, 256 KiB at most."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK  # a FIFO must not hang the read
    try:
        descriptor = os.open(name, flags, dir_fd=stations)
    except OSError as error:
        return Report(path, None, problem=f"cannot be opened ({_why(error)})")
    with os.fdopen(descriptor, "rb") as stream:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            return Report(path, None, problem="not a regular file")
        # the station can set the modification time, not the change time: the earlier
        contact = min(info.st_mtime, info.st_ctime)
        try:
            data = stream.read(MAX_REPORT_BYTES + 1)
        except OSError as error:
            return Report(path, contact, problem=f"cannot be read ({_why(error)})")
    return parse_report(path, contact, data)


def _bounded(names: list[str], path: str, found: Found) -> list[str]:
    """The first ``MAX_REPORTS_PER_FOLDER`` report names of a folder; the rest are said."""
    if len(names) > MAX_REPORTS_PER_FOLDER:
        left = len(names) - MAX_REPORTS_PER_FOLDER
        found.unreadable.append(
            (
                path,
                f"{len(names)} reports, {left} left out: at most "
                f"{MAX_REPORTS_PER_FOLDER} are read from one folder",
            )
        )
    return names[:MAX_REPORTS_PER_FOLDER]


def read_remote(remote: Remote, root: str, depth: int = DEFAULT_DEPTH) -> Found:
    """Return every report below ``root`` on the server, over SSH, and the folders it
    could not read (a refusal there is listed; a lost link is raised)."""
    found = Found()
    _visit_remote(remote, root, depth, found)
    return found


def _visit_remote(remote: Remote, path: str, depth: int, found: Found) -> None:
    listing = _list_remote(remote, path, found)
    if listing is None:
        return
    if REPORTS[0] in listing.folders:
        folder = posixpath.join(path, *REPORTS)
        reports = _list_remote(remote, folder, found, missing_ok=True)
        names = sorted(name for name in (reports.files if reports else {}) if _is_report_name(name))
        for name in _bounded(names, folder, found):
            entry = reports.files[name] if reports else None
            if entry is not None:
                found.reports.append(_read_remote_report(remote, f"{folder}/{name}", entry))
    for sub in sorted(listing.folders) if depth > 0 else []:
        if _searched(sub):
            _visit_remote(remote, posixpath.join(path, sub), depth - 1, found)


def _list_remote(
    remote: Remote, path: str, found: Found, missing_ok: bool = False
) -> Listing | None:
    try:
        listing = remote.list_files(path, recursive=False)
    except PermanentError as error:
        found.unreadable.append((path, str(error)))
        return None
    if not listing.exists:
        if not missing_ok:
            found.unreadable.append((path, "it does not exist"))
        return None
    return listing


def _read_remote_report(remote: Remote, path: str, entry: RemoteEntry) -> Report:
    """Read one report over SFTP: a regular file only, 256 KiB at most."""
    if not entry.is_file:  # a listing holds regular files only; a link is not among them
        return Report(path, None, problem="not a regular file")
    if entry.size > MAX_REPORT_BYTES:
        return Report(path, entry.mtime, problem=f"too large ({entry.size} bytes)")
    pieces: Iterator[bytes] | None = None
    data = bytearray()
    try:
        pieces = remote.read_file(path)
        for piece in pieces:  # the file may have grown since it was listed
            data += piece
            if len(data) > MAX_REPORT_BYTES:
                break
    except PermanentError as error:
        return Report(path, entry.mtime, problem=f"cannot be read ({error})", source="station")
    finally:
        close = getattr(pieces, "close", None)
        if callable(close):
            close()  # stopped early: the remote file is closed now, not at collection
    found = parse_report(path, entry.mtime, bytes(data))
    # over SFTP only the modification time is there, which the station can set
    return dataclasses.replace(found, source="station")


# -- judging ---------------------------------------------------------------------------------


def _parse_time(text: str | None) -> datetime.datetime | None:
    """Return an ISO time (UTC when it names no zone) in UTC, or None."""
    if not text:
        return None
    try:
        found = datetime.datetime.fromisoformat(text)
        return (found if found.tzinfo else found.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    try:
        return datetime.datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")
    except (ValueError, OverflowError, OSError):
        return None


class _Fields:
    """A report's fields, taken by type: a field of the wrong type is a problem noted
    (and left out), never an error."""

    def __init__(self, content: dict[str, Any], problems: list[str], prefix: str = "") -> None:
        self.content, self.problems, self.prefix = content, problems, prefix

    def _get(self, name: str, kinds: tuple[type, ...], what: str) -> Any:
        value = self.content.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, kinds):
            self.problems.append(f"field {self.prefix}{name!r} is not {what}")
            return None
        return value

    def text(self, name: str) -> str | None:
        value: str | None = self._get(name, (str,), "text")
        return value[:MAX_TEXT] if value is not None else None

    def count(self, name: str) -> int:
        value: int | None = self._get(name, (int,), "a whole number")
        if value is not None and not 0 <= value < 2**63:
            self.problems.append(f"field {self.prefix}{name!r} is out of range")
            return 0
        return value or 0

    def number(self, name: str) -> float | None:
        value: float | None = self._get(name, (int, float), "a number")
        try:
            number = None if value is None else float(value)
        except OverflowError:
            number = math.inf
        if number is not None and not math.isfinite(number):
            self.problems.append(f"field {self.prefix}{name!r} is not a finite number")
            return None
        return number

    def time(self, name: str) -> datetime.datetime | None:
        value: str | None = self._get(name, (str,), "text")
        moment = _parse_time(value)
        if value is not None and moment is None:
            self.problems.append(f"field {self.prefix}{name!r} is not an ISO time")
        return moment

    def mapping(self, name: str) -> dict[str, Any]:
        value: dict[str, Any] | None = self._get(name, (dict,), "an object")
        return value or {}


def known_days(days: dict[str, Any]) -> dict[str, str]:
    """Return the day states that can be shown: ISO dates only, and each state one of
    verified, pending, failed, else ``unknown`` (a newer agent may know more)."""
    kept = {}
    for key, state in days.items():
        if not ISO_DATE.match(key):
            continue
        try:
            datetime.date.fromisoformat(key)
        except ValueError:
            continue
        kept[key] = state if state in DAY_STATES else UNKNOWN_DAY
    return kept


def row_from(report: Report, now: datetime.datetime, late_after: float | None) -> StationRow:
    """Given one report file, return its row, judged at ``now``."""
    problems = [report.problem] if report.problem else []
    content = report.content
    if not report.problem and not isinstance(content, dict):
        problems.append("not a JSON object")
    fields = _Fields(content if isinstance(content, dict) else {}, problems)
    last_pass = _Fields(fields.mapping("last_pass"), problems, "last_pass.")
    written = fields.time("written")
    next_contact = fields.time("next_contact")
    stated_interval = fields.number("interval_seconds")
    interval = min(max(stated_interval or DEFAULT_INTERVAL, MIN_INTERVAL), MAX_INTERVAL)
    # the last contact is when the server got the report; the station's clock only where
    # the server gave no time
    contact = report.mtime
    source = report.source
    if contact is None and written is not None:
        contact, source = written.timestamp(), "station clock"
    if contact is not None and contact > now.timestamp() + FUTURE_TOLERANCE:
        problems.append(f"its time on the server, {_iso(contact)}, is in the future")
        contact = now.timestamp()
    if contact is None and not report.problem:
        problems.append("no time of contact: the server gave none, and 'written' is missing")
    wait = interval
    if written is not None and next_contact is not None:
        stated = (next_contact - written).total_seconds()
        wait = min(max(stated, 0.0), MAX_INTERVAL + interval)
    slack = late_after if late_after is not None else max(2 * interval, MIN_LATE_SECONDS)
    due = contact + wait if contact is not None else None
    late_by = now.timestamp() - (due + slack) if due is not None else 0.0
    offset = fields.number("clock_offset_seconds")
    if report.mtime is not None and written is not None:
        offset = round(report.mtime - written.timestamp(), 1)  # measured beats stated
    return StationRow(
        station=fields.text("station") or posixpath.basename(report.path).removesuffix(".json"),
        report=report.path,
        last_contact=_iso(contact),
        written=written.isoformat(timespec="seconds") if written else None,
        clock_offset_seconds=offset,
        due=_iso(due),
        upload_window=fields.text("upload_window"),
        interval_seconds=interval,
        last_success=fields.text("last_success"),
        outcome=last_pass.text("outcome") or "none",
        message=last_pass.text("message") or "",
        backlog_days=fields.count("backlog_days"),
        backlog_bytes=fields.count("backlog_bytes"),
        oldest_pending_day=fields.text("oldest_pending_day"),
        agent_version=fields.text("agent_version") or "?",
        timezone=fields.text("timezone") or "?",
        late=late_by > 0,
        late_by_seconds=max(0.0, late_by),
        days=known_days(fields.mapping("days")),
        problems=problems,
        contact_source=source,
    )


def folder_of(report: str, root: str) -> str:
    """The first folder below ``root`` on the way to ``report``: whose report it is
    (``.`` for ROOT's own reports)."""
    if not root:  # no root said: the report's destination stands for its folder
        return posixpath.dirname(posixpath.dirname(posixpath.dirname(report)))
    first = posixpath.relpath(report, root).split("/", 1)[0]
    return "." if first in (".", "..", REPORTS[0]) else first


def _flag_claims(rows: list[StationRow]) -> None:
    """Flag a report whose station is not the one its file is named for, and the reports
    of one folder that claim the same station; a name claimed from several folders is
    noted on each row, never BROKEN: a report counts for the folder it is in, so one
    station cannot hide or break another's row."""
    in_folder: dict[tuple[str, str], list[StationRow]] = {}
    folders: dict[str, set[str]] = {}
    for row in rows:
        in_folder.setdefault((row.folder, row.station), []).append(row)
        folders.setdefault(row.station, set()).add(row.folder)
        named = posixpath.basename(row.report)
        if named != f"{report_name(row.station)}.json":
            row.problems.append(f"claims to be station {row.station!r}, but is named {named}")
    for claimed in in_folder.values():
        for row in claimed if len(claimed) > 1 else []:
            others = ", ".join(other.report for other in claimed if other is not row)
            row.problems.append(f"claims to be station {row.station!r}, also reported by {others}")
    for row in rows:
        elsewhere = sorted(folders[row.station] - {row.folder})
        if elsewhere:
            row.notes.append(
                f"station {row.station!r} is also reported from folder "
                + ", ".join(repr(folder) for folder in elsewhere)
                + f"; this row is from folder {row.folder!r}"
            )


def fleet_rows(
    reports: list[Report],
    now: datetime.datetime | None = None,
    late_after: float | None = None,
    root: str = "",
) -> list[StationRow]:
    """Return a row per report file, by station, then path; ``root`` is the folder
    searched (a report counts for the first folder below it)."""
    moment = now or datetime.datetime.now(UTC)
    rows = [row_from(report, moment, late_after) for report in reports]
    for row in rows:
        row.folder = folder_of(row.report, root)
    _flag_claims(rows)
    return sorted(rows, key=lambda row: (row.station, row.report))


@dataclass(frozen=True)
class Enrolled:
    """A station the server kit enrolled: its account and its folder (add-station's
    record ``USER.conf``: ``user=`` and ``folder=`` lines)."""

    user: str
    folder: str
    record: str


def read_enrolled(folder: Path) -> tuple[list[Enrolled], list[tuple[str, str]]]:
    """Return the stations recorded in ``folder`` (``*.conf``: regular files, never
    through a link, each read up to ``MAX_RECORD_BYTES``), and the records that could not
    be read, with why."""
    enrolled: list[Enrolled] = []
    unreadable: list[tuple[str, str]] = []
    try:
        names = sorted(name for name in os.listdir(folder) if name.endswith(".conf"))
    except OSError as error:
        return [], [(str(folder), _why(error))]
    for name in names:
        path = folder / name
        try:
            descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            try:
                if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                    raise OSError(errno.EINVAL, "not a regular file")
                data = os.read(descriptor, MAX_RECORD_BYTES)
            finally:
                os.close(descriptor)
        except OSError as error:
            unreadable.append((str(path), _why(error)))
            continue
        fields = dict(
            line.split("=", 1) for line in data.decode(errors="replace").splitlines() if "=" in line
        )
        user, where = fields.get("user", ""), fields.get("folder", "")
        if not user or not where.startswith("/"):
            unreadable.append((str(path), "no user= and folder= lines: not add-station's record"))
            continue
        enrolled.append(Enrolled(user, where, str(path)))
    return enrolled, unreadable


def missing_rows(rows: list[StationRow], enrolled: list[Enrolled], root: str) -> list[StationRow]:
    """Return a ``MISSING`` row for each enrolled station below ``root`` whose folder
    has no report among ``rows`` (a report counts for the folder it is in)."""
    reported = {row.folder for row in rows}
    missing = []
    for station in enrolled:
        first = posixpath.relpath(posixpath.normpath(station.folder), root).split("/", 1)[0]
        if first in (".", "..") or first in reported:
            continue
        missing.append(
            StationRow(
                station=station.user,
                report=station.folder,
                last_contact=None,
                written=None,
                clock_offset_seconds=None,
                due=None,
                upload_window=None,
                interval_seconds=DEFAULT_INTERVAL,
                last_success=None,
                outcome="none",
                message="",
                backlog_days=0,
                backlog_bytes=0,
                oldest_pending_day=None,
                agent_version="?",
                timezone="?",
                folder=first,
                missing=True,
                notes=[
                    f"enrolled ({station.record}) but no report in its folder: it never "
                    "reached the server, or cannot write its report (its key, a folder "
                    "not its own, a full disk); `check --write` on the station says which"
                ],
            )
        )
    return missing


def counts(rows: list[StationRow]) -> dict[str, int]:
    """Return how many rows are in each state."""
    return {state: sum(1 for row in rows if row.state == state) for state in STATES}


def summary(rows: list[StationRow], unreadable: int = 0) -> str:
    """``3 station(s): 1 ok, 1 failing, 1 late, 0 broken; 1 folder(s) unreadable``."""
    count = counts(rows)
    text = (
        f"{len(rows)} station(s): {count['ok']} ok, {count['FAILING']} failing, "
        f"{count['LATE']} late, {count['BROKEN']} broken"
    )
    if count["MISSING"]:
        text += f", {count['MISSING']} missing (enrolled, never reported)"
    return text + (f"; {unreadable} folder(s) unreadable" if unreadable else "")


# -- showing ---------------------------------------------------------------------------------


def human_bytes(size: float) -> str:
    """``3.1 MiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def human_age(seconds: float) -> str:
    """``3 d 2 h``, ``5 h 10 min``, ``12 min``."""
    if seconds == float("inf"):
        return "never"
    minutes = int(seconds // 60)
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def short_time(text: str | None) -> str:
    """A report's ISO time as ``2024-09-18 01:05 UTC`` (or ``-``)."""
    moment = _parse_time(text)
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


def describe_state(row: StationRow) -> str:
    """The state with its reason: ``LATE (late by 1 h 5 min)``, ``FAILING failed: ...``,
    ``BROKEN /srv/.../x.json: field 'written' is not text``."""
    text = row.state
    if row.missing:
        return f"{text} (enrolled, no report from it yet)"
    if row.problems:
        return f"{text} {row.report}: " + "; ".join(row.problems)
    if row.late:
        text += f" (late by {human_age(row.late_by_seconds)})"
    if row.failing:
        text += f" {row.outcome}: {row.message[:120]}" if row.message else f" {row.outcome}"
    return text


def printable(text: str) -> str:
    """``text`` with every control character (a station's name may hold some) as ``?``:
    nothing a station wrote moves the cursor or recolours the admin's terminal."""
    return "".join(char if char.isprintable() else "?" for char in text)


def render_text(rows: list[StationRow], unreadable: Sequence[tuple[str, str]] = ()) -> str:
    """Return the fleet as a table for a terminal, the unreadable folders, and a summary
    line last."""
    header = ("station", "last contact", "last success", "backlog", "oldest pending", "state")
    cells = [header]
    for row in rows:
        cells.append(
            (
                row.station,
                short_time(row.last_contact),
                short_time(row.last_success),
                f"{row.backlog_days} d, {human_bytes(row.backlog_bytes)}",
                row.oldest_pending_day or "-",
                describe_state(row),
            )
        )
    lines = [[printable(cell) for cell in line] for line in cells]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    text = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False))
        + "  "
        + line[-1]
        for line in lines
    ]
    for row in rows:  # what is said about a row without breaking it
        notes = list(row.notes)
        if row.contact_source != "server":
            notes.append(f"its last contact is the {row.contact_source}'s word")
        text += [printable(f"note: {row.report}: {note}") for note in notes]
    text += unreadable_lines(unreadable)
    text.append(summary(rows, len(unreadable)))
    return "\n".join(line.rstrip() for line in text) + "\n"


def unreadable_lines(unreadable: Sequence[tuple[str, str]]) -> list[str]:
    """``unreadable: /srv/upload/station-07 (Permission denied)``, one line per folder."""
    return [printable(f"unreadable: {path} ({why})") for path, why in unreadable]


def render_json(rows: list[StationRow]) -> str:
    """Return the fleet as JSON for scripts (each row, with its state)."""
    return json.dumps(
        [{**row.__dict__, "state": row.state, "failing": row.failing} for row in rows],
        indent=2,
        sort_keys=True,
    )


# -- the command's arguments -----------------------------------------------------------------


def within(low: float, high: float, kind: type[float] = float) -> Callable[[str], float]:
    """Return an argparse type: a ``kind`` (``int``, ``float``) from ``low`` to ``high``."""

    def convert(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"{text} is not from {low:g} to {high:g}")
        return value

    return convert
