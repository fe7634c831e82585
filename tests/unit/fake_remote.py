"""An in-memory server implementing the transport Protocol (``remote.api.Remote``).

Like httpx's MockTransport: the upload code runs unchanged, against a dict instead of
an SSH server, so its steps are tested in milliseconds. It keeps a log of operations
and can be told to fail one of them.
"""

from __future__ import annotations

import hashlib
import posixpath
import shlex
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType

from circadian_scp_upload.errors import CircadianError, RemotePathError
from circadian_scp_upload.remote.api import CommandResult, Listing, RemoteEntry, ServerTraits

FULL_TRAITS = ServerTraits(
    shell=True,
    batch_hasher=True,
    stream_hasher="sha256sum",
    fsync=True,
    posix_rename=True,
    statvfs=True,
)
SFTP_ONLY_TRAITS = ServerTraits(fsync=True, posix_rename=True, statvfs=True, detail="no shell")


def norm(path: str) -> str:
    return posixpath.normpath(path)


@dataclass
class MemoryRemote:
    """A server made of two collections: file contents and folder paths."""

    server_traits: ServerTraits = FULL_TRAITS
    files: dict[str, bytes] = field(default_factory=dict)
    mtimes: dict[str, int] = field(default_factory=dict)
    folders: set[str] = field(default_factory=lambda: {"/", "."})
    log: list[tuple[str, str]] = field(default_factory=list)
    failures: dict[tuple[str, str], CircadianError] = field(default_factory=dict)
    durable: set[str] = field(default_factory=set)
    where: str = "memory:22"
    io_timeout: float = 5.0
    clock: int = 1_700_000_000  # the server's "now" for files it writes
    round_trip: float | None = None  # seconds; 10 ms or more counts as a long link
    lane_count: int = 1  # SFTP channels the fake server grants
    synced: list[tuple[str, list[str]]] = field(default_factory=list)  # sync commands run
    sync_status: int = 0  # the exit status of sync
    stdins: list[bytes] = field(default_factory=list)  # what each command got on stdin

    def fail(self, operation: str, path: str, error: CircadianError) -> None:
        """Make ``operation`` on ``path`` raise ``error`` (once)."""
        self.failures[(operation, norm(path))] = error

    def _do(self, operation: str, path: str) -> str:
        path = norm(path)
        self.log.append((operation, path))
        error = self.failures.pop((operation, path), None)
        if error is not None:
            raise error
        return path

    def ensure_connected(self) -> None:
        self.log.append(("ensure_connected", ""))

    def traits(self) -> ServerTraits:
        return self.server_traits

    def stat(self, path: str) -> RemoteEntry | None:
        path = self._do("stat", path)
        if path in self.files:
            return RemoteEntry(len(self.files[path]), False, True, self.mtimes.get(path))
        if path in self.folders:
            return RemoteEntry(0, True, False)
        return None

    def list_files(self, root: str, recursive: bool) -> Listing:
        root = self._do("list", root)
        if root not in self.folders:
            return Listing({}, set(), False)
        files: dict[str, RemoteEntry] = {}
        folders: set[str] = set()
        for path, content in self.files.items():
            relpath = posixpath.relpath(path, root)
            if relpath.startswith("..") or ("/" in relpath and not recursive):
                continue
            files[relpath] = RemoteEntry(len(content), False, True, self.mtimes.get(path))
        for folder in self.folders:
            relpath = posixpath.relpath(folder, root)
            if relpath == "." or relpath.startswith(".."):
                continue
            if recursive or "/" not in relpath:
                folders.add(relpath)
        return Listing(files, folders, True)

    def make_folders(self, paths: Sequence[str]) -> None:
        for path in paths:
            self._make_folder(norm(path))

    def _make_folder(self, path: str) -> None:
        if path in self.folders:
            return
        if path in self.files:
            raise RemotePathError(f"{path!r} is a file, but a folder is needed there")
        self._make_folder(posixpath.dirname(path) or "/")
        self._do("mkdir", path)
        self.folders.add(path)

    def _need_folder(self, path: str) -> None:
        if (posixpath.dirname(path) or "/") not in self.folders:
            raise RemotePathError(f"cannot write {path!r}: its folder does not exist")

    def write_bytes(self, path: str, data: bytes) -> None:
        path = self._do("write", path)
        self._need_folder(path)
        self.files[path] = data
        self.mtimes[path] = self.clock

    def set_mtimes(self, times: Sequence[tuple[str, int]]) -> None:
        for path, mtime in times:
            self.mtimes[self._do("setstat", path)] = mtime

    def remove(self, path: str) -> None:
        self.files.pop(self._do("remove", path), None)

    def remove_folder(self, path: str) -> None:
        path = self._do("rmdir", path)
        if any(name.startswith(path + "/") for name in [*self.files, *self.folders]):
            raise RemotePathError(f"cannot remove {path!r}: the folder is not empty")
        self.folders.discard(path)

    def rename_over(self, src: str, dst: str) -> None:
        src = self._do("rename", src)
        if src not in self.files:
            raise RemotePathError(f"cannot rename {src!r}: it does not exist")
        self.files[norm(dst)] = self.files.pop(src)
        if src in self.mtimes:
            self.mtimes[norm(dst)] = self.mtimes.pop(src)

    def keep(self, src: str, dst: str) -> None:
        src = self._do("keep", src)
        self.files[norm(dst)] = self.files[src]

    def read_range(self, path: str, offset: int, length: int) -> bytes:
        return self.files[self._do("read", path)][offset : offset + length]

    def read_file(self, path: str) -> Iterator[bytes]:
        content = self.files[self._do("read", path)]
        for start in range(0, len(content), 32768):
            yield content[start : start + 32768]

    def open_file(self, path: str, offset: int, stream: bool) -> MemorySink:
        path = self._do("open-stream" if stream else "open", path)
        self._need_folder(path)
        kept = self.files.get(path, b"")[:offset] if offset else b""
        self.files[path] = kept
        self.mtimes[path] = self.clock  # a write gives the file the server's time
        return MemorySink(self, path)

    def lanes(self, count: int) -> list[MemoryRemote]:
        """Views for parallel lanes: this same server, ``lane_count`` times at most."""
        self.log.append(("lanes", str(count)))
        return [self] * max(1, min(count, self.lane_count))

    def open_batch(self) -> MemoryBatch:
        return MemoryBatch(self)

    def run(
        self,
        command: str,
        stdin: bytes = b"",
        timeout: float | None = None,
        poll: Callable[[], None] | None = None,
    ) -> CommandResult:
        """Answer the hash commands the package sends, as a shell with coreutils would."""
        self.log.append(("run", command))
        self.stdins.append(stdin)
        if poll is not None:
            poll()
        words = shlex.split(command)
        openssl = words[-4:] == ["openssl", "dgst", "-sha256", "-r"]
        if words[:2] == ["cd", "--"] and ("sha256sum" in words or openssl):
            # as the tools print: `hex  name\0` (sha256sum -z), `hex *name\n` (openssl
            # -r); a missing file gets a message instead, and xargs exits 123
            between, end, tool = (b" *", b"\n", b"") if openssl else (b"  ", b"\0", b"sha256sum: ")
            root = norm(words[2])
            out, err = b"", b""
            for name in filter(None, stdin.split(b"\0")):
                path = norm(posixpath.join(root, name.decode("utf-8", "surrogateescape")))
                if path in self.files:
                    out += hashlib.sha256(self.files[path]).hexdigest().encode()
                    out += between + name + end
                else:
                    err += tool + name + b": No such file or directory\n"
            return CommandResult(123 if err else 0, out, err)
        if words[:2] == ["cd", "--"] and words[-2:] == ["sync", "--"]:
            self.synced.append((norm(words[2]), [n.decode() for n in stdin.split(b"\0") if n]))
            return CommandResult(self.sync_status, b"", b"" if not self.sync_status else b"EIO")
        if len(words) == 3 and words[1] == "<":
            path = norm(words[2])
            if path not in self.files:
                return CommandResult(1, b"", b"No such file")
            return CommandResult(0, hashlib.sha256(self.files[path]).hexdigest().encode(), b"")
        return CommandResult(127, b"", b"command not found")


