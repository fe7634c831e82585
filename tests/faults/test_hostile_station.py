"""A hostile station against the server kit: every way out of its folder and its forced
command that we could think of, tried with the station's own key against a real sshd
configured from exactly the kit's files (tests/integration/kit.py), in both modes
(``add-station``: SFTP only; ``add-station --csu-only``: SFTP and the agent's commands).

Each attempt would leave a mark in a folder outside the station's, writable by everyone
(``outside``): a file the station's own code made, a file it copied out, a key it added.
At the end of every test that folder is empty and every request was refused. What the
station may do (upload into its folder, the agent's commands there) still works: the
suite is not passed by a server that refuses everything. docs/server-admin.md lists the
same attempts as "what a station can and cannot do".
"""

from __future__ import annotations

import io
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paramiko
import pytest

from circadian_scp_upload.remote.probe import PROBE
from tests.faults.ledger import LEDGER
from tests.integration.kit import CONF, CSU_ONLY, SSHD, Station, add_station, ssh_client
from tests.sshd_server import SSHServer, running_sshd

pytestmark = pytest.mark.integration

MODES = {"sftp-only": [], "csu-only": ["--csu-only"]}
# What the jail shows at its top: the system's programs, a minimal /dev, the account's
# own passwd line, and the path down to the station's folder.
JAIL_TOP = {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "sbin", "srv", "usr"}


