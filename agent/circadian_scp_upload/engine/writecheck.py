"""``check --write``: the whole path of a file, proven once in a job's destination.

A probe file is created under a temporary name, written (as an upload is: a stream
where the server has a shell, SFTP writes elsewhere), made durable, renamed, hashed
on the server (or read back), its folder synced where the server can, and removed:
what the first pass will do, before a day is ready. Nothing of it stays behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import secrets

from ..errors import CircadianError, RemotePathError
from ..remote.api import Remote
from ..remote.paths import normalize_remote
from .transfer import partial_folder, partial_path
from .verify import RemoteHasher, read_back

PROBE_BYTES = 256 * 1024 + 1  # over the small-file limit: sent as a large file is


def prove_destination(remote: Remote, dst: str) -> list[str]:
    """Create, write, rename, hash and remove a probe file in ``dst`` (made if missing);
    return a line per step. Raises the package's errors (the server refused a step)."""
    folder = normalize_remote(dst)
    final = posixpath.join(folder, f".csu-check-{secrets.token_hex(4)}")
    partials = partial_folder(folder)
    temporary = partial_path(final, partials)
    data = os.urandom(PROBE_BYTES)
    traits = remote.traits()
    said = []
    made = _missing_folders(remote, folder)
    remote.make_folders([folder])
    said.append(f"{folder}: made now" if made else f"{folder}: the folder exists")
    scratch = _missing_folders(remote, partials)  # the uploads' temporary folder
    remote.make_folders([partials])
    try:
        with remote.open_file(temporary, 0, stream=traits.shell) as sink:
            sink.write(data)
            sink.commit(durable=True)
        stored = remote.stat(temporary)
        if stored is None or stored.size != len(data):
            raise RemotePathError(
                f"{remote.where} stored {stored.size if stored else 0} of {len(data)} bytes of "
                f"{temporary!r}: is the disk full?"
            )
        how = "streamed" if traits.shell else "written over SFTP"
        durable = " and fsynced" if traits.fsync else " (no fsync offered)"
        said.append(f"wrote {len(data)} bytes under a temporary name ({how}){durable}")
        remote.rename_over(temporary, final)
        said.append("renamed it into place")
        hasher = RemoteHasher(remote)
        server = hasher.file_checksum(final, len(data)) if traits.stream_hasher else None
        way = "hashed on the server" if server is not None else "read back and hashed here"
        server = server or read_back(remote, final)
        if server != hashlib.sha256(data).hexdigest():
            raise RemotePathError(
                f"the probe file in {folder!r} came back different (checksums differ): "
                "the server or the link corrupts data"
            )
        said.append(f"{way}: SHA-256 matches")
        if traits.folder_sync:
            if not hasher.sync(folder, [posixpath.basename(final)]):
                raise RemotePathError(f"`sync` of {folder!r} failed on {remote.where}")
            said.append("synced the file and its folder")
    finally:
        left = _clean_up(remote, [temporary, final], scratch + made)  # deepest first
    if left:
        raise RemotePathError(
            f"the probe could not be removed from {remote.where}: {', '.join(left)} is "
            "still there; remove it by hand (the account may create but not delete files)"
        )
    said.append(
        "removed it" + (" and the folders made for it" if made else "") + ": nothing left behind"
    )
    return said


def _missing_folders(remote: Remote, folder: str) -> list[str]:
    """Return the folders on the way to ``folder`` that do not exist yet, deepest first."""
    missing = []
    here = folder
    while here not in ("", "/", ".") and remote.stat(here) is None:
        missing.append(here)
        here = posixpath.dirname(here)
    return missing


def _clean_up(remote: Remote, files: list[str], folders: list[str]) -> list[str]:
    """Remove the probe's files and the folders made for it (deepest first); return
    what is still there after that."""
    for path in files:
        with contextlib.suppress(CircadianError):
            remote.remove(path)
    for path in folders:
        with contextlib.suppress(CircadianError):
            remote.remove_folder(path)
    left = []
    for path in [*files, *folders]:
        with contextlib.suppress(CircadianError):
            if remote.stat(path) is not None:
                left.append(path)
    return left
