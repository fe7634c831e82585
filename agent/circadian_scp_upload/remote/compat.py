"""paramiko's private API: every use of it in the package, in this one module.

paramiko's ``SFTPClient`` has no public call for the server's announced extensions,
for pipelined requests of any kind but writes, or for listings of names that are not
UTF-8; its ``Transport`` tells nothing of what the server offered in the key exchange,
and answers some server messages from its own thread in a way that hangs during a key
renewal (paramiko #822). The transport (``wire.py``) needs all of that. So the private
methods and attributes it relies on are named here, and only here: the classes below
override paramiko's private methods and forward each to a method with a public name,
and the functions wrap each private attribute.

``METHOD_HOOKS`` and ``ATTRIBUTE_HOOKS`` list every hook with the signature or the
attribute relied on; ``tests/unit/test_compat.py`` checks each against the installed
paramiko, and the test command runs it (with the tiers that exercise the hooks) against
the lowest and the highest paramiko that ``pyproject.toml`` allows. An upgrade that
changes a hook fails in CI, not silently in the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import paramiko
from paramiko.message import Message
from paramiko.sftp import (  # protocol numbers: module-level in paramiko.sftp, undocumented
    CMD_CLOSE,
    CMD_EXTENDED,
    CMD_EXTENDED_REPLY,
    CMD_HANDLE,
    CMD_INIT,
    CMD_MKDIR,
    CMD_NAME,
    CMD_OPEN,
    CMD_OPENDIR,
    CMD_READDIR,
    CMD_RENAME,
    CMD_SETSTAT,
    CMD_STATUS,
    CMD_VERSION,
    CMD_WRITE,
    SFTP_FLAG_CREATE,
    SFTP_FLAG_TRUNC,
    SFTP_FLAG_WRITE,
    BaseSFTP,
    int64,
)

__all__ = [
    "ATTRIBUTE_HOOKS",
    "CMD_CLOSE",
    "CMD_EXTENDED",
    "CMD_EXTENDED_REPLY",
    "CMD_HANDLE",
    "CMD_INIT",
    "CMD_MKDIR",
    "CMD_NAME",
    "CMD_OPEN",
    "CMD_OPENDIR",
    "CMD_READDIR",
    "CMD_RENAME",
    "CMD_SETSTAT",
    "CMD_STATUS",
    "CMD_VERSION",
    "CMD_WRITE",
    "KEX_SERVER_CIPHERS",
    "METHOD_HOOKS",
    "SFTP_FLAG_CREATE",
    "SFTP_FLAG_TRUNC",
    "SFTP_FLAG_WRITE",
    "ReplyBox",
    "SFTPClientHooks",
    "TransportHooks",
    "attrs_from_message",
    "int64",
    "pack_attrs",
]


@dataclass(frozen=True)
class Hook:
    """One private method relied on: where it is, its parameters, and why."""

    owner: type
    name: str
    parameters: tuple[str, ...]  # as ``inspect.signature`` lists them
    why: str


METHOD_HOOKS: tuple[Hook, ...] = (
    Hook(BaseSFTP, "_send_version", ("self",), "keep the extensions of the VERSION reply"),
    Hook(BaseSFTP, "_send_packet", ("self", "t", "packet"), "flush queued requests first"),
    Hook(BaseSFTP, "_write_all", ("self", "out"), "one sendall per coalesced flush"),
    Hook(BaseSFTP, "_read_all", ("self", "n"), "read replies ahead in large pieces"),
    Hook(BaseSFTP, "_read_packet", ("self",), "the VERSION reply"),
    Hook(paramiko.SFTPClient, "_read_response", ("self", "waitfor"), "pipelined replies"),
    Hook(paramiko.SFTPClient, "_request", ("self", "t", "args"), "extensions, listings"),
    Hook(paramiko.SFTPClient, "_convert_status", ("self", "msg"), "a STATUS reply as OSError"),
    Hook(
        paramiko.SFTPFile,
        "_async_response",
        ("self", "t", "msg", "num"),
        "how paramiko hands a reply to its request's receiver (ReplyBox has the same)",
    ),
    Hook(
        paramiko.Transport,
        "_really_parse_kex_init",
        ("self", "m", "ignore_first_byte"),
        "the server's cipher list, for a server with none in common",
    ),
    Hook(paramiko.Transport, "_send_user_message", ("self", "data"), "paramiko #822"),
    Hook(paramiko.SFTPAttributes, "_pack", ("self", "msg"), "attributes in queued requests"),
    Hook(
        paramiko.SFTPAttributes,
        "_from_msg",
        ("msg", "filename", "longname"),
        "listings of names that are not UTF-8",
    ),
)

# Instance attributes relied on: (class, attribute, why). Checked on live objects.
ATTRIBUTE_HOOKS: tuple[tuple[type, str, str], ...] = (
    (paramiko.SFTPClient, "_lock", "request numbers are taken under paramiko's lock"),
    (paramiko.SFTPClient, "_expecting", "requests paramiko must accept replies for"),
    (paramiko.SFTPClient, "request_number", "the next request number"),
    (paramiko.SFTPClient, "sock", "the SFTP channel"),
    (paramiko.Transport, "clear_to_send", "whether a key exchange is in progress"),
    (paramiko.Transport, "clear_to_send_timeout", "how long paramiko waits for one"),
)

# The key of the server's cipher list in what ``_really_parse_kex_init`` returns.
KEX_SERVER_CIPHERS = "server_encrypt_algo_list"


class SFTPClientHooks(paramiko.SFTPClient):
    """paramiko's ``SFTPClient`` with the private methods the transport needs given
    public names. Subclasses override ``exchange_versions``, ``before_send``,
    ``write_all`` and ``read_all``; the other methods call paramiko's."""

    # -- paramiko's private methods, forwarded --------------------------------------

    def _send_version(self) -> int:
        return self.exchange_versions()

    def _send_packet(self, t: int, packet: Message) -> None:
        self.before_send()
        super()._send_packet(t, packet)  # type: ignore[misc]

    def _write_all(self, out: bytes) -> None:
        self.write_all(out)

    def _read_all(self, n: int) -> bytes:
        return self.read_all(n)

    # -- to override ------------------------------------------------------------------

    def exchange_versions(self) -> int:
        """Exchange SFTP versions; return the server's (paramiko's own by default)."""
        version: int = super()._send_version()  # type: ignore[misc]
        return version

    def before_send(self) -> None:
        """Called before paramiko sends any packet of its own."""

    def write_all(self, out: bytes) -> None:
        """Send ``out`` whole (paramiko's own by default)."""
        super()._write_all(out)  # type: ignore[misc]

    def read_all(self, n: int) -> bytes:
        """Return the next ``n`` bytes from the server (paramiko's own by default)."""
        data: bytes = super()._read_all(n)  # type: ignore[misc]
        return data

    # -- paramiko's private machinery, with public names -------------------------------

    def send_packet(self, kind: int, message: Message) -> None:
        """Send one SFTP packet (after ``before_send``)."""
        self._send_packet(kind, message)

    def read_packet(self) -> tuple[int, bytes]:
        """Read one SFTP packet: its type and its body."""
        kind, data = self._read_packet()  # type: ignore[attr-defined]
        return int(kind), bytes(data)

    def reserve_numbers(self, count: int, receiver: object = type(None)) -> list[int]:
        """Take ``count`` request numbers and register each with paramiko, so that it
        accepts their replies: paramiko hands a reply to ``receiver._async_response``
        when it reads one while waiting for another (``type(None)``: it drops it)."""
        with self._lock:  # type: ignore[attr-defined]
            first: int = self.request_number
            self.request_number = first + count
            expecting = self._expecting  # type: ignore[attr-defined]
            for number in range(first, first + count):
                expecting[number] = receiver
        return list(range(first, first + count))

    def forget_number(self, number: int) -> None:
        """Stop expecting a reply to ``number`` (it was read some other way)."""
        with self._lock:  # type: ignore[attr-defined]
            self._expecting.pop(number, None)  # type: ignore[attr-defined]

    def expects(self, number: int) -> bool:
        """Return whether paramiko still waits for a reply to ``number``."""
        with self._lock:  # type: ignore[attr-defined]
            return number in self._expecting  # type: ignore[attr-defined]

    def read_response(self, number: int | None) -> tuple[int | None, Message | None]:
        """Wait for the reply to ``number`` (a STATUS error raised as ``OSError`` or
        ``EOFError``); None reads one reply and hands it to its receiver."""
        kind, message = self._read_response(number)  # type: ignore[attr-defined]
        return kind, message

    def request(self, kind: int, *args: Any) -> tuple[int, Message]:
        """Send one request and wait for its reply (errors raised as ``read_response``)."""
        reply_kind, message = self._request(kind, *args)  # type: ignore[attr-defined]
        return int(reply_kind), message

    def raise_status(self, message: Message) -> None:
        """Given a STATUS reply (its request number read), raise its error, if any."""
        self._convert_status(message)  # type: ignore[attr-defined]


