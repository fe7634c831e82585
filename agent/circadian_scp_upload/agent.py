"""The agent: passes over every job, retries transient faults, a health file, clean stops.

A pass opens one connection (probed and quietly replaced before each day when it died)
and runs every job's ``DailyTransferClient``. A transient fault is retried by the
tenacity policy in ``retry.py``; each attempt resumes where the last one stopped
(finished files are found synced, a half-sent file continues from its end). A
refusal ends the pass with a clear error, and the daemon tries again next pass.

A stop request (SIGTERM/SIGINT) sets an event that the upload polls as its
``should_abort_upload``: the current write stops within about a second, the
markers are released, and ``run`` returns.
"""

from __future__ import annotations

import enum
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from loguru import logger
from pydantic import SecretStr
from tenacity import Retrying

from .callbacks import UploadClientCallbacks
from .client import DailyTransferClient, RunReport
from .connection import RemoteConnection
from .errors import (
    AuthenticationError,
    ConfigError,
    HostKeyError,
    LockedError,
    PermanentError,
    TransientError,
)
from .readiness import Clock, system_clock
from .retry import retrying
from .settings import AgentSettings, Job

HEALTH_FILE = "health.json"
HEARTBEAT_SECONDS = 10.0
HEALTH_STALE_SECONDS = 900.0


class Outcome(str, enum.Enum):
    """How a pass went; the CLI maps each to an exit code."""

    OK = "ok"
    FAILED = "failed"  # some day failed, or transient faults outlasted the retries
    PERMANENT = "permanent"  # the server refused (login, host key) or a job is locked


@dataclass
class JobResult:
    job: Job
    report: RunReport | None
    outcome: Outcome
    error: str = ""


