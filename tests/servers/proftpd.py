"""ProFTPD 1.3.8 with mod_sftp (``proftpd-core`` + ``proftpd-mod-crypto``): an SFTP
server of its own, as hosted SFTP services and NAS boxes run it. It refuses every exec
request (the channel closes: paramiko raises "Channel closed." on a link that is fine),
so there is no shell: the agent verifies by reading files back over SFTP.

Started as ``proftpd -n -c CONFIG`` (foreground) with a generated standalone config on
``127.0.0.1:PORT``: an ed25519 host key, password logins checked against /etc/shadow
(``mod_auth_unix``), and authorized keys in RFC 4716 format (``ssh-keygen -e``).
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
    ensure_user,
    free_port,
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

PROFTPD = "/usr/sbin/proftpd"
MODULES = "/usr/lib/proftpd"
USER = "csu-ix-proftpd"
# mod_sftp 1.3.8 announces (its default SFTPExtensions) fsync@openssh.com,
# posix-rename@openssh.com and statvfs@openssh.com among others.
DECISION = Decision(shell=False, server_hash=False)


@contextlib.contextmanager
def proftpd(login: LoginMethod) -> Iterator[RunningServer]:
    """Start ProFTPD's mod_sftp on a free loopback port for a ``login`` by password or key."""
    require_root()
    require(PROFTPD, f"{MODULES}/mod_sftp.so")
    password = ensure_user(USER, "/bin/bash")
    workdir = make_workdir("proftpd")
    host_key = keygen(workdir / "host_ed25519")
    client_key = keygen(workdir / "client_ed25519")
    authorized = workdir / "authorized_keys"
    authorized.write_text(
        subprocess.run(
            ["ssh-keygen", "-e", "-f", str(client_key.with_suffix(".pub"))],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    landing = landing_folder(workdir, USER)
    port = free_port()
    known_hosts = known_hosts_file(workdir, port, [host_key.with_suffix(".pub").read_text()])
    config = workdir / "proftpd.conf"
    config.write_text(
        f"""\
ServerType standalone
ServerName "csu interop"
DefaultAddress {HOST}
SocketBindTight on
Port {port}
UseIPv6 off
User nobody
Group nogroup
WtmpLog off
DelayEngine off
ScoreboardFile {workdir}/proftpd.scoreboard
PidFile {workdir}/proftpd.pid
SystemLog {workdir}/system.log
ModulePath {MODULES}
LoadModule mod_sftp.c
AuthOrder mod_auth_unix.c
RequireValidShell off
Umask 022
AllowOverwrite on
AllowStoreRestart on
SFTPEngine on
SFTPLog {workdir}/sftp.log
SFTPHostKey {host_key}
SFTPAuthorizedUserKeys file:{authorized}
SFTPAuthMethods publickey password
"""
    )
    log = workdir / "server.log"
    process = start([PROFTPD, "-n", "-c", str(config)], log)
    server = RunningServer(
        kind=f"proftpd-{login}",
        port=port,
        user=USER,
        password=password if login == "password" else None,
        key_file=client_key if login == "key" else None,
        known_hosts=known_hosts,
        landing=landing,
        dst=str(landing),
        decision=DECISION,
        workdir=workdir,
        log=workdir / "sftp.log",
        process=process,
    )
    with running(server):
        wait_for_port(port, process, log)
        yield server
