"""The daemon's log output: text or JSON lines on stderr, with the station and job."""

from __future__ import annotations

import sys
from typing import Any

from loguru import logger

PACKAGE = "circadian_scp_upload"
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
