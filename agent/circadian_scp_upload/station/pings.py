"""Push pings, healthchecks.io style: the office learns that a station is uploading.

``CSU_PING_URL``: a request to ``<url>/start`` when a pass starts, ``<url>`` when it
succeeds, ``<url>/fail`` when it fails, with the pass's last log lines as the body (a few
KB). A URL with ``{status}`` in it (Uptime Kuma's push monitors) gets no suffix: only
the end of a pass is reported, ``{status}`` becoming ``up`` or ``down`` and ``{msg}`` the
outcome. One try each with a short timeout: a ping that fails is logged and never fails
the pass, and a dead monitor never makes a storm of retries.
"""

from __future__ import annotations

import collections
import urllib.parse
import urllib.request
from typing import Any

from loguru import logger

from ..config.pingurl import split_credentials, where

PING_TIMEOUT_SECONDS = 10.0
TAIL_LINES = 60
TAIL_BYTES = 8 * 1024


class LogTail:
    """A loguru sink keeping a pass's last log lines (for the body of a ping)."""

    def __init__(self) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)

    def __call__(self, message: Any) -> None:
        record = message.record
        self.lines.append(
            f"{record['time']:%Y-%m-%d %H:%M:%S} {record['level'].name} - {record['message']}"
        )

    def text(self) -> str:
        """Return the last lines, at most ``TAIL_BYTES`` (the newest kept)."""
        body = "\n".join(self.lines) + "\n"
        return body.encode()[-TAIL_BYTES:].decode("utf-8", "ignore")

    def clear(self) -> None:
        """Forget the lines (a pass starts)."""
        self.lines.clear()


class Pinger:
    """Sends the pings of one monitor URL."""

    def __init__(self, url: str, timeout: float = PING_TIMEOUT_SECONDS) -> None:
        self.url, self.authorization = split_credentials(url)
        self.timeout = timeout
        self.templated = "{status}" in url

    def _with(self, suffix: str) -> str:
        """The URL with ``suffix`` added to its path (its query, if any, kept after)."""
        parts = urllib.parse.urlsplit(self.url)
        return urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + suffix))

    def start(self) -> None:
        """A pass starts (healthchecks: ``/start``; nothing for a templated URL)."""
        if not self.templated:
            self._send(self._with("/start"), b"")

    def finish(self, ok: bool, outcome: str, log: str) -> None:
        """A pass ended: success or failure, with the log's last lines."""
        if self.templated:
            url = self.url.replace("{status}", "up" if ok else "down").replace(
                "{msg}", urllib.parse.quote(outcome)
            )
            self._send(url, None)
        else:
            self._send(self._with("" if ok else "/fail"), log.encode())

    def note(self, message: str, log: str) -> None:
        """A pass stopped early (a stop request, the upload window closing): healthchecks
        gets it as ``/log`` (it ends the ``/start`` without a verdict); a templated URL
        gets ``up``. A pass with nothing due (outside the upload window) is a success
        (``finish``), so a check whose period is the pass interval stays up."""
        if self.templated:
            self.finish(True, message, log)
        else:
            self._send(self._with("/log"), log.encode())

    def _send(self, url: str, body: bytes | None) -> None:
        shown = where(url)
        request = urllib.request.Request(  # noqa: S310 - the operator's own monitor URL
            url, data=body, method="POST" if body is not None else "GET"
        )
        request.add_header("User-Agent", "circadian-scp-upload")
        if self.authorization is not None:
            request.add_header("Authorization", self.authorization)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                response.read(1024)
        except Exception as error:  # noqa: BLE001 - a ping never fails a pass, whatever it meets
            logger.warning(
                "the ping to {} failed ({}); the pass goes on", shown, type(error).__name__
            )
