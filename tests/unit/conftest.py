"""Fixtures of the unit tier: real key material made in memory, no server."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def openssh_private_key(passphrase: bytes | None = None) -> str:
    """Return a new ed25519 private key in OpenSSH's format (encrypted with a passphrase)."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, encryption)
        .decode()
    )


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    """A readable, valid ed25519 private key file."""
    path = tmp_path / "station_key"
    path.write_text(openssh_private_key())
    path.chmod(0o600)
    return path
