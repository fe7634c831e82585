"""Real SSH servers of many kinds on loopback, for the interop tier (``tests/interop/``).

Like rclone's ``fstest/testserver/init.d``: one small module per server kind starts a
server installed from Debian's packages (``install.sh`` installs them; nothing here does)
on a free loopback port, with fresh host keys, a known_hosts file, a dedicated login user
(``csu-ix-*``, never the integration tier's ``csu-test``) and a client key. Each is a
context manager yielding a ``RunningServer``: how to log in, where uploads land on this
machine, the destination as the agent must name it, and the decision the agent must log.

``SERVERS`` names every case of the matrix: a server kind and its login.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from .common import Decision, RunningServer
from .dropbear import dropbear
from .openssh import openssh
from .proftpd import proftpd
from .tinyssh import tinysshd

Starter = Callable[[], AbstractContextManager[RunningServer]]

SERVERS: dict[str, Starter] = {
    "openssh-bash": lambda: openssh("bash"),
    "openssh-fish": lambda: openssh("fish"),
    "openssh-noisy-bashrc": lambda: openssh("noisy"),
    "openssh-chroot-sftp-only": lambda: openssh("chroot"),
    "openssh-restrict-key": lambda: openssh("restrict"),
    "openssh-forced-command-wrapper": lambda: openssh("wrapper"),
    "dropbear-password": lambda: dropbear("password"),
    "dropbear-key": lambda: dropbear("key"),
    "proftpd-password": lambda: proftpd("password"),
    "proftpd-key": lambda: proftpd("key"),
}
# Servers paramiko cannot talk to at all: the agent must refuse clearly.
UNREACHABLE: dict[str, Starter] = {"tinysshd": tinysshd}

__all__ = ["SERVERS", "UNREACHABLE", "Decision", "RunningServer"]
