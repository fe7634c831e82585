"""paramiko plus what it lacks: SFTP extensions, pipelining, lossless listings, and
key renewals that never hang.

paramiko's ``SFTPClient`` has no call for the server's announced extensions,
``fsync@openssh.com``, ``statvfs@openssh.com``, pipelined requests of any kind but
writes, or listings of names that are not UTF-8. ``Wire`` adds them on top of the hooks
that ``compat.py`` gives public names (the only module naming paramiko's private API).

Requests are coalesced. SFTP is one byte stream inside one channel, so ``queue`` encodes
requests straight into an outbox that goes out in full SSH packets (one ``send`` per
``FLUSH_BYTES``, not one per request), and replies are read from a buffer filled in
large pieces. The outbox is flushed before anything else is sent or any reply awaited,
so the order on the wire is the order of the calls. ``OfferTransport``
records what the server offered in its key exchange (``_really_parse_kex_init``), so a
server with no algorithm in common can be named with both sides' lists, and never
blocks its own thread during a key exchange (``_send_user_message``).
"""

from __future__ import annotations

import itertools
import struct
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import paramiko
from paramiko import Message, SFTPAttributes, SFTPError

from .compat import (
    CMD_CLOSE,
    CMD_EXTENDED,
    CMD_EXTENDED_REPLY,
    CMD_HANDLE,
    CMD_INIT,
    CMD_NAME,
    CMD_OPENDIR,
    CMD_READDIR,
    CMD_STATUS,
    CMD_VERSION,
    KEX_SERVER_CIPHERS,
    ReplyBox,
    SFTPClientHooks,
    TransportHooks,
    attrs_from_message,
    pack_attrs,
)
from .compat import int64 as sftp_int64

SFTP_VERSION = 3
# paramiko prefers AES-CTR with a separate MAC; AES-GCM is cheaper per byte (measured
# here), so it goes first. The others stay allowed for servers without GCM.
PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


@dataclass(frozen=True)
class Request:
    """One SFTP request: its command number and arguments (bytes, ints, int64s, attrs)."""

    command: int
    args: tuple[Any, ...]


def to_wire(path: str) -> bytes:
    """Given a path as the package holds it, return the bytes the server gets.

    Names that are not UTF-8 arrive surrogate-escaped (``os.scandir``); they go back
    to their original bytes here, so the server stores the very name the station has.
    """
    return path.encode("utf-8", "surrogateescape")


def from_wire(name: bytes) -> str:
    """Given a name as the server sent it, return it as the package holds paths."""
    return name.decode("utf-8", "surrogateescape")


# One flush of coalesced requests: paramiko cuts it into channel packets of the server's
# maximum size (32 KiB with OpenSSH), so all but the last go out full.
FLUSH_BYTES = 256 * 1024
# Replies are read from the channel in pieces of up to this size, not two reads a reply.
READ_AHEAD_BYTES = 64 * 1024


def encode(command: int, number: int, args: tuple[Any, ...]) -> bytes:
    """Return one SFTP request packet, length first (what paramiko's ``Message`` builds,
    without its per-field copies)."""
    parts: list[bytes] = []
    for item in args:
        if isinstance(item, sftp_int64):
            parts.append(struct.pack(">Q", item))
        elif isinstance(item, int):
            parts.append(struct.pack(">I", item))
        elif isinstance(item, SFTPAttributes):
            parts.append(pack_attrs(item))
        else:
            data = item.encode("utf-8") if isinstance(item, str) else bytes(item)
            parts.append(struct.pack(">I", len(data)))
            parts.append(data)
    body = b"".join(parts)
    return struct.pack(">IBI", len(body) + 5, command, number) + body


