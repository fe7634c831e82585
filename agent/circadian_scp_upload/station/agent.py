"""The agent: the loop that runs passes over every job.

``run_pass`` reads top to bottom: the heartbeat, the start jitter, the holds (``holds/``:
turned off, outside the upload window, paused; the first that holds says why, in one
wording), the connection, every job, and one account of it to every outlet. A pass opens
one connection (probed and quietly replaced before each day when it died) and runs every
job's ``DailyTransferClient``. What an error means (retry, skip the day,
skip the job, end the pass) comes from the one table in ``outcomes.py``; link faults are
retried by the tenacity policy in ``retry.py``, each attempt resuming where the last one
stopped. After each pass the status file, the metrics and the ping say how it went and
what is left (``status.py``, ``metrics.py``, ``pings.py``).

A stop request (SIGTERM/SIGINT) sets an event that the upload polls: the current write
stops within about a second, the markers are released, and the pass says what is left.
Between files the holds are asked again: a window that closed or a pause that began stops
the pass at the next file. The server's clock is measured once a pass (``clock.py``).
"""

from __future__ import annotations

import datetime
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from loguru import logger
from tenacity import Retrying

from ..config.schedule import BandwidthSchedule, UploadWindow
from ..config.settings import AgentSettings, Job
from ..config.state import prepare_state_dir
from ..engine import DailyTransferClient, DayResult, Pacer, RunReport, UploadClientCallbacks
from ..outcomes import Outcome, is_bug, rule_for, worst
from ..remote import RemoteConnection
from ..remote.paths import normalize_remote
from ..report import report_name
from ..source.days import Variant
from ..source.readiness import Clock, system_clock
from .clock import ServerClock
from .health import HEARTBEAT_SECONDS, Health
from .holds import Held, first_held
from .holds import build as build_holds
from .metrics import MetricsServer, render, write_textfile
from .pings import LogTail, Pinger
from .report import build_report, next_contact, report_folder, write_report
from .retry import Backoff, retrying
from .status import Backlog, Status, StatusBook, day_key

# The daemon keeps its connection between passes that start within this many seconds of
# each other (a new connection each pass costs a key exchange, a login and threads).
KEEP_OPEN_SECONDS = 300.0


def station_name(settings: AgentSettings) -> str:
    """Return the station's name: ``CSU_STATION``, else the host name."""
    return settings.station or socket.gethostname()


