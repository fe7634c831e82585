"""A case-insensitive, case-preserving filesystem (FUSE), as SMB shares and NAS disks are.

    python -m tests.faults.casefold_fs BACKING MOUNTPOINT

Every name is matched against the existing entries of its folder after case folding
and Unicode normalization (NFC), so ``A.bin`` and ``a.bin`` are one file, as on a CIFS
share, a NAS, or ext4 with casefold (which this machine's kernel lacks). It runs in
the foreground until unmounted (``fusermount -u`` / ``umount``).
"""

from __future__ import annotations

import errno
import os
import sys
import unicodedata
from typing import Any

from fuse import FUSE, FuseOSError, Operations


def fold(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


class CaseFold(Operations):  # type: ignore[misc]
    """Passes every call through to ``root``, finding names case-insensitively."""

    def __init__(self, root: str) -> None:
        self.root = root

    def _real(self, path: str) -> str:
        """Return the backing path, each component matched to an existing entry."""
        real = self.root
        for part in [p for p in path.split("/") if p]:
            match = part
            if os.path.isdir(real):
                for entry in os.listdir(real):
                    if fold(entry) == fold(part):
                        match = entry
                        break
            real = os.path.join(real, match)
        return real

    def access(self, path: str, mode: int) -> None:
        if not os.access(self._real(path), mode):
            raise FuseOSError(errno.EACCES)

    def chmod(self, path: str, mode: int) -> None:
        os.chmod(self._real(path), mode)

    def chown(self, path: str, uid: int, gid: int) -> None:
        os.chown(self._real(path), uid, gid)

    def getattr(self, path: str, fh: Any = None) -> dict[str, Any]:
        try:
            st = os.lstat(self._real(path))
        except OSError as error:
            raise FuseOSError(error.errno) from None
        keys = ("st_atime", "st_ctime", "st_gid", "st_mode", "st_mtime", "st_nlink", "st_size")
        return {key: getattr(st, key) for key in (*keys, "st_uid")}

    def readdir(self, path: str, fh: Any) -> list[str]:
        return [".", "..", *os.listdir(self._real(path))]

    def mkdir(self, path: str, mode: int) -> None:
        os.mkdir(self._real(path), mode)

    def rmdir(self, path: str) -> None:
        os.rmdir(self._real(path))

    def unlink(self, path: str) -> None:
        os.unlink(self._real(path))

    def rename(self, old: str, new: str) -> None:
        os.replace(self._real(old), self._real(new))

    def link(self, target: str, source: str) -> None:
        os.link(self._real(source), self._real(target))

    def utimens(self, path: str, times: tuple[float, float] | None = None) -> None:
        os.utime(self._real(path), times)

    def statfs(self, path: str) -> dict[str, Any]:
        stv = os.statvfs(self._real(path))
        keys = ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files")
        return {key: getattr(stv, key) for key in (*keys, "f_flag", "f_frsize", "f_namemax")}

    def open(self, path: str, flags: int) -> int:
        return os.open(self._real(path), flags)

    def create(self, path: str, mode: int, fi: Any = None) -> int:
        return os.open(self._real(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)

    def read(self, path: str, length: int, offset: int, fh: int) -> bytes:
        os.lseek(fh, offset, os.SEEK_SET)
        return os.read(fh, length)

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        os.lseek(fh, offset, os.SEEK_SET)
        return os.write(fh, data)

    def truncate(self, path: str, length: int, fh: Any = None) -> None:
        with open(self._real(path), "r+b") as handle:
            handle.truncate(length)

    def flush(self, path: str, fh: int) -> None:
        os.fsync(fh)

    def release(self, path: str, fh: int) -> None:
        os.close(fh)

    def fsync(self, path: str, datasync: int, fh: int) -> None:
        os.fsync(fh)


if __name__ == "__main__":
    FUSE(CaseFold(sys.argv[1]), sys.argv[2], foreground=True, allow_other=True, nothreads=True)
