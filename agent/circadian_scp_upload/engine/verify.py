"""Remote checksums: one ``sha256sum`` command per day where the server has a shell,
reading the files back over SFTP where it has none.

The shell command never sees a file name: names travel NUL-separated on standard
input to ``xargs -0 sha256sum -z --``, whose NUL-terminated output is not escaped.
The only argument on the command line, the day's folder, is quoted with
``shlex.quote``. On SFTP-only servers (``ForceCommand internal-sftp``) the files are
read back and hashed here: it doubles the traffic of verification, but removal of
local data still waits for a real checksum, never for a size check.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import shlex
from collections.abc import Callable, Iterable

from loguru import logger

from ..remote.api import Remote

HASH_COMMAND = "cd -- {root} && xargs -0 sha256sum -z --"
SYNC_COMMAND = "cd -- {root} && xargs -0 sync --"
RECORD = re.compile(rb"^([0-9a-f]{64}) [ *](.*)$", re.DOTALL)
ASSUMED_REMOTE_HASH_BYTES_PER_SECOND = 20 * 1024 * 1024
SYNC_SECONDS_PER_NAME = 0.05  # an fsync of a file already on disk, with slack


def parse_sums(output: bytes) -> dict[str, str]:
    """Given ``sha256sum -z`` output, return relative path -> hex SHA-256."""
    found: dict[str, str] = {}
    for record in output.split(b"\0"):
        match = RECORD.match(record)
        if match:
            found[match.group(2).decode("utf-8", "surrogateescape")] = match.group(1).decode()
    return found


class RemoteHasher:
    """Computes SHA-256 checksums of remote files the cheapest way the server allows.

    ``poll`` is called while hashing runs (it may raise to stop; the agent also beats
    its heartbeat there, so a long hash never looks like a hung agent).
    """

    def __init__(self, remote: Remote, poll: Callable[[], None] = lambda: None) -> None:
        self.remote, self.poll = remote, poll

    def file_checksum(self, path: str, size: int) -> str | None:
        """Return the SHA-256 of one remote file, hashed on the server, or None if it
        cannot be (no shell or no hash tool there).

        The file arrives on the hasher's standard input, so its name is only ever a
        quoted redirection target.
        """
        hasher = self.remote.traits().stream_hasher
        if hasher is None:
            return None
        timeout = self.remote.io_timeout + size / ASSUMED_REMOTE_HASH_BYTES_PER_SECOND
        result = self.remote.run(f"{hasher} < {shlex.quote(path)}", timeout=timeout, poll=self.poll)
        words = result.stdout.split()
        digest = words[0].decode("ascii", "replace") if words else ""
        return digest if result.exit_status == 0 and len(digest) == 64 else None

    def checksums(self, root: str, relpaths: Iterable[str], total_bytes: int) -> dict[str, str]:
        """Given a remote folder and relative paths in it, return path -> hex SHA-256.

        Files that are missing on the server are left out of the result.
        """
        wanted = sorted(set(relpaths))
        if not wanted:
            return {}
        if self.remote.traits().batch_hasher:
            return self._shell(root, wanted, total_bytes)
        return self._readback(root, wanted)

    def _shell(self, root: str, relpaths: list[str], total_bytes: int) -> dict[str, str]:
        command = HASH_COMMAND.format(root=shlex.quote(root))
        stdin = b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in relpaths)
        # Output comes per file: allow the server time to hash the largest one.
        timeout = self.remote.io_timeout + total_bytes / ASSUMED_REMOTE_HASH_BYTES_PER_SECOND
        result = self.remote.run(command, stdin, timeout=timeout, poll=self.poll)
        found = parse_sums(result.stdout)
        if result.exit_status != 0:
            logger.debug(
                "remote hashing in {} exited {}: {}",
                root,
                result.exit_status,
                result.stderr.decode(errors="replace")[:500],
            )
        return {p: found[p] for p in relpaths if p in found}

    def sync(self, root: str, relpaths: Iterable[str], total_bytes: int = 0) -> bool:
        """Make files below a remote folder durable with their names: ``sync`` of each file
        and of every folder from it up to ``root`` (names NUL-separated on standard
        input, never on the command line). Return whether it succeeded."""
        names: set[str] = {"."}
        for relpath in relpaths:
            names.add(relpath)
            folder = posixpath.dirname(relpath)
            while folder:
                names.add(folder)
                folder = posixpath.dirname(folder)
        stdin = b"".join(n.encode("utf-8", "surrogateescape") + b"\0" for n in sorted(names))
        # sync prints nothing while it works: allow for its writing out what is not yet
        timeout = (
            self.remote.io_timeout
            + len(names) * SYNC_SECONDS_PER_NAME
            + total_bytes / ASSUMED_REMOTE_HASH_BYTES_PER_SECOND
        )
        result = self.remote.run(
            SYNC_COMMAND.format(root=shlex.quote(root)), stdin, timeout=timeout, poll=self.poll
        )
        if result.exit_status != 0:
            logger.debug(
                "sync in {} exited {}: {}",
                root,
                result.exit_status,
                result.stderr.decode(errors="replace")[:500],
            )
        return result.exit_status == 0

    def read_back(self, path: str, _size: int = 0) -> str | None:
        """Return the SHA-256 of one remote file read back over SFTP (None if absent)."""
        return read_back(self.remote, path, self.poll)

    def _readback(self, root: str, relpaths: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for relpath in relpaths:
            digest = self.read_back(posixpath.join(root, relpath))
            if digest is not None:
                found[relpath] = digest
        return found


def read_back(remote: Remote, path: str, poll: Callable[[], None] = lambda: None) -> str | None:
    """Return the SHA-256 of one remote file read back over ``remote``'s SFTP channel
    (None if it is absent); ``poll`` is called after every piece."""
    entry = remote.stat(path)
    if entry is None or not entry.is_file:
        return None
    digest = hashlib.sha256()
    for chunk in remote.read_file(path):
        digest.update(chunk)
        poll()
    return digest.hexdigest()
