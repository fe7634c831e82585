"""A real, throwaway OpenSSH server on loopback, for the integration tests and the benchmark.

Each server gets a free port, its own ed25519 host key, its own known_hosts line, a
login user with a password and an authorized key, and optionally ``ForceCommand
internal-sftp`` (an SFTP-only server without a shell). sshd runs in the foreground
(``-D -e``) as a child process and is stopped with the fixture.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from circadian_scp_upload import RemoteConnection

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
TEST_USER = "csu-test"
STARTUP_SECONDS = 10.0
PASSWORD_FILE = Path("/var/tmp/csu-test-password")


def _machine_password() -> str:
    """One password per machine for the one login user, made once and kept (0600):
    test processes that run side by side (the compat tier's nested run, the benchmark,
    a second session) would otherwise reset each other's password."""
    try:
        return PASSWORD_FILE.read_text().strip() or secrets.token_urlsafe(16)
    except FileNotFoundError:
        pass
    password = secrets.token_urlsafe(16)
    try:
        draft = PASSWORD_FILE.with_name(f"{PASSWORD_FILE.name}.{os.getpid()}")
        draft.write_text(password)
        draft.chmod(0o600)
        os.link(draft, PASSWORD_FILE)  # atomic: the first process's password wins
        draft.unlink()
    except FileExistsError:
        draft.unlink()
        return PASSWORD_FILE.read_text().strip()
    except OSError:  # not root, or no /var/tmp: a password of this process
        return password
    return password


TEST_PASSWORD = _machine_password()


@dataclass
class SSHServer:
    """A running sshd and everything a client needs to log in to it."""

    port: int
    user: str
    password: str
    key_file: Path
    known_hosts: Path
    host_key_fingerprint: str
    workdir: Path
    sftp_only: bool
    process: subprocess.Popen[bytes] = field(repr=False)
    host: str = "127.0.0.1"
    remote_root: Path | None = None  # where new_remote_dir makes folders (else workdir)

    def connection(self, **options: Any) -> RemoteConnection:
        """Return a RemoteConnection to this server (key login unless options say otherwise)."""
        defaults: dict[str, Any] = {
            "port": self.port,
            "key_filename": self.key_file,
            "known_hosts_file": self.known_hosts,
            "allow_agent": False,
            "connect_timeout": 10.0,
            "io_timeout": 20.0,
        }
        defaults.update(options)
        password = defaults.pop("password", None)
        return RemoteConnection(self.host, self.user, password, **defaults)

    def new_remote_dir(self, name: str) -> Path:
        """Create a folder on the 'server' owned by the login user; return its path."""
        path = (self.remote_root or self.workdir / "remote") / name
        path.mkdir(parents=True)
        _chown_tree(path, self.user)
        return path

    def stop(self) -> None:
        """Stop sshd and every session it forked (a stock sshd's destinations too)."""
        if self.remote_root is not None:
            shutil.rmtree(self.remote_root, ignore_errors=True)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def can_run_sshd() -> str | None:
    """Return None if a test sshd can run here, else the reason it cannot."""
    if not Path(SSHD).exists():
        return "OpenSSH server not installed (apt-get install openssh-server)"
    if os.geteuid() != 0:
        return "the test sshd must run as root to log in a separate, unprivileged user"
    return None


def ensure_test_user(password: str) -> None:
    """Create the unprivileged login user once, and set its password."""
    try:
        pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "-m", "-s", "/bin/bash", TEST_USER], check=True)
    subprocess.run(["chpasswd"], input=f"{TEST_USER}:{password}".encode(), check=True)


