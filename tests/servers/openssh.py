"""OpenSSH's sshd in five set-ups a station meets, each with its own login user.

- ``bash``: a login shell ``/bin/bash``, SFTP through ``/usr/lib/openssh/sftp-server``
  (Debian's default).
- ``fish``: the same with ``fish`` as the login shell: every exec command is read by fish,
  which quotes differently from a POSIX shell.
- ``noisy``: bash whose ``~/.bashrc`` prints to stdout and stderr before its interactive
  check (a common mistake); Debian's bash reads ``~/.bashrc`` for commands run by sshd.
  SFTP is ``internal-sftp`` (an external sftp-server would be started through that
  ``.bashrc`` and break every SFTP client).
- ``chroot``: an SFTP-only jail (``ChrootDirectory``, ``ForceCommand internal-sftp``),
  password login; the destination inside the jail differs from the path on this machine.
- ``restrict``: login shell ``/bin/false`` and an authorized key with
  ``restrict,command="internal-sftp"``.
- ``wrapper``: an authorized key with ``restrict,command=".../csu-only ROOT"``, the
  forced command of the server kit (``deploy/server/csu-only``, run from the repository
  as it ships, its upload root the landing folder): the agent's commands run, nothing
  else does.

sshd runs in the foreground (``-D -e``) with a generated config, an ed25519 host key and
``AllowUsers`` naming only the set-up's user.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from .common import (
    HOST,
    Decision,
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

Kind = Literal["bash", "fish", "noisy", "chroot", "restrict", "wrapper"]
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
# A chroot and every folder above it must be root's and writable by nobody else: not /tmp.
CHROOT_PARENT = Path("/srv/csu-interop")
SHELLS: dict[Kind, str] = {
    "bash": "/bin/bash",
    "fish": "/usr/bin/fish",
    "noisy": "/bin/bash",
    "chroot": "/bin/bash",
    "restrict": "/bin/false",
    "wrapper": "/bin/bash",
}
CSU_ONLY = Path(__file__).resolve().parents[2] / "deploy" / "server" / "csu-only"
NOISY_BASHRC = """\
# A .bashrc that talks before its interactive check, as some servers' do.
echo "Welcome to the institute's data server. Questions: admin@example.org"
echo "bashrc: warning: environment module system not found" >&2
case $- in
    *i*) ;;
      *) return;;
esac
"""
DECISIONS: dict[Kind, Decision] = {
    "bash": Decision(shell=True, server_hash=True, shell_text="a POSIX shell"),
    # fish is not a POSIX shell: it cannot be given shlex-quoted names, so the agent
    # treats the server as having none (its probe sees fish fail to parse POSIX quoting).
    "fish": Decision(shell=False, server_hash=False, no_shell_detail="fish"),
    "noisy": Decision(shell=True, server_hash=True, shell_text="a POSIX shell"),
    # sshd answers an exec request with "This service allows sftp connections only."
    "chroot": Decision(
        shell=False,
        server_hash=False,
        no_shell_detail="This service allows sftp connections only.",
    ),
    "restrict": Decision(shell=False, server_hash=False),
    "wrapper": Decision(shell=True, server_hash=True, shell_text="a POSIX shell"),
}


def user_of(kind: Kind) -> str:
    return f"csu-ix-{kind}"


@contextlib.contextmanager
def openssh(kind: Kind) -> Iterator[RunningServer]:
    """Start sshd set up as ``kind`` on a free loopback port; stop it afterwards."""
    require_root()
    require(SSHD, SFTP_SERVER)
    user = user_of(kind)
    password = ensure_user(user, SHELLS[kind])
    workdir = make_workdir(f"openssh-{kind}")
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    host_key = keygen(workdir / "host_ed25519")
    client_key = keygen(workdir / "client_ed25519")
    cleanup: list[Path] = []
    if kind == "chroot":
        jail = make_workdir("chroot", parent=CHROOT_PARENT)
        CHROOT_PARENT.chmod(0o755)
        cleanup.append(jail)
        landing = landing_folder(jail, user)
        dst = "/" + landing.name
        extra = f"Match User {user}\n  ChrootDirectory {jail}\n  ForceCommand internal-sftp\n"
    else:
        landing = landing_folder(workdir, user)
        dst = str(landing)
        extra = ""
    options = ""
    if kind == "restrict":
        options = 'restrict,command="internal-sftp" '
    elif kind == "wrapper":
        # the landing folder's name has a space: quoted for the login shell sshd runs it with
        options = f'restrict,command="{CSU_ONLY} {shlex.quote(str(landing))}" '
    authorized = workdir / "authorized_keys"  # root-owned, outside the user's home
    authorized.write_text(options + client_key.with_suffix(".pub").read_text())
    authorized.chmod(0o644)
    if kind == "noisy":
        bashrc = home_of(user) / ".bashrc"
        bashrc.write_text(NOISY_BASHRC)
        chown(bashrc, user)
    subsystem = SFTP_SERVER if kind in ("bash", "fish", "wrapper") else "internal-sftp"
    port = free_port()
    known_hosts = known_hosts_file(workdir, port, [host_key.with_suffix(".pub").read_text()])
    config = workdir / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress {HOST}\nHostKey {host_key}\n"
        f"PidFile {workdir / 'sshd.pid'}\nUsePAM no\nPasswordAuthentication yes\n"
        "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
        f"AuthorizedKeysFile {authorized}\nStrictModes no\nAllowUsers {user}\n"
        f"Subsystem sftp {subsystem}\nLogLevel VERBOSE\nMaxStartups 100:30:200\n"
        "MaxSessions 100\n" + extra
    )
    log = workdir / "server.log"
    process = start([SSHD, "-D", "-e", "-f", str(config)], log)
    server = RunningServer(
        kind=f"openssh-{kind}",
        port=port,
        user=user,
        password=password if kind == "chroot" else None,
        key_file=None if kind == "chroot" else client_key,
        known_hosts=known_hosts,
        landing=landing,
        dst=dst,
        decision=DECISIONS[kind],
        workdir=workdir,
        log=log,
        process=process,
    )
    with running(server, cleanup):
        wait_for_port(port, process, log)
        yield server
