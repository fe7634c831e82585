"""Enrolment (``enroll``) and the end-to-end write check (``check --write``) against a
real sshd: from no key at all to a proven destination, with every choice a flag."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import write_file
from tests.integration.helpers import agent, agent_env, day
from tests.sshd_server import TEST_USER, SSHServer

pytestmark = pytest.mark.integration


def fresh_station(server: SSHServer, tmp_path: Path, **extra: str) -> dict[str, str]:
    """A station that has nothing yet: no key, no known_hosts (both in its state folder)."""
    src = tmp_path / "src"
    write_file(src / day(-2) / "a.txt", b"first day of a new station\n")
    dst = server.new_remote_dir(f"enroll-{tmp_path.name}")
    state = tmp_path / "state"
    env = agent_env(
        server,
        src,
        dst,
        CSU_KEY_FILE=str(state / "station_key"),
        CSU_KNOWN_HOSTS_FILE=str(state / "known_hosts"),
        CSU_STATE_DIR=str(state),
        CSU_STATION="station-42",
    )
    return env | extra


def public_key(output: str) -> str:
    found = re.search(
        r"^public key: (ssh-ed25519 \S+ station-42 circadian-scp-upload)$", output, re.M
    )
    assert found, output
    return found.group(1)


def test_a_new_station_enrolls_and_proves_its_destination(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    env = fresh_station(shell_server, tmp_path)
    first = agent("enroll", env)
    assert first.returncode == 0, first.stderr
    key = Path(env["CSU_KEY_FILE"])
    assert key.stat().st_mode & 0o777 == 0o600
    line = public_key(first.stdout)
    assert f'restrict,command="internal-sftp" {line}' in first.stdout
    assert f"{TEST_USER} '{line}'" in first.stdout  # the server kit's add-station command
    assert f"sudo add-station {TEST_USER} '{line}'" in first.stdout
    assert "(add --root FOLDER: the folder above" in first.stdout  # CSU_DST has no csu-test
    assert f"offers ssh-ed25519 {shell_server.host_key_fingerprint}" in first.stdout
    assert not Path(env["CSU_KNOWN_HOSTS_FILE"]).exists()  # nothing trusted unasked
    again = agent("enroll", env)
    assert public_key(again.stdout) == line  # never overwritten
    assert "(made now" not in again.stdout

    wrong = agent("enroll", env, args=["--fingerprint", "SHA256:" + "A" * 43])
    assert wrong.returncode == 3, wrong.stderr
    assert "not the fingerprint given" in wrong.stderr
    assert not Path(env["CSU_KNOWN_HOSTS_FILE"]).exists()
    right = agent("enroll", env, args=["--fingerprint", shell_server.host_key_fingerprint])
    assert right.returncode == 0, right.stderr
    assert f"recorded in {env['CSU_KNOWN_HOSTS_FILE']}" in right.stdout
    trusted = agent("enroll", env, args=["--trust"])
    assert "already trusted in" in trusted.stdout
    assert Path(env["CSU_KNOWN_HOSTS_FILE"]).read_text().count("ssh-ed25519") == 1

    refused = agent("check", env, args=["--write"])  # the admin has not added the key yet
    assert refused.returncode == 3, refused.stderr
    with (shell_server.workdir / "authorized_keys").open("a") as keys:
        keys.write(line + "\n")
    checked = agent("check", env, args=["--write"])
    assert checked.returncode == 0, checked.stderr
    for step in (
        "write check: wrote 262145 bytes under a temporary name (streamed) and fsynced",
        "write check: renamed it into place",
        "write check: hashed on the server: SHA-256 matches",
        "write check: synced the file and its folder",
        "write check: removed it: nothing left behind",
    ):
        assert step in checked.stdout, checked.stdout
    assert "durability: fsync@openssh.com for each file, sync of its folder" in checked.stdout
    dst = Path(env["CSU_DST"])
    assert list(dst.iterdir()) == []
    result = agent("once", env)
    assert result.returncode == 0, result.stderr
    assert (dst / day(-2) / "a.txt").read_bytes() == b"first day of a new station\n"


def test_a_changed_host_key_is_refused_and_nothing_is_written(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    env = fresh_station(shell_server, tmp_path)
    known = Path(env["CSU_KNOWN_HOSTS_FILE"])
    write_file(known, f"[127.0.0.1]:{shell_server.port} ssh-ed25519 ".encode())
    other = subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")],
        check=True,
    )
    assert other.returncode == 0
    planted = (tmp_path / "other.pub").read_text().split()[1]
    known.write_text(f"[127.0.0.1]:{shell_server.port} ssh-ed25519 {planted}\n")
    result = agent("enroll", env, args=["--trust"])
    assert result.returncode == 3, result.stderr
    assert "CHANGED" in result.stderr
    assert known.read_text().count("\n") == 1


def test_the_admins_line_for_csu_only_and_for_proftpd(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    env = fresh_station(shell_server, tmp_path)
    csu_only = agent("enroll", env, args=["--for", "csu-only"])
    assert csu_only.returncode == 0, csu_only.stderr
    line = public_key(csu_only.stdout)
    assert f'restrict,command="/usr/local/bin/csu-only {env["CSU_DST"]}" {line}' in (
        csu_only.stdout
    )
    assert "sudo add-station --csu-only csu-test '" in csu_only.stdout
    assert "(add --root FOLDER: the folder above" in csu_only.stdout
    proftpd = agent("enroll", env, args=["--for", "proftpd"])
    assert "---- BEGIN SSH2 PUBLIC KEY ----" in proftpd.stdout
    assert 'Comment: "station-42 circadian-scp-upload"' in proftpd.stdout
    relative = agent("enroll", env | {"CSU_DST": "uploads/st42"}, args=["--for", "csu-only"])
    assert relative.returncode == 2, relative.stderr
    assert "--upload-root" in relative.stderr


def test_check_write_names_a_destination_the_account_cannot_write(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    locked = shell_server.new_remote_dir("check-write-locked")
    locked.chmod(0o555)
    env = agent_env(shell_server, src, locked / "deeper")
    src.mkdir()
    result = agent("check", env, args=["--write"])
    assert result.returncode == 1, result.stderr
    assert "permission denied" in result.stderr
    assert "Traceback" not in result.stderr


def planted_key(tmp_path: Path, kind: str) -> str:
    """A host key of ``kind`` that is not the server's, as known_hosts holds it."""
    path = tmp_path / f"planted-{kind}"
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(path)], check=True)
    return " ".join(path.with_suffix(".pub").read_text().split()[:2])