class Health:
    """The health file Docker's HEALTHCHECK reads: a heartbeat and the last pass's outcome."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / HEALTH_FILE
        self.last_outcome: str | None = None
        self._last_beat = 0.0

    def beat(self, force: bool = False) -> None:
        """Record that the loop is alive (rate-limited unless forced)."""
        now = time.time()
        if not force and now - self._last_beat < HEARTBEAT_SECONDS:
            return
        self._last_beat = now
        state = {"pid": os.getpid(), "heartbeat": now, "last_outcome": self.last_outcome}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=self.path.parent, delete=False) as handle:
                json.dump(state, handle)
            os.replace(handle.name, self.path)
        except OSError as error:
            logger.warning("cannot write the health file {}: {}", self.path, error)

    def finish_pass(self, outcome: Outcome) -> None:
        self.last_outcome = outcome.value
        self.beat(force=True)


def check_health(state_dir: Path, stale_after: float = HEALTH_STALE_SECONDS) -> tuple[bool, str]:
    """Return whether the daemon is healthy, and why: alive and not permanently failing."""
    path = state_dir / HEALTH_FILE
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return False, f"no health file at {path}: the agent loop is not running"
    age = time.time() - float(state.get("heartbeat", 0))
    if age > stale_after:
        return False, f"the agent loop has not reported for {age:.0f} s"
    if state.get("last_outcome") == Outcome.PERMANENT.value:
        return False, "the last pass was refused by the server (see the logs)"
    return True, f"alive ({age:.0f} s ago), last pass: {state.get('last_outcome') or 'running'}"


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
        self.health = Health(settings.state_dir)
        self.jobs = settings.job_list()
        self._known_hosts_tmp: Path | None = None

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
        results: list[JobResult] = []
        try:
            with self.connection() as connection:
                for job in self.jobs:
                    if self.stop_event.is_set():
                        break
                    results.append(self._run_job(connection, job))
        except PermanentError as error:
            logger.error("pass failed: {}", error)
            return self._finish(Outcome.PERMANENT)
        except TransientError as error:
            logger.error("pass failed: {} (gave up retrying; the next pass tries again)", error)
            return self._finish(Outcome.FAILED)
        except Exception:  # noqa: BLE001 - an unattended daemon must outlive its own bugs
            logger.opt(exception=True).error(
                "pass failed with an unexpected error (a bug: please report it with this "
                "log); local data is untouched and the next pass tries again"
            )
            return self._finish(Outcome.FAILED)
        worst = max((r.outcome for r in results), key=_severity, default=Outcome.OK)
        return self._finish(worst)

    def _finish(self, outcome: Outcome) -> Outcome:
        self.health.finish_pass(outcome)
        logger.log("INFO" if outcome == Outcome.OK else "ERROR", "pass finished: {}", outcome.value)
        return outcome

    @contextmanager
    def connection(self) -> Iterator[RemoteConnection]:
        """Open the pass's connection, retrying transient faults; close it afterwards."""
        connection = self.make_connection()
        try:
            for attempt in self._retrying():
                with attempt:
                    connection.connect()
            yield connection
        finally:
            connection.close()

    def _run_job(self, connection: RemoteConnection, job: Job) -> JobResult:
        with logger.contextualize(job=job.label if len(self.jobs) > 1 else ""):
            client = self.make_client(connection, job)
            try:
                for attempt in self._retrying():
                    with attempt:
                        connection.ensure_connected()
                        report = client.run()
            except (AuthenticationError, HostKeyError):
                raise  # the whole server refuses: the pass stops
            except (ConfigError, LockedError) as error:
                logger.error("{}", error)
                return JobResult(job, None, Outcome.PERMANENT, str(error))
            except PermanentError as error:
                logger.error("{}", error)
                return JobResult(job, None, Outcome.FAILED, str(error))
            outcome = Outcome.FAILED if report.failed else Outcome.OK
            return JobResult(job, report, outcome)

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

    def make_connection(self) -> RemoteConnection:
        """Return the (not yet connected) connection the settings describe."""
        s = self.settings
        return RemoteConnection(
            s.host,
            s.user,
            secret(s.password),
            port=s.port,
            key_filename=s.key_file,
            private_key=secret(s.private_key),
            passphrase=secret(s.key_passphrase),
            allow_agent=True,
            known_hosts_file=self._known_hosts_path(),
            host_key_fingerprint=s.host_key_fingerprint,
            accept_new_host_key=s.accept_new_host_key,
            connect_timeout=s.connect_timeout,
            io_timeout=s.io_timeout,
            keepalive_seconds=s.keepalive_seconds,
            bandwidth_limit=s.bandwidth_limit_kib * 1024,
        )

    def make_client(self, connection: RemoteConnection, job: Job) -> DailyTransferClient:
        """Return the upload client of one job, wired to the stop event and the heartbeat."""

        def alive(_message: str) -> None:
            self.health.beat()

        callbacks = UploadClientCallbacks(
            dated_regex=job.dated_regex,
            log_info=alive,  # the lines themselves already went to loguru
            log_error=alive,
            should_abort_upload=self.stop_event.is_set,
        )
        return DailyTransferClient(
            remote_connection=connection,
            src_path=job.src,
            dst_path=job.dst,
            remove_files_after_upload=job.remove_after_upload,
            variant=job.variant,
            callbacks=callbacks,
            grace_period=self.settings.grace_period,
            timezone=self.settings.timezone,
            clock=self.clock,
            progress_interval=self.settings.progress_seconds,
        )

    def _known_hosts_path(self) -> Path | None:
        """Return the known_hosts file: CSU_KNOWN_HOSTS written to the state dir, or the path."""
        if self.settings.known_hosts is None:
            return self.settings.known_hosts_file
        if self._known_hosts_tmp is None:
            path = self.settings.state_dir / "known_hosts"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.settings.known_hosts.get_secret_value().strip() + "\n")
            self._known_hosts_tmp = path
        return self._known_hosts_tmp


def secret(value: SecretStr | None) -> str | None:
    """Return a secret's text, or None."""
    return value.get_secret_value() if value is not None else None


def _severity(outcome: Outcome) -> int:
    return {Outcome.OK: 0, Outcome.FAILED: 1, Outcome.PERMANENT: 2}[outcome]