def python_version() -> str:
    """The X.Y of the server's /usr/bin/python3 (whose user site-packages a station
    would write)."""
    said = subprocess.run(
        ["/usr/bin/python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return said.stdout.strip()


@pytest.fixture
def outside() -> Iterator[Path]:
    """A folder outside every station's, that anyone may write: where a way out would
    leave its mark."""
    folder = Path(tempfile.mkdtemp(prefix="csu-hostile-", dir="/var/tmp"))
    folder.chmod(0o777)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=sorted(MODES))
def hostile(request: pytest.FixtureRequest, kit_server: SSHServer, station: Station) -> Station:
    """A station added by add-station in one of the two modes."""
    added = add_station(station, *MODES[request.param], server=kit_server)
    assert added.returncode == 0, added.stderr
    return station


def run(client: paramiko.SSHClient, command: str, stdin: bytes = b"") -> tuple[int, bytes]:
    """Run ``command`` as an exec request; return its exit status and all it printed."""
    channel = client.get_transport().open_session(timeout=10)  # type: ignore[union-attr]
    channel.settimeout(20)
    channel.exec_command(command)
    if stdin:
        channel.sendall(stdin)
    channel.shutdown_write()
    said = b""
    while True:
        chunk = channel.recv(65536)
        if not chunk:
            break
        said += chunk
    while channel.recv_stderr_ready():
        said += channel.recv_stderr(65536)
    status = channel.recv_exit_status()
    channel.close()
    return status, said


def session_processes(user: str) -> list[str]:
    """The processes running as ``user`` (its sshd session, sftp-server, the jail)."""
    found = subprocess.run(["pgrep", "-u", user, "-a"], capture_output=True, text=True)
    return found.stdout.splitlines()


def refused(request: Callable[..., object], *args: object) -> None:
    """Assert that the SFTP ``request(*args)`` is refused (an error, any kind)."""
    with pytest.raises(OSError):  # noqa: PT011 - permission, no such file: both refusals
        request(*args)


def read(sftp: paramiko.SFTPClient, path: str) -> bytes:
    with sftp.open(path) as handle:
        return handle.read()


def marks(outside: Path) -> list[str]:
    return sorted(path.name for path in outside.iterdir())


def test_files_a_shell_or_python_would_read_never_run(
    kit_server: SSHServer, hostile: Station, outside: Path
) -> None:
    """The station writes, over SFTP into its home (its folder), every file that an
    interpreter or a shell reads at start: none runs, whatever the station asks next."""
    version = python_version()
    site = f".local/lib/python{version}/site-packages"
    python_mark = f"import os; open({str(outside / 'python')!r}, 'w')"
    files = {
        f"{site}/evil.pth": f"{python_mark}\n",
        f"{site}/usercustomize.py": f"{python_mark}\n",
        "sitecustomize.py": f"{python_mark}\n",
        "shlex.py": f"{python_mark}\n",  # beside the script's cwd: shadowing a module
        ".ssh/environment": f"PYTHONSTARTUP={hostile.folder}/sitecustomize.py\n",
        ".ssh/rc": f"touch {outside}/ssh-rc\n",
        ".ssh/authorized_keys": f"{hostile.public_key}\n",  # without restrict or command
    }
    for name in (".bashrc", ".bash_profile", ".bash_login", ".profile", ".zshenv", ".zshrc"):
        files[name] = f"touch {outside}/{name.lstrip('.')}\n"
    with ssh_client(kit_server, hostile) as client:
        sftp = client.open_sftp()
        for name, text in files.items():
            folder = hostile.folder
            for step in Path(name).parent.parts:
                folder = folder / step
                if not folder.exists():
                    sftp.mkdir(str(folder))
            sftp.putfo(io.BytesIO(text.encode()), str(hostile.folder / name))
        sftp.close()
    for name in files:  # the station did write them all: the attempt is real
        assert (hostile.folder / name).is_file(), name
    LEDGER.faults["hostile station: start-up files written"] += len(files)

    with ssh_client(kit_server, hostile) as client:  # new sessions read them, if anything
        for command in ("id", PROBE, "date +%s", f"cat > {shlex.quote(str(hostile.folder))}/x"):
            run(client, command)
        sftp = client.open_sftp()  # an SFTP session starts through the login shell too
        assert sftp.listdir(str(hostile.folder))
        sftp.close()
        status, said = run(client, "id")
        assert status != 0
        assert b"uid=" not in said
    assert marks(outside) == []


def test_commands_run_nothing_but_what_the_agent_sends(
    kit_server: SSHServer, hostile: Station, outside: Path
) -> None:
    """Shell syntax, quoting, paths out of the folder and near-copies of the agent's own
    commands: nothing runs a program, nothing is read or written outside the folder."""
    folder = shlex.quote(str(hostile.folder))
    mark = shlex.quote(str(outside))
    attempts = [
        f"touch {mark}/plain",
        f"sh -c 'touch {mark}/sh'",
        f"cat > {folder}/x; touch {mark}/semicolon",
        f"cat > {folder}/x && touch {mark}/and",
        f"cat > {folder}/x | touch {mark}/pipe",
        f"cat > {folder}/x\ntouch {mark}/newline",
        f"cat > {folder}/$(touch {mark}/substitution)",
        f"cat > {folder}/`touch {mark}/backtick`",
        f"cat > {mark}/written",
        f"cat >> {mark}/appended",
        f"cat > {folder}/../../../{mark.lstrip('/')}/dotdot",
        f"sha256sum < /etc/shadow; touch {mark}/hash",
        "sha256sum < /etc/shadow",
        "openssl dgst -sha256 -r < /etc/ssh/sshd_config",
        "cd -- / && xargs -0 sha256sum -z --",
        f"cd -- {folder} && xargs -0 sha256sum -z --",
        f"{PROBE}; touch {mark}/probe",
        f"date +%s; touch {mark}/date",
        f"internal-sftp; touch {mark}/sftp",
        "/usr/lib/openssh/sftp-server -d /",
        "/usr/lib/openssh/sftp-server -u 000",
        f"exec touch {mark}/exec",
        f"python3 -c 'open({str(outside / 'python')!r}, \"w\")'",
        f"/bin/bash -c 'touch {mark}/bash'",
    ]
    stdin = b"../../../etc/shadow\0/etc/passwd\0"
    with ssh_client(kit_server, hostile) as client:
        for command in attempts:
            status, said = run(client, command, stdin)
            assert status != 0, (command, said)
            assert b"uid=" not in said, (command, said)
            assert b"root:" not in said, (command, said)
            for line in said.splitlines():  # no digest of a file outside the folder
                assert not line[:64].strip().isalnum() or len(line.split()[0]) != 64, said
        LEDGER.faults["hostile station: commands"] += len(attempts)
        # the station may still do what the agent does, where its mode allows
        status, _said = run(client, f"cat > {folder}/allowed", b"fine\n")
    assert marks(outside) == []
    assert not (outside.parent / "dotdot").exists()
    if (hostile.folder / "allowed").exists():
        assert status == 0
        assert (hostile.folder / "allowed").read_bytes() == b"fine\n"
    else:  # SFTP only: no command at all
        assert status != 0


def test_sftp_sees_the_station_folder_and_nothing_else(
    kit_server: SSHServer, hostile: Station, outside: Path
) -> None:
    """Over SFTP the station reaches its folder only: no system file, no other station,
    no folder to fill, no link out."""
    neighbour = hostile.root / "neighbour"
    neighbour.mkdir(mode=0o755)
    (neighbour / "data.txt").write_text("another station's data\n")
    (neighbour / "data.txt").chmod(0o644)
    secret = outside / "readable"
    secret.write_text("the server's, not the station's\n")
    secret.chmod(0o644)
    with ssh_client(kit_server, hostile) as client:
        sftp = client.open_sftp()
        assert set(sftp.listdir("/")) <= JAIL_TOP, sftp.listdir("/")
        assert sftp.listdir(str(hostile.root)) == [hostile.user]  # no neighbour
        passwd = sftp.open("/etc/passwd").read().decode()
        assert passwd.splitlines() == [passwd.splitlines()[0]]
        assert passwd.startswith(f"{hostile.user}:")
        for path in (
            "/etc/shadow",
            "/etc/ssh/sshd_config",
            "/etc/hostname",
            str(secret),
            str(neighbour / "data.txt"),
            "/proc/self/environ",
            "/root/.ssh/authorized_keys",
        ):
            refused(read, sftp, path)
        for folder in ("/tmp", "/var/tmp", str(outside), "/", "/etc", "/srv", str(hostile.root)):
            refused(sftp.putfo, io.BytesIO(b"fill\n"), f"{folder}/filled")
            refused(sftp.mkdir, f"{folder}/made")
        # links made by the station point into its jail, never out of it
        sftp.symlink("/etc/shadow", str(hostile.folder / "shadow"))
        sftp.symlink(str(outside), str(hostile.folder / "out"))
        sftp.symlink(str(neighbour), str(hostile.folder / "next door"))
        refused(read, sftp, str(hostile.folder / "shadow"))
        refused(sftp.putfo, io.BytesIO(b"through\n"), str(hostile.folder / "out" / "through"))
        refused(sftp.listdir, str(hostile.folder / "next door"))
        refused(sftp.rename, str(hostile.folder / "shadow"), str(outside / "moved"))
        LEDGER.faults["hostile station: SFTP paths"] += 23
        # its own folder works as before
        sftp.putfo(io.BytesIO(b"mine\n"), str(hostile.folder / "mine.txt"))
        assert sftp.open(str(hostile.folder / "mine.txt")).read() == b"mine\n"
        sftp.close()
        # a command through the station's link is refused too (csu-only: not followed)
        status, said = run(client, f"sha256sum < {shlex.quote(str(hostile.folder / 'shadow'))}")
        assert status != 0
        assert b"root:" not in said
    assert marks(outside) == ["readable"]
    assert (neighbour / "data.txt").read_text() == "another station's data\n"


def test_no_forwarding_no_terminal_no_other_subsystem(
    kit_server: SSHServer, hostile: Station
) -> None:
    with ssh_client(kit_server, hostile) as client:
        transport = client.get_transport()
        assert transport is not None
        with pytest.raises(paramiko.ChannelException):
            transport.open_channel(
                "direct-tcpip", ("127.0.0.1", kit_server.port), ("127.0.0.1", 0), timeout=10
            )
        with pytest.raises(paramiko.SSHException):
            transport.request_port_forward("127.0.0.1", 0)
        channel = transport.open_session()
        with pytest.raises(paramiko.SSHException):
            channel.get_pty()
        channel.close()
        channel = transport.open_session()
        channel.settimeout(10)
        channel.invoke_shell()  # a login shell: csu-only, which runs nothing
        assert channel.recv_exit_status() != 0
        channel.close()
        channel = transport.open_session()
        channel.settimeout(10)
        with pytest.raises(paramiko.SSHException):
            channel.invoke_subsystem("exotic")
        channel.close()
        LEDGER.faults["hostile station: forwarding, terminal, shell, subsystem"] += 5


def test_sessions_are_capped_and_dead_ones_end(kit_server: SSHServer, hostile: Station) -> None:
    """MaxSessions: the agent's channels fit (8 SFTP and one for commands), a station
    opening more is refused; ClientAlive*: a dead link's session ends within 2 minutes."""
    with ssh_client(kit_server, hostile) as client:
        transport = client.get_transport()
        assert transport is not None
        opened = [transport.open_session(timeout=10) for _ in range(10)]
        with pytest.raises(paramiko.ChannelException):
            transport.open_session(timeout=10)
        for channel in opened:
            channel.close()
    effective = subprocess.run(
        [
            SSHD,
            "-T",
            "-f",
            str(kit_server.workdir / "sshd_config"),
            "-C",
            f"user={hostile.user},host=station,addr=127.0.0.1",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert "clientaliveinterval 30" in effective
    assert "clientalivecountmax 4" in effective
    assert "maxsessions 10" in effective


def test_a_station_that_stops_answering_is_cut_off(hostile: Station) -> None:
    """A half-open link, as a powered-off station leaves it: the client's socket stays
    open but never answers again. sshd's keep-alives end the session; measured here
    with the kit's interval shortened for the test by an sshd of its own."""
    workdir = Path(tempfile.mkdtemp(prefix="csu-hostile-sshd-"))
    conf = CONF.read_text()
    quick = conf.replace("ClientAliveInterval 30", "ClientAliveInterval 1").replace(
        "ClientAliveCountMax 4", "ClientAliveCountMax 2"
    )
    assert quick != conf
    (workdir / "csu-upload.conf").write_text(quick)
    with running_sshd(workdir, extra_config=f"Include {workdir}/csu-upload.conf\n") as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        transport = paramiko.Transport(sock)
        transport.start_client(timeout=10)
        transport.auth_publickey(
            hostile.user, paramiko.Ed25519Key.from_private_key_file(str(hostile.key))
        )
        channel = transport.open_session(timeout=10)
        channel.invoke_subsystem("sftp")
        assert session_processes(hostile.user), "no sshd session for the station"
        # the station goes silent: paramiko's reader stops, the socket stays open
        transport.stop_thread()
        deadline = time.monotonic() + 20  # 1 s x 2 keep-alives, and time to tidy up
        while session_processes(hostile.user) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not session_processes(hostile.user), "the dead session lives on"
        sock.close()


@pytest.mark.parametrize("shell", ["/bin/bash", "/bin/sh"])
def test_an_adopted_accounts_shell_never_reads_the_stations_files(
    kit_server: SSHServer, station: Station, outside: Path, shell: str
) -> None:
    """An existing account adopted with its own shell and home: bash, run by sshd, reads
    ~/.bashrc even for a command, and the station wrote it (unjailed, over SFTP; here
    root puts it there as the station's own). csu-only replaces the shell in both
    modes, and nothing there runs."""
    subprocess.run(
        ["useradd", "--create-home", "--shell", shell, "--password", "*", station.user],
        check=True,
    )
    home = Path(pwd.getpwnam(station.user).pw_dir)
    try:
        for name in (".bashrc", ".profile", ".bash_profile", ".bash_login"):
            (home / name).write_text(f"touch {outside}/{name.lstrip('.')}\n")
            shutil.chown(home / name, station.user)
        for mode in MODES.values():
            added = add_station(station, "--adopt", *mode, server=kit_server)
            assert added.returncode == 0, added.stderr
            assert pwd.getpwnam(station.user).pw_shell == str(CSU_ONLY)
            with ssh_client(kit_server, station) as client:
                for command in ("id", PROBE, "date +%s"):
                    run(client, command)
                client.open_sftp().close()
            assert marks(outside) == []
            LEDGER.faults["hostile station: adopted shell's start-up files"] += 4
    finally:
        shutil.rmtree(home, ignore_errors=True)
