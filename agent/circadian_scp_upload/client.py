"""``DailyTransferClient``: upload every finished day of one source folder.

Per day: screen local and remote, set the ``.do-not-touch`` markers, upload what is
missing or different, verify every checksum, remove local files only when asked and
only those whose remote copy is verified, then remove the markers (also on error and
abort). The order is what makes a crash at any moment safe: nothing local goes before
the remote copy is renamed into place, made durable and checksummed.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import posixpath
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .callbacks import UploadClientCallbacks
from .connection import RemoteConnection, SmallFile
from .errors import (
    CircadianError,
    ConfigError,
    PermanentError,
    TransientError,
    UploadAborted,
)
from .local import MARKER_NAME, DayUnit, LocalFile, Variant, find_days, sha256_file
from .log import DayLog
from .markers import SourceLock, marker_text, remove_local_marker, set_local_marker
from .readiness import DEFAULT_GRACE_PERIOD, Clock, is_ready, resolve_timezone, system_clock
from .transfer import final_of_partial, is_partial_name, partial_path, upload_file
from .verify import RemoteHasher

DEFAULT_PROGRESS_SECONDS = 30.0
# Files up to this size go in pipelined batches (whole, a few round trips per batch);
# larger ones one by one, streamed and resumable from their last byte.
SMALL_FILE_BYTES = 256 * 1024
BATCH_FILES = 4096
BATCH_BYTES = 128 * 1024 * 1024
VARIANTS = ("directories", "files")
DayStatus = Literal["uploaded", "failed", "aborted"]


@dataclass
class DayResult:
    """What happened to one day."""

    date: datetime.date
    status: DayStatus
    files: int = 0
    uploaded: int = 0
    bytes_sent: int = 0
    removed: int = 0
    message: str = ""


@dataclass
class RunReport:
    """What one ``run()`` did: a result per day it worked on."""

    days: list[DayResult] = field(default_factory=list)
    aborted: bool = False

    @property
    def failed(self) -> list[DayResult]:
        """Return the days that failed."""
        return [d for d in self.days if d.status == "failed"]


class Progress:
    """Logs ``40.0 % (3/5) uploaded`` at the start, every ``interval`` seconds, and at the end."""

    def __init__(self, log: DayLog, files: int, total_bytes: int, interval: float) -> None:
        self.log, self.files, self.total_bytes, self.interval = log, files, total_bytes, interval
        self.done_bytes = 0
        self.current = 0
        self._last = 0.0

    def start_file(self, index: int) -> None:
        self.current = index
        self.maybe_log(force=index == 1)

    def add(self, count: int) -> None:
        self.done_bytes += count
        self.maybe_log()

    def maybe_log(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last >= self.interval:
            self._last = now
            percent = 100.0 * self.done_bytes / self.total_bytes if self.total_bytes else 0.0
            self.log.info(f"{percent:.1f} % ({self.current}/{self.files}) uploaded")

    def finish(self) -> None:
        self.log.info(f"100.0 % ({self.files}/{self.files}) uploaded")


@dataclass
class _DayUpload:
    """What the uploads of one day share: where, logs, checksums, progress."""

    remote_root: str
    log: DayLog
    result: DayResult
    local_sums: dict[str, str]
    progress: Progress
    server_sums: dict[str, str] = field(default_factory=dict)
    done: int = 0

    def next_file(self, should_abort: Callable[[], bool]) -> None:
        """Stop if asked to; else note that work starts on the next file."""
        if should_abort():
            raise UploadAborted("upload aborted on request")
        self.progress.start_file(self.done + 1)


class DailyTransferClient:
    """Uploads the finished days of ``src_path`` to ``dst_path`` over ``remote_connection``."""

    def __init__(
        self,
        remote_connection: RemoteConnection,
        src_path: str | Path,
        dst_path: str,
        remove_files_after_upload: bool,
        variant: Variant = "directories",
        callbacks: UploadClientCallbacks | None = None,
        *,
        grace_period: datetime.timedelta = DEFAULT_GRACE_PERIOD,
        timezone: str | datetime.tzinfo | None = None,
        clock: Clock = system_clock,
        progress_interval: float = DEFAULT_PROGRESS_SECONDS,
    ) -> None:
        if variant not in VARIANTS:
            raise ConfigError(f"unknown variant {variant!r}: use 'directories' or 'files'")
        self.connection = remote_connection
        self.src_path = Path(src_path).expanduser()
        self.dst_path = _normalize_remote(dst_path)
        self.remove_files_after_upload = bool(remove_files_after_upload)
        self.variant: Variant = variant
        self.callbacks = callbacks if callbacks is not None else UploadClientCallbacks()
        self.grace_period = grace_period
        self.timezone = resolve_timezone(timezone)
        self.clock = clock
        self.progress_interval = progress_interval
        self.hasher = RemoteHasher(remote_connection)
        self._log = DayLog(self.callbacks, None)

    def ready_days(self) -> list[DayUnit]:
        """Return the days of the source folder that are over plus the grace period."""
        now = self.clock()
        days = find_days(
            self.src_path,
            self.variant,
            self.callbacks.dated_pattern,
            self._ambiguous,
            self._misfit,
        )
        return [d for d in days if is_ready(d.date, now, self.grace_period, self.timezone)]

    def run(self) -> RunReport:
        """Upload every ready day, oldest first; return what happened.

        A day that fails permanently is reported through ``log_error`` and the next day
        is tried. Link faults (``TransientError``) end the run and propagate, after the
        markers were released, so the caller can retry; an abort returns early.
        """
        report = RunReport()
        with SourceLock(self.src_path):
            for unit in self.ready_days():
                if self.callbacks.should_abort_upload():
                    report.aborted = True
                    break
                result = self._upload_day_reporting(unit)
                report.days.append(result)
                if result.status == "aborted":
                    report.aborted = True
                    break
        return report

    # -- one day -------------------------------------------------------------------

    def _upload_day_reporting(self, unit: DayUnit) -> DayResult:
        log = DayLog(self.callbacks, unit.date)
        result = DayResult(unit.date, "failed")
        try:
            self._upload_day(unit, log, result)
        except UploadAborted:
            log.info("upload aborted on request; the next run resumes where it stopped")
            result.status = "aborted"
        except PermanentError as error:
            log.error(f"failed: {error}")
            result.message = str(error)
        return result

    def _upload_day(self, unit: DayUnit, log: DayLog, result: DayResult) -> None:
        files = unit.list_files()
        result.files = len(files)
        for name in unit.skipped:
            log.error(
                f"skipping {name!r}: not a regular file "
                "(links and special files are never uploaded)"
            )
        self.connection.ensure_connected()
        remote_root = unit.remote_root(self.dst_path)
        local_root = unit.local_root()
        if not files:
            self._finish_empty_day(unit, remote_root, log, result)
            return
        set_local_marker(local_root, unit.date)
        try:
            self.connection.makedirs(remote_root)
            self.connection.write_text(
                posixpath.join(remote_root, MARKER_NAME), marker_text(unit.date)
            )
            verified = self._sync(unit, files, remote_root, log, result)
            if self.remove_files_after_upload:
                result.removed = self._remove_local(unit, verified, log)
        finally:
            self._release_markers(local_root, remote_root, log)
        if self.remove_files_after_upload and unit.variant == "directories":
            _remove_empty_tree(local_root)
        result.status = "uploaded" if len(verified) == len(files) else "failed"
        log.info(
            "done" if result.status == "uploaded" else "done, with files left to upload next run"
        )

    def _sync(
        self,
        unit: DayUnit,
        files: list[LocalFile],
        remote_root: str,
        log: DayLog,
        result: DayResult,
    ) -> list[LocalFile]:
        """Upload what the server lacks; return the files whose remote copy is verified."""
        remote_sizes = self.connection.list_files(
            remote_root, recursive=unit.variant == "directories"
        )
        local_sums: dict[str, str] = {}
        candidates = [f for f in files if remote_sizes.get(f.relpath) == f.size]
        for local in candidates:
            local_sums[local.relpath] = sha256_file(local.path)
        remote_sums = self._remote_sums(remote_root, candidates, log)
        synced = {
            f.relpath for f in candidates if remote_sums.get(f.relpath) == local_sums[f.relpath]
        }
        unsynced = [f for f in files if f.relpath not in synced]
        log.info(f"found {len(synced)} synced files and {len(unsynced)} unsynced files")
        if unsynced:
            server_sums = self._upload_files(unit, unsynced, remote_root, local_sums, log, result)
            # Large files were hashed on the server before their rename; the rest are
            # hashed now, in one command for the day.
            rest = [f for f in unsynced if f.relpath not in server_sums]
            after = {**server_sums, **self._remote_sums(remote_root, rest, log)}
            synced |= {f.relpath for f in unsynced if after.get(f.relpath) == local_sums[f.relpath]}
        self._remove_partials(unit, files, remote_root, remote_sizes)
        verified = [f for f in files if f.relpath in synced and f.unchanged()]
        verified_names = {f.relpath for f in verified}
        bad = [f.relpath for f in files if f.relpath not in verified_names]
        if bad:
            log.error(
                f"{len(bad)} of {len(files)} files could not be verified (changed while "
                f"uploading, or the server's copy differs), e.g. {bad[0]!r}: they stay "
                "local and are uploaded again on the next run"
            )
        else:
            log.info(f"checksums of all {len(files)} files match")
        return verified

    def _upload_files(
        self,
        unit: DayUnit,
        unsynced: list[LocalFile],
        remote_root: str,
        local_sums: dict[str, str],
        log: DayLog,
        result: DayResult,
    ) -> dict[str, str]:
        """Upload the unsynced files; fill ``local_sums`` with the checksums of the bytes
        sent and return the server's checksums taken before a rename (large files)."""
        self.connection.makedirs_many(
            [posixpath.join(remote_root, folder) for folder in sorted(unit.folders)]
        )
        day = _DayUpload(
            remote_root,
            log,
            result,
            local_sums,
            Progress(log, len(unsynced), sum(f.size for f in unsynced), self.progress_interval),
        )
        for batch in _batches([f for f in unsynced if f.size <= SMALL_FILE_BYTES]):
            self._upload_batch(batch, day)
        for local in (f for f in unsynced if f.size > SMALL_FILE_BYTES):
            self._upload_large(local, day)
        day.progress.finish()
        return day.server_sums

    def _upload_batch(self, batch: list[LocalFile], day: _DayUpload) -> None:
        """Upload a batch of small files in a few round trips."""
        day.next_file(self.callbacks.should_abort_upload)
        items = []
        for local in batch:
            final = posixpath.join(day.remote_root, local.relpath)
            self.connection.makedirs(posixpath.dirname(final))
            items.append(SmallFile(local.path, partial_path(final), final))

        def read(index: int, content: bytes) -> None:
            day.local_sums[batch[index].relpath] = hashlib.sha256(content).hexdigest()
            day.result.bytes_sent += len(content)
            day.progress.add(len(content))

        self.connection.upload_batch(
            items, read, self.remove_files_after_upload, self.callbacks.should_abort_upload
        )
        day.result.uploaded += len(batch)
        day.done += len(batch)

    def _upload_large(self, local: LocalFile, day: _DayUpload) -> None:
        """Upload one large file, resumable, checked on the server where it has a shell."""
        day.next_file(self.callbacks.should_abort_upload)
        final = posixpath.join(day.remote_root, local.relpath)
        self.connection.makedirs(posixpath.dirname(final))
        before = day.progress.done_bytes

        def resuming(offset: int) -> None:
            day.log.info(f"resuming {local.relpath!r} from byte {offset}")

        def remote_checksum(path: str, size: int) -> str | None:
            return self.hasher.file_checksum(path, size, day.log.info)

        shell = self.hasher.detect(day.log.info) == "shell"
        outcome = upload_file(
            self.connection,
            local,
            final,
            day.progress.add,
            self.callbacks.should_abort_upload,
            on_resume=resuming,
            remote_checksum=remote_checksum if shell else None,
            durable=self.remove_files_after_upload,
        )
        day.local_sums[local.relpath] = outcome.sha256
        if outcome.remote_sha256 is not None:
            day.server_sums[local.relpath] = outcome.remote_sha256
        day.result.uploaded += 1
        day.result.bytes_sent += day.progress.done_bytes - before - outcome.resumed_from
        day.done += 1

    def _remote_sums(self, remote_root: str, files: list[LocalFile], log: DayLog) -> dict[str, str]:
        return self.hasher.checksums(
            remote_root, [f.relpath for f in files], sum(f.size for f in files), log.info
        )

    def _remove_partials(
        self, unit: DayUnit, files: list[LocalFile], remote_root: str, remote_sizes: dict[str, int]
    ) -> None:
        """Remove temporary files of this day that an earlier, interrupted run left."""
        ours = {f.relpath for f in files}
        for relpath in remote_sizes:
            if relpath in ours or not is_partial_name(relpath):
                continue
            if unit.variant == "directories" or final_of_partial(relpath) in unit.names:
                self.connection.remove(posixpath.join(remote_root, relpath))

    def _remove_local(self, unit: DayUnit, verified: list[LocalFile], log: DayLog) -> int:
        removed = 0
        for local in verified:
            try:
                local.path.unlink()
                removed += 1
            except FileNotFoundError:
                pass
            except OSError as error:
                log.error(f"could not remove {local.relpath!r} after upload: {error.strerror}")
        log.info(f"removed {removed} local files (their server copies are verified)")
        return removed

    def _release_markers(self, local_root: Path, remote_root: str, log: DayLog) -> None:
        try:
            self.connection.remove(posixpath.join(remote_root, MARKER_NAME))
        except TransientError:
            log.info("the remote marker stays until the link is back (the retry removes it)")
        except CircadianError as error:
            log.error(f"could not remove the remote marker (the next run replaces it): {error}")
        remove_local_marker(local_root)

    def _finish_empty_day(
        self, unit: DayUnit, remote_root: str, log: DayLog, result: DayResult
    ) -> None:
        log.info("found 0 synced files and 0 unsynced files")
        if unit.variant == "directories":
            self.connection.makedirs(remote_root)
            self.connection.makedirs_many(
                [posixpath.join(remote_root, folder) for folder in sorted(unit.folders)]
            )
            # A run killed after removing the files can leave its markers behind: the
            # day is done, so they go (downstream processing must not wait forever).
            self._release_markers(unit.local_root(), remote_root, log)
            if self.remove_files_after_upload and not unit.skipped:
                _remove_empty_tree(unit.local_root())
        result.status = "uploaded"
        log.info("done")

    def _misfit(self, name: str) -> None:
        kind = "a link" if (self.src_path / name).is_symlink() else "not a folder"
        self._log.error(
            f"skipping {name!r}: it is dated but {kind}; the {self.variant!r} variant "
            "uploads only real day folders (directories) or regular files (files)"
        )

    def _ambiguous(self, name: str, dates: tuple[datetime.date, ...]) -> None:
        listed = ", ".join(d.isoformat() for d in dates)
        self._log.error(
            f"skipping {name!r}: it matches the pattern {self.callbacks.dated_regex!r} with "
            f"several dates ({listed}); rename it or make the pattern stricter"
        )


def _batches(files: list[LocalFile]) -> list[list[LocalFile]]:
    """Group small files into batches bounded in count and bytes (memory stays bounded)."""
    batches: list[list[LocalFile]] = []
    size = 0
    for local in files:
        if not batches or len(batches[-1]) >= BATCH_FILES or size + local.size > BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(local)
        size += local.size
    return batches


def _normalize_remote(dst_path: str) -> str:
    """Given a remote folder as users write it, return it as SFTP expects it."""
    text = str(dst_path).strip()
    if not text:
        raise ConfigError(
            "the remote folder (dst_path / CSU_DST) is empty: give a path on the server"
        )
    if text == "~":
        return "."
    if text.startswith("~/"):
        text = text[2:] or "."
    return text.rstrip("/") or "/"


def _remove_empty_tree(root: Path) -> None:
    """Remove empty folders below and including ``root``; anything non-empty stays."""
    if not root.is_dir() or root.is_symlink():
        return
    for folder, _dirs, _files in sorted(os.walk(root, topdown=False), key=lambda w: -len(w[0])):
        with contextlib.suppress(OSError):
            os.rmdir(folder)
