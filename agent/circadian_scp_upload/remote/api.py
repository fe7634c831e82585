"""What the upload code may ask of a server: the transport Protocol and its plain types.

Nothing here imports paramiko. ``RemoteConnection`` implements ``Remote`` over SSH; the
unit tests implement it in memory. Paths are ``str``; a name that is not valid UTF-8
travels as the surrogate-escaped ``str`` that ``os.scandir`` gives, and the transport
sends it to the server byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from ..errors import CircadianError

# A WRITE of at most this many data bytes fits one 32 KiB SSH channel packet (see
# SSH-NOTES: paramiko's default 32768 splits every write into two packets).
WRITE_CHUNK_BYTES = 32675
# Chunks of a raw exec stream: large, as there is no per-chunk answer to wait for.
STREAM_CHUNK_BYTES = 256 * 1024
# Printed by the shell before a command's own output (``Remote.run`` returns what
# follows it): a login script's noise never reads as an answer.
OUTPUT_MARK = "<csu-output>"


@dataclass(frozen=True)
class RemoteEntry:
    """What the server says about a path: size, kind, and modification time (seconds)."""

    size: int
    is_dir: bool
    is_file: bool
    mtime: int | None = None


@dataclass
class Listing:
    """A remote folder tree: its regular files and its folders, by relative path.

    ``exists`` says whether the root folder itself is there.
    """

    files: dict[str, RemoteEntry]
    folders: set[str]
    exists: bool


@dataclass(frozen=True)
class CommandResult:
    """Exit status and output of a remote command."""

    exit_status: int
    stdout: bytes
    stderr: bytes


@dataclass(frozen=True)
class ServerTraits:
    """How a server is handled, decided once per connection.

    ``shell``: exec requests run commands through a POSIX shell. ``batch_hasher``: the
    shell has ``sha256sum -z`` (GNU coreutils) for one command per day. ``stream_hasher``:
    the fastest command that hashes its standard input, or None. The SFTP extensions the
    server announced: ``fsync@openssh.com``, ``posix-rename@openssh.com``,
    ``statvfs@openssh.com``. ``folder_sync``: the shell's ``sync`` takes names (GNU: it
    fsyncs each), so a renamed file's folder can be made durable. ``detail``: why there
    is no shell, when there is none.
    """

    shell: bool = False
    batch_hasher: bool = False
    stream_hasher: str | None = None
    fsync: bool = False
    posix_rename: bool = False
    statvfs: bool = False
    hardlink: bool = False
    folder_sync: bool = False
    detail: str = ""

    def describe(self) -> str:
        """Return the decision as one line for the log."""
        shell = (
            "a POSIX shell"
            if self.shell
            else "no shell" + (f" ({self.detail})" if self.detail else "")
        )
        hashers = [
            h for h in (self.stream_hasher, "sha256sum -z" if self.batch_hasher else None) if h
        ]
        if hashers:
            verify = "SHA-256 on the server (" + ", ".join(hashers) + ")"
            if not self.batch_hasher:
                verify += " for large files, read-back over SFTP for the rest"
        else:
            verify = "SHA-256 of the files read back over SFTP"
        if self.fsync and self.folder_sync:
            durability = "fsync@openssh.com for each file, sync of its folder before local removal"
        elif self.fsync:
            durability = (
                "fsync@openssh.com for each file; a rename is not made durable (no shell "
                "for sync): a power cut on the server within seconds of it can undo it"
            )
        elif self.folder_sync:
            durability = "sync of each file and its folder before local removal"
        else:
            durability = (
                "none offered (no fsync@openssh.com, no shell): a power cut on the server "
                "soon after an upload can lose its copy"
            )
        flags = ", ".join(
            f"{name}: {'yes' if on else 'no'}"
            for name, on in (
                ("fsync", self.fsync),
                ("posix-rename", self.posix_rename),
                ("statvfs", self.statvfs),
                ("hardlink", self.hardlink),
            )
        )
        return f"{shell}; verification: {verify}; durability: {durability}; {flags}"


class Sink(Protocol):
    """One remote file being written from an offset; a context manager that closes it."""

    def write(self, data: bytes) -> None:
        """Send ``data`` (the caller paces and hashes)."""

    def commit(self, durable: bool) -> None:
        """Wait until every byte is stored (fsynced when ``durable``); raise on any failure.

        The local modification time is given to a file only once it is proven by
        checksum (``Remote.set_mtimes``): a copy that merely arrived must never pass the
        quick check of later passes."""

    def __enter__(self) -> Sink: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class Batch(Protocol):
    """Many small files written in a few round trips: open all, put each, collect."""

    def open(self, paths: Sequence[str]) -> list[CircadianError | None]:
        """Create (truncate) every path; return per path None or why it failed."""

    def put(self, index: int, data: bytes, durable: bool) -> None:
        """Send the whole content of the file opened at ``index``, then its close."""

    def discard(self, index: int) -> None:
        """Close the file opened at ``index`` without writing it (it is not renamed)."""

    def collect(self) -> list[CircadianError | None]:
        """Read every reply; return per opened path None (stored) or why it failed."""

    def abandon(self) -> None:
        """After a failure or an abort: close what was not written and read what is
        still under way, where the link allows; never raises."""

    def rename(self, pairs: Sequence[tuple[str, str]]) -> list[CircadianError | None]:
        """Rename each (temporary, final) pair over its final name, pipelined where the
        server renames atomically; return per pair None or why it failed."""

    def keep(self, pairs: Sequence[tuple[str, str]]) -> list[CircadianError | None]:
        """Keep each (existing, aside) server file also under its aside name: a hard link
        where the server makes them (the name stays in place), else a rename."""


class Remote(Protocol):
    """The operations the upload needs from a server, in plain Python types.

    Failures are raised as the package's error tree: ``TransientError`` for the link,
    ``RemotePathError`` (a ``PermanentError``) for what the server refuses.
    """

    @property
    def where(self) -> str:
        """``host:port`` for messages."""

    @property
    def io_timeout(self) -> float:
        """Seconds one wait for the server may take."""

    def ensure_connected(self) -> None:
        """Reconnect quietly if the connection was lost."""

    def traits(self) -> ServerTraits:
        """Return how this server is handled (probed once per connection)."""

    def stat(self, path: str) -> RemoteEntry | None:
        """Return what is at ``path``, or None if nothing is."""

    def list_files(self, root: str, recursive: bool) -> Listing:
        """Return the regular files and folders below ``root`` (empty if it is absent);
        not ``recursive``: its own files and subfolders."""

    def make_folders(self, paths: Sequence[str]) -> None:
        """Create the folders (parents before children) and any missing parents."""

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write a small file, replacing it."""

    def remove(self, path: str) -> None:
        """Remove a file; a missing file is fine."""

    def remove_folder(self, path: str) -> None:
        """Remove an empty folder; a missing one is fine."""

    def rename_over(self, src: str, dst: str) -> None:
        """Rename ``src`` to ``dst`` atomically, replacing ``dst``."""

    def keep(self, src: str, dst: str) -> None:
        """Keep the file ``src`` also as ``dst``: a hard link, else a rename."""

    def read_range(self, path: str, offset: int, length: int) -> bytes:
        """Return up to ``length`` bytes of a file from ``offset``."""

    def read_file(self, path: str) -> Iterator[bytes]:
        """Yield a file's content in bounded pieces."""

    def open_file(self, path: str, offset: int, stream: bool) -> Sink:
        """Open ``path`` for writing from ``offset`` (0 truncates); ``stream`` sends the
        bytes as a raw stream over an exec channel (a shell is needed), else over SFTP."""

    def lanes(self, count: int) -> Sequence[Remote]:
        """Up to ``count`` views of this server, each usable from its own thread (the
        first is this one)."""

    @property
    def round_trip(self) -> float | None:
        """Seconds of the last measured round trip to the server (None: unknown)."""

    def open_batch(self) -> Batch:
        """Return a batch writer for many small files."""

    def set_mtimes(self, times: Sequence[tuple[str, int]]) -> None:
        """Give each path its modification time (seconds), pipelined."""

    def run(
        self,
        command: str,
        stdin: bytes = b"",
        timeout: float | None = None,
        poll: Callable[[], None] | None = None,
    ) -> CommandResult:
        """Run a command through the server's shell (every argument already quoted).

        ``poll`` is called at least five times a second while waiting (it may raise to
        stop: the command's channel is then closed)."""
