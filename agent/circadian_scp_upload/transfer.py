"""Uploading one file: under a temporary name, resumed where it stopped, renamed into place.

A file is written as ``.<name>.csu-partial`` in its final folder, made durable, and then
renamed over its final name in one atomic step, so a final name never holds a partial
file. A partial file left by an interrupted run is resumed: its tail is compared with
the local file and, if it matches, the upload continues from its end; if not, it
starts over. Whole-file checksums afterwards catch anything the tail check cannot.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable
from dataclasses import dataclass

from .connection import RemoteConnection
from .errors import RemotePathError
from .local import HASH_CHUNK_BYTES, LocalFile

PARTIAL_SUFFIX = ".csu-partial"
RESUME_CHECK_BYTES = 256 * 1024


def partial_path(final_path: str) -> str:
    """Given a remote file's final path, return the path it is written under first."""
    folder, name = posixpath.split(final_path)
    return posixpath.join(folder, f".{name}{PARTIAL_SUFFIX}")


def is_partial_name(relpath: str) -> bool:
    """Return whether a remote relative path is one of our temporary files."""
    name = posixpath.basename(relpath)
    return name.startswith(".") and name.endswith(PARTIAL_SUFFIX)


def final_of_partial(relpath: str) -> str:
    """Given a temporary file's relative path, return the final one it stands for."""
    folder, name = posixpath.split(relpath)
    return posixpath.join(folder, name[1 : -len(PARTIAL_SUFFIX)])


def resume_offset(connection: RemoteConnection, local: LocalFile, partial: str) -> int:
    """Return the byte to continue ``partial`` from: its end if its tail matches, else 0."""
    entry = connection.stat(partial)
    if entry is None or not entry.is_file or entry.size == 0 or entry.size > local.size:
        return 0
    length = min(entry.size, RESUME_CHECK_BYTES)
    start = entry.size - length
    with local.path.open("rb") as handle:
        handle.seek(start)
        expected = handle.read(length)
    if connection.read_range(partial, start, length) != expected:
        return 0
    return entry.size


@dataclass(frozen=True)
class Uploaded:
    """The outcome of one file's upload.

    ``sha256``: checksum of the local bytes sent; ``resumed_from``: where it resumed;
    ``remote_sha256``: the server's checksum of the whole file, taken before it was
    renamed into place, where the server has a shell (else None: verify afterwards).
    """

    sha256: str
    resumed_from: int
    remote_sha256: str | None = None


def upload_file(
    connection: RemoteConnection,
    local: LocalFile,
    final_path: str,
    on_bytes: Callable[[int], None],
    should_abort: Callable[[], bool],
    on_resume: Callable[[int], None] | None = None,
    remote_checksum: Callable[[str, int], str | None] | None = None,
    durable: bool = True,
) -> Uploaded:
    """Upload one file to ``final_path`` atomically; return its checksums and resume offset.

    The checksum covers exactly the local bytes the remote copy was built from (the
    resumed prefix is re-read and hashed, the rest is hashed as it is sent). With
    ``remote_checksum`` (the server has a shell) the bytes go as a raw stream over an
    exec channel and the server's checksum of the whole temporary file is compared
    before the rename; else they go as pipelined SFTP writes, verified afterwards.
    ``durable`` makes the server fsync the file
    before it is renamed into place (needed before local data is removed).
    """
    partial = partial_path(final_path)
    offset = resume_offset(connection, local, partial)
    digest = hashlib.sha256()
    if offset:
        if on_resume is not None:
            on_resume(offset)
        with local.path.open("rb") as handle:
            remaining = offset
            while remaining and (chunk := handle.read(min(HASH_CHUNK_BYTES, remaining))):
                digest.update(chunk)
                remaining -= len(chunk)
        on_bytes(offset)

    total = offset

    def sent(chunk: bytes) -> None:
        nonlocal total
        digest.update(chunk)
        total += len(chunk)
        on_bytes(len(chunk))

    if remote_checksum is not None:
        connection.stream_upload(local.path, partial, offset, sent, should_abort, durable)
    else:
        connection.upload(local.path, partial, offset, sent, should_abort, durable)
    stored = connection.stat(partial)
    if stored is None or stored.size != total:
        # Never rename a short or overlong file into place, whatever the server said.
        raise RemotePathError(
            f"{connection.where} stored {stored.size if stored else 0} of {total} bytes of "
            f"{final_path!r}: the server's disk may be full; the file stays under its "
            "temporary name and is resumed on the next run"
        )
    remote_sha256 = remote_checksum(partial, total) if remote_checksum is not None else None
    if remote_sha256 is not None and remote_sha256 != digest.hexdigest():
        # Corrupt: start this file over next time rather than keep a bad prefix.
        connection.remove(partial)
        raise RemotePathError(
            f"the server's copy of {final_path!r} does not match the local file after "
            "upload (checksums differ); it was discarded and is uploaded again next run"
        )
    connection.rename_over(partial, final_path)
    return Uploaded(digest.hexdigest(), offset, remote_sha256)
