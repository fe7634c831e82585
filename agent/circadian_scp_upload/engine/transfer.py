"""Putting files on the server safely, small and large alike.

Every file is written under a temporary name in the agent's own folder on the server,
``<destination>/.csu/partial/<hash of the final path>.csu-partial``, and renamed over its
final name only once the server holds all of it, so a final name never holds a partial
file. The temporary names live where no instrument's file can be (a destination holds
dated days, and ``.csu`` is not one), so the agent's names never collide with the
instrument's: a file of the instrument's named like a temporary file is data like any
other, uploaded, verified and never taken for a leftover. This module owns the loop that
moves the bytes: read, hash, pace (the bandwidth limit covers every byte), poll for an
abort, write.

- Small files (up to ``SMALL_FILE_BYTES``) go in pipelined batches: all opened at
  once, each written whole and closed, then the good ones renamed: a few round trips
  per batch instead of several per file. Resuming them would cost more than resending.
- Large files go one by one, resumable: a partial file left by an interrupted run is
  continued from its end if its tail matches the local file. Where the server has a
  shell the bytes go as a raw stream over an exec channel (OpenSSH's speed), else as
  pipelined SFTP writes; where it can hash, the whole temporary file is checksummed
  on the server before the rename.
"""

from __future__ import annotations

import functools
import hashlib
import posixpath
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from loguru import logger

from ..errors import CircadianError, LocalFileError, RemotePathError, UploadAborted
from ..remote.api import STREAM_CHUNK_BYTES, WRITE_CHUNK_BYTES, Remote, Sink
from ..source.days import HASH_CHUNK_BYTES, LocalFile
from ..source.localio import local_io
from .lanes import LaneResult, merge, plan_lanes, run_lanes, wanted_lanes
from .pacing import AbortPoller, Pacer
from .progress import Progress
from .verify import read_back

PARTIAL_FOLDER = ".csu/partial"  # below the destination: the agent's own namespace
PARTIAL_SUFFIX = ".csu-partial"
PARTIAL_HASH_CHARS = 32  # of the SHA-256 of the final path: 128 bits, short names
RESUME_CHECK_BYTES = 256 * 1024
SMALL_FILE_BYTES = 256 * 1024
BATCH_FILES = 4096
BATCH_BYTES = 128 * 1024 * 1024
ServerChecksum = Callable[[str, int], "str | None"]


class Digest(Protocol):
    """What a running hash (``hashlib.sha256()``) offers the send loop."""

    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


def partial_folder(dst_path: str) -> str:
    """Given a destination, return the folder of its temporary files (``.csu/partial``)."""
    return posixpath.join(dst_path.rstrip("/") or "/", PARTIAL_FOLDER)


def partial_path(final_path: str, folder: str) -> str:
    """Given a remote file's final path and the temporary folder of its destination,
    return the path it is written under first: ``<folder>/<hash>.csu-partial``, the hash
    taken of the final path (the same in every run: a partial file is resumed)."""
    digest = hashlib.sha256(final_path.encode("utf-8", "surrogateescape")).hexdigest()
    return posixpath.join(folder, digest[:PARTIAL_HASH_CHARS] + PARTIAL_SUFFIX)


def batches(files: list[LocalFile]) -> list[list[LocalFile]]:
    """Group small files into batches bounded in count and bytes (memory stays bounded)."""
    grouped: list[list[LocalFile]] = []
    size = 0
    for local in files:
        if not grouped or len(grouped[-1]) >= BATCH_FILES or size + local.size > BATCH_BYTES:
            grouped.append([])
            size = 0
        grouped[-1].append(local)
        size += local.size
    return grouped


@dataclass(frozen=True)
class Uploaded:
    """The outcome of one large file's upload.

    ``sha256``: checksum of the local bytes sent; ``resumed_from``: where it resumed;
    ``remote_sha256``: the server's checksum of the whole file, taken before it was
    renamed into place (None where the server cannot hash: verify afterwards).
    """

    sha256: str
    resumed_from: int
    remote_sha256: str | None = None