class Wire(SFTPClientHooks):
    """An SFTP session that records the server's extensions and coalesces requests."""

    extensions: dict[str, bytes]

    def __init__(self, sock: paramiko.Channel) -> None:
        self._outbox: list[bytes] = []
        self._outbox_bytes = 0
        self._outbox_lock = threading.Lock()
        self._inbox = bytearray()
        self._box = ReplyBox()
        super().__init__(sock)

    def exchange_versions(self) -> int:
        """Exchange versions (as paramiko does) and keep the extensions the server lists."""
        message = Message()
        message.add_int(SFTP_VERSION)
        self.send_packet(CMD_INIT, message)
        kind, data = self.read_packet()
        if kind != CMD_VERSION:
            raise SFTPError("Incompatible sftp protocol")
        version = int(struct.unpack(">I", data[:4])[0])
        self.extensions = _parse_extensions(data[4:])
        return version

    def supports(self, extension: str) -> bool:
        """Return whether the server announced ``extension`` (e.g. ``fsync@openssh.com``)."""
        return extension in self.extensions

    def queue(self, requests: Iterable[Request]) -> list[int]:
        """Queue requests without waiting for their answers; return their numbers.

        They go out in full packets once the outbox holds ``FLUSH_BYTES``, or before
        anything else is sent or awaited.
        """
        numbers: list[int] = []
        with self._outbox_lock:
            for request in requests:
                [number] = self.reserve_numbers(1, self._box)
                packet = encode(request.command, number, request.args)
                self._outbox.append(packet)
                self._outbox_bytes += len(packet)
                numbers.append(number)
                if self._outbox_bytes >= FLUSH_BYTES:
                    self._flush_locked()
        return numbers

    def send(self, request: Request) -> int:
        """Queue one request (see ``queue``); return its number."""
        return self.queue((request,))[0]

    def flush(self) -> None:
        """Send whatever is queued."""
        with self._outbox_lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if self._outbox:
            data = b"".join(self._outbox)
            self._outbox.clear()
            self._outbox_bytes = 0
            self.write_all(data)

    def before_send(self) -> None:
        """paramiko's own requests (and its file writes) go after whatever is queued."""
        self.flush()

    def write_all(self, out: bytes) -> None:
        """Send ``out`` whole on the channel."""
        self.sock.sendall(out)

    def read_all(self, n: int) -> bytes:
        """Return the next ``n`` bytes the server sent, reading ahead in large pieces.

        Everything queued is flushed first: a reply is never awaited for a request that
        still waits in the outbox.
        """
        if self._outbox:
            self.flush()
        inbox = self._inbox
        while len(inbox) < n:
            piece = self.sock.recv(max(n - len(inbox), READ_AHEAD_BYTES))
            if not piece:
                raise EOFError
            inbox += piece
        out = bytes(inbox[:n])
        del inbox[:n]
        return out

    def wait_reply(self, number: int) -> tuple[int, Message]:
        """Return the reply to a queued request, in whatever order the server answers
        (SFTP allows any): replies to other requests read meanwhile go to their own
        receivers. A STATUS reply that reports an error is raised (``OSError``, or
        ``EOFError`` for the end of a file or listing)."""
        if self._outbox:
            self.flush()
        while (found := self._box.take(number)) is None:
            if not self.expects(number):
                raise SFTPError(f"no reply to SFTP request {number} will come")
            self.read_response(None)  # one reply, handed to its request's receiver
        kind, message = found
        if kind == CMD_STATUS:
            self.raise_status(message)
        return kind, message

    def discard(self, numbers: Iterable[int]) -> None:
        """Give up on the replies to queued requests: paramiko drops them when they come,
        and any already here are forgotten (nothing piles up on a kept connection)."""
        for number in numbers:
            self.forget_number(number)
            self._box.take(number)

    def replies(self, numbers: Iterable[int]) -> list[bytes | OSError]:
        """Read the answers to queued requests (in any order the server sends them).

        Returns per request the handle it opened (or b"") or the SFTP status error it
        met. Link failures (timeouts, a closed channel) are raised at once: they are no
        answer about one request, and waiting for the rest would multiply the timeout.
        """
        results: list[bytes | OSError] = []
        for number in numbers:
            try:
                kind, reply = self.wait_reply(number)
            except (TimeoutError, ConnectionError):
                raise
            except OSError as error:
                results.append(error)
                continue
            results.append(reply.get_binary() if kind == CMD_HANDLE else b"")
        return results

    def pipeline(self, requests: Iterable[Request]) -> list[bytes | OSError]:
        """Send every request, then read every answer (one round trip in all)."""
        return self.replies(self.queue(requests))

    def extended(self, name: str, *args: Any) -> Message | None:
        """Send one extended request; return its reply message (None for a plain OK)."""
        kind, reply = self.request(CMD_EXTENDED, name, *args)
        return reply if kind == CMD_EXTENDED_REPLY else None

    def fsync(self, handle: object) -> None:
        """Ask the server to write a file's data to disk (``fsync@openssh.com``)."""
        self.extended("fsync@openssh.com", handle)

    def available_bytes(self, path: bytes) -> int | None:
        """Return the bytes available to this user at ``path`` (``statvfs@openssh.com``)."""
        reply = self.extended("statvfs@openssh.com", path)
        if reply is None:
            return None
        _bsize, frsize, _blocks, _bfree, bavail = (reply.get_int64() for _ in range(5))
        return int(frsize * bavail)

    def list_folder(self, path: bytes) -> list[tuple[str, SFTPAttributes]]:
        """Return (name, attributes) of a folder's entries, names decoded losslessly.

        paramiko's ``listdir_attr`` decodes names as strict UTF-8 and fails on the first
        name that is not; this reads the same replies and keeps every byte.
        """
        kind, reply = self.request(CMD_OPENDIR, path)
        if kind != CMD_HANDLE:
            raise SFTPError("Expected handle")
        handle = reply.get_binary()
        found: list[tuple[str, SFTPAttributes]] = []
        while True:
            try:
                kind, reply = self.request(CMD_READDIR, handle)
            except EOFError:  # the end of the listing
                break
            if kind != CMD_NAME:
                raise SFTPError("Expected name response")
            for _ in range(reply.get_int()):
                name = from_wire(reply.get_string())
                reply.get_string()  # the long name, unused
                attrs = attrs_from_message(reply)
                if name not in (".", ".."):
                    found.append((name, attrs))
        self.request(CMD_CLOSE, handle)
        return found


