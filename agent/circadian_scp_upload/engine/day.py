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

import datetime
import posixpath
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from loguru import logger

from ..errors import CircadianError, LocalFileError, TransientError
from ..remote.api import Listing, Remote
from ..source.days import ASIDE_PREFIX, DayUnit, LocalFile, fingerprint, sha256_file
from ..source.markers import MARKER_NAME, marker_text, remove_local_marker, set_local_marker
from ..source.removal import aside_name, recover_aside, remove_empty_tree, remove_files
from .comparison import Assessment, Comparison, ServerTimes, compare
from .daylog import DayLog
from .manifest import manifest_name, write_manifest
from .pacing import AbortPoller, Pacer
from .progress import Progress
from .replaced import (
    MANY_VERSIONS,
    REPLACED_FOLDER,
    KeptCopies,
    case_only_matches,
    colliding_names,
    pass_stamp,
    plan_aside,
)
from .transfer import Uploader, ancestors, partial_folder
from .verify import RemoteHasher

DayStatus = Literal["uploaded", "failed", "aborted", "waiting"]
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
    kept_aside: int = 0  # server copies of replaced files kept under .csu-replaced
    fingerprint: list[int] = field(default_factory=list)  # of the local files screened
    unit: DayUnit | None = field(default=None, repr=False)


FUTURE_SLACK_SECONDS = 2.0  # file times this far ahead are a clock's rounding, not the future


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
    keep_replaced: bool = True
    channels: int = 0
    quiet_period: datetime.timedelta = datetime.timedelta(0)
    wall_clock: Callable[[], float] = time.time  # the clock that stamped the files
    not_over: Callable[[DayUnit], str | None] | None = None  # a second clock's veto
    clock_unchecked: Callable[[], bool] = lambda: False  # that clock could not answer
    hasher: RemoteHasher = field(init=False)
    replaced_folder: str = field(init=False)
    times: ServerTimes = field(init=False)
    _shared_listing: Listing | None = field(default=None, init=False)
    partials: str = field(init=False)  # the folder of the temporary files
    _partials_made: bool = field(default=False, init=False)
    kept: KeptCopies = field(init=False)

    def __post_init__(self) -> None:
        self.hasher = RemoteHasher(self.remote, self.poll)
        stamp = pass_stamp(datetime.datetime.now(datetime.timezone.utc))
        self.replaced_folder = posixpath.join(self.dst_path, REPLACED_FOLDER, stamp)
        self.kept = KeptCopies(self.remote, self.dst_path)
        self.times = ServerTimes(self.remote)
        self.partials = partial_folder(self.dst_path)

    def listing(self, unit: DayUnit) -> Listing:
        """Return the remote side of a day. The ``files`` variant's days share one
        folder, listed once per run."""
        root = unit.remote_root(self.dst_path)
        if unit.variant == "directories":
            return self.remote.list_files(root, recursive=True)
        if self._shared_listing is None:
            self._shared_listing = self.remote.list_files(root, recursive=False)
        return self._shared_listing

    def make_partials(self) -> str:
        """Make the folder of the temporary files (once a run); return it."""
        if not self._partials_made:
            self.remote.make_folders([self.partials])
            self._partials_made = True
        return self.partials