class MemorySink:
    """Writes into one file of a ``MemoryRemote``."""

    def __init__(self, remote: MemoryRemote, path: str) -> None:
        self.remote, self.path = remote, path

    def write(self, data: bytes) -> None:
        self.remote.files[self.path] += data

    def commit(self, durable: bool) -> None:
        if durable:
            self.remote.durable.add(self.path)

    def __enter__(self) -> MemorySink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class MemoryBatch:
    """The batch writer of a ``MemoryRemote``."""

    def __init__(self, remote: MemoryRemote) -> None:
        self.remote = remote
        self.paths: list[str] = []

    def open(self, paths: Sequence[str]) -> list[CircadianError | None]:
        self.paths = [norm(p) for p in paths]
        failed: list[CircadianError | None] = []
        for path in self.paths:
            try:
                self.remote.open_file(path, 0, stream=False)
                failed.append(None)
            except CircadianError as error:
                failed.append(error)
        return failed

    def put(self, index: int, data: bytes, durable: bool) -> None:
        with self.remote.open_file(self.paths[index], 0, stream=False) as sink:
            sink.write(data)
            sink.commit(durable)

    def discard(self, index: int) -> None:
        self.remote.log.append(("discard", self.paths[index]))

    def collect(self) -> list[CircadianError | None]:
        return [None] * len(self.paths)

    def abandon(self) -> None:
        self.remote.log.append(("abandon", ""))

    def keep(self, pairs: Sequence[tuple[str, str]]) -> list[CircadianError | None]:
        for src, dst in pairs:
            self.remote.keep(src, dst)
        return [None] * len(pairs)

    def rename(self, pairs: Sequence[tuple[str, str]]) -> list[CircadianError | None]:
        results: list[CircadianError | None] = []
        for src, dst in pairs:
            try:
                self.remote.rename_over(src, dst)
                results.append(None)
            except CircadianError as error:
                results.append(error)
        return results
