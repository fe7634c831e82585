"""One day's upload: screen both sides, mark, upload, verify, remove, release.

The order is what makes a crash at any moment safe: nothing local goes before the
remote copy is renamed into place, made durable and checksummed, and the
``.do-not-touch`` markers are released on success, error and abort alike.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .errors import CircadianError, TransientError
from .local import MARKER_NAME, DayUnit, LocalFile, sha256_file
from .log import DayLog
from .markers import marker_text, remove_local_marker, set_local_marker
from .pacing import AbortPoller, Pacer
from .progress import Progress
from .remote.api import Remote, RemoteEntry
from .transfer import SMALL_FILE_BYTES, Uploader, batches, final_of_partial, is_partial_name
from .verify import RemoteHasher

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
class DayPlan:
    """What every day of one source shares: where to, what to do, and the tools."""

    remote: Remote
    dst_path: str
    remove: bool
    pacer: Pacer
    poll: AbortPoller
    progress_interval: float
    hasher: RemoteHasher = field(init=False)

    def __post_init__(self) -> None:
        self.hasher = RemoteHasher(self.remote)


class DayUpload:
    """Uploads one day (``run``), filling in its ``DayResult``."""

    def __init__(self, plan: DayPlan, unit: DayUnit, log: DayLog) -> None:
        self.plan, self.unit, self.log = plan, unit, log
        self.remote = plan.remote
        self.result = DayResult(unit.date, "failed")
        self.remote_root = unit.remote_root(plan.dst_path)
        self.local_root = unit.local_root()

    def run(self) -> None:
        """Upload the day; PermanentError and UploadAborted propagate after the markers
        were released, TransientError too (the retry resumes)."""
        files = self.unit.list_files()
        self.result.files = len(files)
        for name in self.unit.skipped:
            self.log.error(
                f"skipping {name!r}: not a regular file "
                "(links and special files are never uploaded)"
            )
        self.remote.ensure_connected()
        if not files:
            self._finish_empty_day()
            return
        set_local_marker(self.local_root, self.unit.date)
        try:
            self.remote.make_folders([self.remote_root])
            self.remote.write_text(
                posixpath.join(self.remote_root, MARKER_NAME), marker_text(self.unit.date)
            )
            verified = self._sync(files)
            if self.plan.remove:
                self.result.removed = self._remove_local(verified)
        finally:
            self._release_markers()
        if self.plan.remove and self.unit.variant == "directories":
            remove_empty_tree(self.local_root)
        self.result.status = "uploaded" if len(verified) == len(files) else "failed"
        self.log.info(
            "done"
            if self.result.status == "uploaded"
            else "done, with files left to upload next run"
        )

    # -- sync and verify -------------------------------------------------------------

    def _sync(self, files: list[LocalFile]) -> list[LocalFile]:
        """Upload what the server lacks; return the files whose remote copy is verified."""
        listing = self.remote.list_files(
            self.remote_root, recursive=self.unit.variant == "directories"
        )
        remote_files = listing.files
        local_sums: dict[str, str] = {}
        candidates = [
            f for f in files if f.relpath in remote_files and remote_files[f.relpath].size == f.size
        ]
        for local in candidates:
            local_sums[local.relpath] = sha256_file(local.path)
        remote_sums = self._remote_sums(candidates)
        synced = {
            f.relpath for f in candidates if remote_sums.get(f.relpath) == local_sums[f.relpath]
        }
        unsynced = [f for f in files if f.relpath not in synced]
        self.log.info(f"found {len(synced)} synced files and {len(unsynced)} unsynced files")
        if unsynced:
            server_sums = self._upload(unsynced, local_sums, listing.folders)
            # Large files were hashed on the server before their rename; the rest are
            # hashed now, in one command for the day.
            rest = [f for f in unsynced if f.relpath not in server_sums]
            after = {**server_sums, **self._remote_sums(rest)}
            synced |= {f.relpath for f in unsynced if after.get(f.relpath) == local_sums[f.relpath]}
        self._remove_partials(files, remote_files)
        verified = [f for f in files if f.relpath in synced and f.unchanged()]
        verified_names = {f.relpath for f in verified}
        bad = [f.relpath for f in files if f.relpath not in verified_names]
        if bad:
            self.log.error(
                f"{len(bad)} of {len(files)} files could not be verified (changed while "
                f"uploading, or the server's copy differs), e.g. {bad[0]!r}: they stay "
                "local and are uploaded again on the next run"
            )
        else:
            self.log.info(f"checksums of all {len(files)} files match")
        return verified

    def _upload(
        self, unsynced: list[LocalFile], local_sums: dict[str, str], existing: set[str]
    ) -> dict[str, str]:
        """Upload the unsynced files; fill ``local_sums`` with the checksums of the bytes
        sent and return the server's checksums taken before a rename (large files)."""
        self.remote.make_folders(
            [
                posixpath.join(self.remote_root, folder)
                for folder in sorted(self.unit.folders)
                if folder not in existing
            ]
        )
        progress = Progress(
            self.log.info,
            len(unsynced),
            sum(f.size for f in unsynced),
            self.plan.progress_interval,
        )
        traits = self.remote.traits()
        uploader = Uploader(
            self.remote,
            self.plan.pacer,
            self.plan.poll,
            stream=traits.shell,
            server_checksum=self.plan.hasher.file_checksum if traits.stream_hasher else None,
            durable=self.plan.remove,
            on_bytes=progress.add,
        )
        server_sums: dict[str, str] = {}
        for batch in batches([f for f in unsynced if f.size <= SMALL_FILE_BYTES]):
            self.plan.poll.check()
            progress.start_file(len(batch))
            pairs = [(f, posixpath.join(self.remote_root, f.relpath)) for f in batch]
            before = progress.done_bytes
            try:
                local_sums.update(uploader.put_small(pairs))
            finally:
                self.result.bytes_sent += progress.done_bytes - before
            self.result.uploaded += len(batch)
        for local in (f for f in unsynced if f.size > SMALL_FILE_BYTES):
            self.plan.poll.check()
            progress.start_file()
            final = posixpath.join(self.remote_root, local.relpath)
            before = progress.done_bytes
            outcome = uploader.put_large(local, final, self._resuming(local))
            self.result.bytes_sent += progress.done_bytes - before - outcome.resumed_from
            local_sums[local.relpath] = outcome.sha256
            if outcome.remote_sha256 is not None:
                server_sums[local.relpath] = outcome.remote_sha256
            self.result.uploaded += 1
        progress.finish()
        return server_sums

    def _resuming(self, local: LocalFile) -> Callable[[int], None]:
        def say(offset: int) -> None:
            self.log.info(f"resuming {local.relpath!r} from byte {offset}")

        return say

    def _remote_sums(self, files: list[LocalFile]) -> dict[str, str]:
        return self.plan.hasher.checksums(
            self.remote_root, [f.relpath for f in files], sum(f.size for f in files)
        )

    # -- cleaning up -----------------------------------------------------------------

    def _remove_partials(
        self, files: list[LocalFile], remote_files: dict[str, RemoteEntry]
    ) -> None:
        """Remove temporary files of this day that an earlier, interrupted run left."""
        ours = {f.relpath for f in files}
        for relpath in remote_files:
            if relpath in ours or not is_partial_name(relpath):
                continue
            if self.unit.variant == "directories" or final_of_partial(relpath) in self.unit.names:
                self.remote.remove(posixpath.join(self.remote_root, relpath))

    def _remove_local(self, verified: list[LocalFile]) -> int:
        removed = 0
        for local in verified:
            try:
                local.path.unlink()
                removed += 1
            except FileNotFoundError:
                pass
            except OSError as error:
                self.log.error(f"could not remove {local.relpath!r} after upload: {error.strerror}")
        self.log.info(f"removed {removed} local files (their server copies are verified)")
        return removed

    def _release_markers(self) -> None:
        try:
            self.remote.remove(posixpath.join(self.remote_root, MARKER_NAME))
        except TransientError:
            self.log.info("the remote marker stays until the link is back (the retry removes it)")
        except CircadianError as error:
            self.log.error(
                f"could not remove the remote marker (the next run replaces it): {error}"
            )
        remove_local_marker(self.local_root)

    def _finish_empty_day(self) -> None:
        self.log.info("found 0 synced files and 0 unsynced files")
        if self.unit.variant == "directories":
            self.remote.make_folders(
                [self.remote_root]
                + [posixpath.join(self.remote_root, f) for f in sorted(self.unit.folders)]
            )
            # A run killed after removing the files can leave its markers behind: the
            # day is done, so they go (downstream processing must not wait forever).
            self._release_markers()
            if self.plan.remove and not self.unit.skipped:
                remove_empty_tree(self.local_root)
        self.result.status = "uploaded"
        self.log.info("done")


def remove_empty_tree(root: Path) -> None:
    """Remove empty folders below and including ``root``; anything non-empty stays."""
    if not root.is_dir() or root.is_symlink():
        return
    for folder, _dirs, _files in sorted(os.walk(root, topdown=False), key=lambda w: -len(w[0])):
        with contextlib.suppress(OSError):
            os.rmdir(folder)
