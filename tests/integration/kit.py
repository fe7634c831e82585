"""The server kit's test bench: a real sshd configured from exactly the kit's files, and
stations added to it with the kit's add-station (shared by the kit's own tests and the
hostile-station suite).

The sshd's configuration ends with ``Include deploy/server/csu-upload.conf`` (the file as
it ships); stations are added with ``deploy/server/add-station`` as an admin would
(accounts ``csu-kit-<hex>``, keys in the real ``/etc/ssh/authorized_keys/``, folders below
``/srv``; all removed again), with the repository's csu-only as their forced command and
login shell.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paramiko
import pytest

from circadian_scp_upload import RemoteConnection
from tests.conftest import tree, write_file
from tests.integration.helpers import ROOT, agent_env, day
from tests.sshd_server import SSHServer, can_run_sshd, running_sshd

KIT = ROOT / "deploy" / "server"
CSU_ONLY = KIT / "csu-only"
ADD_STATION = KIT / "add-station"
REMOVE_STATION = KIT / "remove-station"
INSTALL = KIT / "install.sh"
CONF = KIT / "csu-upload.conf"
KEYS_DIR = Path("/etc/ssh/authorized_keys")
GROUP = "csu-upload"
READ_GROUP = "csu-read"  # add-station's default readers' group
STATIONS_DIR = Path("/etc/csu-upload/stations")  # add-station's records
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
PAST_DAY = day(-2)
STATION_GECOS = "circadian-scp-upload station"  # what add-station gives the accounts it makes


def group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture(scope="module")
def system_state() -> Iterator[None]:
    """Skip where no sshd can run; afterwards remove the group and the keys folder the
    kit created on this machine, if they were not here before."""
    reason = can_run_sshd()
    if reason is not None:
        pytest.skip(reason)
    had_group, had_keys = group_exists(GROUP), KEYS_DIR.exists()
    had_readers, had_records = group_exists(READ_GROUP), STATIONS_DIR.exists()
    yield
    if not had_keys and KEYS_DIR.is_dir() and not any(KEYS_DIR.iterdir()):
        KEYS_DIR.rmdir()
    if not had_records and STATIONS_DIR.is_dir() and not any(STATIONS_DIR.iterdir()):
        STATIONS_DIR.rmdir()
        with contextlib.suppress(OSError):
            STATIONS_DIR.parent.rmdir()
    for name, had in ((GROUP, had_group), (READ_GROUP, had_readers)):
        if not had and group_exists(name):
            subprocess.run(["groupdel", name], check=False, capture_output=True)


@pytest.fixture(scope="module")
def kit_server(system_state: None) -> Iterator[SSHServer]:
    """A real sshd whose configuration ends with the kit's csu-upload.conf, as is."""
    workdir = Path(tempfile.mkdtemp(prefix="csu-kit-sshd-"))
    with running_sshd(workdir, extra_config=f"Include {CONF}\n") as server:
        yield server


@dataclass
class Station:
    """A station's account to be: its name, the upload root and its key pair."""

    user: str
    root: Path
    key: Path

    @property
    def folder(self) -> Path:
        return self.root / self.user

    @property
    def keys_file(self) -> Path:
        return KEYS_DIR / self.user

    @property
    def public_key(self) -> str:
        return self.key.with_suffix(".pub").read_text().strip()


@pytest.fixture
def station(system_state: None, tmp_path: Path) -> Iterator[Station]:
    """A fresh station name, root and key; the account (and a group of its name), its
    keys and its root removed afterwards."""
    name = f"csu-kit-{os.urandom(4).hex()}"
    key = tmp_path / "station_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True
    )
    found = Station(user=name, root=Path("/srv") / f"{name}-root", key=key)
    try:
        yield found
    finally:
        if user_exists(name):  # --force: a session sshd is still closing does not stop it
            subprocess.run(["userdel", "--force", name], check=False, capture_output=True)
        if group_exists(name):  # a test's own group, or one userdel left
            subprocess.run(["groupdel", name], check=False, capture_output=True)
        found.keys_file.unlink(missing_ok=True)
        (STATIONS_DIR / f"{name}.conf").unlink(missing_ok=True)
        shutil.rmtree(found.root, ignore_errors=True)


def add_station(
    station: Station, *options: str, key: str | None = None, server: SSHServer | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the kit's add-station for ``station`` (its .pub file unless ``key``), with
    the repository's csu-only as the forced command and login shell unless told."""
    env = dict(os.environ)
    if not any(option.startswith("--command") for option in options):
        options = (*options, "--command", str(CSU_ONLY))
    if server is not None:  # add-station checks the account against this sshd's config
        env["SSHD_CONFIG"] = str(server.workdir / "sshd_config")
    return subprocess.run(
        [
            str(ADD_STATION),
            *options,
            "--root",
            str(station.root),
            station.user,
            key if key is not None else str(station.key.with_suffix(".pub")),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def upload_env(server: SSHServer, station: Station, src: Path, **extra: str) -> dict[str, str]:
    """The agent's environment for uploading ``src`` into the station's folder."""
    env = agent_env(server, src, station.folder / "station data")
    env.update(CSU_USER=station.user, CSU_KEY_FILE=str(station.key), **extra)
    return env


def station_data(src: Path) -> dict[str, bytes]:
    """One past day with small files, hostile names and files streamed as large ones."""
    folder = src / PAST_DAY
    write_file(folder / "a.txt", b"a\n" * 100)
    write_file(folder / "with space 'quoted' $(touch pwned).txt", b"hostile\n" * 50)
    write_file(folder / "sub" / "deeper" / "data.bin", os.urandom(70_000))
    write_file(folder / "big 'one' back\\slash.bin", os.urandom(1024 * 1024 + 7))
    write_file(folder / "large.bin", os.urandom(600_000))
    return tree(src)


def decision(stderr: str, server: SSHServer) -> str:
    """The server decision the agent logged (one line)."""
    where = f"127.0.0.1:{server.port}: "
    lines = [
        line.split(where, 1)[1]
        for line in stderr.splitlines()
        if where in line and "; verification: " in line
    ]
    assert len(lines) == 1, stderr[-4000:]
    return lines[0]


def ssh_client(
    server: SSHServer, station: Station, password: str | None = None
) -> paramiko.SSHClient:
    """A plain paramiko client logged in as the station: its key, or ``password``."""
    client = paramiko.SSHClient()
    client.load_host_keys(str(server.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        "127.0.0.1",
        port=server.port,
        username=station.user,
        password=password,
        key_filename=None if password else str(station.key),
        allow_agent=False,
        look_for_keys=False,
        timeout=10,
        auth_timeout=10,
    )
    return client


def connection(server: SSHServer, station: Station) -> RemoteConnection:
    """The library's connection, logged in as the station with its key."""
    return RemoteConnection(
        server.host,
        station.user,
        None,
        port=server.port,
        key_filename=station.key,
        known_hosts_file=server.known_hosts,
        allow_agent=False,
        connect_timeout=10.0,
        io_timeout=20.0,
    )


def sshd_log(server: SSHServer) -> str:
    return (server.workdir / "sshd.log").read_text(errors="replace")[-3000:]
