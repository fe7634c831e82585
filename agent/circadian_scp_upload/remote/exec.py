"""Exec channels: a command through the server's shell, and a raw stream into a file.

The caller quotes every argument (``shlex.quote``); names travel on standard input
wherever they can. A channel that closes without an exit status means the link went
down under it: a transient fault, not a failed command.
"""

from __future__ import annotations

import select
import shlex
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from types import TracebackType

import paramiko

from ..errors import ExecRefused
from .api import OUTPUT_MARK, CommandResult
from .session import Session

Finisher = Callable[[str], None]
NO_EXIT_STATUS = -1  # what paramiko reports when a channel closed without one


class ExecOps:
    """Commands and streams over exec channels of one session."""

    def __init__(self, session: Session, io_timeout: float, connect_timeout: float) -> None:
        self.session = session
        self.translate = session.translate
        self.io_timeout, self.connect_timeout = io_timeout, connect_timeout

    def run(
        self,
        command: str,
        stdin: bytes = b"",
        timeout: float | None = None,
        poll: Callable[[], None] | None = None,
    ) -> CommandResult:
        """Run ``command`` feeding ``stdin``; return its result.

        ``timeout`` bounds each wait for output, not the whole command; ``poll`` is
        called while waiting (it may raise to stop).
        """
        wait = timeout or self.io_timeout
        with self.translate("run a command on", self.session.where):
            # A mark before the command's own output: whatever a login script prints
            # first (a noisy .bashrc) is cut off, never taken for the answer.
            channel = self._open(f"printf '{OUTPUT_MARK}'; {command}", wait)
            try:
                feeder = threading.Thread(target=_feed, args=(channel, stdin), daemon=True)
                feeder.start()
                stdout, stderr = drain(channel, wait, poll)
                feeder.join(wait)
                status = channel.recv_exit_status()
            finally:
                channel.close()
        if status == NO_EXIT_STATUS:
            raise self.translate.link_lost(f"running a command on {self.session.where}")
        # (a forced-command wrapper may not print the mark: then all of it is the answer)
        return CommandResult(status, stdout.split(OUTPUT_MARK.encode(), 1)[-1], stderr)

    def open_stream(self, path: str, offset: int, fsync: Finisher | None) -> StreamSink:
        """Start ``cat > path`` (``cat >> path`` to resume from ``offset``) over exec.

        ``fsync(path)`` makes the finished file durable (over SFTP), where asked.
        """
        command = f"cat {'>>' if offset else '>'} {shlex.quote(path)}"
        with self.translate("upload to", path):
            channel = self._open(command, self.io_timeout)
        return StreamSink(self, channel, path, fsync)

    def _open(self, command: str, timeout: float) -> paramiko.Channel:
        """Open a session channel and start ``command``. A refusal of the command on a
        link that is still up (ProFTPD's mod_sftp, a jail that allows SFTP only) is the
        server's answer, ``ExecRefused``; a channel that cannot be opened is a link fault
        (a congested link, too many sessions) and is retried."""
        channel = self.session.require_transport().open_session(timeout=self.connect_timeout)
        channel.settimeout(timeout)
        # paramiko waits for the answer to an exec request without a timeout of its own
        watchdog = threading.Timer(timeout, channel.close)
        watchdog.start()
        try:
            channel.exec_command(command.encode("utf-8", "surrogateescape"))
        except paramiko.SSHException as error:
            channel.close()
            if not watchdog.is_alive():
                raise TimeoutError(f"no answer to a command request for {timeout:.0f} s") from None
            if not self.session.link_is_up():
                raise
            raise ExecRefused(
                f"{self.session.where} refused to run a command ({error or type(error).__name__})"
            ) from None
        finally:
            watchdog.cancel()
        return channel


class StreamSink:
    """A raw byte stream into ``cat`` on the server: OpenSSH's speed through paramiko."""

    def __init__(
        self,
        ops: ExecOps,
        channel: paramiko.Channel,
        path: str,
        fsync: Finisher | None,
    ) -> None:
        self.ops, self.channel, self.path, self.fsync = ops, channel, path, fsync

    def write(self, data: bytes) -> None:
        """Send ``data`` into the stream."""
        with self.ops.translate("upload to", self.path):
            self.channel.sendall(data)

    def commit(self, durable: bool) -> None:
        """End the stream, wait for ``cat``'s exit status (raise on any failure), then
        make the file durable when asked and the server can."""
        with self.ops.translate("upload to", self.path):
            self.channel.shutdown_write()
            _stdout, stderr = drain(self.channel, self.ops.io_timeout)
            status = self.channel.recv_exit_status()
        if status == NO_EXIT_STATUS:
            raise self.ops.translate.link_lost(f"uploading {self.path!r}")
        if status != 0:  # only the command's own failure counts, not a login script's noise
            said = stderr.decode("utf-8", "replace").strip()[-300:] or f"exit {status}"
            raise self.ops.translate.refusal("write", self.path, said)
        if durable and self.fsync is not None:
            self.fsync(self.path)

    def __enter__(self) -> StreamSink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with suppress(Exception):
            self.channel.close()


def _feed(channel: paramiko.Channel, data: bytes) -> None:
    try:
        if data:
            channel.sendall(data)
        channel.shutdown_write()
    except (OSError, EOFError, paramiko.SSHException):
        pass  # the reader sees the failure


def drain(
    channel: paramiko.Channel, timeout: float, poll: Callable[[], None] | None = None
) -> tuple[bytes, bytes]:
    """Read a channel's stdout and stderr until both close; raise TimeoutError if silent.

    ``poll`` is called at every wake-up (at least five times a second)."""
    stdout, stderr = bytearray(), bytearray()
    deadline = time.monotonic() + timeout
    while True:
        got = False
        while channel.recv_ready():
            stdout += channel.recv(65536)
            got = True
        while channel.recv_stderr_ready():
            stderr += channel.recv_stderr(65536)
            got = True
        drained = not channel.recv_ready() and not channel.recv_stderr_ready()
        if drained and channel.exit_status_ready() and (channel.eof_received or channel.closed):
            break
        if drained and channel.closed:
            raise EOFError("the channel closed before the command finished")
        if got:
            deadline = time.monotonic() + timeout
        elif time.monotonic() > deadline:
            raise TimeoutError(f"no output for {timeout:.0f} s")
        else:
            select.select([channel], [], [], 0.2)
        if poll is not None:
            poll()
    return bytes(stdout), bytes(stderr)