def test_a_known_host_offering_another_key_type_is_a_change(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    """ECDSA recorded, the server (or a man in the middle) offers ed25519: not a second
    key to add, a change, refused, with the way to replace the key on purpose."""
    env = fresh_station(shell_server, tmp_path)
    known = Path(env["CSU_KNOWN_HOSTS_FILE"])
    recorded = f"[127.0.0.1]:{shell_server.port} {planted_key(tmp_path, 'ecdsa')}\n"
    write_file(known, recorded.encode())
    for args in (["--trust"], ["--fingerprint", shell_server.host_key_fingerprint]):
        result = agent("enroll", env, args=args)
        assert result.returncode == 3, result.stderr
        assert "CHANGED" in result.stderr
        assert (
            f"enroll --replace-host-key --fingerprint {shell_server.host_key_fingerprint}"
            in result.stderr
        )
        assert "ssh-keygen -R" not in result.stderr  # a station has no ssh-keygen
        assert known.read_text() == recorded
    upload = agent("once", env)  # and the daemon refuses it too, naming the same way
    assert upload.returncode == 3, upload.stderr
    assert "enroll --replace-host-key" in upload.stderr


def test_a_changed_host_key_is_replaced_on_purpose_with_its_fingerprint(
    shell_server: SSHServer, tmp_path: Path
) -> None:
    env = fresh_station(shell_server, tmp_path)
    known = Path(env["CSU_KNOWN_HOSTS_FILE"])
    other_host = f"example.org {planted_key(tmp_path, 'ed25519')}\n"
    old = [planted_key(tmp_path, kind) for kind in ("ecdsa", "rsa")]
    host = f"[127.0.0.1]:{shell_server.port}"
    write_file(known, (other_host + "".join(f"{host} {key}\n" for key in old)).encode())

    bare = agent("enroll", env, args=["--replace-host-key"])
    assert bare.returncode == 2, bare.stderr
    assert "add --fingerprint" in bare.stderr
    wrong = agent("enroll", env, args=["--replace-host-key", "--fingerprint", "SHA256:" + "A" * 43])
    assert wrong.returncode == 3, wrong.stderr
    assert "not the fingerprint given" in wrong.stderr
    assert known.read_text().count("\n") == 3  # nothing written

    replaced = agent(
        "enroll",
        env,
        args=["--replace-host-key", "--fingerprint", shell_server.host_key_fingerprint],
    )
    assert replaced.returncode == 0, replaced.stderr
    assert "replaced:" in replaced.stdout
    server_key = shell_server.known_hosts.read_text().split()[1:3]
    assert known.read_text() == other_host + f"{host} {' '.join(server_key)}\n"
    assert (known.stat().st_mode & 0o777) == 0o600
    again = agent("enroll", env, args=["--trust"])  # now simply the host's key
    assert again.returncode == 0, again.stderr
    assert "already trusted" in again.stdout
    # the agent connects by it (logging in with the key the server knows)
    upload = agent("once", env | {"CSU_KEY_FILE": str(shell_server.key_file)})
    assert upload.returncode == 0, upload.stderr


@pytest.mark.parametrize(
    "destination",
    ['/srv/upload/st" ,permitopen="*:*",pty ', "/srv/upload/with space", "/srv/upload/../etc"],
)
def test_a_destination_a_key_line_cannot_hold_is_refused(
    shell_server: SSHServer, tmp_path: Path, destination: str
) -> None:
    env = fresh_station(shell_server, tmp_path, CSU_DST=destination)
    result = agent("enroll", env, args=["--for", "csu-only"])
    assert result.returncode == 2, result.stdout + result.stderr
    assert "cannot go into a key line as it is" in result.stderr
    assert "restrict," not in result.stdout
    assert "Traceback" not in result.stderr
