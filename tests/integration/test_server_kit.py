"""The server kit (deploy/server/) against a real sshd configured from exactly its files.

The sshd's configuration ends with ``Include deploy/server/csu-upload.conf`` (the file as
it ships); stations are added with ``deploy/server/add-station`` as an admin would
(accounts ``csu-kit-<hex>``, keys in the real ``/etc/ssh/authorized_keys/``, folders below
``/srv``; all removed again), and the agent's CLI uploads through them. add-station never
takes over an account that is not a station's: root, system accounts and groups, other
people's accounts (without ``--adopt``) and folders are refused with nothing changed.
"""

from __future__ import annotations

import grp
import io
import json
import os
import pwd
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import paramiko
import pytest

from tests.conftest import tree
from tests.integration.helpers import agent, leftovers, status_of
from tests.integration.kit import (
    ADD_STATION,
    CONF,
    CSU_ONLY,
    GROUP,
    INSTALL,
    KEYS_DIR,
    PAST_DAY,
    READ_GROUP,
    REMOVE_STATION,
    SSHD,
    STATION_GECOS,
    STATIONS_DIR,
    Station,
    add_station,
    connection,
    decision,
    group_exists,
    ssh_client,
    sshd_log,
    station_data,
    upload_env,
    user_exists,
)
from tests.sshd_server import SSHServer

pytestmark = pytest.mark.integration


def test_default_mode_uploads_over_sftp_only_and_gives_no_shell(
    kit_server: SSHServer, station: Station, tmp_path: Path
) -> None:
    added = add_station(station, server=kit_server)
    assert added.returncode == 0, added.stderr
    assert f"CSU_USER={station.user}\n" in added.stdout
    assert f"CSU_DST={station.folder}\n" in added.stdout
    assert "warning" not in added.stderr, added.stderr  # sshd reads the root-owned keys
    assert pwd.getpwnam(station.user).pw_shell == str(CSU_ONLY)  # no shell reads its files
    command = f"{CSU_ONLY} --sftp-only {station.folder}"
    assert station.keys_file.read_text() == (f'restrict,command="{command}" {station.public_key}\n')

    src = tmp_path / "src"
    before = station_data(src)
    result = agent("once", upload_env(kit_server, station, src))
    assert result.returncode == 0, result.stderr[-4000:] + sshd_log(kit_server)
    assert decision(result.stderr, kit_server).startswith("no shell")
    assert "read back over SFTP" in decision(result.stderr, kit_server)
    assert tree(station.folder / "station data") == before
    assert leftovers(station.folder) == []
    assert not list(station.folder.rglob("pwned"))

    with ssh_client(kit_server, station) as client:
        stdin, stdout, _stderr = client.exec_command("id", timeout=10)
        stdin.channel.shutdown_write()  # what runs instead (an SFTP server) sees the end
        said = stdout.read()
        assert b"uid=" not in said
        assert station.user.encode() not in said
        transport = client.get_transport()
        assert transport is not None
        channel = transport.open_session()
        with pytest.raises(paramiko.SSHException):
            channel.get_pty()  # PermitTTY no
        channel.close()

    # A password is no way in for the group's members, even where the rest allows it.
    password = "kit-" + os.urandom(8).hex()
    subprocess.run(["chpasswd"], input=f"{station.user}:{password}", text=True, check=True)
    with pytest.raises(paramiko.BadAuthenticationType) as refused:
        ssh_client(kit_server, station, password=password)
    assert refused.value.allowed_types == ["publickey"]