class DayUpload:
    """Uploads one day (``run``), filling in its ``DayResult``."""

    def __init__(self, plan: DayPlan, unit: DayUnit, log: DayLog) -> None:
        self.plan, self.unit, self.log = plan, unit, log
        self.remote = plan.remote
        self.result = DayResult(unit.date, "failed", unit=unit)
        self.remote_root = unit.remote_root(plan.dst_path)
        self.local_root = unit.local_root()
        self.unreadable: dict[str, CircadianError] = {}  # local files that failed to read
        self.colliding: set[str] = set()  # names one case-insensitive server cannot tell apart
        self.listing: Listing | None = None  # the server's side as assess found it
        self.kept_paths: list[str] = []  # server copies kept aside by this day's uploads

    def assess(self) -> Assessment:
        """Compare both sides by listing alone (nothing is read, nothing written)."""
        files = self._screen()
        self.remote.ensure_connected()
        self.listing = listing = self.plan.listing(self.unit)
        if self._recover(files, listing):
            files = self._screen()
        full = self.plan.checksum or self.plan.remove or self._manifest_missing(listing)
        return Assessment(
            files,
            listing,
            compare(files, listing, full, self.plan.times.window),
            self._missing_folders(listing),
            [MARKER_NAME] if MARKER_NAME in listing.files else [],
            self.plan.local_markers and (self.local_root / MARKER_NAME).exists(),
            self.plan.remove and (self.unit.variant == "directories" or bool(files)),
        )

    def run(self) -> None:
        """Upload the day; PermanentError and UploadAborted propagate after the markers
        were released, TransientError too (the retry resumes)."""
        state = self.assess()
        if not state.needs_work:
            logger.debug("{}: {} files on the server, unchanged", self.unit.label, len(state.files))
            self.result.status, self.result.idle = "uploaded", True
            return
        if self._still_written(state.files):
            return
        why = self.plan.not_over(self.unit) if self.plan.not_over is not None else None
        if why is not None:
            self.log.info(f"{why}; it waits")
            self.result.status = "waiting"
            return
        if state.remove and self.plan.clock_unchecked():
            self.log.info(
                "its local files stay this time: the station's clock could not be checked "
                "against the server's, so the day may not be over"
            )
            state.remove = False
        files, compared = state.files, state.compared
        self._prove(compared, compared.to_prove)
        compared.unsynced += [f for f in compared.to_prove if f.relpath not in compared.proven]
        self.log.info(
            f"found {len(compared.synced)} synced files and {len(compared.unsynced)} unsynced files"
        )
        receiving = bool(compared.unsynced or state.folders)
        marked_remote = receiving or MARKER_NAME in state.leftovers
        marked_local = self.plan.local_markers and (receiving or state.remove or state.stale_local)
        if marked_local:
            set_local_marker(self.local_root, self.unit.date)
        verified: list[LocalFile] = []
        try:
            if receiving:
                self._mark_remote(state.listing)
            self.remote.make_folders(state.folders)
            state.listing.exists = True
            uploaded = self._upload_and_verify(compared) if compared.unsynced else []
            self.plan.times.give(self.remote_root, compared, state.listing, uploaded)
            synced = compared.synced
            verified = [f for f in files if f.relpath in synced and f.unchanged()]
            if self.plan.manifest and files and len(verified) == len(files):
                self._write_manifest(files, compared, state.listing, changed=receiving)
            bad = self._report_proof(files, verified, compared)  # the proof, then removal
            if state.remove:
                proven = [
                    f
                    for f in verified
                    if f.relpath in compared.proven and f.relpath not in self.colliding
                ]
                if self._durable(proven):
                    self.result.removed = remove_files(proven, self.log.info, self.log.error)
                else:
                    bad = [f.relpath for f in proven]  # kept: the day counts as pending
        finally:
            # last: downstream may take the day once its marker is gone
            self._release_markers(remote=marked_remote, local=marked_local, listing=state.listing)
        self.result.status = "uploaded" if not bad else "failed"
        self.log.info("done" if not bad else "done, with files left to upload next run")
        if state.remove and self.unit.variant == "directories" and not self.unit.skipped:
            remove_empty_tree(self.local_root)

    # -- comparing ------------------------------------------------------------------

    def _still_written(self, files: list[LocalFile]) -> bool:
        """Whether a file of the day changed within the quiet period, in its content or
        its metadata: then the day is not finished, whatever the clock says, and waits
        (``waiting``). A change is the later of a file's modification and change times:
        a copy that keeps the original times (``rsync -t``, ``cp -p``, unzip) looks old
        by its modification time, but the kernel stamps its change time when it is
        written, renamed or touched, and nobody can set that back. The files' times
        come from the station's own clock, and so does "now" here."""
        quiet = self.plan.quiet_period.total_seconds()
        if not quiet or not files:
            return False
        now = self.plan.wall_clock()
        newest = max(max(f.mtime_ns, f.ctime_ns) for f in files) / 1e9
        ahead = newest - now
        if ahead > FUTURE_SLACK_SECONDS:
            # a time in the future is no proof of quiet: the writer's clock runs ahead
            # (or this one behind); the day waits until that time is quiet too
            self.log.info(
                f"not finished: its newest file has a time {ahead:.0f} s in the future (the "
                "instrument's clock runs ahead, or the station's behind?); it is uploaded "
                f"once that time has been quiet for {quiet / 60:g} min: set the clocks right"
            )
            self.result.status = "waiting"
            return True
        age = now - newest
        if age >= quiet:
            return False
        self.log.info(
            f"not finished: its newest file changed {max(age, 0):.0f} s ago, within the quiet "
            f"period of {quiet / 60:g} min; it is uploaded once it has been quiet that long"
        )
        self.result.status = "waiting"
        return True

    def _recover(self, files: list[LocalFile], listing: Listing) -> bool:
        """Put back what a pass cut short while removing left under the removal's private
        name (``removal.recover_aside``); return whether anything was."""
        if not any(posixpath.basename(f.relpath).startswith(ASIDE_PREFIX) for f in files):
            return False
        server = {relpath: (e.size, e.mtime) for relpath, e in listing.files.items()}
        back = recover_aside(files, server)
        if self.unit.variant == "files":  # the day's files are named one by one
            gone = {aside_name(relpath) for relpath in back}
            self.unit.names = sorted({*(n for n in self.unit.names if n not in gone), *back})
        for relpath in back:
            self.log.info(
                f"put {relpath!r} back under its name: a pass ended while it was being "
                "removed; it is removed once it is proven again"
            )
        return bool(back)

    def _screen(self) -> list[LocalFile]:
        files = self.unit.list_files()
        self.result.files = len(files)
        self.result.fingerprint = fingerprint(files)
        for name in self.unit.skipped:
            self.log.error(
                f"skipping {name!r}: not a regular file "
                "(links and special files are never uploaded)"
            )
        self.colliding = colliding_names(files)
        if self.colliding:
            self.log.error(
                f"{', '.join(repr(p) for p in sorted(self.colliding)[:6])} differ only in "
                "letter case or Unicode normalization: a case-insensitive server (an SMB "
                "share, a NAS, ext4 casefold) keeps one file for them. They are uploaded but "
                "never removed locally; rename them so that they differ"
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

    def _manifest_missing(self, listing: Listing) -> bool:
        return self.plan.manifest and manifest_name(self.unit) not in listing.files

    # -- moving data ----------------------------------------------------------------

    def _upload_and_verify(self, compared: Comparison) -> list[LocalFile]:
        """Upload the unsynced files, then prove each by checksum; return those sent."""
        unsynced = [f for f in compared.unsynced if f.relpath not in self.unreadable]
        local_sums, server_sums = self._upload(unsynced)
        # Large files were hashed on the server before their rename; the rest are
        # hashed now, in one command for the day.
        # Names that collide on a case-insensitive server are proven by their final
        # names again (there they shared a temporary file and one final name).
        rest = [f for f in unsynced if f.relpath not in server_sums or f.relpath in self.colliding]
        after = {**server_sums, **self._remote_sums(rest)}
        compared.proven.update({p: s for p, s in local_sums.items() if after.get(p) == s})
        return [f for f in unsynced if f.relpath in local_sums]

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
        pairs = [(f, posixpath.join(self.remote_root, f.relpath)) for f in unsynced]
        uploader = Uploader(
            self.remote,
            self.plan.pacer,
            self.plan.poll,
            partials=self.plan.make_partials(),
            stream=traits.shell,
            # every large file is proven before its rename: by the server's hasher, or,
            # where there is none or it fails, read back (resumed files included, whose
            # tail alone was compared)
            server_checksum=self.plan.hasher.file_checksum if traits.stream_hasher else None,
            durable=self.plan.remove,
            on_bytes=progress.add,
            aside=self._aside(pairs),
            one_by_one=self.colliding,
            channels=self.plan.channels,
            parallel_large=traits.stream_hasher is not None,  # checks run on the server
        )
        try:
            sent = uploader.put_all(pairs, progress, self._resuming)
        finally:
            self.result.bytes_sent += uploader.bytes_sent
            self.result.uploaded += uploader.files_sent
            self.unreadable.update(uploader.skipped)
            self.result.kept_aside += uploader.kept_aside  # counted even when a lane failed
            self.kept_paths += uploader.kept_paths
        if uploader.kept_aside:
            self.log.info(
                f"kept the server's earlier copies of {uploader.kept_aside} file(s) that "
                f"changed locally, under {self.plan.replaced_folder!r}"
            )
        return sent

    def _aside(self, pairs: list[tuple[LocalFile, str]]) -> dict[str, tuple[str, str]]:
        """Return final path -> (its server copy, where to keep that) for the files a
        changed local file replaces (``replaced.plan_aside``); create those folders.
        Local names that match a server file only after case folding are marked never
        to be removed locally, whether or not copies are kept."""
        listing = self.listing if self.listing is not None else self.plan.listing(self.unit)
        case_only = case_only_matches(pairs, listing, self.colliding)
        aside: dict[str, tuple[str, str]] = {}
        if self.plan.keep_replaced:
            aside = plan_aside(
                pairs,
                listing,
                self.colliding,
                self.remote_root,
                self.plan.replaced_folder,
                self.plan.dst_path,
            )
        for relpath, server_name in case_only.items():
            self.colliding.add(relpath)
            kept = "is kept aside first" if self.plan.keep_replaced else "is replaced"
            self.log.error(
                f"{relpath!r} differs only in letter case or normalization from "
                f"{server_name!r} on the server: it is uploaded beside it (on a "
                f"case-insensitive server the server's copy {kept}), but never removed "
                "locally"
            )
        if aside:
            self._count_versions(aside)
            folders = {posixpath.dirname(path) for _held, path in aside.values()}
            self.remote.make_folders(sorted(ancestors(folders, self.plan.dst_path)))
        return aside

    def _count_versions(self, aside: dict[str, tuple[str, str]]) -> None:
        """Warn about files kept aside again and again: a writer that keeps changing a
        file after its day ended fills the server's disk (never silently: every
        version is kept)."""
        recent = self.plan.kept.recent()
        for held, _where in aside.values():
            relative = posixpath.relpath(held, self.plan.dst_path)
            recent[relative] += 1
            if recent[relative] >= MANY_VERSIONS:
                logger.warning(
                    "{}: {!r} was replaced {} times within a day; every version is kept "
                    "under {!r} (see OPERATOR.md, pruning kept versions): something keeps "
                    "changing it after its day ended",
                    self.unit.label,
                    relative,
                    recent[relative],
                    posixpath.join(self.plan.dst_path, REPLACED_FOLDER),
                )

    def _resuming(self, local: LocalFile, offset: int) -> None:
        self.log.info(f"resuming {local.relpath!r} from byte {offset}")

    def _remote_sums(self, files: list[LocalFile]) -> dict[str, str]:
        return self.plan.hasher.checksums(
            self.remote_root, [f.relpath for f in files], sum(f.size for f in files)
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
        sums = {f.relpath: compared.proven[f.relpath] for f in files}
        path = posixpath.join(self.remote_root, name)
        write_manifest(self.remote, path, sums, self.plan.make_partials())

    # -- markers, removal, report ---------------------------------------------------

    def _mark_remote(self, listing: Listing) -> None:
        """Create the remote day folder if needed and put the marker in it."""
        if not listing.exists:
            self.remote.make_folders([self.remote_root])
            listing.exists = True
        self.remote.write_bytes(
            posixpath.join(self.remote_root, MARKER_NAME), marker_text(self.unit.date).encode()
        )

    def _release_markers(self, remote: bool, local: bool, listing: Listing | None = None) -> None:
        if remote:
            try:
                self.remote.remove(posixpath.join(self.remote_root, MARKER_NAME))
                if listing is not None:  # the files variant's days share this listing
                    listing.files.pop(MARKER_NAME, None)
            except TransientError:
                self.log.info(
                    "the remote marker stays until the link is back (the retry removes it)"
                )
            except CircadianError as error:
                self.log.error(
                    f"could not remove the remote marker (the next run replaces it): {error}"
                )
        if local:
            remove_local_marker(self.local_root)

    def _report_proof(
        self, files: list[LocalFile], verified: list[LocalFile], compared: Comparison
    ) -> list[str]:
        """Say what the checksums proved (before anything local is removed); return the
        files that could not be verified."""
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
        return bad

    def _durable(self, proven: list[LocalFile]) -> bool:
        """Before local files go: make their server copies durable where the server can:
        ``sync`` of each file, of every folder up to the destination (a day folder made
        in this pass included), and of the copies kept aside for this day; names on
        standard input. Return whether removal may go on: False when the sync failed
        (the files stay, the day counts as pending, the next pass tries again)."""
        if not proven or not self.remote.traits().folder_sync:
            return True
        top = self.plan.dst_path
        names = [
            posixpath.relpath(posixpath.join(self.remote_root, f.relpath), top) for f in proven
        ]
        names += [posixpath.relpath(path, top) for path in self.kept_paths]
        total = sum(f.size for f in proven)
        if self.plan.hasher.sync(top, names, total):
            return True
        self.log.error(
            "the server could not make its copies durable (sync failed): the local files "
            "are kept this pass and removed on the next"
        )
        return False
