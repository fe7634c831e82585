"""Log lines about one day: to loguru and to the host program's callbacks alike.

The package logs through loguru but leaves it disabled unless the host enables it
(``logger.enable("circadian_scp_upload")``, as the agent's CLI does), so a library user
sees exactly what its callbacks print.
"""

from __future__ import annotations

from loguru import logger

from .callbacks import UploadClientCallbacks


class DayLog:
    """Log lines about one day, prefixed with the date, to loguru and the callbacks."""

    def __init__(self, callbacks: UploadClientCallbacks, day: str | None) -> None:
        self._callbacks = callbacks
        self._prefix = f"{day}: " if day is not None else ""

    def info(self, message: str) -> None:
        """Say ``message`` at INFO (``log_info``)."""
        text = self._prefix + message
        logger.opt(depth=1).info(text)
        self._callbacks.log_info(text)

    def error(self, message: str) -> None:
        """Say ``message`` at ERROR (``log_error``)."""
        text = self._prefix + message
        logger.opt(depth=1).error(text)
        self._callbacks.log_error(text)
