"""RemoteConnection's argument handling (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from circadian_scp_upload import ConfigError, RemoteConnection
from circadian_scp_upload.remote import split_host_port
from circadian_scp_upload.remote.hostkeys import normalize_fingerprint


@pytest.mark.parametrize(
    ("given", "port", "expected"),
    [
        ("1.2.3.4", None, ("1.2.3.4", 22)),
        ("1.2.3.4:2222", None, ("1.2.3.4", 2222)),
        ("example.org", 2200, ("example.org", 2200)),
        ("[::1]:2222", None, ("::1", 2222)),
        ("::1", None, ("::1", 22)),
    ],
)
def test_splits_host_and_port(given: str, port: int | None, expected: tuple[str, int]) -> None:
    assert split_host_port(given, port) == expected


@pytest.mark.parametrize("bad", ["host:0", "host:99999", "host:abc", ""])
def test_rejects_bad_host_or_port(bad: str) -> None:
    with pytest.raises(ConfigError):
        split_host_port(bad, None)


def test_unreadable_key_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the private key file"):
        RemoteConnection("h", "u", key_filename=tmp_path / "missing")
    garbage = tmp_path / "garbage"
    garbage.write_text("not a key")
    with pytest.raises(ConfigError, match="ed25519, ecdsa or rsa"):
        RemoteConnection("h", "u", key_filename=garbage)


def test_repr_never_shows_the_password() -> None:
    connection = RemoteConnection("h", "u", "hunter2-secret")
    assert "hunter2" not in repr(connection)
    assert "hunter2" not in str(vars(connection).keys())


def test_fingerprint_format_is_checked() -> None:
    assert normalize_fingerprint("SHA256:abcdefghijklmnopqrstu=") == "SHA256:abcdefghijklmnopqrstu"
    with pytest.raises(ConfigError, match="SHA256"):
        normalize_fingerprint("MD5:aa:bb")
