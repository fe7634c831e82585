"""``RemoteConnection``: the module that talks to paramiko (with ``hostkeys.py``).

It opens one SSH connection (with host key verification, keepalives and timeouts) and
offers the few remote operations the upload needs, in plain Python types. Every
paramiko or socket failure is translated here, once, into the package's error tree:
``TransientError`` for link faults worth retrying, ``PermanentError`` for refusals.
"""

from __future__ import annotations

import contextlib
import errno
import io
import posixpath
import select
import shlex
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import paramiko
from loguru import logger
from paramiko.sftp import (
    CMD_CLOSE,
    CMD_EXTENDED,
    CMD_HANDLE,
    CMD_MKDIR,
    CMD_OPEN,
    CMD_WRITE,
    SFTP_FLAG_CREATE,
    SFTP_FLAG_TRUNC,
    SFTP_FLAG_WRITE,
)
from paramiko.sftp import int64 as sftp_int64
from paramiko.sftp_attr import SFTPAttributes

from . import hostkeys
from .errors import (
    AuthenticationError,
    CircadianError,
    ConfigError,
    HostKeyError,
    PermanentError,
    RemotePathError,
    TransientError,
    UploadAborted,
)
from .log import route_paramiko_logging

# A WRITE of at most this many data bytes fits one 32 KiB SSH channel packet (see
# SSH-NOTES: paramiko's default 32768 splits every write into two packets).
WRITE_CHUNK_BYTES = 32675
READ_CHUNK_BYTES = 32768
STREAM_CHUNK_BYTES = 256 * 1024
READ_BATCH_CHUNKS = 32
ABORT_POLL_SECONDS = 0.5
DISK_FULL_BYTES = 1024 * 1024
NO_EXIT_STATUS = -1  # what paramiko reports when a channel closed without one
# paramiko prefers AES-CTR with a separate MAC; AES-GCM is cheaper per byte (measured
# here), so it goes first. The others stay allowed for servers without GCM.
PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
OPEN_FOR_WRITE = SFTP_FLAG_WRITE | SFTP_FLAG_CREATE | SFTP_FLAG_TRUNC
TRANSIENT_AUTH_MESSAGES = ("transport shut down or saw eof", "authentication timeout")
DEFAULT_KNOWN_HOSTS = Path("~/.ssh/known_hosts")


@dataclass(frozen=True)
class RemoteEntry:
    """What the server says about a path."""

    size: int
    is_dir: bool
    is_file: bool


@dataclass(frozen=True)
class SmallFile:
    """A file for a batched upload: local path, temporary and final remote paths."""

    local: Path
    partial: str
    final: str


@dataclass(frozen=True)
class Capabilities:
    """What the server's shell offers, found by one probe command per connection."""

    sha256sum: bool = False  # `sha256sum -z` (GNU coreutils) for batch hashing
    stream_hasher: str | None = None  # fastest command that hashes stdin
    detail: str = ""  # what the server said when there was no shell


# One round trip answers every question; markers separate the answers.
PROBE = (
    "echo @1; sha256sum -z -- /dev/null; echo @2; "
    "openssl dgst -sha256 -r < /dev/null; echo @3; sha256sum < /dev/null; echo @4"
)
EMPTY_SHA256 = b"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def parse_probe(stdout: bytes) -> dict[str, bytes]:
    """Split the probe's output into its answers, keyed by the marker before each."""
    answers: dict[str, bytes] = {}
    for piece in stdout.split(b"@")[1:]:
        key, _, value = piece.partition(b"\n")
        answers[key.decode("ascii", "replace")] = value.strip(b"\n\0 ")
    return answers


@dataclass(frozen=True)
class CommandResult:
    """Exit status and output of a remote command."""

    exit_status: int
    stdout: bytes
    stderr: bytes


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


