"""One SSH session: the socket, host-key trust, login, and the SFTP channel.

The socket is tuned so a dead peer is noticed within a bounded time (TCP keepalive,
``TCP_USER_TIMEOUT``), Nagle is off, and AES-GCM is preferred (the cheapest cipher per
byte here). Every wait, the SFTP version exchange included, has a timeout.
"""

from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko
from loguru import logger

from ..errors import HostKeyError, TransientError
from . import hostkeys
from .errors import Translator, connect_phase
from .wire import OfferTransport, Wire, open_wire, to_wire

DEFAULT_KNOWN_HOSTS = Path("~/.ssh/known_hosts")


@dataclass(frozen=True)
class Login:
    """Who logs in, and how: a password, a key, or (neither) a running ssh-agent."""

    username: str
    password: str | None = None
    key: paramiko.PKey | None = None
    allow_agent: bool = True

    @property
    def method(self) -> str:
        """Return the login method's name for messages."""
        return "key" if self.key is not None else "password" if self.password else "ssh-agent"


@dataclass(frozen=True)
class Trust:
    """How the server's host key is verified: a known_hosts file and/or known_hosts
    entries given as text, a pinned key, or accept-new."""

    known_hosts_file: Path | None
    pinned: str | None = None
    accept_new: bool = False
    entries: hostkeys.KnownHosts = field(default_factory=hostkeys.KnownHosts)
    accepted_file: Path | None = None  # where accept-new records keys (and reads them back)


@dataclass(frozen=True)
class Timeouts:
    """Seconds to connect and log in, to wait for one answer, and between keepalives."""

    connect: float = 20.0
    io: float = 60.0
    keepalive: float = 15.0


