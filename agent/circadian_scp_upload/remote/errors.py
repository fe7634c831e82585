"""The one translator of paramiko and socket failures into the package's error tree.

Check subclasses before ``SSHException``: paramiko's exceptions all inherit from it.
A link fault (timeout, reset, EOF, a transport that died) is a ``TransientError`` and
the connection is closed, so the next attempt starts clean. What the server answers
about one path (no such file, permission denied, a full disk) is a ``RemotePathError``.
"""

from __future__ import annotations

import errno
import posixpath
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import paramiko
from paramiko import SFTPError

from ..errors import (
    AuthenticationError,
    CircadianError,
    HostKeyError,
    PermanentError,
    RemotePathError,
    TransientError,
)
from . import hostkeys

TRANSIENT_AUTH_MESSAGES = ("transport shut down or saw eof", "authentication timeout")
DISK_FULL_BYTES = 1024 * 1024
LINK_ERRORS = (EOFError, TimeoutError, ConnectionError, paramiko.SSHException)
TRANSLATED = (*LINK_ERRORS, OSError, SFTPError)


@dataclass
class Translator:
    """Turns failures into errors that name what failed, where, and what to do.

    ``link_is_up`` tells a dead transport from a refusal; ``close`` drops the
    connection after a link fault; ``free_space`` diagnoses a full disk.
    """

    host: str
    port: int
    username: str
    login_method: str
    known_hosts: Path | None
    link_is_up: Callable[[], bool]
    close: Callable[[], None]
    free_space: Callable[[str], int | None]

    @property
    def where(self) -> str:
        """Return ``host:port`` for messages."""
        return f"{self.host}:{self.port}"

    @contextmanager
    def __call__(self, action: str, path: str) -> Iterator[None]:
        """Translate the failures of one operation (``action`` on ``path``). Only what the
        link and the server can cause is translated; anything else is a bug and goes on."""
        try:
            yield
        except TRANSLATED as error:
            raise self.operation_error(error, action, path) from None

    def operation_error(
        self, error: BaseException, action: str, path: str, diagnose: bool = True
    ) -> CircadianError:
        """Return the error for ``error`` met while doing ``action`` on ``path``;
        ``diagnose`` asks the server why (its free space), one round trip."""
        if isinstance(error, CircadianError):
            return error
        if isinstance(error, FileNotFoundError) or _errno(error) == errno.ENOENT:
            return RemotePathError(f"cannot {action} {path!r} on {self.where}: it does not exist")
        if isinstance(error, PermissionError) or _errno(error) == errno.EACCES:
            return RemotePathError(
                f"permission denied to {action} {path!r} on {self.where}: give "
                f"{self.username!r} write access there or choose another destination"
            )
        if isinstance(error, LINK_ERRORS) or not self.link_is_up():
            return self.link_lost(f"{action} {path!r}", error)
        if isinstance(error, OSError) and error.errno is None:
            return self.refusal(action, path, _describe(error), diagnose)
        return self.link_lost(f"{action} {path!r}", error)

    def link_lost(self, during: str, error: BaseException | None = None) -> TransientError:
        """Close the connection and return the transient error for a link fault."""
        self.close()
        cause = f" ({_describe(error)})" if error is not None else ""
        return TransientError(f"the connection to {self.where} failed during {during}{cause}")

    def refusal(self, action: str, path: str, said: str, diagnose: bool = True) -> RemotePathError:
        """Return the error for a server that refused to ``action`` ``path`` saying ``said``."""
        free = self.free_space(posixpath.dirname(path) or ".") if diagnose else None
        if free is not None and free < DISK_FULL_BYTES:
            return RemotePathError(
                f"the server's disk is full: {self.where} refused to {action} {path!r} "
                f"with {free} bytes free there; free some space on the server (local "
                "data is kept, and the next pass resumes)"
            )
        if "permission denied" in said.lower():
            return RemotePathError(
                f"permission denied to {action} {path!r} on {self.where}: give "
                f"{self.username!r} write access there or choose another destination"
            )
        return RemotePathError(
            f"{self.where} refused to {action} {path!r} ({said}): the disk may be full, "
            "or a file may stand where a folder belongs; check the server"
        )

    def connect_error(
        self, error: BaseException, offers: Offers | None = None, phase: str = ""
    ) -> BaseException:
        """Return the error for a failed connection or login; ``offers`` tells which
        ciphers each side offered, for a server with none in common; ``phase`` (a key of
        ``CONNECT_PHASES``, ``connect_phase``) how far the connection had come."""
        if isinstance(error, CircadianError | KeyboardInterrupt | SystemExit):
            return error
        if isinstance(error, paramiko.BadHostKeyException):
            return HostKeyError(
                hostkeys.changed_key_message(self.host, self.port, error, self.known_hosts)
            )
        if isinstance(error, paramiko.BadAuthenticationType):
            return AuthenticationError(
                f"{self.where} does not accept this login method for {self.username!r}; it "
                f"allows only {', '.join(error.allowed_types)}: configure one of those"
            )
        if isinstance(error, paramiko.AuthenticationException):
            if any(m in str(error).lower() for m in TRANSIENT_AUTH_MESSAGES):
                return TransientError(
                    f"the connection to {self.where} dropped during login ({error})"
                )
            return AuthenticationError(
                f"{self.where} refused the login of {self.username!r} by {self.login_method}: "
                "check the user name and the password or key (is the public key in the "
                "user's ~/.ssh/authorized_keys on the server?)"
            )
        if (
            isinstance(error, paramiko.SSHException)
            and "no authentication methods" in str(error).lower()
        ):
            return AuthenticationError(
                f"no login method could be tried for {self.username!r} on {self.where}: give "
                "a private key or a password (an ssh-agent was not reachable)"
            )
        if isinstance(error, paramiko.ssh_exception.IncompatiblePeer):
            return self.incompatible(error, offers)
        if phase in CONNECT_PHASES:
            when, check = CONNECT_PHASES[phase]
            return TransientError(
                f"the connection to {self.where} failed {when} ({_describe(error)}): {check}"
            )
        return TransientError(f"the connection to {self.where} failed ({_describe(error)})")

    def incompatible(self, error: BaseException, offers: Offers | None) -> PermanentError:
        """Return the refusal of a server with which no algorithm is in common."""
        server = tuple(offers.server_ciphers) if offers is not None else ()
        client = offers.client_ciphers() if offers is not None else ()
        if server and client and not set(server) & set(client):
            return PermanentError(
                f"{self.where} offers only the cipher(s) {', '.join(server)}, and paramiko, "
                f"the SSH library of this agent, has no implementation of any of them (it "
                f"offers {', '.join(client)}): this server cannot be used; ask its admin to "
                "enable an AES cipher, or upload to another server (OpenSSH, Dropbear)"
            )
        return PermanentError(
            f"{self.where} has no algorithm in common with this client ({error}): the "
            "server's key exchange, host key or MAC algorithms are too old or too new for "
            "paramiko; ask its admin for ed25519 host keys and current algorithms"
        )


