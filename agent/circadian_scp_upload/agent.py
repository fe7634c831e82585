"""The agent: passes over every job, retries link faults, a health file, clean stops.

A pass opens one connection (probed and quietly replaced before each day when it died)
and runs every job's ``DailyTransferClient``. What an error means (retry, skip the day,
skip the job, end the pass) comes from the one table in ``outcomes.py``. A link fault is
retried by the tenacity policy in ``retry.py``; each attempt resumes where the last one
stopped (finished files are found synced, a half-sent file continues from its end).

A stop request (SIGTERM/SIGINT) sets an event that the upload polls as its
``should_abort_upload``: the current write stops within about a second, the markers
are released, and ``run`` returns.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from loguru import logger
from tenacity import Retrying

from .callbacks import UploadClientCallbacks
from .client import DailyTransferClient
from .health import HEARTBEAT_SECONDS, Health
from .outcomes import Outcome, is_bug, rule_for, worst
from .pacing import Pacer
from .readiness import Clock, system_clock
from .remote import RemoteConnection
from .retry import retrying
from .settings import AgentSettings, Job
from .state import prepare_state_dir


class Agent:
    """Runs passes over the configured jobs."""

    def __init__(
        self,
        settings: AgentSettings,
        stop_event: threading.Event | None = None,
        clock: Clock = system_clock,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.settings = settings
        self.stop_event = stop_event or threading.Event()
        self.clock = clock
        self._sleep = sleep
        self.health = Health(prepare_state_dir(settings.state_dir))
        self.jobs = settings.job_list()
        self.pacer = Pacer(settings.bandwidth_limit_kib * 1024)
        self.zone = settings.zone
        if self.zone.defaulted:
            logger.warning(
                "no station time zone given (CSU_TIMEZONE, TZ or a mounted /etc/localtime): "
                "days end at midnight UTC. Set CSU_TIMEZONE to the station's zone, such as "
                "Europe/Berlin, or a day may be uploaded while the instrument still writes it"
            )
        else:
            logger.info("station time zone: {}", self.zone.describe())

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
        while not self.stop_event.is_set():
            self.run_pass()
            deadline = time.monotonic() + self.settings.interval_seconds
            while not self.stop_event.is_set() and time.monotonic() < deadline:
                self.health.beat()
                self.stop_event.wait(min(HEARTBEAT_SECONDS, max(0.0, deadline - time.monotonic())))
        logger.info("agent stopped")

    def run_pass(self) -> Outcome:
        """Upload every ready day of every job once; return how it went."""
        self.health.beat(force=True)
        outcomes: list[Outcome] = []
        try:
            with self.connection() as connection:
                for job in self.jobs:
                    if self.stop_event.is_set():
                        break
                    outcomes.append(self._run_job(connection, job))
        except Exception as error:  # noqa: BLE001 - an unattended daemon outlives its bugs
            return self._finish(self._report(error, "pass failed"))
        return self._finish(worst(outcomes))

    def _finish(self, outcome: Outcome) -> Outcome:
        self.health.finish_pass(outcome)
        level = "INFO" if outcome in (Outcome.OK, Outcome.STOPPED) else "ERROR"
        logger.log(level, "pass finished: {}", outcome.value)
        return outcome

    @contextmanager
    def connection(self, retry: bool = True) -> Iterator[RemoteConnection]:
        """Open the pass's connection, retrying link faults (``retry``: else one try,
        within the connect timeout, as ``check`` wants); close it afterwards."""
        connection = self.settings.connection
        try:
            if retry:
                for attempt in self._retrying():
                    with attempt:
                        connection.connect()
            else:
                connection.connect()
            yield connection
        finally:
            connection.close()

    def _run_job(self, connection: RemoteConnection, job: Job) -> Outcome:
        with logger.contextualize(job=job.label if len(self.jobs) > 1 else ""):
            try:
                client = self.make_client(connection, job)
                for attempt in self._retrying():
                    with attempt:
                        connection.ensure_connected()
                        report = client.run()
            except Exception as error:
                if rule_for(error).scope == "pass":
                    raise
                return self._report(error, "job failed")
            if report.failed:
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
        else:
            logger.error("{}: {}", what, error)
        return rule.outcome

    def _retrying(self) -> Retrying:
        return retrying(
            self.settings.retry_max_wait_seconds,
            self.settings.retry_give_up_seconds,
            self.stop_event,
            self._sleep or self._interruptible_sleep,
            self.settings.retry_initial_wait_seconds,
        )

    def _interruptible_sleep(self, seconds: float) -> None:
        self.health.beat(force=True)
        self.stop_event.wait(seconds)

    # -- construction ---------------------------------------------------------------

    def make_client(self, connection: RemoteConnection, job: Job) -> DailyTransferClient:
        """Return the upload client of one job, wired to the stop event and the heartbeat."""

        def alive(_message: str) -> None:
            self.health.beat()

        def should_stop() -> bool:  # polled twice a second in every long wait or loop
            self.health.beat()
            return self.stop_event.is_set()

        callbacks = UploadClientCallbacks(
            dated_regex=job.dated_regex,
            log_info=alive,  # the lines themselves already went to loguru
            log_error=alive,
            should_abort_upload=should_stop,
        )
        return DailyTransferClient(
            remote_connection=connection,
            src_path=job.src,
            dst_path=job.dst,
            remove_files_after_upload=job.remove_after_upload,
            variant=job.variant,
            callbacks=callbacks,
            grace_period=self.settings.grace_period,
            timezone=self.zone.zone,
            clock=self.clock,
            progress_interval=self.settings.progress_seconds,
            bandwidth_limit=self.pacer,
            checksum=job.checksum,
            manifest=job.manifest,
            max_age_days=job.max_age_days,
            keep_replaced=job.keep_replaced,
        )
