"""``RemoteConnection``: the documented public class, and the SSH implementation of ``Remote``.

It holds one ``Session`` and hands each request to the layer that does it: single SFTP
requests and batches (``sftp.py``), exec commands and streams (``exec.py``), the
server's traits (``probe.py``, once per connection).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from loguru import logger

from ..errors import ConfigError, ExecRefused
from . import hostkeys
from .api import Batch, CommandResult, Listing, RemoteEntry, ServerTraits, Sink
from .credentials import load_private_key, read_private_key_file
from .exec import ExecOps
from .logs import route_paramiko_logging
from .probe import probe
from .session import DEFAULT_KNOWN_HOSTS, Login, Session, Timeouts, Trust
from .sftp import SftpOps

T = TypeVar("T")


def split_host_port(host: str, port: int | None) -> tuple[str, int]:
    """Given ``host``, ``host:port`` or ``[v6]:port`` and an optional port, return both."""
    text = host.strip()
    if not text:
        raise ConfigError("the host is empty: give the server's name or address")
    if text.startswith("["):
        name, _, rest = text[1:].partition("]")
        if rest.startswith(":"):
            return name, _parse_port(rest[1:])
        return name, port or 22
    if text.count(":") == 1:
        name, _, port_text = text.partition(":")
        return name, _parse_port(port_text)
    return text, port or 22


def _parse_port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ConfigError(f"invalid port {text!r}: give a number from 1 to 65535")
    return int(text)


class RemoteConnection:
    """One SSH connection to the server, used as a context manager.

    ``RemoteConnection(host, username, password)`` keeps the documented signature;
    keyword options add key files or key text, an explicit known_hosts file, known_hosts
    lines as text, or a pinned host key fingerprint, and timeouts. Host keys are always
    verified; ``accept_new_host_key`` trusts a host never seen before and records its key
    in ``accepted_host_keys_file`` (default: the known_hosts file), or refuses it when it
    cannot be recorded. Bad options raise one ``ConfigError`` listing them all, before any
    connection is tried.
    """

    def __init__(
        self,
        host: str,
        username: str,
        password: str | None = None,
        *,
        port: int | None = None,
        key_filename: str | Path | None = None,
        private_key: str | None = None,
        passphrase: str | None = None,
        allow_agent: bool = True,
        known_hosts_file: str | Path | None = None,
        known_hosts: str | None = None,
        host_key_fingerprint: str | None = None,
        accept_new_host_key: bool = False,
        accepted_host_keys_file: str | Path | None = None,
        connect_timeout: float = 20.0,
        io_timeout: float = 60.0,
        keepalive_seconds: float = 15.0,
        bandwidth_limit: int = 0,
        compress: bool = False,
    ) -> None:
        problems: list[tuple[str, str]] = []

        def check(option: str, make: Callable[[], T]) -> T | None:
            try:
                return make()
            except ConfigError as error:
                problems.append((option, str(error)))
                return None

        where = check("host", lambda: split_host_port(host, port))
        if not username:
            problems.append(("username", "the username is empty: give the login name"))
        key = None
        if private_key:
            key = check(
                "private_key", lambda: load_private_key(private_key, passphrase, "given as text")
            )
        elif key_filename is not None:
            key = check(
                "key_filename", lambda: read_private_key_file(Path(key_filename), passphrase)
            )
        pinned = None
        if host_key_fingerprint is not None:
            pinned = check(
                "host_key_fingerprint", lambda: hostkeys.normalize_fingerprint(host_key_fingerprint)
            )
        entries = check(
            "known_hosts",
            lambda: hostkeys.parse_known_hosts(known_hosts or "", "the known_hosts text"),
        )
        # Given as text alone, the text is the whole trust: no default file widens it.
        known_hosts_path = None
        if known_hosts_file is not None or not known_hosts:
            known_hosts_path = Path(known_hosts_file or DEFAULT_KNOWN_HOSTS).expanduser()
        check("known_hosts_file", lambda: hostkeys.read_known_hosts(known_hosts_path))
        if bandwidth_limit < 0:
            problems.append(("bandwidth_limit", "the bandwidth limit must be 0 or more bytes/s"))
        if problems or where is None or entries is None:
            raise ConfigError("; ".join(message for _o, message in problems), problems)
        name, number = where
        self.session = Session(
            name,
            number,
            Login(username, password, key, allow_agent),
            Trust(
                known_hosts_path,
                pinned,
                accept_new_host_key,
                entries,
                Path(accepted_host_keys_file) if accepted_host_keys_file else None,
            ),
            Timeouts(connect_timeout, io_timeout, keepalive_seconds),
            compress,
        )
        self.sftp = SftpOps(self.session)
        self.shell = ExecOps(self.session, io_timeout, connect_timeout)
        # The default bandwidth limit (bytes/s) of clients on this connection: policy
        # lives in the client's Pacer; this keeps the constructor as it always was.
        self.bandwidth_limit = bandwidth_limit
        self._traits: ServerTraits | None = None
        self._logged: ServerTraits | None = None
        route_paramiko_logging()

    def __repr__(self) -> str:  # never shows secrets
        return f"RemoteConnection({self.session.login.username}@{self.where})"

    @property
    def host(self) -> str:
        """The server's name or address."""
        return self.session.host

    @property
    def port(self) -> int:
        """The server's port."""
        return self.session.port

    @property
    def where(self) -> str:
        """``host:port`` for messages."""
        return self.session.where

    @property
    def io_timeout(self) -> float:
        """Seconds one wait for the server may take."""
        return self.session.timeouts.io

    # -- lifecycle -------------------------------------------------------------------

    def __enter__(self) -> RemoteConnection:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def connect(self) -> None:
        """Open the connection and its SFTP session; raise Transient/PermanentError."""
        self.session.open()
        self._traits = None

    def close(self) -> None:
        """Close the connection (idempotent, never raises)."""
        self.session.close()

    def is_alive(self) -> bool:
        """Probe the connection with one cheap round trip; return whether it answered."""
        return self.session.is_alive()

    def ensure_connected(self) -> None:
        """Reconnect quietly if the connection was lost (probed before each day)."""
        if not self.is_alive():
            if self.session.client is not None:
                logger.info("connection to {} was lost; reconnecting", self.where)
            self.connect()

    def traits(self) -> ServerTraits:
        """Return how this server is handled (probed once per connection, logged once)."""
        if self._traits is None:
            extensions = self.session.require_wire().extensions
            self._traits = probe(self._probe_run, extensions)
            if self._traits != self._logged:  # once, not again on every reconnect
                logger.info("{}: {}", self.where, self._traits.describe())
                self._logged = self._traits
        return self._traits

    def _probe_run(self, command: str) -> CommandResult | None:
        """Run the probe; None when the server refuses to run commands at all."""
        try:
            return self.shell.run(command)
        except ExecRefused:
            return None

    # -- Remote: single operations ------------------------------------------------------

    def stat(self, path: str) -> RemoteEntry | None:
        """Return what is at ``path`` on the server, or None if nothing is there."""
        return self.sftp.stat(path)

    def list_files(self, root: str, recursive: bool) -> Listing:
        """Return the regular files and folders below ``root`` (empty if it is absent)."""
        return self.sftp.list_files(root, recursive)

    def make_folders(self, paths: Sequence[str]) -> None:
        """Create the folders (parents before children) and any missing parents."""
        self.sftp.make_folders(paths)

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write a small file (replacing it)."""
        self.sftp.write_bytes(path, data)

    def remove(self, path: str) -> None:
        """Remove a file; a missing file is fine."""
        self.sftp.remove(path)

    def remove_folder(self, path: str) -> None:
        """Remove an empty folder; a missing one is fine."""
        self.sftp.remove_folder(path)

    def rename_over(self, src: str, dst: str) -> None:
        """Rename ``src`` to ``dst`` atomically, replacing ``dst`` (posix-rename)."""
        self.sftp.rename_over(src, dst, self.traits().posix_rename)

    def keep(self, src: str, dst: str) -> None:
        """Keep the file ``src`` also as ``dst``: a hard link, else a rename."""
        self.sftp.keep(src, dst, self.traits().hardlink)

    def read_range(self, path: str, offset: int, length: int) -> bytes:
        """Return up to ``length`` bytes of a remote file from ``offset``."""
        return self.sftp.read_range(path, offset, length)

    def read_file(self, path: str) -> Iterator[bytes]:
        """Yield a remote file's content in bounded pieces."""
        return self.sftp.read_file(path)

    # -- Remote: writing and commands ------------------------------------------------------

    def open_file(self, path: str, offset: int, stream: bool) -> Sink:
        """Open ``path`` for writing from ``offset``, as an exec stream or over SFTP."""
        fsync = self.traits().fsync
        if stream:
            return self.shell.open_stream(path, offset, self.sftp.fsync_file if fsync else None)
        return self.sftp.open_sink(path, offset, fsync)

    def lanes(self, count: int) -> list[RemoteConnection]:
        """Return up to ``count`` views of this connection, each with its own SFTP
        channel (the first is this one), for uploads in parallel on long links. Fewer
        when the server refuses more channels. Each view is used by one thread only."""
        self.traits()  # probed once, shared by every view
        views = [self]
        if count < 2:
            return views
        # opened side by side: each costs a few round trips, which add up on a long link
        with ThreadPoolExecutor(count - 1, thread_name_prefix="csu-open") as pool:
            opened = list(pool.map(self.session.lane_wire, range(1, count)))
        for lane, wire in enumerate(opened, start=1):
            if wire is None:
                break
            view = copy.copy(self)
            view.sftp = SftpOps(self.session, lane)
            views.append(view)
        return views

    @property
    def round_trip(self) -> float | None:
        """Seconds of the last probe's round trip (None before one)."""
        return self.session.round_trip

    def open_batch(self) -> Batch:
        """Return a batch writer for many small files."""
        traits = self.traits()
        return self.sftp.open_batch(traits.fsync, traits.posix_rename, traits.hardlink)

    def set_mtimes(self, times: Sequence[tuple[str, int]]) -> None:
        """Give each path its modification time (seconds), pipelined."""
        self.sftp.set_mtimes(times)

    def run(
        self,
        command: str,
        stdin: bytes = b"",
        timeout: float | None = None,
        poll: Callable[[], None] | None = None,
    ) -> CommandResult:
        """Run a command through the server's shell, feeding ``stdin``; return its result."""
        return self.shell.run(command, stdin, timeout, poll)
