"""One day's upload: compare both sides, and only where data must move mark, upload,
verify and release; remove local files only on proof.

The order is what makes a crash at any moment safe: nothing local goes before the
remote copy is renamed into place, made durable and checksummed, and the
``.do-not-touch`` markers are released on success, error and abort alike.

What a pass costs grows with new data, not with history: a file whose server copy has
the local size and modification time counts as synced without reading it (rsync's
quick check; ``checksum`` turns it off), and a day with nothing to do touches nothing,
on either side: no marker, no folder, no modification time.
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

from loguru import logger

from .errors import CircadianError, LocalFileError, TransientError
from .local import MARKER_NAME, DayUnit, LocalFile, sha256_file
from .log import DayLog
from .manifest import manifest_name, manifest_text
from .markers import marker_text, remove_local_marker, set_local_marker
from .pacing import AbortPoller, Pacer
from .progress import Progress
from .remote.api import Listing, Remote
from .transfer import (
    SMALL_FILE_BYTES,
    Uploader,
    batches,
    final_of_partial,
    is_partial_name,
    partial_path,
)
from .verify import RemoteHasher

DayStatus = Literal["uploaded", "failed", "aborted"]
UNREADABLE_SHOWN = 5  # local read errors logged one by one per day; the count says the rest


@dataclass
class DayResult:
    """What happened to one day. ``idle``: it was on the server already, unchanged, and
    nothing was done (nothing touched, nothing logged but at debug level)."""

    date: datetime.date
    status: DayStatus
    files: int = 0
    uploaded: int = 0
    bytes_sent: int = 0
    removed: int = 0
    message: str = ""
    idle: bool = False


@dataclass
class DayPlan:
    """What every day of one source shares: where to, what to do, and the tools.

    ``checksum``: compare every file by checksum, never by size and time (rsync -c).
    ``manifest``: keep a ``SHA256SUMS`` of each verified day on the server.
    ``local_markers``: write ``.do-not-touch`` locally too (off on a read-only source).
    """

    remote: Remote
    dst_path: str
    remove: bool
    pacer: Pacer
    poll: AbortPoller
    progress_interval: float
    checksum: bool = False
    manifest: bool = False
    local_markers: bool = True
    hasher: RemoteHasher = field(init=False)
    _shared_listing: Listing | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.hasher = RemoteHasher(self.remote, self.poll)

    def listing(self, unit: DayUnit) -> Listing:
        """Return the remote side of a day. The ``files`` variant's days share one
        folder, listed once per run."""
        root = unit.remote_root(self.dst_path)
        if unit.variant == "directories":
            return self.remote.list_files(root, recursive=True)
        if self._shared_listing is None:
            self._shared_listing = self.remote.list_files(root, recursive=False)
        return self._shared_listing


@dataclass
class Comparison:
    """Local files against the server's: what is synced, what is proven, what must go."""

    quick: set[str]  # same size and modification time on the server: synced, not read
    proven: dict[str, str]  # relpath -> SHA-256 that matched on both sides in this pass
    unsynced: list[LocalFile]  # missing or different on the server
    to_prove: list[LocalFile]  # same size, but another time (or no quick check): read both

    @property
    def synced(self) -> set[str]:
        """Every relpath that is on the server unchanged."""
        return self.quick | set(self.proven)


def compare(files: list[LocalFile], listing: Listing, full: bool) -> Comparison:
    """Given local files and the server's listing, sort the files without reading any:
    ``full`` (checksum mode, or removal ahead) leaves every present file to be proven."""
    quick: set[str] = set()
    unsynced: list[LocalFile] = []
    to_prove: list[LocalFile] = []
    for local in files:
        entry = listing.files.get(local.relpath)
        if entry is None or entry.size != local.size:
            unsynced.append(local)
        elif full or entry.mtime != local.mtime:
            to_prove.append(local)
        else:
            quick.add(local.relpath)
    return Comparison(quick, {}, unsynced, to_prove)


