"""``DailyTransferClient``: upload every finished day of one source folder, oldest first.

Per day (``day.py``): screen local and remote, set the ``.do-not-touch`` markers,
upload what is missing or different, verify every checksum, remove local files only
when asked and only those whose remote copy is verified, then remove the markers.
"""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from ..errors import CircadianError, ConfigError, UploadAborted
from ..outcomes import rule_for
from ..remote.api import Remote
from ..remote.paths import normalize_remote
from ..source.days import DayUnit, Variant, find_days
from ..source.lock import SourceLock
from ..source.readiness import (
    DEFAULT_GRACE_PERIOD,
    Clock,
    is_ready,
    ready_at,
    resolve_timezone,
    system_clock,
    today,
)
from .callbacks import UploadClientCallbacks
from .day import DayPlan, DayResult, DayStatus, DayUpload
from .daylog import DayLog
from .lanes import MAX_CHANNELS
from .pacing import AbortPoller, Pacer
from .progress import DEFAULT_PROGRESS_SECONDS

VARIANTS = ("directories", "files")

__all__ = ["DailyTransferClient", "DayResult", "DayStatus", "Pending", "RunReport"]


@dataclass
class RunReport:
    """What one ``run()`` did: a result per day it worked on."""

    days: list[DayResult] = field(default_factory=list)
    aborted: bool = False

    @property
    def failed(self) -> list[DayResult]:
        """Return the days that failed."""
        return [d for d in self.days if d.status == "failed"]


@dataclass(frozen=True)
class Pending:
    """What a pass would do to one ready day, found by listing both sides (no reading):
    files to upload (missing or different in size) and their bytes, files to compare by
    checksum first (another time on the server, or checksum mode), files to remove, and
    leftovers of an interrupted run or folders to create; or why the day cannot be read."""

    unit: DayUnit
    upload: int = 0
    upload_bytes: int = 0
    compare: int = 0
    remove: int = 0
    cleanup: int = 0
    error: str = ""