def test_csu_only_mode_hashes_on_the_server_and_writes_only_below_the_root(
    kit_server: SSHServer, station: Station, tmp_path: Path
) -> None:
    added = add_station(station, "--csu-only", server=kit_server)
    assert added.returncode == 0, added.stderr
    assert "warning" not in added.stderr, added.stderr
    assert pwd.getpwnam(station.user).pw_shell == str(CSU_ONLY)
    command = f"{CSU_ONLY} {station.folder}"
    assert station.keys_file.read_text() == (f'restrict,command="{command}" {station.public_key}\n')

    src = tmp_path / "src"
    before = station_data(src)
    result = agent("once", upload_env(kit_server, station, src, CSU_REMOVE_AFTER_UPLOAD="true"))
    assert result.returncode == 0, result.stderr[-4000:] + sshd_log(kit_server)
    said = decision(result.stderr, kit_server)
    assert said.startswith("a POSIX shell; verification: SHA-256 on the server"), said
    assert "sync of its folder before local removal" in said, said
    assert tree(station.folder / "station data") == before
    assert leftovers(station.folder) == []
    assert not list(station.folder.rglob("pwned"))
    # removed locally only after the server's `sync` (csu-only's fsync) succeeded
    assert not (src / PAST_DAY).exists(), result.stderr[-4000:]
    assert "sync failed" not in result.stderr
    # the clock was checked through the wrapper (`date +%s`), and agrees
    assert "could not be checked" not in result.stderr
    offset = status_of(upload_env(kit_server, station, src))["clock_offset_seconds"]
    assert isinstance(offset, float)
    assert abs(offset) < 5

    outside = Path(tempfile.mkdtemp(prefix="csu-kit-outside-"))
    try:
        outside.chmod(0o777)
        target = outside / "x"
        with connection(kit_server, station) as remote:
            refused = remote.run(f"cat > {shlex.quote(str(target))}", b"intruder\n")
            assert refused.exit_status != 0
            assert b"is not below" in refused.stderr
            assert not target.exists()

            (outside / "victim").write_bytes(b"kept\n")
            (outside / "victim").chmod(0o666)
            (station.folder / "link").symlink_to(outside / "victim")
            (station.folder / "folder link").symlink_to(outside)
            for through in ("link", "folder link/victim", "folder link/new"):
                path = shlex.quote(str(station.folder / through))
                written = remote.run(f"cat > {path}", b"owned\n")
                assert written.exit_status != 0, through
                assert b"is a link: not followed" in written.stderr, written.stderr
            assert (outside / "victim").read_bytes() == b"kept\n"
            assert not (outside / "new").exists()

            ran = remote.run("id")
            assert ran.exit_status != 0
            assert b"uid=" not in ran.stdout
            assert b"refused" in ran.stderr

            inside = shlex.quote(str(station.folder / "ok.txt"))
            assert remote.run(f"cat > {inside}", b"fine\n").exit_status == 0
            assert (station.folder / "ok.txt").read_bytes() == b"fine\n"
    finally:
        shutil.rmtree(outside, ignore_errors=True)


def test_add_station_is_idempotent_and_refuses_garbage(station: Station) -> None:
    for _ in range(2):  # the second run: an account and a folder add-station made itself
        added = add_station(station)
        assert added.returncode == 0, added.stderr
    assert "already in" in added.stdout
    assert pwd.getpwnam(station.user).pw_gecos == STATION_GECOS
    lines = station.keys_file.read_text().splitlines()
    assert lines == [
        f'restrict,command="{CSU_ONLY} --sftp-only {station.folder}" {station.public_key}'
    ]

    keys = station.keys_file.stat()
    assert (keys.st_uid, keys.st_gid, stat.S_IMODE(keys.st_mode)) == (0, 0, 0o644)
    folder = station.folder.stat()
    assert folder.st_uid == pwd.getpwnam(station.user).pw_uid
    # the readers' group (the office, downstream processing), never the stations' one,
    # and no station is in it: no station reads another's data
    readers = grp.getgrnam(READ_GROUP)
    assert folder.st_gid == readers.gr_gid
    assert folder.st_gid != grp.getgrnam(GROUP).gr_gid
    assert station.user not in readers.gr_mem
    assert stat.S_IMODE(folder.st_mode) == 0o2750  # setgid: what it makes is readers' too
    assert stat.S_ISDIR(folder.st_mode)
    kdir = KEYS_DIR.stat()
    assert (kdir.st_uid, kdir.st_gid, stat.S_IMODE(kdir.st_mode)) == (0, 0, 0o755)
    assert station.user in grp.getgrnam(GROUP).gr_mem

    # The same key with other options (pasted from elsewhere), now for csu-only: the
    # one line changes its options, no second line.
    pasted = f'restrict,command="internal-sftp -l INFO",no-pty {station.public_key}'
    added = add_station(station, "--csu-only", key=pasted)
    assert added.returncode == 0, added.stderr
    command = f"{CSU_ONLY} {station.folder}"
    assert station.keys_file.read_text().splitlines() == [
        f'restrict,command="{command}" {station.public_key}'
    ]
    # --no-jail, said on purpose with --sftp-only: OpenSSH's own SFTP server and no login
    # shell at all, or csu-only told so (a run that says nothing of the mode keeps it)
    added = add_station(station, "--sftp-only", "--no-jail")
    assert added.returncode == 0, added.stderr
    assert "not jailed (--no-jail)" in added.stdout
    assert (
        station.keys_file.read_text() == f'restrict,command="internal-sftp" {station.public_key}\n'
    )
    assert pwd.getpwnam(station.user).pw_shell == "/usr/sbin/nologin"
    added = add_station(station, "--no-jail", "--csu-only")
    assert added.returncode == 0, added.stderr
    command = f"{CSU_ONLY} --no-jail {station.folder}"
    assert station.keys_file.read_text() == f'restrict,command="{command}" {station.public_key}\n'
    assert pwd.getpwnam(station.user).pw_shell == str(CSU_ONLY)