class Session:
    """An SSH connection with its SFTP channel; ``open`` and ``close`` it as often as needed."""

    def __init__(
        self,
        host: str,
        port: int,
        login: Login,
        trust: Trust,
        timeouts: Timeouts,
        compress: bool = False,
    ) -> None:
        self.host, self.port, self.compress = host, port, compress
        self.login, self.trust, self.timeouts = login, trust, timeouts
        self.client: paramiko.SSHClient | None = None
        self.wire: Wire | None = None
        self.lane_wires: dict[int, Wire] = {}  # more SFTP channels on the same connection
        self.round_trip: float | None = None  # seconds, measured by the last probe
        self.transports: list[OfferTransport] = []  # of the current connection attempt
        self.revoked: frozenset[bytes] = frozenset()
        self.translate = Translator(
            host,
            port,
            login.username,
            login.method,
            trust.known_hosts_file,
            self.link_is_up,
            self.close,
            self.free_space,
        )

    @property
    def where(self) -> str:
        """Return ``host:port`` for messages."""
        return f"{self.host}:{self.port}"

    def open(self) -> None:
        """Connect, verify the host key, log in and open SFTP; raise Transient/PermanentError."""
        self.close()
        client = paramiko.SSHClient()
        self._trust(client)
        sock = self._open_socket()
        try:
            client.connect(
                transport_factory=self._transport,
                hostname=self.host,
                port=self.port,
                username=self.login.username,
                password=self.login.password,
                pkey=self.login.key,
                allow_agent=self.login.allow_agent
                and self.login.password is None
                and self.login.key is None,
                look_for_keys=False,
                sock=sock,
                timeout=self.timeouts.connect,
                banner_timeout=self.timeouts.connect,
                auth_timeout=self.timeouts.connect,
                compress=self.compress,
            )
            transport = client.get_transport()
            assert transport is not None
            offered = transport.get_remote_server_key()
            if offered.asbytes() in self.revoked:  # trusted elsewhere, revoked here
                raise HostKeyError(hostkeys.revoked_message(self.where, offered))
            transport.set_keepalive(max(1, int(self.timeouts.keepalive)))
            wire = open_wire(transport, self.timeouts.io)
        except BaseException as error:  # noqa: BLE001 - translated (or re-raised) below
            client.close()
            sock.close()
            offers = self.transports[-1] if self.transports else None
            phase = connect_phase(offers)
            raise self.translate.connect_error(error, offers, phase) from None
        self.client, self.wire = client, wire
        logger.debug("connected to {}@{}", self.login.username, self.where)

    def _transport(self, sock: Any, /, **options: Any) -> OfferTransport:
        """Build the transport (whatever options this paramiko's SSHClient passes on)."""
        transport = OfferTransport(sock, **options)
        self.transports = [transport]
        return transport

    def close(self) -> None:
        """Close the connection (idempotent, never raises)."""
        if self.client is not None:
            with contextlib.suppress(Exception):  # closing a broken link may fail any way
                self.client.close()
        self.client = self.wire = None
        self.lane_wires = {}
        self.round_trip = None

    def link_is_up(self) -> bool:
        """Return whether the SSH transport is still active (no round trip)."""
        transport = self.client.get_transport() if self.client is not None else None
        return transport is not None and transport.is_active()

    def is_alive(self) -> bool:
        """Probe the connection with one cheap round trip; return whether it answered."""
        if self.wire is None or not self.link_is_up():
            return False
        started = time.monotonic()
        try:
            self.wire.normalize(".")
        except Exception:  # noqa: BLE001 - any failure means the link is not usable
            return False
        self.round_trip = time.monotonic() - started
        return True

    def lane_wire(self, lane: int) -> Wire | None:
        """Return SFTP channel number ``lane`` (0: the session's own), opening it on the
        same connection when first asked; None when the server refuses another channel
        (OpenSSH allows 10 a connection; others may allow fewer)."""
        if lane == 0:
            return self.require_wire()
        wire = self.lane_wires.get(lane)
        if wire is not None and (wire.sock.closed or wire.sock.eof_received):
            del self.lane_wires[lane]  # closed by the server while idle: open a new one
            wire = None
        if wire is None:
            try:
                wire = open_wire(self.require_transport(), self.timeouts.io)
            except (paramiko.SSHException, OSError, EOFError) as error:
                logger.debug("no SFTP channel {} on {}: {}", lane, self.where, error)
                return None
            self.lane_wires[lane] = wire
        return wire

    def require_lane(self, lane: int) -> Wire:
        """Return an opened SFTP channel (TransientError when the connection is gone)."""
        wire = self.lane_wires.get(lane) if lane else self.wire
        if wire is None:
            raise TransientError(f"not connected to {self.where} (SFTP channel {lane} closed)")
        return wire

    def require_wire(self) -> Wire:
        """Return the SFTP session, or raise TransientError when not connected."""
        if self.wire is None:
            raise TransientError(
                f"not connected to {self.where} (use the connection in a with block)"
            )
        return self.wire

    def require_transport(self) -> paramiko.Transport:
        """Return the SSH transport, or raise TransientError when not connected."""
        transport = self.client.get_transport() if self.client is not None else None
        if transport is None:
            raise TransientError(f"not connected to {self.where}")
        return transport

    def free_space(self, path: str) -> int | None:
        """Return the bytes available at ``path`` (statvfs@openssh.com), or None."""
        if self.wire is None or not self.link_is_up():
            return None
        if not self.wire.supports("statvfs@openssh.com"):
            return None
        try:
            return self.wire.available_bytes(to_wire(path))
        except Exception:  # noqa: BLE001 - an optional diagnosis, never a new failure
            return None

    def _trust(self, client: paramiko.SSHClient) -> None:
        trust = self.trust
        if trust.pinned is not None:
            client.set_missing_host_key_policy(hostkeys.PinnedFingerprint(trust.pinned))
            return
        known = hostkeys.read_known_hosts(trust.known_hosts_file) + trust.entries
        if trust.accepted_file not in (None, trust.known_hosts_file):
            known = known + hostkeys.read_known_hosts(trust.accepted_file)
        hostkeys.trust_entries(client, known)
        self.revoked = known.revoked
        if trust.accept_new:
            client.set_missing_host_key_policy(
                hostkeys.AcceptNew(trust.accepted_file or trust.known_hosts_file, known.revoked)
            )
        else:
            client.set_missing_host_key_policy(
                hostkeys.RejectUnknown(self.port, trust.known_hosts_file)
            )

    def _open_socket(self) -> socket.socket:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeouts.connect)
        except socket.gaierror as error:
            raise TransientError(
                f"cannot resolve {self.host!r} ({error.strerror}): check the host name "
                "and the station's network/DNS"
            ) from None
        except OSError as error:
            raise TransientError(
                f"cannot reach {self.where} ({error.strerror or error}): check that the "
                "server is up and reachable from this station"
            ) from None
        tune_socket(sock, self.timeouts.io, self.timeouts.keepalive)
        return sock


def tune_socket(sock: socket.socket, io_timeout: float, keepalive_seconds: float) -> None:
    """Disable Nagle, and let the kernel detect a dead peer within a bounded time."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    idle = max(1, int(keepalive_seconds))
    for name, value in (
        ("TCP_KEEPIDLE", idle),
        ("TCP_KEEPINTVL", idle),
        ("TCP_KEEPCNT", 3),
        ("TCP_USER_TIMEOUT", int(io_timeout * 1000)),
    ):
        option = getattr(socket, name, None)
        if option is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, option, value)
