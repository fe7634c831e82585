"""Host key trust: known_hosts files, pinned fingerprints, and the messages that say how to fix.

Verification is always on. A server is trusted when its key is in the known_hosts file
(OpenSSH's format, ``[host]:port`` entries and hashed names included) or matches a
pinned ``SHA256:...`` fingerprint. Accepting a new key ("trust on first use", OpenSSH's
``StrictHostKeyChecking=accept-new``) is an explicit opt-in; a *changed* key is refused
in every mode.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

import paramiko
from loguru import logger

from ..errors import ConfigError, HostKeyError, TransientError


def fingerprint(key: paramiko.PKey) -> str:
    """Given a public key, return its OpenSSH SHA256 fingerprint (``SHA256:...``)."""
    return str(key.fingerprint)


def normalize_fingerprint(value: str) -> str:
    """Given a pinned fingerprint as users write it, return it as ``fingerprint`` does."""
    text = value.strip()
    if not text.startswith("SHA256:") or len(text) < 20:
        raise ConfigError(
            f"host key fingerprint {value!r} is not of the form 'SHA256:...': print the "
            "server's with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the server"
        )
    return text.rstrip("=")


@dataclass(frozen=True)
class KnownHosts:
    """What a known_hosts file or text says: trusted entries, and revoked keys."""

    entries: tuple[paramiko.hostkeys.HostKeyEntry, ...] = ()
    revoked: frozenset[bytes] = frozenset()  # key blobs (``PKey.asbytes()``)

    def __add__(self, other: KnownHosts) -> KnownHosts:
        return KnownHosts(self.entries + other.entries, self.revoked | other.revoked)


def parse_known_hosts(text: str, origin: str) -> KnownHosts:
    """Given known_hosts content (OpenSSH's format), return its entries and revoked keys.

    ``@revoked`` keys are never trusted, whatever else says; ``@cert-authority`` lines are
    left out with a warning (paramiko verifies no host certificates). Raises
    ``ConfigError`` naming the first line that cannot be read.
    """
    entries = []
    revoked = set()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        marker = ""
        if line.startswith("@"):
            marker, _, line = line.partition(" ")
            line = line.strip()
        if marker == "@cert-authority":
            logger.warning(
                "{}, line {}: a @cert-authority line is left out (host certificates are not "
                "verified): trust the server's own key instead",
                origin,
                number,
            )
            continue
        if marker not in ("", "@revoked"):
            raise ConfigError(f"{origin}, line {number}: unknown marker {marker!r}")
        try:
            entry = paramiko.hostkeys.HostKeyEntry.from_line(line, number)
        except (paramiko.SSHException, paramiko.hostkeys.InvalidHostKey, ValueError) as error:
            raise ConfigError(
                f"{origin}, line {number}, is not a known_hosts line ({error}): give lines "
                "as `ssh-keyscan` prints them"
            ) from None
        if entry is None:
            continue
        if marker == "@revoked":
            revoked.add(entry.key.asbytes())
        else:
            entries.append(entry)
    return KnownHosts(tuple(entries), frozenset(revoked))


def read_known_hosts(path: Path | None) -> KnownHosts:
    """Return what a known_hosts file says (nothing if there is none yet); raise
    ``ConfigError`` for a file that cannot be read or holds a line that is not one."""
    if path is None or not path.exists():
        return KnownHosts()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(
            f"cannot read the known_hosts file {str(path)!r} ({error}): fix or replace it"
        ) from None
    return parse_known_hosts(text, f"the known_hosts file {str(path)!r}")


def trust_entries(client: paramiko.SSHClient, known: KnownHosts) -> None:
    """Add known_hosts entries to a client's trusted keys."""
    host_keys = client.get_host_keys()
    for entry in known.entries:
        if entry.key.asbytes() in known.revoked:
            continue
        for name in entry.hostnames:
            host_keys.add(name, entry.key.get_name(), entry.key)


def revoked_message(hostname: str, key: paramiko.PKey) -> str:
    """Return the refusal of a server that offers a revoked key."""
    return (
        f"the host key of {hostname} ({key.get_name()} {fingerprint(key)}) is marked "
        "@revoked in known_hosts: it is never trusted; nothing was uploaded"
    )


def host_entry_name(host: str, port: int) -> str:
    """Return the name OpenSSH uses for a host in known_hosts (``[host]:port`` off port 22)."""
    return host if port == 22 else f"[{host}]:{port}"


# how a station records a host key (its compose folder), as OPERATOR.md says
ENROLL_COMMAND = "docker compose run --rm circadian-scp-upload enroll --fingerprint"


def _how_to_trust(host: str, port: int, key: paramiko.PKey, known_hosts: Path | None) -> str:
    target = str(known_hosts) if known_hosts is not None else "~/.ssh/known_hosts"
    port_flag = f"-p {port} " if port != 22 else ""
    return (
        f"after checking that {fingerprint(key)} is the server's key (ask its administrator, "
        "or run `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on it), record it: on a "
        f"station, `{ENROLL_COMMAND} {fingerprint(key)}` in its folder; elsewhere "
        f"`ssh-keyscan {port_flag}{host} >> {target}`, or pin it with "
        f"host_key_fingerprint / CSU_HOST_KEY_FINGERPRINT='{fingerprint(key)}'"
    )


class RejectUnknown(paramiko.MissingHostKeyPolicy):
    """Refuse a server whose key is not known, explaining how to trust it."""

    def __init__(self, port: int, known_hosts: Path | None) -> None:
        self.port = port
        self.known_hosts = known_hosts

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        host = hostname.split("]")[0].lstrip("[")
        raise HostKeyError(
            f"the host key of {host_entry_name(host, self.port)} ({key.get_name()} "
            f"{fingerprint(key)}) is not known"
            + (f" in {self.known_hosts}" if self.known_hosts else "")
            + "; "
            + _how_to_trust(host, self.port, key, self.known_hosts)
        )


class PinnedFingerprint(paramiko.MissingHostKeyPolicy):
    """Trust exactly the server key with the pinned fingerprint."""

    def __init__(self, pinned: str) -> None:
        self.pinned = normalize_fingerprint(pinned)

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        if fingerprint(key) != self.pinned:
            raise HostKeyError(
                f"the host key of {hostname} is {key.get_name()} {fingerprint(key)}, not the "
                f"pinned {self.pinned}: the server was replaced or the connection is being "
                "intercepted. If the server's key legitimately changed, pin the new one"
            )


class AcceptNew(paramiko.MissingHostKeyPolicy):
    """Trust the key of a host never seen before, on first use, and record it (OpenSSH's
    ``accept-new``). A host known with any other key, of any type, is refused, and a key
    that cannot be recorded is not trusted: it would be accepted again, whatever it is,
    on the next connection."""

    def __init__(self, record: Path | None, revoked: frozenset[bytes] = frozenset()) -> None:
        self.record, self.revoked = record, revoked

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        if key.asbytes() in self.revoked:
            raise HostKeyError(revoked_message(hostname, key))
        known = client.get_host_keys().lookup(hostname)
        if known:
            raise HostKeyError(
                f"the host key of {hostname} CHANGED: it offered {key.get_name()} "
                f"{fingerprint(key)}, but only {', '.join(sorted(known.keys()))} is trusted "
                f"for it; nothing was uploaded. {replace_hint(key)}"
            )
        if self.record is None:
            raise HostKeyError(
                f"the host key of {hostname} ({key.get_name()} {fingerprint(key)}) is new, "
                "and there is no file to record it in: give a known_hosts file"
            )
        try:
            append_private(self.record, f"{hostname} {key.get_name()} {key.get_base64()}\n")
        except OSError as error:
            raise HostKeyError(
                f"the host key of {hostname} ({key.get_name()} {fingerprint(key)}) is new, "
                f"but it cannot be recorded in {self.record} ({error.strerror}): it is not "
                "trusted. Make that file writable (CSU_STATE_DIR), or trust the key "
                "explicitly (CSU_KNOWN_HOSTS_FILE, CSU_HOST_KEY_FINGERPRINT)"
            ) from None
        logger.warning(
            "trusting the new host key of {} on first use: {} {} (recorded in {})",
            hostname,
            key.get_name(),
            fingerprint(key),
            self.record,
        )
        client.get_host_keys().add(hostname, key.get_name(), key)


def append_private(path: Path, line: str) -> None:
    """Append ``line`` to ``path``, created private (0600), never through a symlink."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(path, flags, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as handle:
        handle.write(line)


REPLACE_COMMAND = "circadian-scp-upload enroll --replace-host-key --fingerprint"
STATION_COMMAND = "docker compose run --rm circadian-scp-upload enroll --replace-host-key"


def replace_hint(key: paramiko.PKey) -> str:
    """Return how to replace a changed host key on purpose (on a station: enroll)."""
    return (
        "If the change is legitimate (the server was reinstalled, or the station moved), "
        f"ask the server's admin whether {fingerprint(key)} is its key, then replace the "
        f"old one: `{REPLACE_COMMAND} {fingerprint(key)}` (a station: `{STATION_COMMAND} "
        f"--fingerprint {fingerprint(key)}` in its folder)"
    )


def changed_key_message(
    host: str, port: int, error: paramiko.BadHostKeyException, known_hosts: Path | None
) -> str:
    """Return the message for a server whose key differs from the trusted one."""
    target = str(known_hosts) if known_hosts is not None else "~/.ssh/known_hosts"
    name = host_entry_name(host, port)
    return (
        f"the host key of {name} CHANGED: it offered {error.key.get_name()} "
        f"{fingerprint(error.key)} but {target} trusts {fingerprint(error.expected_key)}. "
        "The server may have been reinstalled, or the connection is being intercepted; "
        f"nothing was uploaded. {replace_hint(error.key)}; a known_hosts file of your "
        f"own: `ssh-keygen -R '{name}' -f {target}`, then trust the new key"
    )


def scan_host_key(host: str, port: int, timeout: float) -> paramiko.PKey:
    """Return the host key the server offers (its preferred type of those paramiko takes,
    ed25519 first), as ``ssh-keyscan`` would: a key exchange, no login."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as error:
        raise TransientError(
            f"cannot reach {host_entry_name(host, port)} ({error.strerror or error}): check "
            "the host name, the port and the station's network"
        ) from None
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=timeout)
        return transport.get_remote_server_key()
    except (paramiko.SSHException, OSError, EOFError) as error:
        raise TransientError(
            f"no SSH key exchange with {host_entry_name(host, port)} ({error}): is it an SSH "
            "server?"
        ) from None
    finally:
        transport.close()


