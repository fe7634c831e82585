"""The one place log lines go through: loguru, plus the host program's callbacks.

The package logs through loguru but leaves it disabled unless the host enables it
(``logger.enable("circadian_scp_upload")``, as the agent's CLI does), so a library user
sees exactly what its callbacks print. paramiko's own logging is routed into loguru two
levels quieter, so its chatter never drowns the upload's lines.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from loguru import logger

from .callbacks import UploadClientCallbacks

PACKAGE = "circadian_scp_upload"
# paramiko's own lines only repeat, with tracebacks from its transport thread, what the
# agent says once in its own words: two levels quieter.
PARAMIKO_LEVEL_MAP = {
    logging.CRITICAL: "WARNING",
    logging.ERROR: "DEBUG",
    logging.WARNING: "DEBUG",
    logging.INFO: "TRACE",
}


class DayLog:
    """Log lines about one day, prefixed with the date, to loguru and the callbacks."""

    def __init__(self, callbacks: UploadClientCallbacks, day: str | None) -> None:
        self._callbacks = callbacks
        self._prefix = f"{day}: " if day is not None else ""

    def info(self, message: str) -> None:
        text = self._prefix + message
        logger.opt(depth=1).info(text)
        self._callbacks.log_info(text)

    def error(self, message: str) -> None:
        text = self._prefix + message
        logger.opt(depth=1).error(text)
        self._callbacks.log_error(text)


class _ParamikoToLoguru(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        level = PARAMIKO_LEVEL_MAP.get(record.levelno, "TRACE")
        logger.opt(depth=0).log(level, "paramiko: {}", record.getMessage())


_routed = False


def route_paramiko_logging() -> None:
    """Send paramiko's standard-library logging into loguru, two levels quieter (idempotent)."""
    global _routed
    if _routed:
        return
    paramiko_logger = logging.getLogger("paramiko")
    paramiko_logger.addHandler(_ParamikoToLoguru())
    paramiko_logger.setLevel(logging.INFO)
    paramiko_logger.propagate = False
    _routed = True


TEXT_FORMAT = "{time:YYYY-MM-DD HH:mm:ss} {level} - {extra[job_prefix]}{message}"


def setup_logging(level: str = "INFO", fmt: str = "text", station: str = "") -> None:
    """Send the package's log lines to stderr: text, or JSON through loguru's own
    serialisation (one object a line: the text, and the record with its time and zone
    offset, level, message, exception, and ``extra`` holding ``station`` and ``job``).

    ``diagnose=False``: a traceback never shows the values of variables (a key, a
    password); the traceback itself is kept, in text and JSON alike, for real bugs.
    """
    logger.remove()
    logger.enable(PACKAGE)
    logger.configure(extra={"job": "", "job_prefix": "", "station": station}, patcher=_job_prefix)
    if fmt == "json":
        logger.add(
            sys.stderr,
            level=level,
            format="{message}",
            serialize=True,
            diagnose=False,
            backtrace=False,
        )
    else:
        logger.add(
            sys.stderr,
            level=level,
            format=TEXT_FORMAT,
            colorize=False,
            diagnose=False,
            backtrace=False,
        )


def _job_prefix(record: Any) -> None:
    job = record["extra"].get("job")
    record["extra"]["job_prefix"] = f"[{job}] " if job else ""
