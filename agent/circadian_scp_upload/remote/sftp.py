"""SFTP operations on one session: single requests, a file sink, and pipelined batches.

Every method takes package paths (``str``, surrogate-escaped where a name is not
UTF-8) and hands paramiko their bytes, so any name the station has reaches the server
unchanged. Failures are translated by the session's ``Translator``.
"""

from __future__ import annotations

import collections
import posixpath
import stat
from collections.abc import Iterator, Sequence
from contextlib import suppress
from types import TracebackType

from paramiko import SFTPAttributes

from ..errors import CircadianError, RemotePathError
from .api import WRITE_CHUNK_BYTES, Listing, RemoteEntry
from .compat import (
    CMD_CLOSE,
    CMD_EXTENDED,
    CMD_MKDIR,
    CMD_OPEN,
    CMD_RENAME,
    CMD_SETSTAT,
    CMD_WRITE,
    SFTP_FLAG_CREATE,
    SFTP_FLAG_TRUNC,
    SFTP_FLAG_WRITE,
)
from .compat import int64 as sftp_int64
from .session import Session
from .wire import Request, Wire, to_wire

READ_CHUNK_BYTES = 32768
READ_BATCH_CHUNKS = 32
OPEN_FOR_WRITE = SFTP_FLAG_WRITE | SFTP_FLAG_CREATE | SFTP_FLAG_TRUNC
# 8 MiB of 32 KiB writes under way: more than a long link's window needs, and the
# statuses (28 bytes each) never fill the channel while the writes go on
WRITES_IN_FLIGHT = 256


def times_attrs(mtime: int) -> SFTPAttributes:
    """Return SFTP attributes that set access and modification time to ``mtime``."""
    attrs = SFTPAttributes()
    attrs.st_atime = attrs.st_mtime = mtime
    return attrs


def entry_of(attrs: SFTPAttributes) -> RemoteEntry:
    """Given SFTP attributes, return the plain entry the upload code uses."""
    mode = attrs.st_mode or 0
    return RemoteEntry(
        attrs.st_size or 0,
        stat.S_ISDIR(mode),
        stat.S_ISREG(mode),
        int(attrs.st_mtime) if attrs.st_mtime is not None else None,
    )


