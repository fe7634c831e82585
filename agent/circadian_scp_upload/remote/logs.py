"""paramiko's own logging, routed into loguru two levels quieter, so its chatter (and
the tracebacks of its transport thread) never drowns the upload's lines: the agent says
each failure once, in its own words."""

from __future__ import annotations

import logging

from loguru import logger

PARAMIKO_LEVEL_MAP = {
    logging.CRITICAL: "WARNING",
    logging.ERROR: "DEBUG",
    logging.WARNING: "DEBUG",
    logging.INFO: "TRACE",
}


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