class OfferTransport(TransportHooks):
    """paramiko's Transport, AES-GCM first, remembering the server's algorithm lists and
    counting key exchanges (the first, then every renewal)."""

    server_ciphers: tuple[str, ...] = ()
    key_exchanges = 0
    own_answers = 0  # messages paramiko's own thread sent (channel closes, replies)
    held_back = 0  # of those, the ones held back until earlier messages had gone

    def __init__(self, sock: Any, **options: Any) -> None:
        super().__init__(sock, **options)
        # answers of paramiko's own thread held back (see _send_user_message), each with
        # the other threads' messages under way then, which must go before it
        self._later: list[tuple[set[int], Any]] = []
        self._later_lock = threading.Lock()
        self._sending: set[int] = set()  # tickets of other threads' messages under way
        self._tickets = itertools.count()
        security = self.get_security_options()
        offered = tuple(security.ciphers)
        security.ciphers = tuple(c for c in PREFERRED_CIPHERS if c in offered) + tuple(
            c for c in offered if c not in PREFERRED_CIPHERS
        )

    def on_kex_init(self, offers: dict[str, Any]) -> None:
        """Remember the server's ciphers; count the key exchange."""
        self.server_ciphers = tuple(offers.get(KEX_SERVER_CIPHERS) or ())
        self.key_exchanges += 1

    def client_ciphers(self) -> tuple[str, ...]:
        """Return the ciphers this client offers."""
        return tuple(self.get_security_options().ciphers)

    def send_user_message(self, data: Any) -> None:
        """Send a message, after the key exchange in progress if there is one, and in
        the order the calls were made.

        paramiko answers some server messages from its own thread: the close of a
        channel (every finished command and stream), a channel request that wants a
        reply. During a key exchange it waits for the exchange to end, which only that
        same thread can bring about: the connection hangs for 30 s and dies ("Key-exchange
        timed out waiting for key negotiation", paramiko #822; measured here as one
        failure in about 3 GiB of streamed files, where paramiko renews its keys every
        512 MiB). Such answers are queued instead and sent by a thread of their own, each
        once every message that other threads began to send before it has gone: a
        channel's EOF must reach the server before its close, or the server drops the
        connection ("ieof packet referred to nonexistent channel")."""
        if threading.current_thread() is self:
            self.own_answers += 1
            if self._later or self._sending or self.key_exchange_in_progress():
                self.held_back += 1
                with self._later_lock:
                    self._later.append((self._sending.copy(), data))
                    if len(self._later) == 1:
                        threading.Thread(target=self._send_later, daemon=True).start()
                return
            self.send_now(data)
            return
        # other threads: no lock of our own on this path, which every packet takes
        # (next() on a count, and adding to or removing from a set, are atomic)
        ticket = next(self._tickets)
        self._sending.add(ticket)
        try:
            self.send_now(data)
        finally:
            self._sending.discard(ticket)

    def _send_later(self) -> None:
        """Send the queued answers in order; the last one sent ends this thread."""
        while True:
            with self._later_lock:
                before, data = self._later[0]
            deadline = time.monotonic() + self.key_exchange_timeout
            while before & self._sending and time.monotonic() < deadline:
                time.sleep(0.001)
            try:
                self.send_now(data)
            except Exception:  # noqa: BLE001 - the next request on the connection reports it
                with self._later_lock:
                    self._later.clear()
                return
            with self._later_lock:
                self._later.pop(0)
                if not self._later:
                    return


def open_wire(transport: paramiko.Transport, timeout: float) -> Wire:
    """Open an SFTP session whose every wait, the version exchange included, is bounded."""
    channel = transport.open_session(timeout=timeout)
    channel.settimeout(timeout)
    channel.invoke_subsystem("sftp")
    return Wire(channel)


def _parse_extensions(data: bytes) -> dict[str, bytes]:
    """Given the rest of a VERSION packet, return its (name -> data) extension pairs."""
    found: dict[str, bytes] = {}
    message = Message(data)
    while message.get_remainder():
        try:
            name = message.get_string()
            value = message.get_string()
        except Exception:  # noqa: BLE001 - a malformed tail only costs optional extensions
            break
        found[name.decode("utf-8", "replace")] = value
    return found