def free_port() -> int:
    """Return a TCP port on loopback that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_sshd(workdir: Path, sftp_only: bool = False, extra_config: str = "") -> SSHServer:
    """Start sshd on a free loopback port with fresh keys in ``workdir``; return it."""
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    password = TEST_PASSWORD
    ensure_test_user(password)
    host_key = workdir / "host_ed25519"
    client_key = workdir / "client_ed25519"
    for key in (host_key, client_key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    authorized = workdir / "authorized_keys"
    shutil.copy(client_key.with_suffix(".pub"), authorized)
    authorized.chmod(0o644)
    port = free_port()
    host_pub = host_key.with_suffix(".pub").read_text().split()
    known_hosts = workdir / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    fingerprint = subprocess.run(
        ["ssh-keygen", "-lf", str(host_key.with_suffix(".pub"))],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[1]
    config = workdir / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n"
        f"PidFile {workdir / 'sshd.pid'}\nUsePAM no\nPasswordAuthentication yes\n"
        "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
        f"AuthorizedKeysFile {authorized}\nStrictModes no\nSubsystem sftp internal-sftp\n"
        "PermitRootLogin prohibit-password\nLogLevel VERBOSE\nMaxStartups 100:30:200\n"
        "MaxSessions 100\nMaxAuthTries 10\n"
        + ("ForceCommand internal-sftp\n" if sftp_only else "")
        + extra_config
    )
    log = (workdir / "sshd.log").open("wb")
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
    _wait_for_port(port, process)
    return SSHServer(
        port=port,
        user=TEST_USER,
        password=password,
        key_file=client_key,
        known_hosts=known_hosts,
        host_key_fingerprint=fingerprint,
        workdir=workdir,
        sftp_only=sftp_only,
        process=process,
    )


STOCK_CONFIG = Path("/etc/ssh/sshd_config")
STOCK_HOST_KEY = Path("/etc/ssh/ssh_host_ed25519_key.pub")


def start_stock_sshd(workdir: Path) -> SSHServer:
    """Start Debian's sshd as installed: its own /etc/ssh/sshd_config (UsePAM yes, the
    external sftp-server, privilege separation), its host keys, the user's own
    ~/.ssh/authorized_keys (StrictModes), on a free loopback port; destinations in the
    user's home (a disk-backed filesystem). Only the port and the pid file are given."""
    if not STOCK_CONFIG.is_file() or not STOCK_HOST_KEY.is_file():
        raise RuntimeError("no stock sshd configuration here (apt-get install openssh-server)")
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    ensure_test_user(TEST_PASSWORD)
    entry = pwd.getpwnam(TEST_USER)
    home = Path(entry.pw_dir)
    client_key = workdir / "client_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(client_key)], check=True
    )
    dot_ssh = home / ".ssh"
    dot_ssh.mkdir(mode=0o700, exist_ok=True)
    authorized = dot_ssh / "authorized_keys"
    authorized.write_text(client_key.with_suffix(".pub").read_text())
    authorized.chmod(0o600)
    for path in (dot_ssh, authorized):
        os.chown(path, entry.pw_uid, entry.pw_gid)
    port = free_port()
    known_hosts = workdir / "known_hosts"  # every host key: clients choose different ones
    known_hosts.write_text(
        "".join(
            "[127.0.0.1]:{} {} {}\n".format(port, *public.read_text().split()[:2])
            for public in sorted(STOCK_HOST_KEY.parent.glob("ssh_host_*_key.pub"))
        )
    )
    fingerprint = subprocess.run(
        ["ssh-keygen", "-lf", str(STOCK_HOST_KEY)], check=True, capture_output=True, text=True
    ).stdout.split()[1]
    remote_root = home / f"bench-{workdir.name}"
    remote_root.mkdir(exist_ok=True)
    os.chown(remote_root, entry.pw_uid, entry.pw_gid)
    log = (workdir / "sshd.log").open("wb")
    command = [SSHD, "-D", "-e", "-f", str(STOCK_CONFIG), "-o", f"Port={port}"]
    command += ["-o", "ListenAddress=127.0.0.1", "-o", f"PidFile={workdir / 'sshd.pid'}"]
    process = subprocess.Popen(command, stdout=log, stderr=log)
    _wait_for_port(port, process)
    return SSHServer(
        port=port,
        user=TEST_USER,
        password=TEST_PASSWORD,
        key_file=client_key,
        known_hosts=known_hosts,
        host_key_fingerprint=fingerprint,
        workdir=workdir,
        sftp_only=False,
        process=process,
        remote_root=remote_root,
    )


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited with {process.returncode} at start")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"sshd did not listen on port {port} within {STARTUP_SECONDS} s")


def _chown_tree(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


@contextlib.contextmanager
def running_sshd(
    workdir: Path, sftp_only: bool = False, extra_config: str = ""
) -> Iterator[SSHServer]:
    """Start sshd in ``workdir`` for the duration of a with block (``start_sshd``);
    afterwards stop it and remove ``workdir``."""
    server = start_sshd(workdir, sftp_only=sftp_only, extra_config=extra_config)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