class DailyTransferClient:
    """Uploads the finished days of ``src_path`` to ``dst_path`` over ``remote_connection``.

    ``bandwidth_limit``: bytes/s for every byte this client sends (0: unlimited), or a
    ``Pacer`` shared with other clients so one limit covers them all. ``checksum``:
    compare every file by checksum on every pass (rsync -c) instead of by size and
    modification time. ``manifest``: keep a ``SHA256SUMS`` of each verified day on the
    server. ``max_age_days``: leave days older than this many days alone (rclone's
    ``--max-age``); None considers every day. ``keep_replaced``: a server copy that a
    changed local file replaces is kept under ``<dst>/.csu-replaced/<time>/`` (like
    rsync's ``--backup-dir``), never destroyed; False overwrites it. ``channels``: SFTP
    channels to upload in parallel (0: four on a link whose round trip takes 10 ms or
    more, else two for small files and one for large ones). ``quiet_period``: a day whose
    newest file changed this recently is not finished, whatever the clock says (it
    waits for a later run; rclone's ``--min-age`` for a whole day). ``server_clock``: a
    second opinion on the time that may cost a round trip (the agent asks the server):
    asked before anything of a day that needs work is touched, and a day not over by it
    (plus the grace period) waits; days already on the server never ask it. Where it
    answers None (the time could not be checked), days are judged by ``clock`` alone
    and no local file is removed in that run. ``wall_clock``: the station's own clock in
    epoch seconds, the one that stamps its files (the quiet period compares their times
    with it; ``time.time``, a seam for tests).
    """

    _read_only_noticed: ClassVar[set[Path]] = set()

    def __init__(
        self,
        remote_connection: Remote,
        src_path: str | Path,
        dst_path: str,
        remove_files_after_upload: bool,
        variant: Variant = "directories",
        callbacks: UploadClientCallbacks | None = None,
        *,
        grace_period: datetime.timedelta = DEFAULT_GRACE_PERIOD,
        timezone: str | datetime.tzinfo | None = None,
        clock: Clock = system_clock,
        progress_interval: float = DEFAULT_PROGRESS_SECONDS,
        bandwidth_limit: int | Pacer = 0,
        checksum: bool = False,
        manifest: bool = False,
        max_age_days: int | None = None,
        keep_replaced: bool = True,
        stop_between_files: Callable[[], str | None] | None = None,
        channels: int = 0,
        quiet_period: datetime.timedelta = datetime.timedelta(0),
        server_clock: Callable[[], datetime.datetime | None] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if variant not in VARIANTS:
            raise ConfigError(f"unknown variant {variant!r}: use 'directories' or 'files'")
        if not bandwidth_limit:  # the connection's own default, as the library always had
            bandwidth_limit = getattr(remote_connection, "bandwidth_limit", 0)
        if isinstance(bandwidth_limit, int) and bandwidth_limit < 0:
            raise ConfigError("the bandwidth limit must be 0 (unlimited) or a positive bytes/s")
        self.connection = remote_connection
        self.src_path = Path(src_path).expanduser()
        self.dst_path = normalize_remote(dst_path)
        self.remove_files_after_upload = bool(remove_files_after_upload)
        self.variant: Variant = variant
        self.callbacks = callbacks if callbacks is not None else UploadClientCallbacks()
        self.grace_period = grace_period
        self.timezone = resolve_timezone(timezone)
        self.clock = clock
        self.progress_interval = progress_interval
        self.pacer = (
            bandwidth_limit if isinstance(bandwidth_limit, Pacer) else Pacer(bandwidth_limit)
        )
        if max_age_days is not None and max_age_days < 1:
            raise ConfigError("max_age_days must be at least 1 (or None: every day)")
        self.checksum, self.manifest, self.max_age_days = checksum, manifest, max_age_days
        self.keep_replaced = keep_replaced
        self.stop_between_files = stop_between_files or (lambda: None)
        if not 0 <= channels <= MAX_CHANNELS:
            raise ConfigError(f"channels must be 0 (by the link) to {MAX_CHANNELS}")
        self.channels = channels
        self.quiet_period = quiet_period
        self.wall_clock = wall_clock
        self.server_clock = server_clock
        self._unchecked = False  # the server clock answered None in this run
        self.too_old: list[DayUnit] = []  # ready days left alone by the look-back window
        self.report = RunReport()  # of the last run, also when it ended in an error
        self._log = DayLog(self.callbacks, None)

    def ready_days(self, report_odd_names: bool = True) -> list[DayUnit]:
        """Return the days of the source folder that are over plus the grace period
        (``report_odd_names``: say which dated names are ambiguous or of the wrong kind)."""
        now = self.clock()
        days = find_days(
            self.src_path,
            self.variant,
            self.callbacks.dated_pattern,
            self._ambiguous if report_odd_names else lambda _name, _dates: None,
            self._misfit if report_odd_names else None,
        )
        ready = [d for d in days if is_ready(d.date, now, self.grace_period, self.timezone)]
        if self.max_age_days is None:
            return ready
        oldest = today(now, self.timezone) - datetime.timedelta(days=self.max_age_days)
        self.too_old = [d for d in ready if d.date < oldest]
        return [d for d in ready if d.date >= oldest]

    def run(self) -> RunReport:
        """Upload every ready day, oldest first; return what happened.

        A day that fails on its own (``outcomes.RULES``: scope ``day``) is reported
        through ``log_error`` and the next day is tried. Anything wider (link faults,
        refusals) ends the run and propagates, after the markers were released, so the
        caller can retry; an abort returns early with ``aborted`` set.
        """
        report = self.report = RunReport()  # filled as days finish, read after a failure
        self._unchecked = False  # each run asks the server's clock afresh
        plan = self._plan()
        with SourceLock(self.src_path):
            ready = self.ready_days()
            if self.too_old:
                self._log.info(
                    f"{len(self.too_old)} older ready day(s) are left alone (max_age_days="
                    f"{self.max_age_days}; the oldest is {self.too_old[0].date.isoformat()})"
                )
            for unit in ready:
                if self.callbacks.should_abort_upload():
                    report.aborted = True
                    break
                result = self._upload_day(plan, unit)
                report.days.append(result)
                if result.status == "aborted":
                    report.aborted = True
                    break
        idle = sorted({d.date.isoformat() for d in report.days if d.idle})
        if idle:
            self._log.info(
                f"{len(idle)} day(s) already on the server, unchanged "
                f"({idle[0]}{' to ' + idle[-1] if len(idle) > 1 else ''}): nothing to do"
            )
        return report

    def next_ready(self) -> tuple[datetime.date, datetime.datetime]:
        """Return the station's current day and when it becomes ready (aware, UTC)."""
        day = today(self.clock(), self.timezone)
        return day, ready_at(day, self.grace_period, self.timezone)

    def pending(self) -> list[Pending]:
        """Return what a run would do to each ready day that needs anything, assessing
        both sides as ``run`` does but by listing alone (nothing read, written or locked)."""
        plan = self._plan()
        found = []
        for unit in self.ready_days():
            day = DayUpload(plan, unit, DayLog(self.callbacks, unit.label))
            try:
                state = day.assess()
            except CircadianError as error:
                if rule_for(error).scope != "day":
                    raise
                found.append(Pending(unit, error=str(error)))
                continue
            if state.needs_work:
                upload = state.compared.unsynced
                found.append(
                    Pending(
                        unit,
                        len(upload),
                        sum(f.size for f in upload),
                        len(state.compared.to_prove),
                        len(state.files) if state.remove else 0,
                        len(state.leftovers) + len(state.folders) + state.stale_local,
                    )
                )
        return found

    def _plan(self) -> DayPlan:
        """Return what every day of this run shares; check the source folder's access."""
        local_markers = self._source_writable()
        return DayPlan(
            self.connection,
            self.dst_path,
            self.remove_files_after_upload,
            self.pacer,
            AbortPoller(self.callbacks.should_abort_upload, between_files=self.stop_between_files),
            self.progress_interval,
            checksum=self.checksum,
            manifest=self.manifest,
            local_markers=local_markers,
            keep_replaced=self.keep_replaced,
            channels=self.channels,
            quiet_period=self.quiet_period,
            wall_clock=self.wall_clock,
            not_over=self._not_over if self.server_clock is not None else None,
            clock_unchecked=lambda: self._unchecked,
        )

    def _not_over(self, unit: DayUnit) -> str | None:
        """Why a day is not over by the server's clock (None: it is)."""
        assert self.server_clock is not None
        moment = self.server_clock()
        if moment is None:
            self._unchecked = True
            return None
        if is_ready(unit.date, moment, self.grace_period, self.timezone):
            return None
        opens = ready_at(unit.date, self.grace_period, self.timezone)
        when = opens.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        return f"not over by the server's clock: it becomes ready at {when}"

    def _source_writable(self) -> bool:
        """Return whether local markers can be written. A source on a read-only mount, or
        one this user may not write, works with removal off (no local markers, said once);
        with removal on it is a configuration error. A single day folder this user may not
        write fails that day, with its path named."""
        try:
            read_only = bool(os.statvfs(self.src_path).f_flag & os.ST_RDONLY)
        except OSError:
            return True  # a missing folder is reported by the screening
        if not read_only and os.access(self.src_path, os.W_OK):
            return True
        why = "is read-only" if read_only else "is not writable by this user"
        if self.remove_files_after_upload:
            raise ConfigError(
                f"the source folder {str(self.src_path)!r} {why}, but files are to be "
                "removed after upload: mount it read-write and run the agent as the data's "
                "owner, or turn removal off (remove_files_after_upload / "
                "CSU_REMOVE_AFTER_UPLOAD=false)"
            )
        if self.src_path not in self._read_only_noticed:
            self._read_only_noticed.add(self.src_path)
            self._log.info(
                f"the source folder {str(self.src_path)!r} {why}: no local .do-not-touch "
                "markers (the remote marker still protects downstream)"
            )
        return False

    def _upload_day(self, plan: DayPlan, unit: DayUnit) -> DayResult:
        log = DayLog(self.callbacks, unit.label)
        day = DayUpload(plan, unit, log)
        try:
            day.run()
        except UploadAborted as stop:
            log.info(f"{stop}; the next run resumes where it stopped")
            day.result.status = "aborted"
        except CircadianError as error:
            if rule_for(error).scope != "day":
                raise
            log.error(f"failed: {error}")
            day.result.message = str(error)
        return day.result

    def _misfit(self, name: str) -> None:
        kind = "a link" if (self.src_path / name).is_symlink() else "not a folder"
        self._log.error(
            f"skipping {name!r}: it is dated but {kind}; the {self.variant!r} variant "
            "uploads only real day folders (directories) or regular files (files)"
        )

    def _ambiguous(self, name: str, dates: tuple[datetime.date, ...]) -> None:
        listed = ", ".join(d.isoformat() for d in dates)
        self._log.error(
            f"skipping {name!r}: it matches the pattern {self.callbacks.dated_regex!r} with "
            f"several dates ({listed}); rename it or make the pattern stricter"
        )
