"""Remote paths as users write them, and as SFTP expects them."""

from __future__ import annotations

from ..errors import ConfigError


def normalize_remote(dst_path: str) -> str:
    """Given a remote folder as users write it, return it as SFTP expects it: ``~`` and
    ``~/...`` relative to the login folder, no trailing slash; raise ConfigError for an
    empty one."""
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
