"""What this agent runs: its own version and the versions of the libraries it rests on,
as installed (the image installs exactly those of ``requirements.lock``), so an office
can tell what each station runs (``--version``)."""

from __future__ import annotations

import platform
from importlib import metadata

PACKAGE = "circadian-scp-upload"
LIBRARIES = ("paramiko", "cryptography", "pydantic", "pydantic-settings", "loguru", "tenacity")


def installed(name: str) -> str:
    """Return the installed version of a distribution, or "unknown"."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def library_versions() -> dict[str, str]:
    """Return name -> installed version of the libraries the agent rests on."""
    return {name: installed(name) for name in LIBRARIES}


def version_text() -> str:
    """``circadian-scp-upload 1.2.0 (paramiko 5.1.0, ...; Python 3.11.7)``."""
    libraries = ", ".join(f"{name} {version}" for name, version in library_versions().items())
    return f"{PACKAGE} {installed(PACKAGE)} ({libraries}; Python {platform.python_version()})"