class SftpOps:
    """Single SFTP requests on a session (one round trip each, unless said otherwise)."""

    def __init__(self, session: Session, lane: int = 0) -> None:
        self.session, self.lane = session, lane
        self.translate = session.translate

    @property
    def wire(self) -> Wire:
        """This lane's SFTP channel (TransientError when not connected)."""
        return self.session.require_lane(self.lane)

    def stat(self, path: str) -> RemoteEntry | None:
        """Return what is at ``path`` on the server, or None if nothing is there."""
        with self.translate("stat", path):
            try:
                attrs = self.wire.stat(to_wire(path))
            except FileNotFoundError:
                return None
        return entry_of(attrs)

    def list_files(self, root: str, recursive: bool) -> Listing:
        """Return the regular files and folders below ``root`` (empty if it is absent);
        not ``recursive``: its own files and subfolders."""
        files: dict[str, RemoteEntry] = {}
        folders: set[str] = set()
        pending = [""]
        while pending:
            prefix = pending.pop()
            folder = posixpath.join(root, prefix) if prefix else root
            with self.translate("list", folder):
                try:
                    entries = self.wire.list_folder(to_wire(folder))
                except FileNotFoundError:
                    continue
            folders.add(prefix.rstrip("/"))
            for name, attrs in entries:
                entry = entry_of(attrs)
                if entry.is_file:
                    files[prefix + name] = entry
                elif entry.is_dir and recursive:
                    pending.append(prefix + name + "/")
                elif entry.is_dir:
                    folders.add(name)  # not recursive: the folder's own subfolders
        return Listing(files, folders - {""}, "" in folders)

    def make_folders(self, paths: Sequence[str]) -> None:
        """Create folders (parents before children) in one pipelined exchange.

        Whatever failed is then made one by one with its parents, which names a file
        standing in the way.
        """
        wanted = [p for p in paths if p not in ("", "/", ".")]
        if not wanted:
            return
        with self.translate("create the folder", wanted[0]):
            made = self.wire.pipeline(
                Request(CMD_MKDIR, (to_wire(p), SFTPAttributes())) for p in wanted
            )
        for path, result in zip(wanted, made, strict=True):
            if isinstance(result, BaseException):
                self.make_folder(path)

    def make_folder(self, path: str) -> None:
        """Create ``path`` and its missing parents; a file in the way is a RemotePathError."""
        if path in ("", "/", "."):
            return
        entry = self.stat(path)
        if entry is None:
            self.make_folder(posixpath.dirname(path.rstrip("/")))
            with self.translate("create the folder", path):
                try:
                    self.wire.mkdir(to_wire(path))
                except OSError:
                    entry = self.stat(path)  # a concurrent creator is fine
                    if entry is None or not entry.is_dir:
                        raise
        elif not entry.is_dir:
            raise RemotePathError(
                f"{path!r} on {self.session.where} is a file, but a folder is needed there: "
                "move the file away or choose another destination"
            )

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write a small file (replacing it)."""
        with self.open_sink(path, 0, fsync=False, action="write") as sink:
            sink.write(data)
            sink.commit(durable=False)

    def remove(self, path: str) -> None:
        """Remove a file; a missing file is fine."""
        with self.translate("remove", path), suppress(FileNotFoundError):
            self.wire.remove(to_wire(path))

    def remove_folder(self, path: str) -> None:
        """Remove an empty folder; a missing one is fine."""
        with self.translate("rmdir", path), suppress(FileNotFoundError):
            self.wire.rmdir(to_wire(path))

    def rename_over(self, src: str, dst: str, posix_rename: bool) -> None:
        """Rename ``src`` to ``dst``, replacing it: atomically with posix-rename, else
        by removing ``dst`` first (plain SFTP rename refuses to replace)."""
        with self.translate("rename", src):
            if posix_rename:
                self.wire.posix_rename(to_wire(src), to_wire(dst))
                return
            if self.stat(dst) is not None:
                self.wire.remove(to_wire(dst))
            self.wire.rename(to_wire(src), to_wire(dst))

    def read_range(self, path: str, offset: int, length: int) -> bytes:
        """Return up to ``length`` bytes of a remote file from ``offset``."""
        with self.translate("read", path), self.wire.open(to_wire(path), "rb") as handle:
            handle.seek(offset)
            return bytes(handle.read(length))

    def read_file(self, path: str) -> Iterator[bytes]:
        """Yield a remote file's content in pipelined batches (memory stays bounded)."""
        with self.translate("read", path), self.wire.open(to_wire(path), "rb") as handle:
            size = handle.stat().st_size or 0
            offset = 0
            while offset < size:
                batch: list[tuple[int, int]] = []
                while offset < size and len(batch) < READ_BATCH_CHUNKS:
                    length = min(READ_CHUNK_BYTES, size - offset)
                    batch.append((offset, length))
                    offset += length
                yield from handle.readv(batch)

    def open_handle(self, path: str, flags: int) -> bytes:
        """Open a remote file (SFTP OPEN with ``flags``); return its handle."""
        _kind, reply = self.wire.request(CMD_OPEN, to_wire(path), flags, SFTPAttributes())
        return reply.get_binary()

    def open_sink(self, path: str, offset: int, fsync: bool, action: str = "upload to") -> SftpSink:
        """Open ``path`` for pipelined writes from ``offset`` (0 creates or truncates)."""
        with self.translate(action, path):
            handle = self.open_handle(path, SFTP_FLAG_WRITE if offset else OPEN_FOR_WRITE)
        return SftpSink(self, handle, path, fsync, offset, action)

    def fsync_file(self, path: str) -> None:
        """Make a file written some other way durable (``fsync@openssh.com``)."""
        with self.translate("make durable", path):
            handle = self.open_handle(path, SFTP_FLAG_WRITE)
            try:
                self.wire.fsync(handle)
            finally:
                self.wire.request(CMD_CLOSE, handle)

    def set_mtimes(self, times: Sequence[tuple[str, int]]) -> None:
        """Give each path its modification time (SETSTAT), pipelined; raise the first
        refusal."""
        if not times:
            return
        with self.translate("set the modification time of", times[0][0]):
            replies = self.wire.pipeline(
                Request(CMD_SETSTAT, (to_wire(path), times_attrs(mtime))) for path, mtime in times
            )
        for (path, _mtime), reply in zip(times, replies, strict=True):
            if isinstance(reply, OSError):
                raise self.translate.operation_error(reply, "set the modification time of", path)

    def open_batch(self, fsync: bool, posix_rename: bool, hardlink: bool) -> SftpBatch:
        """Return a batch writer for many small files."""
        return SftpBatch(self, fsync, posix_rename, hardlink)

    def keep(self, src: str, dst: str, hardlink: bool) -> None:
        """Keep ``src`` also as ``dst``: ``hardlink@openssh.com``, else (or where the
        server's filesystem makes no links: FAT, exFAT, some shares) a rename."""
        with self.translate("keep a copy of", src):
            if hardlink:
                try:
                    self.wire.extended("hardlink@openssh.com", to_wire(src), to_wire(dst))
                    return
                except OSError as error:
                    if isinstance(error, FileNotFoundError):
                        raise
            self.wire.rename(to_wire(src), to_wire(dst))


