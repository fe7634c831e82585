"""The per-day manifest on the server: ``SHA256SUMS`` in ``sha256sum``'s own format.

Written last and atomically, once every file of the day is verified, so downstream
processing can tell a complete day (a manifest, no marker) from one not yet started
(neither), and anyone can audit it later with ``sha256sum -c SHA256SUMS``. Names with a
backslash or a line break are escaped as GNU coreutils does (the line starts with a
backslash); names that are not UTF-8 are written as their original bytes.
"""

from __future__ import annotations

from ..remote.api import Remote
from ..source.days import DayUnit
from .transfer import partial_path

MANIFEST = "SHA256SUMS"


def manifest_name(unit: DayUnit) -> str:
    """Return the manifest's name in the day's remote folder: ``SHA256SUMS`` for a day
    folder, ``SHA256SUMS-YYYY-MM-DD`` beside the files of the ``files`` variant."""
    return MANIFEST if unit.variant == "directories" else f"{MANIFEST}-{unit.date.isoformat()}"


def manifest_line(relpath: str, sha256: str) -> bytes:
    """Return one line of the manifest, escaped where the name needs it."""
    name = relpath.encode("utf-8", "surrogateescape")
    if any(c in name for c in b"\\\n\r"):
        escaped = name.replace(b"\\", b"\\\\").replace(b"\n", b"\\n").replace(b"\r", b"\\r")
        return b"\\" + sha256.encode() + b"  " + escaped + b"\n"
    return sha256.encode() + b"  " + name + b"\n"


def manifest_text(sums: dict[str, str]) -> bytes:
    """Given relpath -> SHA-256, return the manifest's content, sorted by name."""
    return b"".join(manifest_line(relpath, sums[relpath]) for relpath in sorted(sums))


def write_manifest(remote: Remote, path: str, sums: dict[str, str], partials: str) -> None:
    """Write the manifest atomically: under its temporary name in the destination's
    folder of temporary files ``partials`` (``transfer.partial_folder``), then renamed
    into place."""
    temporary = partial_path(path, partials)
    remote.write_bytes(temporary, manifest_text(sums))
    remote.rename_over(temporary, path)