class DayUpload:
    """Uploads one day (``run``), filling in its ``DayResult``."""

    def __init__(self, plan: DayPlan, unit: DayUnit, log: DayLog) -> None:
        self.plan, self.unit, self.log = plan, unit, log
        self.remote = plan.remote
        self.result = DayResult(unit.date, "failed")
        self.remote_root = unit.remote_root(plan.dst_path)
        self.local_root = unit.local_root()
        self.unreadable: dict[str, CircadianError] = {}  # local files that failed to read

    def run(self) -> None:
        """Upload the day; PermanentError and UploadAborted propagate after the markers
        were released, TransientError too (the retry resumes)."""
        files = self._screen()
        self.remote.ensure_connected()
        listing = self.plan.listing(self.unit)
        full = self.plan.checksum or self.plan.remove or self._manifest_missing(listing)
        compared = compare(files, listing, full)
        folders = self._missing_folders(listing)
        leftovers = self._leftovers(files, listing)
        stale_local = self.plan.local_markers and (self.local_root / MARKER_NAME).exists()
        if not (
            compared.unsynced or compared.to_prove or folders or leftovers or stale_local
        ) and not (self.plan.remove and self.unit.variant == "directories"):
            logger.debug("{}: {} files on the server, unchanged", self.unit.date, len(files))
            self.result.status, self.result.idle = "uploaded", True
            return
        self._prove(compared, compared.to_prove)
        compared.unsynced += [f for f in compared.to_prove if f.relpath not in compared.proven]
        synced = compared.synced
        self.log.info(
            f"found {len(synced)} synced files and {len(compared.unsynced)} unsynced files"
        )
        receiving = bool(compared.unsynced or folders)
        if receiving:
            self._set_markers()
        try:
            self.remote.make_folders(folders)
            if compared.unsynced:
                self._upload_and_verify(compared)
            self._retime([f for f in compared.to_prove if f.relpath in compared.proven], listing)
            self._remove_leftovers(leftovers, listing)
            synced = compared.synced
            verified = [f for f in files if f.relpath in synced and f.unchanged()]
            if self.plan.manifest and files and len(verified) == len(files):
                self._write_manifest(files, compared, listing, changed=receiving)
        finally:
            if receiving or MARKER_NAME in leftovers or stale_local:
                self._release_markers()
        self._report(files, verified, compared)
        if self.plan.remove:
            proven = [f for f in verified if f.relpath in compared.proven]
            self.result.removed = self._remove_local(proven)
            if self.unit.variant == "directories" and not self.unit.skipped:
                remove_empty_tree(self.local_root)

    # -- comparing ------------------------------------------------------------------

    def _screen(self) -> list[LocalFile]:
        files = self.unit.list_files()
        self.result.files = len(files)
        for name in self.unit.skipped:
            self.log.error(
                f"skipping {name!r}: not a regular file "
                "(links and special files are never uploaded)"
            )
        return files

    def _prove(self, compared: Comparison, files: list[LocalFile]) -> None:
        """Checksum ``files`` on both sides; record the equal ones as proven."""
        if not files:
            return
        local: dict[str, str] = {}
        for item in files:
            try:
                local[item.relpath] = sha256_file(item.path, self.plan.poll)
            except LocalFileError as error:
                self.unreadable[item.relpath] = error
        remote = self._remote_sums([f for f in files if f.relpath in local])
        compared.proven.update({p: s for p, s in local.items() if remote.get(p) == s})

    def _missing_folders(self, listing: Listing) -> list[str]:
        """Return the remote folders of the day that do not exist yet (parents first)."""
        if self.unit.variant != "directories":
            return [] if listing.exists else [self.remote_root]
        wanted = [] if listing.exists else [self.remote_root]
        wanted += [
            posixpath.join(self.remote_root, folder)
            for folder in sorted(self.unit.folders)
            if folder not in listing.folders
        ]
        return wanted

    def _leftovers(self, files: list[LocalFile], listing: Listing) -> list[str]:
        """Return what an interrupted run left on the server: its temporary files and a
        marker of this day."""
        ours = {f.relpath for f in files}
        found = []
        for relpath in listing.files:
            if relpath in ours or not is_partial_name(relpath):
                continue
            if self.unit.variant == "directories" or final_of_partial(relpath) in self.unit.names:
                found.append(relpath)
        if MARKER_NAME in listing.files:
            found.append(MARKER_NAME)
        return found

    def _manifest_missing(self, listing: Listing) -> bool:
        return self.plan.manifest and manifest_name(self.unit) not in listing.files

    # -- moving data ----------------------------------------------------------------

    def _upload_and_verify(self, compared: Comparison) -> None:
        """Upload the unsynced files, then prove each by checksum."""
        unsynced = [f for f in compared.unsynced if f.relpath not in self.unreadable]
        local_sums, server_sums = self._upload(unsynced)
        # Large files were hashed on the server before their rename; the rest are
        # hashed now, in one command for the day.
        rest = [f for f in unsynced if f.relpath not in server_sums]
        after = {**server_sums, **self._remote_sums(rest)}
        compared.proven.update({p: s for p, s in local_sums.items() if after.get(p) == s})

    def _upload(self, unsynced: list[LocalFile]) -> tuple[dict[str, str], dict[str, str]]:
        """Upload the unsynced files; return the checksums of the bytes sent, and the
        server's checksums taken before a rename (large files)."""
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
        local_sums: dict[str, str] = {}
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
            try:
                outcome = uploader.put_large(local, final, self._resuming(local))
            except LocalFileError as error:
                self.unreadable[local.relpath] = error
                continue
            self.result.bytes_sent += progress.done_bytes - before - outcome.resumed_from
            local_sums[local.relpath] = outcome.sha256
            if outcome.remote_sha256 is not None:
                server_sums[local.relpath] = outcome.remote_sha256
            self.result.uploaded += 1
        progress.finish()
        self.unreadable.update(uploader.skipped)
        return local_sums, server_sums

    def _resuming(self, local: LocalFile) -> Callable[[int], None]:
        def say(offset: int) -> None:
            self.log.info(f"resuming {local.relpath!r} from byte {offset}")

        return say

    def _remote_sums(self, files: list[LocalFile]) -> dict[str, str]:
        return self.plan.hasher.checksums(
            self.remote_root, [f.relpath for f in files], sum(f.size for f in files)
        )

    def _remove_leftovers(self, leftovers: list[str], listing: Listing) -> None:
        """Remove what an interrupted run left (the shared listing forgets it too)."""
        for relpath in leftovers:
            self.remote.remove(posixpath.join(self.remote_root, relpath))
            listing.files.pop(relpath, None)

    def _retime(self, files: list[LocalFile], listing: Listing) -> None:
        """Give server copies proven equal the local modification time, so the next pass
        finds them by size and time (a copy from an older version, or a touched file)."""
        times = [
            (posixpath.join(self.remote_root, f.relpath), f.mtime)
            for f in files
            if listing.files[f.relpath].mtime != f.mtime
        ]
        try:
            self.remote.set_mtimes(times)
        except CircadianError as error:
            if isinstance(error, TransientError):
                raise
            logger.warning(
                "{} does not let modification times be set ({}): unchanged files are "
                "compared by checksum on every pass",
                self.remote.where,
                error,
            )

    def _write_manifest(
        self, files: list[LocalFile], compared: Comparison, listing: Listing, changed: bool
    ) -> None:
        """Write the day's SHA256SUMS (last, atomically) when it is missing or the day
        changed; every entry is a checksum proven on both sides in this pass."""
        name = manifest_name(self.unit)
        if not changed and name in listing.files:
            return
        if any(f.relpath == name for f in files):
            self.log.error(f"not writing {name!r}: a data file of that name is in the day")
            return
        self._prove(compared, [f for f in files if f.relpath not in compared.proven])
        if len(compared.proven) < len(files):
            return
        path = posixpath.join(self.remote_root, name)
        sums = {f.relpath: compared.proven[f.relpath] for f in files}
        self.remote.write_bytes(partial_path(path), manifest_text(sums))
        self.remote.rename_over(partial_path(path), path)

    # -- markers, removal, report ---------------------------------------------------

    def _set_markers(self) -> None:
        if self.plan.local_markers:
            set_local_marker(self.local_root, self.unit.date)
        try:
            self.remote.make_folders([self.remote_root])
            self.remote.write_bytes(
                posixpath.join(self.remote_root, MARKER_NAME),
                marker_text(self.unit.date).encode(),
            )
        except BaseException:
            self._release_markers()
            raise

    def _release_markers(self) -> None:
        try:
            self.remote.remove(posixpath.join(self.remote_root, MARKER_NAME))
        except TransientError:
            self.log.info("the remote marker stays until the link is back (the retry removes it)")
        except CircadianError as error:
            self.log.error(
                f"could not remove the remote marker (the next run replaces it): {error}"
            )
        if self.plan.local_markers:
            remove_local_marker(self.local_root)

    def _report(
        self, files: list[LocalFile], verified: list[LocalFile], compared: Comparison
    ) -> None:
        verified_names = {f.relpath for f in verified}
        bad = [f.relpath for f in files if f.relpath not in verified_names]
        for error in list(self.unreadable.values())[:UNREADABLE_SHOWN]:
            self.log.error(str(error))
        if not files:
            pass
        elif bad:
            self.log.error(
                f"{len(bad)} of {len(files)} files could not be verified (changed while "
                f"uploading, or the server's copy differs), e.g. {bad[0]!r}: they stay "
                "local and are uploaded again on the next run"
            )
        elif len(compared.proven) == len(files):
            self.log.info(f"checksums of all {len(files)} files match")
        else:
            self.log.info(
                f"checksums of {len(compared.proven)} files match; {len(compared.quick)} are "
                "unchanged on the server since they were verified (size and time)"
            )
        self.result.status = "uploaded" if not bad else "failed"
        self.log.info("done" if not bad else "done, with files left to upload next run")

    def _remove_local(self, proven: list[LocalFile]) -> int:
        removed = 0
        for local in proven:
            try:
                local.path.unlink()
                removed += 1
            except FileNotFoundError:
                pass
            except OSError as error:
                self.log.error(f"could not remove {local.relpath!r} after upload: {error.strerror}")
        if proven:
            self.log.info(f"removed {removed} local files (their server copies are verified)")
        return removed


def remove_empty_tree(root: Path) -> None:
    """Remove empty folders below and including ``root``; anything non-empty stays."""
    if not root.is_dir() or root.is_symlink():
        return
    for folder, _dirs, _files in sorted(os.walk(root, topdown=False), key=lambda w: -len(w[0])):
        with contextlib.suppress(OSError):
            os.rmdir(folder)
