"""tinysshd (``tinysshd``) under ``tcpserver`` (``ucspi-tcp``): a minimal SSH server that
offers only the cipher chacha20-poly1305@openssh.com, which paramiko does not implement,
so no connection can be made with paramiko. The agent must refuse clearly (exit 3).

Started as ``tcpserver -HRDl0 127.0.0.1 PORT tinysshd -v KEYDIR``; the host keys come from
``tinysshd-makekey``, the known_hosts line from ``tinysshd-printkey``. tinysshd reads
authorized keys from ``~/.ssh/authorized_keys``; the login is never reached.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator

from .common import (
    HOST,
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

TINYSSHD = "/usr/sbin/tinysshd"
MAKEKEY = "/usr/sbin/tinysshd-makekey"
PRINTKEY = "/usr/sbin/tinysshd-printkey"
TCPSERVER = "/usr/bin/tcpserver"
USER = "csu-ix-tinyssh"


@contextlib.contextmanager
def tinysshd() -> Iterator[RunningServer]:
    """Start tinysshd on a free loopback port."""
    require_root()
    require(TINYSSHD, MAKEKEY, PRINTKEY, TCPSERVER)
    ensure_user(USER, "/bin/bash")
    workdir = make_workdir("tinyssh")
    keydir = workdir / "sshkeydir"
    subprocess.run([MAKEKEY, str(keydir)], check=True, capture_output=True)
    printed = subprocess.run([PRINTKEY, str(keydir)], check=True, capture_output=True, text=True)
    public = [line for line in printed.stdout.splitlines() if line.startswith("ssh-")]
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
    known_hosts = known_hosts_file(workdir, port, public)
    log = workdir / "server.log"
    command = [TCPSERVER, "-HRDl0", HOST, str(port), TINYSSHD, "-v", str(keydir)]
    process = start(command, log)
    server = RunningServer(
        kind="tinysshd",
        port=port,
        user=USER,
        password=None,
        key_file=client_key,
        known_hosts=known_hosts,
        landing=landing,
        dst=str(landing),
        decision=None,
        workdir=workdir,
        log=log,
        process=process,
    )
    with running(server):
        wait_for_port(port, process, log)
        yield server