class Agent:
    """Runs passes over the configured jobs."""

    def __init__(
        self,
        settings: AgentSettings,
        stop_event: threading.Event | None = None,
        clock: Clock = system_clock,
        sleep: Callable[[float], None] | None = None,
        serve_metrics: bool = False,
    ) -> None:
        self.settings = settings
        self.stop_event = stop_event or threading.Event()
        self.clock = clock
        self._sleep = sleep
        self.zone = settings.zone
        self.jobs = settings.job_list()
        state_dir = prepare_state_dir(settings.state_dir)
        self.window = (
            UploadWindow.parse(settings.upload_window, settings.place)
            if settings.upload_window
            else None
        )
        self.holds = build_holds(settings, self.window, self.zone, state_dir)
        self.mid_pass_hold: Held | None = None  # a pause that stopped the running pass
        timetable = settings.bandwidth_schedule
        if timetable:
            schedule = BandwidthSchedule.parse(timetable)
            self.pacer = Pacer(lambda: schedule.rate_at(self._local_now()))
        else:
            self.pacer = Pacer(settings.bandwidth_limit_kib * 1024)
        self.health = Health(state_dir, lambda: self.pacer.total)
        self.book = StatusBook(state_dir, station_name(settings))
        self.server_clock = ServerClock(  # asks self.clock, which a test may replace
            lambda: self.clock(),
            settings.max_clock_offset_seconds,
            report_name(self.book.status.station),  # the probe's name, as `check` makes it
        )
        self.tail = LogTail()
        self.pinger = Pinger(settings.ping_url.get_secret_value()) if settings.ping_url else None
        # only the daemon serves: a `check` or `once` beside it must not take its port
        self.keep_open = False  # set by run_forever when passes come often
        self.metrics = (
            MetricsServer(settings.metrics_port)
            if settings.metrics_port and serve_metrics
            else None
        )
        self._say_zone()

    def _say_zone(self) -> None:
        if self.zone.defaulted:
            logger.warning(
                "no station time zone given (CSU_TIMEZONE, TZ or a mounted /etc/localtime): "
                "days end at midnight UTC. Set CSU_TIMEZONE to the station's zone, such as "
                "Europe/Berlin, or a day may be uploaded while the instrument still writes it"
            )
        else:
            logger.info("station time zone: {}", self.zone.describe())

    def _local_now(self) -> datetime.datetime:
        return self.clock().astimezone(self.zone.zone)

    @property
    def offset(self) -> float | None:
        """The server's clock minus ours, as last measured (None: not yet)."""
        return self.server_clock.offset

    @offset.setter
    def offset(self, value: float | None) -> None:
        self.server_clock.offset = value

    # -- the loop -------------------------------------------------------------------

    def run_forever(self) -> None:
        """Run a pass every ``interval_seconds`` until a stop is requested."""
        logger.info(
            "agent started: {} job(s) to {}@{}:{}, a pass every {} s",
            len(self.jobs),
            self.settings.user,
            self.settings.host,
            self.settings.port,
            self.settings.interval_seconds,
        )
        # the connection stays open between passes that come within KEEP_OPEN_SECONDS
        self.keep_open = self.settings.interval_seconds <= KEEP_OPEN_SECONDS
        try:
            while not self.stop_event.is_set():
                self.run_pass()
                self._wait(self.settings.interval_seconds)
        finally:
            self.settings.connection.close()
        logger.info("agent stopped")

    def _wait(self, seconds: float) -> None:
        """Wait ``seconds`` (the heartbeat going on), or until a stop is requested."""
        deadline = time.monotonic() + seconds
        while not self.stop_event.is_set() and time.monotonic() < deadline:
            self.health.beat()
            self.stop_event.wait(min(HEARTBEAT_SECONDS, max(0.0, deadline - time.monotonic())))

    def run_pass(self) -> Outcome:
        """Upload every ready day of every job once; return how it went."""
        self.health.beat(force=True)
        if self.settings.start_jitter_seconds:
            self._wait(random.uniform(0, self.settings.start_jitter_seconds))
        if self.stop_event.is_set():
            return Outcome.STOPPED
        started = datetime.datetime.now(datetime.timezone.utc)
        sink = logger.add(self.tail, level="INFO", format="{message}")
        self.tail.clear()
        try:
            held = first_held(self.holds, self._local_now())
            if held is not None:  # no connection at all
                until = f" until {held.until:%Y-%m-%d %H:%M %Z}" if held.until else ""
                logger.info("{}: no pass starts{}", held.reason, until)
                self._tell(held.outcome, held.reason, started, [], 0, held=held)
                outcome = held.outcome
            else:
                if self.pinger is not None:
                    self.pinger.start()
                outcome = self._connected_pass(started)
        finally:
            logger.remove(sink)
        self._close_unless_ok(outcome)
        return outcome

    def _connected_pass(self, started: datetime.datetime) -> Outcome:
        """Connect, run every job, and say how it went (the station report written while
        the connection is still open); a pass that could not reach the server says so."""
        reports: list[tuple[Job, RunReport]] = []
        moved = self.pacer.total
        self.problems: list[str] = []  # what failed, for the status and the report
        self.mid_pass_hold = None
        try:
            with self.connection() as connection:
                self.server_clock.new_pass()  # asked at the first day with work
                outcomes: list[Outcome] = []
                for job in self.jobs:
                    if self.stop_event.is_set() or self._stop_reason():
                        outcomes.append(Outcome.STOPPED)
                        break
                    if not job.enabled:
                        logger.info("job {} is turned off (enabled: false)", job.label)
                        continue
                    outcomes.append(self._run_job(connection, job, reports))
                outcome, said = self._verdict(worst(outcomes))
                status = self._tell(outcome, said, started, reports, self.pacer.total - moved)
                self._send_report(connection, status)
                return outcome
        except Exception as error:  # noqa: BLE001 - an unattended daemon outlives its bugs
            outcome = self._report(error, "pass failed")
            self._tell(outcome, str(error), started, reports, self.pacer.total - moved)
            return outcome

    def _verdict(self, outcome: Outcome) -> tuple[Outcome, str]:
        """Return a connected pass's outcome and what to say of it: a stop that a pause
        caused is a pause; a pass that did not go well names its first problems."""
        if outcome == Outcome.STOPPED and self.mid_pass_hold is not None:
            return Outcome.PAUSED, f"{self.mid_pass_hold.reason} (appeared during the pass)"
        return outcome, "; ".join(self.problems[:3]) if outcome != Outcome.OK else ""

    def _close_unless_ok(self, outcome: Outcome) -> None:
        """A kept connection only lives from one good pass to the next."""
        if outcome != Outcome.OK:
            self.settings.connection.close()

    @property
    def window_text(self) -> str:
        """The upload window as configured (empty without one)."""
        return self.window.text if self.window is not None else ""

    def _send_report(self, connection: RemoteConnection, status: Status) -> None:
        """Write the station's report to the server (``report.py``); never fails a pass."""
        if not self.settings.report or self.stop_event.is_set():
            return  # a stop must not wait for the server
        try:
            report = build_report(
                status,
                self.zone.name,
                self.settings.interval_seconds,
                {
                    "next_contact": next_contact(
                        self.clock().astimezone(self.zone.zone),
                        self.settings.interval_seconds,
                        self.window,
                    ),
                    "upload_window": self.window_text,
                },
            )
            write_report(connection, report_folder(self.settings), status.station, report)
        except Exception as error:  # noqa: BLE001 - a report must never end a pass
            logger.warning("the station report could not be written: {}", error)

    def _tell(
        self,
        outcome: Outcome,
        message: str,
        started: datetime.datetime,
        reports: list[tuple[Job, RunReport]],
        moved: int,
        held: Held | None = None,
    ) -> Status:
        """Say how the pass went and what is left, in one wording to every outlet: log,
        status, metrics, ping, health (``held``: the hold that kept it from starting,
        whose reason is ``message``); return the status."""
        backlogs = self._backlogs(reports)
        left = Backlog()
        for backlog in backlogs.values():
            left.add(backlog)
        if held is not None:
            pass  # said when the pass did not start
        elif outcome == Outcome.STOPPED and left.days:
            message = (
                f"{left.days} day(s) left, {left.files} files, {left.bytes} bytes "
                f"(the oldest {left.oldest_pending_day})"
            )
            logger.info("pass stopped: {}; the next pass resumes", message)
        elif outcome == Outcome.PAUSED:
            logger.info("pass paused: {}; the next pass resumes", message)
        else:
            level = "INFO" if outcome in (Outcome.OK, Outcome.STOPPED) else "ERROR"
            logger.log(level, "pass finished: {}", outcome.value)
        files = sum(d.uploaded for _job, report in reports for d in report.days)
        kept = sum(d.kept_aside for _job, report in reports for d in report.days)
        offset = self.server_clock.offset
        self.book.status.clock_offset_seconds = round(offset, 1) if offset is not None else None
        status = self.book.finish_pass(
            started, outcome.value, message, backlogs, (files, moved), kept_aside=kept
        )
        text = render(status)
        if self.settings.metrics_file is not None:
            try:
                write_textfile(self.settings.metrics_file, text)
            except OSError as error:
                logger.warning(
                    "cannot write the metrics to {}: {}", self.settings.metrics_file, error
                )
        if self.metrics is not None:
            self.metrics.text = text
        if self.pinger is not None:
            if held is not None:
                # nothing was due (or the instrument asked): a success, with the reason
                self.pinger.finish(True, message, f"{message}: no pass was due\n")
            elif outcome == Outcome.STOPPED:
                self.pinger.note(message or outcome.value, self.tail.text())
            elif outcome == Outcome.PAUSED:
                # the instrument asked in the middle: a success, with what was done
                self.pinger.finish(True, message, f"{message}\n{self.tail.text()}")
            else:
                self.pinger.finish(outcome == Outcome.OK, outcome.value, self.tail.text())
        self.health.finish_pass(outcome)
        return status

    def _backlogs(self, reports: list[tuple[Job, RunReport]]) -> dict[str, Backlog]:
        """Record the days the pass verified; return each job's backlog (local only).

        Days the pass screened are counted from what it saw; only days it did not reach
        are listed again.
        """
        seen: dict[str, dict[str, DayResult]] = {}
        verified: set[str] = set()
        for job, report in reports:
            for result in report.days:
                if result.unit is None:
                    continue
                seen.setdefault(job.label, {})[day_key(result.unit)] = result
                if result.status == "uploaded":
                    self.book.record_verified(job.label, result.unit, result.fingerprint)
                    verified.add(result.date.isoformat())
        backlogs = {}
        states: dict[str, str] = {}
        for job in self.jobs:
            client = self.make_client(None, job)
            try:
                units = client.ready_days(report_odd_names=False)
                backlogs[job.label] = self.book.backlog(
                    job.label, units, seen.get(job.label, {}), states
                )
            except Exception as error:  # noqa: BLE001 - the status says it, the pass is over
                backlogs[job.label] = Backlog(error=str(error))
        self.book.note_days(states, verified)
        return backlogs

    @contextmanager
    def connection(self, retry: bool = True) -> Iterator[RemoteConnection]:
        """Open the pass's connection, retrying link faults (``retry``: else one try,
        within the connect timeout, as ``check`` wants); close it afterwards, unless the
        daemon keeps it for the next pass (``keep_open``). A kept connection is probed
        with one round trip first and replaced quietly when it died while idle, as
        rclone does with its pooled connections."""
        connection = self.settings.connection
        kept = False
        try:
            if not (self.keep_open and connection.is_alive()):
                if retry:
                    for attempt in self._retrying(backoff_for(self.settings, self.pacer)):
                        with attempt:
                            connection.connect()
                else:
                    connection.connect()
            yield connection
            kept = self.keep_open
        finally:
            if not kept:
                connection.close()

    def _run_job(
        self, connection: RemoteConnection, job: Job, reports: list[tuple[Job, RunReport]]
    ) -> Outcome:
        with logger.contextualize(job=job.label if len(self.jobs) > 1 else ""):
            try:
                client = self.make_client(connection, job)
                backoff = backoff_for(self.settings, self.pacer)
                try:
                    for attempt in self._retrying(backoff):
                        with attempt:
                            connection.ensure_connected()
                            report = client.run()
                finally:
                    if backoff.retries:
                        logger.info("{}", backoff.summary())
            except Exception as error:
                if rule_for(error).scope == "pass":
                    raise
                self.problems.append(f"{job.label}: {error}")
                return self._report(error, "job failed")
            reports.append((job, report))
            if report.failed:
                first = report.failed[0]
                self.problems.append(f"{first.date.isoformat()}: {first.message or 'failed'}")
                return Outcome.FAILED
            return Outcome.STOPPED if report.aborted else Outcome.OK

    def _report(self, error: BaseException, what: str) -> Outcome:
        """Log ``error`` as its rule says and return its outcome."""
        rule = rule_for(error)
        if is_bug(error):
            logger.opt(exception=error).error(
                "{} with an unexpected error (a bug: please report it with this log); local "
                "data is untouched and the next pass tries again",
                what,
            )
        elif rule.retry:
            logger.error("{}: {} (gave up retrying; the next pass tries again)", what, error)
        elif rule.outcome != Outcome.STOPPED:
            logger.error("{}: {}", what, error)
        return rule.outcome

    def _retrying(self, backoff: Backoff) -> Retrying:
        return retrying(backoff, self.stop_event, self._sleep or self._interruptible_sleep)

    def _interruptible_sleep(self, seconds: float) -> None:
        self.health.beat(force=True)
        self.stop_event.wait(seconds)

    def _stop_reason(self) -> str | None:
        """Between files: why to stop now (the holds asked again: the upload window
        closed, a pause began), or None."""
        held = first_held(self.holds, self._local_now(), between_files=True)
        if held is not None and held.outcome == Outcome.PAUSED:
            self.mid_pass_hold = held
        return held.reason if held is not None else None

    def make_client(self, connection: RemoteConnection | None, job: Job) -> DailyTransferClient:
        """Return the upload client of one job, wired to the stop event, the heartbeat,
        the shared pacer and the upload window (no connection: local screening only)."""

        def alive(_message: str) -> None:
            self.health.beat()

        def should_stop() -> bool:  # polled twice a second in every long wait or loop
            self.health.mark_active()
            self.health.beat()
            return self.stop_event.is_set()

        callbacks = UploadClientCallbacks(
            dated_regex=job.dated_regex,
            log_info=alive,  # the lines themselves already went to loguru
            log_error=alive,
            should_abort_upload=should_stop,
        )
        variant: Variant = job.variant
        return DailyTransferClient(
            remote_connection=connection if connection is not None else self.settings.connection,
            src_path=job.src,
            dst_path=job.dst,
            remove_files_after_upload=job.remove_after_upload,
            variant=variant,
            callbacks=callbacks,
            grace_period=self.settings.grace_period,
            timezone=self.zone.zone,
            clock=self.clock,  # the server's clock vetoes each day anew (server_clock)
            progress_interval=self.settings.progress_seconds,
            bandwidth_limit=self.pacer,
            checksum=job.checksum,
            manifest=job.manifest,
            max_age_days=job.max_age_days,
            keep_replaced=job.keep_replaced,
            stop_between_files=self._stop_reason,
            quiet_period=datetime.timedelta(minutes=self.settings.quiet_minutes),
            channels=self.settings.channels,
            server_clock=(
                self.server_clock.for_job(connection, normalize_remote(job.dst))
                if connection is not None
                else None
            ),
        )


def backoff_for(settings: AgentSettings, pacer: Pacer) -> Backoff:
    """Waits and give-up time of one series of attempts; data moving resets both."""
    return Backoff(
        settings.retry_initial_wait_seconds,
        settings.retry_max_wait_seconds,
        settings.retry_give_up_seconds,
        progress=lambda: pacer.total,
    )