class SftpSink:
    """Pipelined SFTP writes into one remote file, each in one SSH packet; their
    statuses are read by request number, whatever order they come in, so that at most
    ``WRITES_IN_FLIGHT`` writes are under way."""

    def __init__(
        self, ops: SftpOps, handle: bytes, path: str, fsync: bool, offset: int, action: str
    ) -> None:
        self.ops, self.handle, self.path, self.fsync = ops, handle, path, fsync
        self.offset, self.action = offset, action
        self.pending: collections.deque[int] = collections.deque()

    def write(self, data: bytes) -> None:
        """Send ``data`` as WRITE requests, waiting only for statuses beyond the window."""
        wire = self.ops.wire
        with self.ops.translate(self.action, self.path):
            self.pending.extend(
                wire.queue(
                    Request(
                        CMD_WRITE,
                        (
                            self.handle,
                            sftp_int64(self.offset + start),
                            data[start : start + WRITE_CHUNK_BYTES],
                        ),
                    )
                    for start in range(0, len(data), WRITE_CHUNK_BYTES)
                )
            )
            self.offset += len(data)
            while len(self.pending) > WRITES_IN_FLIGHT:
                wire.wait_reply(self.pending.popleft())

    def commit(self, durable: bool) -> None:
        """Wait for every write's status (raise the first failure, such as a full disk),
        then fsync when ``durable`` and offered."""
        with self.ops.translate(self.action, self.path):
            while self.pending:
                self.ops.wire.wait_reply(self.pending.popleft())
            if durable and self.fsync:
                self.ops.wire.fsync(self.handle)

    def __enter__(self) -> SftpSink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            with self.ops.translate(self.action, self.path):
                self.ops.wire.request(CMD_CLOSE, self.handle)
        else:
            with suppress(Exception):  # the first failure is the one that counts
                self.ops.wire.discard(self.pending)
                self.pending.clear()
                self.ops.wire.request(CMD_CLOSE, self.handle)