def _known_for(path: Path, name: str) -> dict[str, paramiko.PKey]:
    """The keys ``path`` trusts for the host entry ``name`` (hashed names included)."""
    known = paramiko.HostKeys()
    for entry in read_known_hosts(path).entries:
        for hostname in entry.hostnames:
            known.add(hostname, entry.key.get_name(), entry.key)
    return dict(known.lookup(name) or {})


def trust_host_key(path: Path, host: str, port: int, key: paramiko.PKey) -> bool:
    """Record ``key`` as the host's in the known_hosts file ``path`` (made private if
    missing); return False when it was there already. A host known with any other key,
    of any type, is refused as CHANGED (nothing written): a man in the middle offers the
    key type the station has not recorded."""
    name = host_entry_name(host, port)
    found = _known_for(path, name)
    if found.get(key.get_name()) == key:
        return False
    if found:
        trusted = ", ".join(f"{kind} {fingerprint(known)}" for kind, known in sorted(found.items()))
        raise HostKeyError(
            f"the host key of {name} CHANGED: it offers {key.get_name()} {fingerprint(key)}, "
            f"but {path} trusts {trusted}; nothing was written. {replace_hint(key)}"
        )
    _record(path, f"{name} {key.get_name()} {key.get_base64()}\n", append=True)
    return True