class Uploader:
    """Puts files on one server: temporary names, resume, pacing, abort, rename.

    ``partials``: the folder of the temporary files (``partial_folder``), which exists.
    ``stream``: send large files as a raw stream over exec (the server has a shell).
    ``server_checksum``: hash a large file on the server before its rename, or None.
    Where that fails (or there is none), the proof before the rename is the file read
    back over the lane's own SFTP channel and hashed here.
    ``durable``: have the server fsync each file before its rename (local removal).
    ``on_bytes``: told of every byte sent or skipped by a resume (progress).
    """

    def __init__(
        self,
        remote: Remote,
        pacer: Pacer,
        poll: AbortPoller,
        *,
        partials: str,
        stream: bool,
        server_checksum: ServerChecksum | None,
        durable: bool,
        on_bytes: Callable[[int], None],
        aside: dict[str, tuple[str, str]] | None = None,
        one_by_one: set[str] | None = None,
        channels: int = 0,
        parallel_large: bool = False,
    ) -> None:
        self.remote, self.pacer, self.poll = remote, pacer, poll
        self.partials = partials
        self.stream, self.server_checksum = stream, server_checksum
        self.durable, self.on_bytes = durable, on_bytes
        # final path -> (its server copy, where that is kept) before it is replaced
        self.aside = aside or {}
        # relpaths never batched together: names a case-insensitive server cannot tell
        # apart would share a temporary file there
        self.one_by_one = one_by_one or set()
        self.skipped: dict[str, CircadianError] = {}  # local files that could not be read
        self.bytes_sent, self.files_sent, self.kept_aside = 0, 0, 0  # bytes: not resumed ones
        self.kept_paths: list[str] = []  # where the server copies kept aside now are
        # SFTP channels (0: by the link); large files in parallel only where their
        # checks do not need the session's own channel
        self.channels, self.parallel_large = channels, parallel_large
        self.lock = threading.Lock()  # counters and progress, shared by the lanes
        self.failures: list[BaseException] = []  # what ended lanes, in the order it did
        self.pace_lock = threading.Lock()
        self.progress = Progress(lambda _line: None, 0, 0, 3600.0)
        self.on_resume: Callable[[LocalFile, int], None] = lambda _f, _o: None

    def put_all(
        self,
        pairs: list[tuple[LocalFile, str]],
        progress: Progress,
        on_resume: Callable[[LocalFile, int], None],
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Upload (local file, final path) pairs, small ones in batches first; return
        relpath -> SHA-256 of what was sent, and relpath -> the server's SHA-256 taken
        before the rename (large files). A local file that cannot be read is recorded
        in ``skipped``; the others go on.

        On a long link the work is shared among several SFTP channels (``lanes``), one
        thread each: one channel moves at most the server's window per round trip.
        """
        self.progress, self.on_resume = progress, on_resume
        finals = dict(pairs)
        small = [
            f
            for f, _final in pairs
            if f.size <= SMALL_FILE_BYTES and f.relpath not in self.one_by_one
        ]
        batched = {f.relpath for f in small}
        large = [f for f, _final in pairs if f.relpath not in batched]
        wanted = wanted_lanes(self.channels, self.remote.round_trip)
        plans = plan_lanes(
            small, large, wanted, parallel_large=self.parallel_large, one_by_one=self.one_by_one
        )
        views = self.remote.lanes(len(plans)) if len(plans) > 1 else [self.remote]
        plans = merge(plans, len(views))
        if len(views) > 1:
            trip = self.remote.round_trip
            logger.info(
                "{} files on {} SFTP channels in parallel{}",
                len(pairs),
                len(views),
                f" (round trip {trip * 1000:.0f} ms)" if trip is not None else "",
            )
        results = [LaneResult() for _ in plans]
        run_lanes(
            [
                functools.partial(self._run_lane, view, lane_small, lane_large, finals, result)
                for view, (lane_small, lane_large), result in zip(
                    views, plans, results, strict=True
                )
            ]
        )
        local_sums: dict[str, str] = {}
        server_sums: dict[str, str] = {}
        for result in results:
            local_sums.update(result.local_sums)
            server_sums.update(result.server_sums)
        if self.failures:  # the first to happen: the others may be its consequences
            raise self.failures[0]
        progress.finish()
        return local_sums, server_sums

    def _run_lane(
        self,
        remote: Remote,
        small: list[LocalFile],
        large: list[LocalFile],
        finals: dict[LocalFile, str],
        result: LaneResult,
    ) -> None:
        """Upload one lane's small files in batches, then its large files one by one;
        keep what it sent (``put_all`` raises the first failure once all lanes ended)."""
        try:
            for batch in batches(small):
                self._next(len(batch))
                sums = self.put_small([(f, finals[f]) for f in batch], remote)
                result.local_sums.update(sums)
                with self.lock:
                    self.files_sent += len(batch)
            for local in large:
                self._next(1)
                try:
                    resumed = functools.partial(self.on_resume, local)
                    outcome = self.put_large(local, finals[local], resumed, remote)
                except LocalFileError as error:
                    self.skipped[local.relpath] = error
                    continue
                result.local_sums[local.relpath] = outcome.sha256
                if outcome.remote_sha256 is not None:
                    result.server_sums[local.relpath] = outcome.remote_sha256
                with self.lock:
                    self.files_sent += 1
        except BaseException as error:  # noqa: BLE001 - raised by put_all once all lanes end
            with self.lock:
                self.failures.append(error)

    def _next(self, files: int) -> None:
        """Before the next batch or file: stop if asked to, and tell the progress."""
        self.poll.check()
        with self.lock:
            self.progress.start_file(files)

    def _sent(self, count: int) -> None:
        """Count ``count`` bytes sent (progress and the day's total)."""
        with self.lock:
            self.bytes_sent += count
            self.on_bytes(count)

    def _pace(self, count: int) -> None:
        """Wait as the bandwidth limit says before sending ``count`` bytes (all lanes)."""
        with self.pace_lock:
            self.pacer(count, self.poll)

    def partial(self, final: str) -> str:
        """Return the temporary path ``final`` is written under."""
        return partial_path(final, self.partials)

    # -- small files ---------------------------------------------------------------

    def put_small(
        self, files: list[tuple[LocalFile, str]], remote: Remote | None = None
    ) -> dict[str, str]:
        """Upload (local file, final path) pairs in one batch; return relpath -> SHA-256
        of what was sent, for the files renamed into place.

        A local file that cannot be read is recorded in ``skipped`` and the rest go on;
        the first failure on the server is raised after the good files were renamed. A
        stop asked between files (an upload window closing) ends the batch at the next
        file: the files written so far are renamed into place, then it is raised.
        """
        batch = (remote or self.remote).open_batch()
        failures: list[CircadianError | None] = batch.open([self.partial(f) for _l, f in files])
        sums: dict[str, str] = {}
        unreadable: set[int] = set()
        stop: str | None = None
        try:
            for index, (local, _final) in enumerate(files):
                if failures[index] is not None:
                    continue
                self.poll()
                stop = stop or self.poll.between_files()
                if stop:  # not written: closed, not renamed, sent again next time
                    failures[index] = UploadAborted(stop)
                    unreadable.add(index)
                    batch.discard(index)
                    continue
                try:
                    with local_io("read the local file", local.path):
                        content = local.path.read_bytes()
                except LocalFileError as error:
                    self.skipped[local.relpath] = failures[index] = error
                    unreadable.add(index)
                    batch.discard(index)
                    continue
                self._pace(len(content))
                sums[local.relpath] = hashlib.sha256(content).hexdigest()
                batch.put(index, content, self.durable)
                self._sent(len(content))
        except BaseException:
            batch.abandon()  # keep the channel in step; partial files wait for the next run
            raise
        stored = batch.collect()
        failures = [opened or written for opened, written in zip(failures, stored, strict=True)]
        # Server copies that a changed local file replaces are kept aside first.
        good = [i for i, failure in enumerate(failures) if failure is None]
        kept = [i for i in good if files[i][1] in self.aside]
        moved = batch.keep([self.aside[files[i][1]] for i in kept])
        for index, failure in zip(kept, moved, strict=True):
            failures[index] = failure
            if failure is None:
                with self.lock:
                    self.kept_aside += 1
                    self.kept_paths.append(self.aside[files[index][1]][1])
        good = [i for i, failure in enumerate(failures) if failure is None]
        renamed = batch.rename([(self.partial(files[i][1]), files[i][1]) for i in good])
        for index, failure in zip(good, renamed, strict=True):
            failures[index] = failure
        for index, (local, _final) in enumerate(files):
            if failures[index] is not None:
                sums.pop(local.relpath, None)
        first = next(
            (f for i, f in enumerate(failures) if f is not None and i not in unreadable), None
        )
        if first is not None:
            raise first
        if stop:  # the files renamed so far are proven by the next pass
            raise UploadAborted(stop)
        return sums

    # -- large files ---------------------------------------------------------------

    def put_large(
        self,
        local: LocalFile,
        final: str,
        on_resume: Callable[[int], None],
        remote: Remote | None = None,
    ) -> Uploaded:
        """Upload one file to ``final`` atomically, resuming a partial file of it."""
        remote = remote or self.remote
        partial = self.partial(final)
        offset = self.resume_offset(local, partial, remote)
        digest = hashlib.sha256()
        if offset:
            on_resume(offset)
            _hash_prefix(local, offset, digest, self.poll)
            with self.lock:
                self.on_bytes(offset)
        chunk = STREAM_CHUNK_BYTES if self.stream else WRITE_CHUNK_BYTES
        with remote.open_file(partial, offset, self.stream) as sink:
            total = offset + self._send(local, offset, chunk, sink, digest)
            sink.commit(self.durable)
        stored = remote.stat(partial)
        if stored is None or stored.size != total:
            # Never rename a short or overlong file into place, whatever the server said.
            raise RemotePathError(
                f"{remote.where} stored {stored.size if stored else 0} of {total} bytes "
                f"of {final!r}: the server's disk may be full; the file stays under its "
                "temporary name and is resumed on the next run"
            )
        remote_sha256 = self._prove(partial, total, final, remote)
        if remote_sha256 != digest.hexdigest():
            # Corrupt: start this file over next time rather than keep a bad prefix.
            remote.remove(partial)
            raise RemotePathError(
                f"the server's copy of {final!r} does not match the local file after "
                "upload (checksums differ); it was discarded and is uploaded again next run"
            )
        if final in self.aside:  # keep the server's earlier copy
            remote.keep(*self.aside[final])
            with self.lock:
                self.kept_aside += 1
                self.kept_paths.append(self.aside[final][1])
        remote.rename_over(partial, final)
        return Uploaded(digest.hexdigest(), offset, remote_sha256)

    def _prove(self, partial: str, total: int, final: str, remote: Remote) -> str:
        """Return the server's SHA-256 of a large file before its rename: hashed there,
        else read back over the lane's own channel. A hasher that fails must not let a
        file be renamed unproven (a resumed file's prefix was compared at its tail only)."""
        found = self.server_checksum(partial, total) if self.server_checksum else None
        if found is None:
            if self.server_checksum is not None:
                logger.warning(
                    "{}: hashing {!r} on the server failed: reading it back to prove it",
                    remote.where,
                    final,
                )
            found = read_back(remote, partial, self.poll)
        if found is None:
            raise RemotePathError(
                f"the server's copy of {final!r} could not be checksummed before its rename "
                "(hashing on the server and reading it back both failed); it stays under its "
                "temporary name and is proven on the next run"
            )
        return found

    def resume_offset(self, local: LocalFile, partial: str, remote: Remote | None = None) -> int:
        """Return the byte to continue ``partial`` from: its end if its tail matches, else 0."""
        remote = remote or self.remote
        entry = remote.stat(partial)
        if entry is None or not entry.is_file or entry.size == 0 or entry.size > local.size:
            return 0
        length = min(entry.size, RESUME_CHECK_BYTES)
        start = entry.size - length
        with local_io("read the local file", local.path), local.path.open("rb") as handle:
            handle.seek(start)
            expected = handle.read(length)
        if remote.read_range(partial, start, length) != expected:
            return 0
        return entry.size

    def _send(
        self, local: LocalFile, offset: int, chunk_size: int, sink: Sink, digest: Digest
    ) -> int:
        """Send ``local`` from ``offset`` into ``sink``, paced, hashed, abortable;
        return the number of bytes sent. Each chunk is hashed on a second thread while
        it is sent (hashlib lets go of the GIL on large buffers): the local checksum
        costs no time on the way, only CPU the second core has."""
        sent = 0
        with local_io("read the local file", local.path):
            source = local.path.open("rb")
        with source, ThreadPoolExecutor(1, thread_name_prefix="csu-hash") as hashing:
            source.seek(offset)
            hashed: Future[None] | None = None
            try:
                while chunk := _read(source, chunk_size, local):
                    self._pace(len(chunk))
                    if hashed is not None:
                        hashed.result()  # in order: one chunk at a time
                    hashed = hashing.submit(digest.update, chunk)
                    sink.write(chunk)
                    sent += len(chunk)
                    self._sent(len(chunk))
                    self.poll()
            finally:
                if hashed is not None:
                    hashed.result()
        return sent


def _read(source: BinaryIO, size: int, local: LocalFile) -> bytes:
    """Read the next chunk of a local file (a LocalFileError naming it on failure)."""
    with local_io("read the local file", local.path):
        return source.read(size)


def _hash_prefix(local: LocalFile, length: int, digest: Digest, poll: Callable[[], None]) -> None:
    """Feed the first ``length`` bytes of ``local`` into ``digest`` (a resumed prefix),
    polling for a stop between chunks."""
    with local_io("read the local file", local.path), local.path.open("rb") as handle:
        remaining = length
        while remaining and (chunk := handle.read(min(HASH_CHUNK_BYTES, remaining))):
            digest.update(chunk)
            remaining -= len(chunk)
            poll()


def ancestors(folders: set[str], top: str) -> list[str]:
    """Return ``folders`` and their parents below ``top``, parents first."""
    found: set[str] = set()
    for folder in folders:
        while folder not in found and folder not in (top, "", "/", "."):
            found.add(folder)
            folder = posixpath.dirname(folder)
    return sorted(found, key=lambda path: (path.count("/"), path))
