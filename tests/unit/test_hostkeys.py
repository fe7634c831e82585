"""Host key trust (remote/hostkeys.py) with real keys made in memory, no server."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import paramiko
import pytest

from circadian_scp_upload.errors import ConfigError, HostKeyError
from circadian_scp_upload.remote import hostkeys
from tests.unit.conftest import openssh_private_key


def new_key() -> paramiko.PKey:
    import io

    return paramiko.Ed25519Key.from_private_key(io.StringIO(openssh_private_key()))


def test_fingerprint_is_openssh_sha256() -> None:
    key = new_key()
    expected = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    assert hostkeys.fingerprint(key) == f"SHA256:{expected}"


def test_an_unknown_key_is_refused_with_the_fix() -> None:
    key = new_key()
    policy = hostkeys.RejectUnknown(2222, Path("/etc/csu/known_hosts"))
    with pytest.raises(HostKeyError) as raised:
        policy.missing_host_key(paramiko.SSHClient(), "[10.0.0.5]:2222", key)
    message = str(raised.value)
    assert "[10.0.0.5]:2222" in message
    assert hostkeys.fingerprint(key) in message
    assert "ssh-keyscan -p 2222 10.0.0.5 >> /etc/csu/known_hosts" in message


def test_a_pinned_fingerprint_trusts_exactly_that_key() -> None:
    key, other = new_key(), new_key()
    policy = hostkeys.PinnedFingerprint(hostkeys.fingerprint(key) + "=")
    policy.missing_host_key(paramiko.SSHClient(), "server", key)
    with pytest.raises(HostKeyError, match="not the pinned"):
        policy.missing_host_key(paramiko.SSHClient(), "server", other)


def test_accept_new_records_the_key(tmp_path: Path) -> None:
    key = new_key()
    known = tmp_path / "ssh" / "known_hosts"
    client = paramiko.SSHClient()
    hostkeys.AcceptNew(known).missing_host_key(client, "[server]:2222", key)
    assert known.read_text() == f"[server]:2222 ssh-ed25519 {key.get_base64()}\n"
    assert client.get_host_keys().lookup("[server]:2222") is not None


def test_known_hosts_text_is_parsed_and_trusted() -> None:
    key = new_key()
    text = f"# a comment\n\n[server]:2222 ssh-ed25519 {key.get_base64()}\n"
    entries = hostkeys.parse_known_hosts(text, "CSU_KNOWN_HOSTS")
    client = paramiko.SSHClient()
    hostkeys.trust_entries(client, entries)
    found = client.get_host_keys().lookup("[server]:2222")
    assert found is not None
    assert found["ssh-ed25519"] == key
    with pytest.raises(ConfigError, match="line 2, is not a known_hosts line"):
        hostkeys.parse_known_hosts("\nserver ssh-ed25519 !!!notbase64\n", "CSU_KNOWN_HOSTS")


@pytest.mark.parametrize("bad", ["MD5:aa:bb", "SHA256:short", "abc"])
def test_a_malformed_fingerprint_is_a_config_error(bad: str) -> None:
    with pytest.raises(ConfigError, match="SHA256"):
        hostkeys.normalize_fingerprint(bad)


def test_revoked_keys_are_never_trusted_and_cert_authorities_are_left_out() -> None:
    good, bad = new_key(), new_key()
    text = (
        f"@cert-authority *.example.org ssh-ed25519 {new_key().get_base64()}\n"
        f"@revoked * ssh-ed25519 {bad.get_base64()}\n"
        f"[server]:2222 ssh-ed25519 {bad.get_base64()}\n"
        f"[other]:2222 ssh-ed25519 {good.get_base64()}\n"
    )
    known = hostkeys.parse_known_hosts(text, "known_hosts")
    assert known.revoked == {bad.asbytes()}
    client = paramiko.SSHClient()
    hostkeys.trust_entries(client, known)
    assert client.get_host_keys().lookup("[server]:2222") is None  # revoked wins
    assert client.get_host_keys().lookup("[other]:2222") is not None
    policy = hostkeys.AcceptNew(None, known.revoked)
    with pytest.raises(HostKeyError, match="@revoked"):
        policy.missing_host_key(client, "[server]:2222", bad)


def test_the_commands_the_host_key_messages_name_exist_where_the_user_is() -> None:
    """The station commands in the refusals parse as the CLI's own, and OPERATOR.md walks
    them (no ssh-keygen or ssh-keyscan in the image)."""
    from circadian_scp_upload.cli import _parser
    from circadian_scp_upload.remote.hostkeys import ENROLL_COMMAND, STATION_COMMAND

    compose = "docker compose run --rm circadian-scp-upload "
    for command in (ENROLL_COMMAND, f"{STATION_COMMAND} --fingerprint"):
        assert command.startswith(compose)
        args = _parser().parse_args([*command.removeprefix(compose).split(), "SHA256:x"])
        assert args.command == "enroll"
    operator = (Path(__file__).resolve().parents[2] / "deploy" / "OPERATOR.md").read_text()
    assert "enroll --replace-host-key --fingerprint" in operator
    assert "enroll --fingerprint" in operator
