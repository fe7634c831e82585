"""The connection the settings describe: ``RemoteConnection`` built from ``AgentSettings``.

Settings only declare; this turns them into the transport's options, and says where
host keys accepted on first use are recorded.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..remote import RemoteConnection
from .settings import AgentSettings, secret


def build_connection(settings: AgentSettings) -> RemoteConnection:
    """Return the connection the settings describe; raise ConfigError for bad options."""
    return RemoteConnection(
        settings.host,
        settings.user,
        secret(settings.password),
        port=settings.port,
        key_filename=settings.key_file,
        private_key=secret(settings.private_key),
        passphrase=secret(settings.key_passphrase),
        allow_agent=True,
        known_hosts_file=settings.known_hosts_file,
        known_hosts=secret(settings.known_hosts),
        host_key_fingerprint=settings.host_key_fingerprint,
        accept_new_host_key=settings.accept_new_host_key,
        accepted_host_keys_file=accepted_keys_file(settings),
        connect_timeout=settings.connect_timeout,
        io_timeout=settings.io_timeout,
        keepalive_seconds=settings.keepalive_seconds,
        compress=settings.compression,
    )


def accepted_keys_file(settings: AgentSettings) -> Path | None:
    """Return where host keys accepted on first use are recorded: the known_hosts file
    where the agent may write it, else the private state folder (a read-only root, a
    ``:ro`` mount, or known_hosts given as text)."""
    if not settings.accept_new_host_key:
        return None
    given = settings.known_hosts_file
    if given is not None and settings.known_hosts is None:
        target = given.expanduser()
        folder_writable = os.access(target.parent, os.W_OK)
        if os.access(target, os.W_OK) or (not target.exists() and folder_writable):
            return target
    return settings.state_dir / "accepted_host_keys"