class ReplyBox:
    """The receiver registered with queued requests: paramiko hands it every reply it
    reads while waiting for another one (through the method paramiko calls on an
    ``SFTPFile``, ``_async_response``), so replies may come in any order."""

    def __init__(self) -> None:
        self.replies: dict[int, tuple[int, Message]] = {}

    def _async_response(self, t: int, msg: Message, num: int) -> None:
        self.replies[num] = (t, msg)

    def take(self, number: int) -> tuple[int, Message] | None:
        """Return (and forget) the reply to ``number`` if it has come."""
        return self.replies.pop(number, None)


class TransportHooks(paramiko.Transport):
    """paramiko's ``Transport`` with the private methods the transport needs given
    public names: ``on_kex_init`` sees each key exchange's offers, and every message
    goes through ``send_user_message``, which may send it now (``send_now``) or later."""

    def _really_parse_kex_init(self, m: Message, ignore_first_byte: bool = False) -> Any:
        parsed = super()._really_parse_kex_init(m, ignore_first_byte)  # type: ignore[misc]
        self.on_kex_init(parsed if isinstance(parsed, dict) else {})
        return parsed

    def _send_user_message(self, data: Any) -> None:
        self.send_user_message(data)

    def on_kex_init(self, offers: dict[str, Any]) -> None:
        """Called with what a key exchange's KEXINIT offered (the first and renewals)."""

    def send_user_message(self, data: Any) -> None:
        """Send one message after any key exchange in progress (paramiko's behaviour)."""
        self.send_now(data)

    def send_now(self, data: Any) -> None:
        """paramiko's own ``_send_user_message``: waits for a key exchange to end."""
        super()._send_user_message(data)  # type: ignore[misc]

    def key_exchange_in_progress(self) -> bool:
        """Return whether a key exchange is under way (messages wait for its end)."""
        return not self.clear_to_send.is_set()

    @property
    def key_exchange_timeout(self) -> float:
        """Seconds paramiko waits for a key exchange before giving up."""
        return float(self.clear_to_send_timeout)


def pack_attrs(attrs: paramiko.SFTPAttributes) -> bytes:
    """Return SFTP attributes as they travel in a request."""
    message = Message()
    attrs._pack(message)  # type: ignore[attr-defined]
    return message.asbytes()


def attrs_from_message(message: Message) -> paramiko.SFTPAttributes:
    """Read one entry's attributes from a NAME reply (after its names)."""
    found: paramiko.SFTPAttributes = paramiko.SFTPAttributes._from_msg(message)  # type: ignore[attr-defined]
    return found