def replace_host_key(path: Path, host: str, port: int, key: paramiko.PKey) -> list[str]:
    """Make ``key`` the only key ``path`` trusts for the host: every other line for it
    (plain or hashed names, any type) is dropped and the file replaced in one step (a
    crash leaves the old file or the new one). Return the fingerprints dropped."""
    name = host_entry_name(host, port)
    dropped = [
        f"{kind} {fingerprint(known)}" for kind, known in sorted(_known_for(path, name).items())
    ]
    kept = []
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    for raw in text.splitlines():
        line = raw.strip()
        entry = None
        if line and not line.startswith(("#", "@")):
            with contextlib.suppress(
                paramiko.SSHException, paramiko.hostkeys.InvalidHostKey, ValueError
            ):
                entry = paramiko.hostkeys.HostKeyEntry.from_line(line)
        if entry is not None:
            single = paramiko.HostKeys()
            for hostname in entry.hostnames:
                single.add(hostname, entry.key.get_name(), entry.key)
            if single.lookup(name):
                continue  # a line for this host: replaced
        kept.append(raw)
    kept.append(f"{name} {key.get_name()} {key.get_base64()}")
    _record(path, "\n".join(kept) + "\n", append=False)
    return dropped


def _record(path: Path, text: str, append: bool) -> None:
    """Append ``text`` to the known_hosts file ``path`` (or replace the file with it, in
    one rename), created private; a failure names the file and the fix."""
    try:
        if append:
            append_private(path, text)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, draft = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(draft, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(draft)
            raise
    except OSError as error:
        raise ConfigError(
            f"cannot write the known_hosts file {str(path)!r} ({error.strerror}): point "
            "CSU_KNOWN_HOSTS_FILE at a file in the state volume (/state/agent/known_hosts)"
        ) from None
