"""A real paramiko SSH server in this process, for the unit tier: both ends of the
connection are paramiko, over a socket pair, serving SFTP from a local folder.

It lets the tests hold live paramiko objects (a Transport after a key exchange, an
SFTP client, an open remote file) without an sshd: ``test_compat.py`` checks paramiko's
private hooks on them.
"""

from __future__ import annotations

import io
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import paramiko
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from paramiko.common import (
    AUTH_SUCCESSFUL,
    OPEN_FAILED_UNKNOWN_CHANNEL_TYPE,
    OPEN_SUCCEEDED,
)

from circadian_scp_upload.remote.wire import OfferTransport, Wire, open_wire


class _Login(paramiko.ServerInterface):
    def check_auth_password(self, username: str, password: str) -> int:
        return AUTH_SUCCESSFUL

    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED if kind == "session" else OPEN_FAILED_UNKNOWN_CHANNEL_TYPE


class _Handle(paramiko.SFTPHandle):
    def __init__(self, flags: int, file: IO[bytes]) -> None:
        super().__init__(flags)
        self.file = file
        vars(self).update(readfile=file, writefile=file)  # what paramiko reads and writes

    def stat(self) -> paramiko.SFTPAttributes | int:
        try:
            return paramiko.SFTPAttributes.from_stat(os.fstat(self.file.fileno()))
        except OSError as error:
            return paramiko.SFTPServer.convert_errno(error.errno or 0)


class _Folder(paramiko.SFTPServerInterface):
    """SFTP on a local folder: the calls the hooks' checks make, nothing more."""

    root = Path("/nonexistent")

    def _path(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def canonicalize(self, path: str) -> str:
        return "/" + path.strip("/.")

    def stat(self, path: str) -> paramiko.SFTPAttributes | int:
        try:
            return paramiko.SFTPAttributes.from_stat(os.stat(self._path(path)))
        except OSError as error:
            return paramiko.SFTPServer.convert_errno(error.errno or 0)

    lstat = stat

    def list_folder(self, path: str) -> list[paramiko.SFTPAttributes] | int:
        folder = self._path(path)
        try:
            return [
                paramiko.SFTPAttributes.from_stat(os.stat(folder / name), name)
                for name in os.listdir(folder)
            ]
        except OSError as error:
            return paramiko.SFTPServer.convert_errno(error.errno or 0)

    def open(self, path: str, flags: int, attr: Any) -> paramiko.SFTPHandle | int:
        try:
            descriptor = os.open(self._path(path), flags | getattr(os, "O_BINARY", 0), 0o644)
        except OSError as error:
            return paramiko.SFTPServer.convert_errno(error.errno or 0)
        mode = "r+b" if flags & os.O_WRONLY or flags & os.O_RDWR else "rb"
        return _Handle(flags, os.fdopen(descriptor, mode))


@contextmanager
def paramiko_peer(root: Path) -> Iterator[tuple[OfferTransport, Wire]]:
    """Serve ``root`` over SFTP from a paramiko server in this process; yield the
    client's transport (this package's ``OfferTransport``) and an opened ``Wire``."""
    client_sock, server_sock = socket.socketpair()
    server = paramiko.Transport(server_sock)
    server.add_server_key(_host_key())
    server.set_subsystem_handler("sftp", paramiko.SFTPServer, _Folder)
    _Folder.root = root
    server.start_server(threading.Event(), _Login())
    client = OfferTransport(client_sock)
    try:
        client.connect(username="peer", password="peer")
        yield client, open_wire(client, 10.0)
    finally:
        client.close()
        server.close()


def _host_key() -> paramiko.PKey:
    """A fresh ed25519 host key (made with cryptography, which paramiko depends on)."""
    text = Ed25519PrivateKey.generate().private_bytes(
        Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()
    )
    return paramiko.Ed25519Key.from_private_key(io.StringIO(text.decode()))
