"""``DailyTransferClient``: upload every finished day of one source folder, oldest first.

Per day (``day.py``): screen local and remote, set the ``.do-not-touch`` markers,
upload what is missing or different, verify every checksum, remove local files only
when asked and only those whose remote copy is verified, then remove the markers.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path

from .callbacks import UploadClientCallbacks
from .day import DayPlan, DayResult, DayStatus, DayUpload
from .errors import CircadianError, ConfigError, UploadAborted
from .local import DayUnit, Variant, find_days
from .log import DayLog
from .markers import SourceLock
from .outcomes import rule_for
from .pacing import AbortPoller, Pacer
from .progress import DEFAULT_PROGRESS_SECONDS
from .readiness import DEFAULT_GRACE_PERIOD, Clock, is_ready, resolve_timezone, system_clock
from .remote.api import Remote

VARIANTS = ("directories", "files")

__all__ = ["DailyTransferClient", "DayResult", "DayStatus", "RunReport"]


@dataclass
class RunReport:
    """What one ``run()`` did: a result per day it worked on."""

    days: list[DayResult] = field(default_factory=list)
    aborted: bool = False

    @property
    def failed(self) -> list[DayResult]:
        """Return the days that failed."""
        return [d for d in self.days if d.status == "failed"]


class DailyTransferClient:
    """Uploads the finished days of ``src_path`` to ``dst_path`` over ``remote_connection``.

    ``bandwidth_limit``: bytes/s for every byte this client sends (0: unlimited), or a
    ``Pacer`` shared with other clients so one limit covers them all.
    """

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
    ) -> None:
        if variant not in VARIANTS:
            raise ConfigError(f"unknown variant {variant!r}: use 'directories' or 'files'")
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
        self._log = DayLog(self.callbacks, None)

    def ready_days(self) -> list[DayUnit]:
        """Return the days of the source folder that are over plus the grace period."""
        now = self.clock()
        days = find_days(
            self.src_path,
            self.variant,
            self.callbacks.dated_pattern,
            self._ambiguous,
            self._misfit,
        )
        return [d for d in days if is_ready(d.date, now, self.grace_period, self.timezone)]

    def run(self) -> RunReport:
        """Upload every ready day, oldest first; return what happened.

        A day that fails on its own (``outcomes.RULES``: scope ``day``) is reported
        through ``log_error`` and the next day is tried. Anything wider (link faults,
        refusals) ends the run and propagates, after the markers were released, so the
        caller can retry; an abort returns early with ``aborted`` set.
        """
        report = RunReport()
        poll = AbortPoller(self.callbacks.should_abort_upload)
        plan = DayPlan(
            self.connection,
            self.dst_path,
            self.remove_files_after_upload,
            self.pacer,
            poll,
            self.progress_interval,
        )
        with SourceLock(self.src_path):
            for unit in self.ready_days():
                if self.callbacks.should_abort_upload():
                    report.aborted = True
                    break
                result = self._upload_day(plan, unit)
                report.days.append(result)
                if result.status == "aborted":
                    report.aborted = True
                    break
        return report

    def _upload_day(self, plan: DayPlan, unit: DayUnit) -> DayResult:
        log = DayLog(self.callbacks, unit.date)
        day = DayUpload(plan, unit, log)
        try:
            day.run()
        except UploadAborted:
            log.info("upload aborted on request; the next run resumes where it stopped")
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


def normalize_remote(dst_path: str) -> str:
    """Given a remote folder as users write it, return it as SFTP expects it."""
    text = str(dst_path).strip()
    if not text:
        raise ConfigError(
            "the remote folder (dst_path / CSU_DST) is empty: give a path on the server"
        )
    if text == "~":
        return "."
    if text.startswith("~/"):
        text = text[2:] or "."
    return text.rstrip("/") or "/"