class SftpBatch:
    """Small files in a few pipelined exchanges: open all, write+close each, collect.

    ``put`` sends at once and ``collect`` reads the answers, so each file's bytes are
    held only while they are sent, whatever the size of the batch. Only the first
    failure is diagnosed (a full disk costs one question, not one per file).
    """

    def __init__(self, ops: SftpOps, fsync: bool, posix_rename: bool, hardlink: bool) -> None:
        self.ops, self.fsync, self.posix_rename = ops, fsync, posix_rename
        self.hardlink = hardlink
        self.paths: list[str] = []
        self.handles: list[bytes | None] = []
        self.done: set[int] = set()  # put or discarded: their handles are closed
        # (file index, request number, whether a failure of it fails the file)
        self.sent: list[tuple[int, int, bool]] = []
        self.diagnosed = False

    def open(self, paths: Sequence[str]) -> list[CircadianError | None]:
        """Create (truncate) every path; return per path None or why it failed."""
        self.paths = list(paths)
        if not self.paths:
            return []
        with self.ops.translate("upload to", self.paths[0]):
            opened = self.ops.wire.pipeline(
                Request(CMD_OPEN, (to_wire(p), OPEN_FOR_WRITE, SFTPAttributes()))
                for p in self.paths
            )
        self.handles = [None if isinstance(r, BaseException) else r for r in opened]
        return [self._error(i, r) if isinstance(r, OSError) else None for i, r in enumerate(opened)]

    def put(self, index: int, data: bytes, durable: bool) -> None:
        """Send the file's content in packet-sized writes, its fsync and its close."""
        handle = self.handles[index]
        assert handle is not None, "put() on a file that did not open"
        requests = [
            Request(
                CMD_WRITE, (handle, sftp_int64(offset), data[offset : offset + WRITE_CHUNK_BYTES])
            )
            for offset in range(0, len(data), WRITE_CHUNK_BYTES)
        ]
        if durable and self.fsync:
            requests.append(Request(CMD_EXTENDED, ("fsync@openssh.com", handle)))
        requests.append(Request(CMD_CLOSE, (handle,)))
        self.done.add(index)
        with self.ops.translate("upload to", self.paths[index]):
            self.sent += [(index, number, False) for number in self.ops.wire.queue(requests)]

    def discard(self, index: int) -> None:
        """Close a file that will not be written (its temporary file stays, empty)."""
        handle = self.handles[index]
        if handle is None or index in self.done:
            return
        self.done.add(index)
        with self.ops.translate("upload to", self.paths[index]):
            self.sent.append((index, self.ops.wire.send(Request(CMD_CLOSE, (handle,))), True))

    def collect(self) -> list[CircadianError | None]:
        """Read every answer; return per file None (stored) or its first failure."""
        sent, self.sent = self.sent, []
        failed: list[CircadianError | None] = [None] * len(self.paths)
        if sent:
            with self.ops.translate("upload to", self.paths[sent[0][0]]):
                replies = self.ops.wire.replies(number for _i, number, _o in sent)
            for (index, _number, optional), reply in zip(sent, replies, strict=True):
                if isinstance(reply, OSError) and not optional and failed[index] is None:
                    failed[index] = self._error(index, reply)
        return failed

    def abandon(self) -> None:
        """After a failure or an abort: close the unwritten files and read what is still
        under way, where the link allows; never raises (the first failure counts)."""
        if not self.ops.session.link_is_up():
            self.sent = []
            return
        with suppress(CircadianError):
            for index in range(len(self.handles)):
                self.discard(index)
            self.collect()

    def rename(self, pairs: Sequence[tuple[str, str]]) -> list[CircadianError | None]:
        """Rename each (temporary, final) pair: pipelined with posix-rename, else one by one."""
        if not pairs:
            return []
        if not self.posix_rename:
            return [self._rename_one(src, dst) for src, dst in pairs]
        with self.ops.translate("rename", pairs[0][0]):
            replies = self.ops.wire.pipeline(
                Request(CMD_EXTENDED, ("posix-rename@openssh.com", to_wire(src), to_wire(dst)))
                for src, dst in pairs
            )
        return [
            self.ops.translate.operation_error(reply, "rename", src)
            if isinstance(reply, OSError)
            else None
            for (src, _dst), reply in zip(pairs, replies, strict=True)
        ]

    def keep(self, pairs: Sequence[tuple[str, str]]) -> list[CircadianError | None]:
        """Keep each (existing, aside) file also under its aside name, pipelined: a hard
        link (the file stays in place until its replacement is renamed over it), else a
        rename."""
        if not pairs:
            return []
        if self.hardlink:
            with self.ops.translate("keep a copy of", pairs[0][0]):
                replies = self.ops.wire.pipeline(
                    Request(CMD_EXTENDED, ("hardlink@openssh.com", to_wire(src), to_wire(dst)))
                    for src, dst in pairs
                )
            # a filesystem without links (FAT, exFAT, some shares): moved aside instead
            retry = [
                i
                for i, reply in enumerate(replies)
                if isinstance(reply, OSError) and not isinstance(reply, FileNotFoundError)
            ]
            if retry:
                with self.ops.translate("keep a copy of", pairs[retry[0]][0]):
                    moved = self.ops.wire.pipeline(
                        Request(CMD_RENAME, (to_wire(pairs[i][0]), to_wire(pairs[i][1])))
                        for i in retry
                    )
                for index, reply in zip(retry, moved, strict=True):
                    replies[index] = reply
        else:
            with self.ops.translate("keep a copy of", pairs[0][0]):
                replies = self.ops.wire.pipeline(
                    Request(CMD_RENAME, (to_wire(src), to_wire(dst))) for src, dst in pairs
                )
        return [
            self.ops.translate.operation_error(reply, "keep a copy of", src)
            if isinstance(reply, OSError)
            else None
            for (src, _dst), reply in zip(pairs, replies, strict=True)
        ]

    def _rename_one(self, src: str, dst: str) -> CircadianError | None:
        try:
            self.ops.rename_over(src, dst, posix_rename=False)
        except RemotePathError as error:
            return error
        return None

    def _error(self, index: int, error: OSError) -> CircadianError:
        diagnose, self.diagnosed = not self.diagnosed, True
        return self.ops.translate.operation_error(
            error, "upload to", self.paths[index], diagnose=diagnose
        )
