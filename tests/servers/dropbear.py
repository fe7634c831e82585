"""Dropbear (``dropbear-bin``): the small SSH server of routers, NAS boxes and embedded
Linux. It runs commands through the user's login shell and SFTP through OpenSSH's
``/usr/lib/openssh/sftp-server``. It reads authorized keys only from
``~/.ssh/authorized_keys`` and passwords from ``/etc/shadow``; its host key is made by
``dropbearkey`` in Dropbear's own format.

Started as ``dropbear -F -E -p 127.0.0.1:PORT -r HOSTKEY -P PIDFILE``.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator

from .common import (
    HOST,
    Decision,
    LoginMethod,
    RunningServer,
    chown,
    ensure_user,
    free_port,
    home_of,
    keygen,
    known_hosts_file,
    landing_folder,
    make_workdir,
    require,
    require_root,
    running,
    start,
    wait_for_port,
)

DROPBEAR = "/usr/sbin/dropbear"
DROPBEARKEY = "/usr/bin/dropbearkey"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
USER = "csu-ix-dropbear"
DECISION = Decision(shell=True, server_hash=True, shell_text="a POSIX shell")


@contextlib.contextmanager
def dropbear(login: LoginMethod) -> Iterator[RunningServer]:
    """Start Dropbear on a free loopback port for a ``login`` by password or key."""
    require_root()
    require(DROPBEAR, DROPBEARKEY, SFTP_SERVER)
    password = ensure_user(USER, "/bin/bash")
    workdir = make_workdir("dropbear")
    host_key = workdir / "dropbear_ed25519_host_key"
    subprocess.run(
        [DROPBEARKEY, "-t", "ed25519", "-f", str(host_key)], check=True, capture_output=True
    )
    printed = subprocess.run(
        [DROPBEARKEY, "-y", "-f", str(host_key)], check=True, capture_output=True, text=True
    ).stdout
    public = next(line for line in printed.splitlines() if line.startswith("ssh-ed25519 "))
    client_key = keygen(workdir / "client_ed25519")
    ssh_dir = home_of(USER) / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    authorized = ssh_dir / "authorized_keys"
    authorized.write_text(client_key.with_suffix(".pub").read_text())
    authorized.chmod(0o600)
    for path in (ssh_dir, authorized):
        chown(path, USER)
    landing = landing_folder(workdir, USER)
    port = free_port()
    known_hosts = known_hosts_file(workdir, port, [public])
    log = workdir / "server.log"
    command = [DROPBEAR, "-F", "-E", "-p", f"{HOST}:{port}", "-r", str(host_key)]
    process = start([*command, "-P", str(workdir / "dropbear.pid")], log)
    server = RunningServer(
        kind=f"dropbear-{login}",
        port=port,
        user=USER,
        password=password if login == "password" else None,
        key_file=client_key if login == "key" else None,
        known_hosts=known_hosts,
        landing=landing,
        dst=str(landing),
        decision=DECISION,
        workdir=workdir,
        log=log,
        process=process,
    )
    with running(server):
        wait_for_port(port, process, log)
        yield server