# How far a connection had come when it failed: what to say, and what to check.
CONNECT_PHASES = {
    "banner": (
        "while waiting for the server's SSH banner",
        "the server took the TCP connection but did not say it is an SSH server within the "
        "connect timeout: check that the port is the SSH server's, and whether the server "
        "is overloaded (its MaxStartups) or a firewall or proxy holds the connection",
    ),
    "key exchange": (
        "during the key exchange",
        "the server sent its banner, then stopped answering: it may be overloaded, or a link "
        "or a middlebox on the way drops larger packets (check the MTU of the path, a VPN)",
    ),
    "login": (
        "during the login",
        "the key exchange succeeded, then the server stopped answering before the login "
        "finished: check the server's log (slow PAM modules, DNS lookups of the client: "
        "UseDNS)",
    ),
    "sftp": (
        "while opening SFTP",
        "the login succeeded, but the SFTP channel did not open: check the server's "
        "`Subsystem sftp` line and its log",
    ),
}


def connect_phase(transport: paramiko.Transport | None) -> str:
    """Given the transport of a connection attempt (None: it never got one), return how
    far it came, as a key of ``CONNECT_PHASES`` ("" before any SSH byte was asked for)."""
    if transport is None:
        return ""
    if not transport.remote_version:
        return "banner"
    if transport.session_id is None:
        return "key exchange"
    if not transport.is_authenticated():
        return "login"
    return "sftp"


class Offers(Protocol):
    """What the two sides offered in a key exchange."""

    server_ciphers: tuple[str, ...]

    def client_ciphers(self) -> tuple[str, ...]: ...


def _errno(error: BaseException) -> int | None:
    return error.errno if isinstance(error, OSError) else None


def _describe(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