def load_private_key(text: str, passphrase: str | None, origin: str) -> paramiko.PKey:
    """Given an OpenSSH/PEM private key's text, return the key (ed25519, ecdsa or rsa)."""
    last: Exception | None = None
    for key_class in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return key_class.from_private_key(io.StringIO(text), password=passphrase)
        except paramiko.PasswordRequiredException:
            raise ConfigError(
                f"the private key {origin} is encrypted: give its passphrase"
            ) from None
        except (paramiko.SSHException, ValueError) as error:
            last = error
    raise ConfigError(
        f"the private key {origin} could not be read as an ed25519, ecdsa or rsa key "
        f"({last}); give an OpenSSH private key such as one made by "
        "`ssh-keygen -t ed25519 -f station_key`"
    )


class RemoteConnection:
    """One SSH connection to the server, used as a context manager.

    ``RemoteConnection(host, username, password)`` keeps the documented signature;
    keyword options add key files or key text, an explicit known_hosts file or a pinned
    host key fingerprint, and timeouts. Host keys are always verified.
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
        host_key_fingerprint: str | None = None,
        accept_new_host_key: bool = False,
        connect_timeout: float = 20.0,
        io_timeout: float = 60.0,
        keepalive_seconds: float = 15.0,
        bandwidth_limit: int = 0,
    ) -> None:
        self.host, self.port = split_host_port(host, port)
        if bandwidth_limit < 0:
            raise ConfigError("the bandwidth limit must be 0 (unlimited) or a positive bytes/s")
        self.bandwidth_limit = bandwidth_limit
        if not username:
            raise ConfigError("the username is empty: give the login name on the server")
        self.username = username
        self._password = password
        self._pkey = self._read_key(key_filename, private_key, passphrase)
        self._allow_agent = allow_agent
        self.known_hosts_file = Path(
            known_hosts_file if known_hosts_file is not None else DEFAULT_KNOWN_HOSTS
        ).expanduser()
        self._pinned = host_key_fingerprint
        if host_key_fingerprint is not None:
            hostkeys.normalize_fingerprint(host_key_fingerprint)
        self._accept_new = accept_new_host_key
        self.connect_timeout = connect_timeout
        self.io_timeout = io_timeout
        self.keepalive_seconds = keepalive_seconds
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._known_dirs: set[str] = set()
        self._fsync_supported = True
        self._capabilities: Capabilities | None = None
        route_paramiko_logging()

    def __repr__(self) -> str:  # never shows secrets
        return f"RemoteConnection({self.username}@{self.where})"

    @property
    def where(self) -> str:
        """Return ``host:port`` for messages."""
        return f"{self.host}:{self.port}"

    # -- connection lifecycle ------------------------------------------------

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
        self.close()
        client = paramiko.SSHClient()
        self._trust(client)
        sock = self._open_socket()
        try:
            client.connect(
                transport_factory=_fast_transport,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self._password,
                pkey=self._pkey,
                allow_agent=self._allow_agent and self._password is None and self._pkey is None,
                look_for_keys=False,
                sock=sock,
                timeout=self.connect_timeout,
                banner_timeout=self.connect_timeout,
                auth_timeout=self.connect_timeout,
                compress=False,
            )
            transport = client.get_transport()
            assert transport is not None
            transport.set_keepalive(max(1, int(self.keepalive_seconds)))
            sftp = client.open_sftp()
            sftp.get_channel().settimeout(self.io_timeout)  # type: ignore[union-attr]
        except BaseException as error:  # noqa: BLE001 - translated (or re-raised) below
            client.close()
            sock.close()
            raise self._connect_error(error) from None
        self._client, self._sftp = client, sftp
        self._known_dirs = set()
        self._capabilities = None
        logger.debug("connected to {}@{}", self.username, self.where)

    def close(self) -> None:
        """Close the connection (idempotent, never raises)."""
        if self._client is not None:
            with contextlib.suppress(Exception):  # closing a broken link may fail any way
                self._client.close()
        self._client = self._sftp = None

    def is_alive(self) -> bool:
        """Probe the connection with one cheap round trip; return whether it answered."""
        if self._client is None or self._sftp is None:
            return False
        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            return False
        try:
            self._sftp.normalize(".")
        except Exception:  # noqa: BLE001 - any failure means the link is not usable
            return False
        return True

    def ensure_connected(self) -> None:
        """Reconnect quietly if the connection was lost (probed before each day)."""
        if not self.is_alive():
            if self._client is not None:
                logger.info("connection to {} was lost; reconnecting", self.where)
            self.connect()

    # -- remote operations -------------------------------------------------------

    def stat(self, path: str) -> RemoteEntry | None:
        """Return what is at ``path`` on the server, or None if nothing is there."""
        with self._translate("stat", path):
            try:
                attrs = self._require_sftp().stat(path)
            except FileNotFoundError:
                return None
        mode = attrs.st_mode or 0
        return RemoteEntry(attrs.st_size or 0, stat.S_ISDIR(mode), stat.S_ISREG(mode))

    def list_files(self, root: str, recursive: bool) -> dict[str, int]:
        """Return the regular files below ``root`` as relative path -> size ({} if absent)."""
        found: dict[str, int] = {}
        pending = [""]
        sftp = self._require_sftp()
        while pending:
            prefix = pending.pop()
            folder = posixpath.join(root, prefix) if prefix else root
            with self._translate("list", folder):
                try:
                    entries = sftp.listdir_attr(folder)
                except FileNotFoundError:
                    continue
            self._known_dirs.add(folder.rstrip("/"))
            for entry in entries:
                mode = entry.st_mode or 0
                relpath = prefix + entry.filename
                if stat.S_ISREG(mode):
                    found[relpath] = entry.st_size or 0
                elif stat.S_ISDIR(mode) and recursive:
                    pending.append(relpath + "/")
        return found

    def makedirs(self, path: str) -> None:
        """Create ``path`` and its parents as needed; a file in the way is a RemotePathError."""
        if path in self._known_dirs or path in ("", "/", "."):
            return
        entry = self.stat(path)
        if entry is None:
            self.makedirs(posixpath.dirname(path.rstrip("/")))
            with self._translate("create the folder", path):
                try:
                    self._require_sftp().mkdir(path)
                except OSError:
                    entry = self.stat(path)  # a concurrent creator is fine
                    if entry is None or not entry.is_dir:
                        raise
        elif not entry.is_dir:
            raise RemotePathError(
                f"{path!r} on {self.where} is a file, but a folder is needed there: "
                "move the file away or choose another destination (dst_path / CSU_DST)"
            )
        self._known_dirs.add(path)

    def makedirs_many(self, paths: list[str]) -> None:
        """Create many folders below existing ones in two pipelined round trips.

        Parents must come before their children in ``paths`` (the server handles
        requests in order). Whatever failed is then checked one by one by ``makedirs``,
        which names a file in the way.
        """
        wanted = [p for p in paths if p not in self._known_dirs and p not in ("", "/", ".")]
        if not wanted:
            return
        sftp = self._require_sftp()
        with self._translate("create the folder", wanted[0]):
            made = self._pipeline(
                sftp, ((i, CMD_MKDIR, (p, SFTPAttributes())) for i, p in enumerate(wanted))
            )
        for index, _command, result in made:
            if isinstance(result, BaseException):
                self.makedirs(wanted[index])  # it exists already, or say why not
            else:
                self._known_dirs.add(wanted[index])

    def write_text(self, path: str, text: str) -> None:
        """Write a small text file (replacing it)."""
        with self._translate("write", path), self._require_sftp().open(path, "w") as handle:
            handle.write(text.encode("utf-8"))

    def remove(self, path: str) -> None:
        """Remove a file; a missing file is fine."""
        with self._translate("remove", path), suppress(FileNotFoundError):
            self._require_sftp().remove(path)

    def rename_over(self, src: str, dst: str) -> None:
        """Atomically rename ``src`` to ``dst``, replacing ``dst`` (posix-rename)."""
        sftp = self._require_sftp()
        with self._translate("rename", src):
            try:
                sftp.posix_rename(src, dst)
            except OSError as error:
                if "unsupported" not in str(error).lower():
                    raise
                # Servers without posix-rename: plain rename refuses to replace.
                if self.stat(dst) is not None:
                    sftp.remove(dst)
                sftp.rename(src, dst)

    def read_range(self, path: str, offset: int, length: int) -> bytes:
        """Return up to ``length`` bytes of a remote file from ``offset``."""
        with self._translate("read", path), self._require_sftp().open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read(length)

    def iter_file(self, path: str) -> Iterator[bytes]:
        """Yield a remote file's content in pipelined batches (memory stays bounded)."""
        with self._translate("read", path), self._require_sftp().open(path, "rb") as handle:
            size = handle.stat().st_size or 0
            offset = 0
            while offset < size:
                batch: list[tuple[int, int]] = []
                while offset < size and len(batch) < READ_BATCH_CHUNKS:
                    length = min(READ_CHUNK_BYTES, size - offset)
                    batch.append((offset, length))
                    offset += length
                yield from handle.readv(batch)

    def upload(
        self,
        local: Path,
        remote: str,
        offset: int,
        on_chunk: Callable[[bytes], None],
        should_abort: Callable[[], bool],
        durable: bool = True,
    ) -> None:
        """Write ``local`` from ``offset`` on into ``remote`` and make it durable.

        Writes are pipelined in packet-sized chunks; ``should_abort`` is polled about
        twice a second (raising ``UploadAborted``, the remote file keeps what arrived).
        With ``durable`` the remote file is fsynced (``fsync@openssh.com``) where the server
        offers it.
        """
        sftp = self._require_sftp()
        with self._translate("upload to", remote):
            handle = sftp.open(remote, "r+b" if offset else "wb")
            try:
                handle.set_pipelined(True)
                handle.seek(offset)
                self._send_file(
                    local, offset, WRITE_CHUNK_BYTES, handle.write, on_chunk, should_abort
                )
                _drain_writes(handle)
                if durable:
                    self._fsync(handle, remote)
            finally:
                handle.close()

    def _send_file(
        self,
        local: Path,
        offset: int,
        chunk_size: int,
        write: Callable[[bytes], object],
        on_chunk: Callable[[bytes], None],
        should_abort: Callable[[], bool],
    ) -> None:
        """Send ``local`` from ``offset`` through ``write``, paced to the bandwidth limit,
        polling ``should_abort`` about twice a second."""
        poll = _AbortPoller(should_abort)
        pace = _Pacer(self.bandwidth_limit)
        with local.open("rb") as source:
            source.seek(offset)
            while chunk := source.read(chunk_size):
                write(chunk)
                on_chunk(chunk)
                pace(len(chunk))
                poll()

    def stream_upload(
        self,
        local: Path,
        remote: str,
        offset: int,
        on_chunk: Callable[[bytes], None],
        should_abort: Callable[[], bool],
        durable: bool = True,
    ) -> None:
        """Stream ``local`` from ``offset`` into ``remote`` over an exec channel (a shell).

        A raw stream moves data at OpenSSH's speed, where SFTP's request/ack protocol
        through paramiko does not: ``cat > file`` from offset 0, ``cat >> file`` to
        resume. Any complaint on stderr or a non-zero exit is a failure. With
        ``durable`` the file is then fsynced over SFTP (fsync@openssh.com).
        """
        command = f"cat {'>>' if offset else '>'} {shlex.quote(remote)}"
        transport = self._require_transport()
        with self._translate("upload to", remote):
            channel = transport.open_session(timeout=self.connect_timeout)
            try:
                channel.settimeout(self.io_timeout)
                channel.exec_command(command)
                self._send_file(
                    local, offset, STREAM_CHUNK_BYTES, channel.sendall, on_chunk, should_abort
                )
                channel.shutdown_write()
                _stdout, stderr = _drain(channel, self.io_timeout)
                status = channel.recv_exit_status()
            finally:
                channel.close()
        if status == NO_EXIT_STATUS:
            self._lost(f"uploading {remote!r}")
        if status != 0 or stderr.strip():
            self._stream_failed(remote, status, stderr)
        if durable:
            sftp = self._require_sftp()
            with self._translate("make durable", remote), sftp.open(remote, "r+b") as handle:
                self._fsync(handle, remote)

    def _stream_failed(self, remote: str, status: int, stderr: bytes) -> None:
        text = stderr.decode("utf-8", "replace").strip()[:300]
        free = self.free_space(posixpath.dirname(remote) or ".")
        if free is not None and free < DISK_FULL_BYTES:
            raise RemotePathError(
                f"the server's disk is full: {self.where} could not write {remote!r} "
                f"({text or f'exit {status}'}); free some space on the server (local data "
                "is kept, and the next pass resumes)"
            )
        if "permission denied" in text.lower():
            raise RemotePathError(
                f"permission denied to upload to {remote!r} on {self.where}: give "
                f"{self.username!r} write access there or choose another destination"
            )
        raise RemotePathError(
            f"{self.where} failed writing {remote!r} (exit {status}: {text}); check the server"
        )

    def capabilities(self) -> Capabilities:
        """Return what the server's shell offers (probed once per connection)."""
        if self._capabilities is None:
            result = self.run(PROBE)
            answers = parse_probe(result.stdout)
            # OpenSSL's SHA-256 uses the CPU's SHA instructions, coreutils' does not
            # (here: 0.4 s against 1.5 s for 512 MiB), so it goes first.
            hashers = [("openssl dgst -sha256 -r", "2"), ("sha256sum", "3")]
            self._capabilities = Capabilities(
                sha256sum=answers.get("1", b"").startswith(EMPTY_SHA256),
                stream_hasher=next(
                    (cmd for cmd, key in hashers if answers.get(key, b"").startswith(EMPTY_SHA256)),
                    None,
                ),
                detail=result.stderr.decode("utf-8", "replace").strip()[:200],
            )
            logger.debug("server capabilities: {}", self._capabilities)
        return self._capabilities

    def upload_batch(
        self,
        files: list[SmallFile],
        on_content: Callable[[int, bytes], None],
        durable: bool = True,
        should_abort: Callable[[], bool] = lambda: False,
    ) -> None:
        """Upload small files in three pipelined round trips instead of several per file.

        All files are opened under their temporary names at once; then each is read,
        written, made durable and closed, all requests sent before any reply is read;
        only files whose every step succeeded are renamed into place. Each file's bytes
        are held only while they are sent. ``on_content(index, bytes)`` sees them as
        read. The first failure is raised after the good files were renamed.
        """
        if not files:
            return
        sftp = self._require_sftp()
        with self._translate("upload to", files[0].partial):
            opened = self._pipeline(
                sftp,
                (
                    (i, CMD_OPEN, (f.partial, OPEN_FOR_WRITE, SFTPAttributes()))
                    for i, f in enumerate(files)
                ),
            )
            handles = [r for _i, _c, r in opened]
            failures = [r for r in handles if isinstance(r, BaseException)]
            good = [not isinstance(h, BaseException) for h in handles]

            poll = _AbortPoller(should_abort)

            def steps() -> Iterator[tuple[int, int, tuple[object, ...]]]:
                for index, handle in enumerate(handles):
                    if isinstance(handle, BaseException):
                        continue
                    poll()  # on abort, replies still under way are read (and dropped) later
                    content = files[index].local.read_bytes()
                    on_content(index, content)
                    for offset in range(0, len(content), WRITE_CHUNK_BYTES):
                        chunk = content[offset : offset + WRITE_CHUNK_BYTES]
                        yield index, CMD_WRITE, (handle, sftp_int64(offset), chunk)
                    if durable and self._fsync_supported:
                        yield index, CMD_EXTENDED, ("fsync@openssh.com", handle)
                    yield index, CMD_CLOSE, (handle,)

            for owner, command, result in self._pipeline(sftp, steps()):
                if not isinstance(result, BaseException):
                    continue
                if command == CMD_EXTENDED and "unsupported" in str(result).lower():
                    self._fsync_supported = False  # durability is best effort there
                    continue
                good[owner] = False
                failures.append(result)
            chosen = [i for i, ok in enumerate(good) if ok]
            renamed = self._pipeline(
                sftp,
                (
                    (
                        i,
                        CMD_EXTENDED,
                        ("posix-rename@openssh.com", files[i].partial, files[i].final),
                    )
                    for i in chosen
                ),
            )
            for index, _command, result in renamed:
                if isinstance(result, BaseException):
                    if "unsupported" not in str(result).lower():
                        failures.append(result)
                        continue
                    self.rename_over(files[index].partial, files[index].final)
            if failures:
                raise failures[0]

    def _pipeline(
        self, sftp: paramiko.SFTPClient, requests: Iterable[tuple[int, int, tuple[object, ...]]]
    ) -> list[tuple[int, int, bytes | BaseException]]:
        """Send every request, then read every reply in order (one round trip in all).

        ``requests`` yields (owner, command, arguments); the result lists, per request,
        its owner, its command, and the handle it opened (or b"") or the error it met.
        Every reply is read, whatever failed, so the channel stays in step.
        """
        sent = [
            (owner, command, sftp._async_request(type(None), command, *args))  # type: ignore[attr-defined]
            for owner, command, args in requests
        ]
        results: list[tuple[int, int, bytes | BaseException]] = []
        for owner, command, number in sent:
            try:
                kind, reply = sftp._read_response(number)  # type: ignore[attr-defined]
                results.append((owner, command, reply.get_binary() if kind == CMD_HANDLE else b""))
            except OSError as error:
                results.append((owner, command, error))
        return results

    def run(self, command: str, stdin: bytes = b"", timeout: float | None = None) -> CommandResult:
        """Run a command through the server's shell, feeding ``stdin``; return its result.

        The caller quotes every argument (``shlex.quote``). ``timeout`` bounds each wait
        for output, not the whole command.
        """
        transport = self._require_transport()
        wait = timeout or self.io_timeout
        with self._translate("run a command on", self.where):
            channel = transport.open_session(timeout=self.connect_timeout)
            try:
                channel.settimeout(wait)
                channel.exec_command(command)
                feeder = threading.Thread(target=_feed, args=(channel, stdin), daemon=True)
                feeder.start()
                stdout, stderr = _drain(channel, wait)
                feeder.join(wait)
                status = channel.recv_exit_status()
            finally:
                channel.close()
        if status == NO_EXIT_STATUS:
            self._lost(f"running a command on {self.where}")
        return CommandResult(status, stdout, stderr)

    def _lost(self, during: str) -> None:
        """The link dropped under an exec channel (no exit status came): a transient fault."""
        self.close()
        raise TransientError(f"the connection was lost while {during}; it is retried")

    # -- internals -----------------------------------------------------------------

    def _fsync(self, handle: paramiko.SFTPFile, remote: str) -> None:
        if not self._fsync_supported:
            return
        try:
            self._require_sftp()._request(  # type: ignore[attr-defined]  # no public call
                paramiko.sftp.CMD_EXTENDED, "fsync@openssh.com", handle.handle
            )
        except OSError as error:
            if "unsupported" not in str(error).lower():
                raise
            self._fsync_supported = False
            logger.warning(
                "{} does not offer fsync@openssh.com: uploads are not forced to disk "
                "before local removal",
                self.where,
            )

    def _require_sftp(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            raise TransientError(
                f"not connected to {self.where} (use the connection in a with block)"
            )
        return self._sftp

    def _require_transport(self) -> paramiko.Transport:
        transport = self._client.get_transport() if self._client is not None else None
        if transport is None:
            raise TransientError(f"not connected to {self.where}")
        return transport

    def _read_key(
        self, key_filename: str | Path | None, private_key: str | None, passphrase: str | None
    ) -> paramiko.PKey | None:
        if private_key:
            return load_private_key(private_key, passphrase, "given as text")
        if key_filename is None:
            return None
        path = Path(key_filename).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(
                f"cannot read the private key file {str(path)!r} ({error.strerror}): "
                "check the path and that this user may read it"
            ) from None
        return load_private_key(text, passphrase, f"in {str(path)!r}")

    def _trust(self, client: paramiko.SSHClient) -> None:
        if self._pinned is not None:
            client.set_missing_host_key_policy(hostkeys.PinnedFingerprint(self._pinned))
            return
        if self.known_hosts_file.is_file():
            try:
                client.load_host_keys(str(self.known_hosts_file))
            except (OSError, paramiko.SSHException) as error:
                raise ConfigError(
                    f"cannot read the known_hosts file {str(self.known_hosts_file)!r} "
                    f"({error}): fix or replace it"
                ) from None
        if self._accept_new:
            client.set_missing_host_key_policy(hostkeys.AcceptNew(self.known_hosts_file))
        else:
            client.set_missing_host_key_policy(
                hostkeys.RejectUnknown(self.port, self.known_hosts_file)
            )

    def _open_socket(self) -> socket.socket:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
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
        _tune_socket(sock, self.io_timeout, self.keepalive_seconds)
        return sock

    def _connect_error(self, error: BaseException) -> BaseException:
        if isinstance(error, CircadianError | KeyboardInterrupt | SystemExit):
            return error
        if isinstance(error, paramiko.BadHostKeyException):
            return HostKeyError(
                hostkeys.changed_key_message(self.host, self.port, error, self.known_hosts_file)
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
            method = (
                "key" if self._pkey is not None else "password" if self._password else "ssh-agent"
            )
            return AuthenticationError(
                f"{self.where} refused the login of {self.username!r} by {method}: check the "
                "user name and the password or key (is the public key in the user's "
                "~/.ssh/authorized_keys on the server?)"
            )
        if isinstance(error, paramiko.ssh_exception.IncompatiblePeer):
            return PermanentError(
                f"{self.where} offers no algorithm this client accepts ({error}): update the "
                "server's OpenSSH or give it an ed25519 host key"
            )
        return TransientError(f"the connection to {self.where} failed ({_describe(error)})")

    @contextmanager
    def _translate(self, action: str, path: str) -> Iterator[None]:
        """Translate paramiko and socket failures of one operation into the error tree."""
        try:
            yield
        except CircadianError:
            raise
        except FileNotFoundError:
            raise RemotePathError(
                f"cannot {action} {path!r} on {self.where}: it does not exist"
            ) from None
        except PermissionError:
            raise RemotePathError(
                f"permission denied to {action} {path!r} on {self.where}: give "
                f"{self.username!r} write access there or choose another destination"
            ) from None
        except (EOFError, TimeoutError, ConnectionError, paramiko.SSHException) as error:
            self.close()
            raise TransientError(
                f"the connection to {self.where} failed during {action} {path!r} "
                f"({_describe(error)})"
            ) from None
        except OSError as error:
            if not self._link_is_up() or error.errno not in (None, errno.ENOENT, errno.EACCES):
                self.close()
                raise TransientError(
                    f"the connection to {self.where} failed during {action} {path!r} "
                    f"({_describe(error)})"
                ) from None
            free = self.free_space(posixpath.dirname(path) or ".")
            if free is not None and free < DISK_FULL_BYTES:
                raise RemotePathError(
                    f"the server's disk is full: {self.where} refused to {action} {path!r} "
                    f"with {free} bytes free there; free some space on the server (local "
                    "data is kept, and the next pass resumes)"
                ) from None
            raise RemotePathError(
                f"{self.where} refused to {action} {path!r} ({_describe(error)}): the disk "
                "may be full, or a file may stand where a folder belongs; check the server"
            ) from None

    def free_space(self, path: str) -> int | None:
        """Return the bytes available to this user at ``path`` (statvfs@openssh.com), or None."""
        if self._sftp is None or not self._link_is_up():
            return None
        try:
            kind, reply = self._sftp._request(  # type: ignore[attr-defined]
                paramiko.sftp.CMD_EXTENDED, "statvfs@openssh.com", path
            )
            if kind != paramiko.sftp.CMD_EXTENDED_REPLY:
                return None
            _bsize, frsize, _blocks, _bfree, bavail = (reply.get_int64() for _ in range(5))
        except Exception:  # noqa: BLE001 - an optional diagnosis, never a new failure
            return None
        return int(frsize * bavail)

    def _link_is_up(self) -> bool:
        transport = self._client.get_transport() if self._client is not None else None
        return transport is not None and transport.is_active()


class _AbortPoller:
    """Calls ``should_abort`` at most about twice a second; raises UploadAborted on yes."""

    def __init__(self, should_abort: Callable[[], bool]) -> None:
        self.should_abort = should_abort
        self.next_poll = time.monotonic() + ABORT_POLL_SECONDS

    def __call__(self) -> None:
        if time.monotonic() >= self.next_poll:
            if self.should_abort():
                raise UploadAborted("upload aborted on request")
            self.next_poll = time.monotonic() + ABORT_POLL_SECONDS


class _Pacer:
    """Sleeps as needed to keep a transfer at or below ``limit`` bytes/s (0: no limit)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.sent = 0
        self.start = time.monotonic()

    def __call__(self, count: int) -> None:
        if not self.limit:
            return
        self.sent += count
        ahead = self.sent / self.limit - (time.monotonic() - self.start)
        if ahead > 0:
            time.sleep(ahead)


def _fast_transport(sock: Any, /, **options: Any) -> paramiko.Transport:
    """Return paramiko's Transport with AES-GCM first in the cipher preferences.

    The options are whatever this paramiko version's SSHClient passes on.
    """
    transport = paramiko.Transport(sock, **options)
    security = transport.get_security_options()
    offered = tuple(security.ciphers)
    security.ciphers = tuple(c for c in PREFERRED_CIPHERS if c in offered) + tuple(
        c for c in offered if c not in PREFERRED_CIPHERS
    )
    return transport


def _describe(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _tune_socket(sock: socket.socket, io_timeout: float, keepalive_seconds: float) -> None:
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
            with suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, option, value)


def _drain_writes(handle: paramiko.SFTPFile) -> None:
    """Wait for every pipelined WRITE's status and raise the first failure.

    paramiko only checks these statuses while writing or when its own queue is
    drained; a later request (fsync, close) would otherwise consume and drop them,
    hiding a failed write such as a full disk.
    """
    requests = handle._reqs  # type: ignore[attr-defined]
    while requests:
        handle.sftp._read_response(requests.popleft())  # type: ignore[attr-defined]


def _feed(channel: paramiko.Channel, data: bytes) -> None:
    try:
        if data:
            channel.sendall(data)
        channel.shutdown_write()
    except (OSError, EOFError, paramiko.SSHException):
        pass  # the reader sees the failure


def _drain(channel: paramiko.Channel, timeout: float) -> tuple[bytes, bytes]:
    """Read a channel's stdout and stderr until both close; raise TimeoutError if silent."""
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
    return bytes(stdout), bytes(stderr)