@pytest.mark.parametrize(
    "garbage",
    [
        "ssh-ed25519 AAAAnot-base64-at-all!",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGarbageGarbageGarbageGarbageGarbage",
        "hello world",
        'command="x" ssh-ed25519',
        "ssh-ed25519 AAAA\nssh-ed25519 BBBB",
    ],
)
def test_add_station_writes_nothing_for_a_key_that_is_none(station: Station, garbage: str) -> None:
    refused = add_station(station, key=garbage)
    assert refused.returncode != 0
    assert "public key" in refused.stderr, refused.stderr
    assert not station.keys_file.exists()
    assert not user_exists(station.user)
    assert not station.root.exists()


def test_install_puts_the_kit_in_place_and_sshd_accepts_it(
    system_state: None, tmp_path: Path
) -> None:
    bin_dir, sbin_dir, conf_dir = tmp_path / "bin", tmp_path / "sbin", tmp_path / "sshd_config.d"
    host_key = tmp_path / "host_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
    config = tmp_path / "sshd_config"
    config.write_text(f"Include {conf_dir}/*.conf\nHostKey {host_key}\nUsePAM no\n")
    env = dict(
        os.environ,
        BIN_DIR=str(bin_dir),
        SBIN_DIR=str(sbin_dir),
        SSHD_CONFIG_DIR=str(conf_dir),
        SSHD_CONFIG=str(config),
        RELOAD="no",
    )
    for attempt in range(2):  # a second run changes nothing and still passes
        installed = subprocess.run(
            [str(INSTALL)], env=env, capture_output=True, text=True, timeout=60
        )
        assert installed.returncode == 0, installed.stdout + installed.stderr
        assert "warning" not in installed.stderr, installed.stderr
        assert ("up to date" in installed.stdout) == (attempt == 1), installed.stdout
    for path, source, mode in (
        (bin_dir / "csu-only", CSU_ONLY, 0o755),
        (sbin_dir / "add-station", ADD_STATION, 0o755),
        (sbin_dir / "remove-station", REMOVE_STATION, 0o755),
        (conf_dir / "csu-upload.conf", CONF, 0o644),
    ):
        info = path.stat()
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, 0, mode), path
        assert path.read_bytes() == source.read_bytes()
    assert group_exists(GROUP)
    assert group_exists(READ_GROUP)
    assert KEYS_DIR.is_dir()
    assert STATIONS_DIR.is_dir()
    checked = subprocess.run([SSHD, "-t", "-f", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


@dataclass(frozen=True)
class Account:
    """What add-station could change about an account, to compare before and after."""

    entry: tuple[object, ...]  # its passwd entry: uid, gid, GECOS, home, shell
    groups: str  # id -nG
    keys: bytes | None  # /etc/ssh/authorized_keys/USER
    in_group: bool  # a member of csu-upload
    group_exists: bool  # csu-upload exists

    @classmethod
    def of(cls, user: str) -> Account:
        keys = KEYS_DIR / user
        groups = subprocess.run(["id", "-nG", user], capture_output=True, text=True, check=True)
        return cls(
            entry=tuple(pwd.getpwnam(user)),
            groups=groups.stdout,
            keys=keys.read_bytes() if keys.exists() else None,
            in_group=group_exists(GROUP) and user in grp.getgrnam(GROUP).gr_mem,
            group_exists=group_exists(GROUP),
        )


def assert_refused(refused: subprocess.CompletedProcess[str], *said: str) -> None:
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert refused.stderr.startswith("add-station: "), refused.stderr
    for words in said:
        assert words in refused.stderr, refused.stderr
    assert refused.stdout == ""  # no step was taken (each one says so)


@pytest.mark.parametrize(
    "mode",
    [[], ["--csu-only"], ["--adopt"], ["--csu-only", "--adopt"]],
    ids=["sftp", "csu-only", "adopt", "csu-only-adopt"],
)
def test_add_station_refuses_root_and_changes_nothing(station: Station, mode: list[str]) -> None:
    """A station whose CSU_USER is root: the admin pastes what enroll printed."""
    assert not (KEYS_DIR / "root").exists()  # else this machine's root already has one
    before = Account.of("root")
    as_root = Station(user="root", root=station.root, key=station.key)
    refused = add_station(as_root, *mode)
    assert_refused(
        refused,
        "'root' is a system account (uid 0): a station needs its own account;"
        " choose another CSU_USER on the station",
    )
    assert Account.of("root") == before
    assert not (KEYS_DIR / "root").exists()
    assert not station.root.exists()


@pytest.mark.parametrize("name", ["daemon", "www-data", "nobody"])
@pytest.mark.parametrize(
    "mode", [[], ["--adopt"], ["--csu-only", "--adopt"]], ids=["sftp", "adopt", "csu-only-adopt"]
)
def test_add_station_refuses_system_accounts_even_with_adopt(
    station: Station, name: str, mode: list[str]
) -> None:
    if not user_exists(name):
        pytest.skip(f"no account {name} on this machine")
    had_keys = (KEYS_DIR / name).exists()
    before = Account.of(name)
    refused = add_station(Station(user=name, root=station.root, key=station.key), *mode)
    uid = pwd.getpwnam(name).pw_uid
    assert_refused(
        refused,
        f"'{name}' is a system account (uid {uid}, outside UID_MIN..UID_MAX",
        "choose another CSU_USER on the station",
        "--adopt never applies to system accounts",
    )
    assert Account.of(name) == before  # nologin stays: --csu-only would have made it /bin/sh
    assert (KEYS_DIR / name).exists() == had_keys
    assert not station.root.exists()


def test_add_station_refuses_a_system_account_marked_as_a_station(station: Station) -> None:
    """The uid decides before the GECOS: a system account is never a station's."""
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--comment", STATION_GECOS, station.user],
        check=True,
    )
    before = Account.of(station.user)
    refused = add_station(station, "--adopt")
    assert_refused(refused, f"'{station.user}' is a system account")
    assert Account.of(station.user) == before
    assert not station.keys_file.exists()
    assert not station.root.exists()


def test_add_station_adopts_an_ordinary_account_only_when_told(
    kit_server: SSHServer, station: Station
) -> None:
    subprocess.run(
        ["useradd", "--shell", "/bin/bash", "--comment", "Someone Else", station.user],
        check=True,
    )
    before = Account.of(station.user)
    uid = pwd.getpwnam(station.user).pw_uid
    for mode in ([], ["--csu-only"]):
        refused = add_station(station, *mode, server=kit_server)
        assert_refused(
            refused,
            f"'{station.user}' is an existing account (uid {uid}) that add-station did not"
            " make: a station needs its own account; choose another CSU_USER on the station,"
            " or, if this account is meant for the station alone, run again with --adopt",
        )
        assert Account.of(station.user) == before
        assert not station.keys_file.exists()
        assert not station.root.exists()

    # useradd locks the password ("!"): without PAM (this sshd: UsePAM no) sshd then
    # refuses keys too, which add-station says, changing no password itself
    adopted = add_station(station, "--adopt", server=kit_server)
    assert adopted.returncode == 0, adopted.stderr
    assert "adopting the existing account" in adopted.stdout
    assert "its password is locked" in adopted.stderr, adopted.stderr
    subprocess.run(["usermod", "--password", "*", station.user], check=True)
    for _ in range(2):  # adopting is idempotent too
        adopted = add_station(station, "--adopt", server=kit_server)
        assert adopted.returncode == 0, adopted.stderr
        assert "adopting the existing account" in adopted.stdout
        assert "already in" in adopted.stdout
        assert "warning" not in adopted.stderr, adopted.stderr  # sshd reads its root-owned keys
    after = pwd.getpwnam(station.user)
    # its bash is gone: sshd would run the forced command through it, and bash reads the
    # ~/.bashrc the station can write over SFTP
    assert (after.pw_uid, after.pw_gecos, after.pw_shell) == (uid, "Someone Else", str(CSU_ONLY))
    assert station.user in grp.getgrnam(GROUP).gr_mem
    command = f"{CSU_ONLY} --sftp-only {station.folder}"
    assert station.keys_file.read_text() == (f'restrict,command="{command}" {station.public_key}\n')
    folder = station.folder.stat()
    assert (folder.st_uid, stat.S_IMODE(folder.st_mode)) == (uid, 0o2750)
    # adopting marks nothing: the next run needs --adopt again
    assert_refused(add_station(station), "run again with --adopt")

    with ssh_client(kit_server, station) as client:  # the adopted account, SFTP only
        sftp = client.open_sftp()
        sftp.putfo(io.BytesIO(b"adopted\n"), str(station.folder / "hello.txt"))
        sftp.close()
    assert (station.folder / "hello.txt").read_bytes() == b"adopted\n"


@pytest.mark.parametrize("group", ["shadow", "sudo", "disk"])
def test_add_station_refuses_a_name_that_is_a_system_group(station: Station, group: str) -> None:
    """useradd would make that group the new account's own: /etc/shadow over SFTP."""
    if not group_exists(group) or user_exists(group):
        pytest.skip(f"no group {group} without an account of that name here")
    before = grp.getgrnam(group)
    refused = add_station(Station(user=group, root=station.root, key=station.key), "--adopt")
    assert_refused(refused, f"'{group}' is a system group (gid {before.gr_gid}")
    assert not user_exists(group)
    assert grp.getgrnam(group) == before
    assert not (KEYS_DIR / group).exists()
    assert not station.root.exists()


def test_add_station_uses_an_ordinary_group_of_the_name_only_without_members(
    station: Station,
) -> None:
    subprocess.run(["groupadd", station.user], check=True)
    subprocess.run(["gpasswd", "-a", "nobody", station.user], check=True, capture_output=True)
    refused = add_station(station)
    assert_refused(refused, f"group '{station.user}'", "has members (nobody)")
    assert not user_exists(station.user)
    assert not station.root.exists()

    subprocess.run(["gpasswd", "-d", "nobody", station.user], check=True, capture_output=True)
    added = add_station(station)  # an empty group of that name: the account's own
    assert added.returncode == 0, added.stderr
    assert pwd.getpwnam(station.user).pw_gid == grp.getgrnam(station.user).gr_gid


def test_add_station_refuses_a_folder_that_is_not_the_stations(station: Station) -> None:
    """ROOT/USER comes from the station's CSU_DST: never chown someone else's folder."""
    station.folder.mkdir(parents=True)
    (station.folder / "kept").write_bytes(b"kept\n")
    before = station.folder.stat()
    refused = add_station(station)
    assert_refused(refused, f"{station.folder} already exists and belongs to root (uid 0)")
    assert not user_exists(station.user)
    assert not station.keys_file.exists()
    after = station.folder.stat()
    assert (after.st_uid, after.st_gid, after.st_mode) == (
        before.st_uid,
        before.st_gid,
        before.st_mode,
    )


def test_a_key_rotation_keeps_the_stations_options_and_retires_the_old_key(
    kit_server: SSHServer, station: Station, tmp_path: Path
) -> None:
    """The record keeps what the first run was told (--csu-only, --root): a rotation with
    --replace-key says only the new key, and the old key no longer logs in."""
    added = add_station(station, "--csu-only", server=kit_server)
    assert added.returncode == 0, added.stderr
    record = (STATIONS_DIR / f"{station.user}.conf").read_text()
    assert f"root={station.root}\n" in record
    assert "csu_only=yes\n" in record
    new_key = tmp_path / "rotated_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "rotated", "-f", str(new_key)],
        check=True,
    )
    refused = add_station(station, key=new_key.with_suffix(".pub").read_text().strip())
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "only with --add-key" in refused.stderr  # the name may be another station's
    rotated = subprocess.run(
        [
            str(ADD_STATION),
            "--command",
            str(CSU_ONLY),
            "--replace-key",
            station.user,
            str(new_key.with_suffix(".pub")),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SSHD_CONFIG": str(kit_server.workdir / "sshd_config")},
    )  # no --root, no --csu-only: the record's
    assert rotated.returncode == 0, rotated.stderr
    assert "removed 1 other key(s)" in rotated.stdout
    public = new_key.with_suffix(".pub").read_text().strip()
    assert station.keys_file.read_text() == (
        f'restrict,command="{CSU_ONLY} {station.folder}" {public}\n'
    )
    with pytest.raises(paramiko.AuthenticationException):
        ssh_client(kit_server, station).close()  # the old key
    client = ssh_client(kit_server, Station(station.user, station.root, new_key))
    try:
        _stdin, stdout, _stderr = client.exec_command("date +%s")
        assert stdout.read().strip().isdigit()  # csu-only's commands: still --csu-only
    finally:
        client.close()


def test_the_office_reads_every_station_and_no_station_reads_another(
    kit_server: SSHServer, station: Station, tmp_path: Path
) -> None:
    """A reader in the read group lists and reads a station's upload (files the station
    made inherit the group); a second station cannot even list the first one's folder."""
    added = add_station(station, server=kit_server)
    assert added.returncode == 0, added.stderr
    src = tmp_path / "src"
    station_data(src)
    uploaded = agent("once", upload_env(kit_server, station, src))
    assert uploaded.returncode == 0, uploaded.stderr
    reader = f"csu-rd-{os.urandom(3).hex()}"
    subprocess.run(["useradd", "--no-create-home", "-G", READ_GROUP, reader], check=True)
    try:
        listed = subprocess.run(
            [
                "setpriv",
                f"--reuid={reader}",
                f"--regid={reader}",
                "--init-groups",
                "--",
                "find",
                str(station.folder),
                "-type",
                "f",
                "-name",
                "a.txt",
                "-exec",
                "cat",
                "{}",
                "+",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout == "a\n" * 100
        other = Station(f"{station.user}x", station.root, station.key)
        try:
            assert add_station(other, key=station.public_key).returncode == 0
            peek = ssh_client(kit_server, other).open_sftp()
            with pytest.raises((PermissionError, FileNotFoundError)):  # jailed: not even there
                peek.listdir(str(station.folder))
            peek.close()
        finally:
            subprocess.run(["userdel", "--force", other.user], check=False, capture_output=True)
            subprocess.run(["groupdel", other.user], check=False, capture_output=True)
            other.keys_file.unlink(missing_ok=True)
            (STATIONS_DIR / f"{other.user}.conf").unlink(missing_ok=True)
    finally:
        subprocess.run(["userdel", reader], check=False, capture_output=True)


def remove_station(user: str, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REMOVE_STATION), *options, user], capture_output=True, text=True, timeout=60
    )


def fleet_of(root: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return agent_cli("fleet", str(root), "--stations", str(STATIONS_DIR), *options)


def agent_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "circadian_scp_upload", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_enrolled_station_that_never_reported_is_missing_from_the_fleet(
    kit_server: SSHServer, station: Station, tmp_path: Path
) -> None:
    """The kit knows every station it enrolled: one that never reached the server (its
    key not yet used, a report it cannot write) has a MISSING row, and the fleet fails;
    once it uploaded and reported, its row is an ordinary one."""
    assert add_station(station, server=kit_server).returncode == 0
    before = fleet_of(station.root, "--json")
    assert before.returncode == 1, before.stderr
    [row] = [row for row in json.loads(before.stdout) if row["station"] == station.user]
    assert row["state"] == "MISSING"
    assert "never reached the server" in row["notes"][0]
    assert "1 missing (enrolled, never reported)" in before.stderr
    src = tmp_path / "src"
    station_data(src)
    env = upload_env(kit_server, station, src, CSU_STATION=station.user, CSU_REPORT="true")
    uploaded = agent("once", env)
    assert uploaded.returncode == 0, uploaded.stderr
    after = fleet_of(station.root, "--json")
    states = {row["station"]: row["state"] for row in json.loads(after.stdout)}
    assert states[station.user] == "ok", after.stdout


def test_remove_station_revokes_the_key_forgets_the_report_and_keeps_the_data(
    kit_server: SSHServer, station: Station, tmp_path: Path
) -> None:
    assert add_station(station, server=kit_server).returncode == 0
    src = tmp_path / "src"
    station_data(src)
    env = upload_env(kit_server, station, src, CSU_STATION=station.user, CSU_REPORT="true")
    assert agent("once", env).returncode == 0
    held = tree(station.folder / "station data")
    assert held
    removed = remove_station(station.user)
    assert removed.returncode == 0, removed.stderr
    assert "no longer logs in" in removed.stdout
    assert not station.keys_file.exists()
    assert not (STATIONS_DIR / f"{station.user}.conf").exists()
    with pytest.raises(paramiko.AuthenticationException):
        ssh_client(kit_server, station).close()
    assert pwd.getpwnam(station.user).pw_shell == "/usr/sbin/nologin"
    # the data is kept, byte for byte; the report is gone, so the fleet forgets it
    assert {
        path: data
        for path, data in tree(station.folder / "station data").items()
        if "/.csu/" not in f"/{path}"
    } == {path: data for path, data in held.items() if "/.csu/" not in f"/{path}"}
    assert not list(station.folder.rglob(".csu/stations/*.json"))
    assert station.user not in fleet_of(station.root).stdout
    again = remove_station(station.user)  # a second run: nothing left to do, no error
    assert again.returncode == 0, again.stderr


def test_remove_station_archives_the_data_and_never_touches_another_account(
    kit_server: SSHServer, station: Station, tmp_path: Path
) -> None:
    assert add_station(station, server=kit_server).returncode == 0
    (station.folder / "day").mkdir()
    (station.folder / "day" / "a.bin").write_bytes(b"data")
    # what a hostile station leaves behind: links to files of the server's and another
    # station's report folder; the archive must change neither
    victim = tmp_path / "victim.txt"
    victim.write_text("someone else's")
    victim.chmod(0o600)
    other_reports = tmp_path / "other" / ".csu" / "stations"
    other_reports.mkdir(parents=True)
    (other_reports / "other.json").write_text("{}")
    (station.folder / "link.txt").symlink_to(victim)
    (station.folder / ".csu").mkdir()
    (station.folder / ".csu" / "stations").symlink_to(other_reports)
    subprocess.run(["chown", "-hR", f"{station.user}:", str(station.folder)], check=True)
    victim_before = victim.stat()
    archive = station.root / "archive"
    removed = remove_station(station.user, "--archive", str(archive))
    assert removed.returncode == 0, removed.stderr
    [kept] = list(archive.iterdir())
    assert kept.name.startswith(f"{station.user}-")
    assert (kept / "day" / "a.bin").read_bytes() == b"data"
    assert kept.stat().st_uid == 0
    assert kept.stat().st_gid == grp.getgrnam(READ_GROUP).gr_gid
    assert not station.folder.exists()
    assert not user_exists(station.user)  # nothing of the account is left
    after = victim.stat()
    assert (after.st_uid, after.st_gid, after.st_mode) == (
        victim_before.st_uid,
        victim_before.st_gid,
        victim_before.st_mode,
    )
    assert (other_reports / "other.json").read_text() == "{}"  # not a report of its own
    # never an account add-station neither made nor recorded, never a system account
    for other in ("root", "daemon", "nobody"):
        before = tuple(pwd.getpwnam(other))
        refused = remove_station(other)
        assert refused.returncode != 0
        assert "system account" in refused.stderr
        assert tuple(pwd.getpwnam(other)) == before
    ordinary = f"csu-ord-{os.urandom(3).hex()}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh", ordinary], check=True)
    try:
        refused = remove_station(ordinary)
        assert refused.returncode == 1
        assert "neither made nor recorded" in refused.stderr
        assert pwd.getpwnam(ordinary).pw_shell == "/bin/sh"
    finally:
        subprocess.run(["userdel", ordinary], check=False, capture_output=True)


def test_add_station_prints_the_destination_as_an_sshd_chroot_shows_it(
    kit_server: SSHServer, station: Station, tmp_path: Path
) -> None:
    """With the chroot variant of csu-upload.conf, a station sees the upload root as /:
    the CSU_DST add-station prints is the path inside it."""
    host_key = tmp_path / "host_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
    config = tmp_path / "sshd_config"
    config.write_text(
        f"HostKey {host_key}\nUsePAM no\n"
        f"ChrootDirectory {station.root}\nForceCommand internal-sftp\n"
    )
    env = {**os.environ, "SSHD_CONFIG": str(config)}
    added = subprocess.run(
        [
            str(ADD_STATION),
            "--command",
            str(CSU_ONLY),
            "--root",
            str(station.root),
            station.user,
            str(station.key.with_suffix(".pub")),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    assert f"CSU_DST=/{station.user}\n" in added.stdout
    plain = add_station(station, server=kit_server)
    assert f"CSU_DST={station.folder}\n" in plain.stdout
