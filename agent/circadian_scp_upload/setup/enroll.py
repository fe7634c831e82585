"""Enrolment: a new station's key, the line its server's admin installs, and the
server's host key, recorded once the operator has compared it.

``circadian-scp-upload enroll`` runs it. It is non-interactive (every choice is a flag),
so it runs in ``docker compose run --rm`` and in provisioning scripts, and it can be
run again at any time: an existing key is never overwritten, a host key already trusted
is left as it is, and one that changed is refused (any other key for a known host, of
any type); ``--replace-host-key --fingerprint`` replaces it on purpose.
"""

from __future__ import annotations

import posixpath
import re
import shlex
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..config.settings import STATION_KEY, STATION_KNOWN_HOSTS, AgentSettings, secret
from ..errors import ConfigError, HostKeyError
from ..outcomes import Outcome
from ..remote.credentials import (
    Key,
    create_private_key,
    load_private_key,
    public_key_line,
    read_private_key_file,
    rfc4716,
)
from ..remote.hostkeys import (
    fingerprint,
    normalize_fingerprint,
    replace_host_key,
    scan_host_key,
    trust_host_key,
)
from ..remote.paths import normalize_remote

KeyFor = Literal["sftp-only", "csu-only", "proftpd"]
CSU_ONLY = "/usr/local/bin/csu-only"
KIT_ROOT = "/srv/upload"  # add-station's default root
SERVER_KIT = "deploy/server"
# What a path in a key line may hold, as the server kit's add-station says (SAFE_PATH):
# nothing that needs quoting in the key's options or in a shell.
SAFE_PATH = re.compile(r"/[A-Za-z0-9._/+@:-]*")


@dataclass(frozen=True)
class EnrollOptions:
    """What the operator chose: the kind of key line, the upload root of ``csu-only``,
    and whether (and how) to trust the server's host key."""

    key_for: KeyFor = "sftp-only"
    upload_root: str | None = None
    trust: bool = False
    fingerprint: str | None = None
    replace_host_key: bool = False
    public_key_only: bool = False  # print the public key line alone (a file for the admin)


def station_key(settings: AgentSettings, say: Callable[[str], None]) -> Key:
    """Return the station's key: the one configured, made now where the configured file
    (or, with none configured, ``<state dir>/station_key``) does not exist yet."""
    text = secret(settings.private_key)
    if text is not None:
        say("station key: given as text (CSU_PRIVATE_KEY)")
        return load_private_key(text, secret(settings.key_passphrase), "given as text")
    path = (settings.key_file or settings.state_dir / STATION_KEY).expanduser()
    if path.exists():
        key = read_private_key_file(path, secret(settings.key_passphrase))
        say(f"station key: {path} ({key.get_name()} {fingerprint(key)})")
        return key
    key = create_private_key(path)
    say(f"station key: {path} (made now: {key.get_name()} {fingerprint(key)})")
    if settings.key_file is None:
        say("  (the agent logs in with it: its default where CSU_KEY_FILE is not set)")
    return key


def upload_root(settings: AgentSettings, given: str | None) -> str:
    """Return the folder ``csu-only`` confines the station to: given, else the
    destination of the one job, else the common parent of every job's destination.
    Raises ``ConfigError`` for one a key line cannot hold as it is (see ``safe_path``)."""
    if given:
        return safe_path(given.rstrip("/") or "/", "--upload-root")
    folders = [normalize_remote(job.dst) for job in settings.job_list() if job.dst]
    if not folders or not all(folder.startswith("/") for folder in folders):
        raise ConfigError(
            "csu-only needs an absolute upload root: give --upload-root /srv/upload/<station> "
            "(the destinations here are relative to the login folder)"
        )
    return safe_path(posixpath.commonpath(folders), "the upload root (from CSU_DST)")


def safe_path(folder: str, what: str) -> str:
    """Return ``folder`` if a key's ``command="..."`` option can hold it as it is: an
    absolute path other than ``/`` of letters, digits and ``._/+@:-``, without ``.`` or
    ``..`` steps. Anything else (a quote, a space, a backslash) could end the option
    early or split the command, so it is refused, naming the fix."""
    steps = folder.split("/")
    if SAFE_PATH.fullmatch(folder) is None or folder == "/" or {".", ".."} & set(steps):
        raise ConfigError(
            f"{what} {folder!r} cannot go into a key line as it is: give an absolute folder "
            "other than / of letters, digits and ._/+@:- only (no spaces, quotes or ..), "
            "e.g. --upload-root /srv/upload/station-07"
        )
    return folder


def destination(settings: AgentSettings) -> str:
    """Return the common folder of every job's destination ("" where they are relative)."""
    folders = [normalize_remote(job.dst) for job in settings.job_list() if job.dst]
    if not folders or not all(folder.startswith("/") for folder in folders):
        return ""
    return posixpath.commonpath(folders)


def kit_root(folder: str, user: str) -> str | None:
    """Return the ``--root`` for ``add-station``, which makes ``ROOT/USER`` the station's
    folder: the parent of the folder named after the account on the way to ``folder``
    ("" for the kit's default, ``/srv/upload``), or None where there is none (or it
    would be ``/``, which the kit refuses)."""
    parts = folder.split("/")
    if folder.startswith("/") and user in parts:
        root = "/".join(parts[: parts.index(user)])
        if root:  # the kit refuses "/" as its root
            return "" if root == KIT_ROOT else root
    return None


def kit_command(csu_only: bool, folder: str, user: str, public: str) -> list[str]:
    """Return the server kit's ``add-station`` command (every word shell-quoted, so it
    is pasted as it is), and a note where its ``--root`` is for the admin to choose."""
    root = kit_root(folder, user)
    if root and SAFE_PATH.fullmatch(root) is None:
        root = None  # add-station would refuse it: the admin chooses
    words = ["sudo", "add-station", *(["--csu-only"] if csu_only else [])]
    words += ["--root", root] if root else []
    lines = [" ".join(shlex.quote(word) for word in [*words, user, public])]
    if root is None:
        lines.append(
            f"(add --root FOLDER: the folder above {folder or 'the destination'!r} whose "
            f"subfolder {user!r} the station may write; without it {KIT_ROOT})"
        )
    return lines


def key_lines(key: Key, comment: str, options: EnrollOptions, settings: AgentSettings) -> list[str]:
    """Return what the server's admin installs, as lines to print."""
    public = public_key_line(key, comment)
    user = settings.user
    if options.key_for == "proftpd":
        return [
            "For ProFTPD's mod_sftp (SFTPAuthorizedUserKeys), the key in RFC 4716 form:",
            rfc4716(key, comment),
        ]
    if options.key_for == "csu-only":
        root = upload_root(settings, options.upload_root)
        restricted = f'restrict,command="{CSU_ONLY} {root}" {public}'
        kit = kit_command(True, root, user, public)
    else:
        restricted = f'restrict,command="internal-sftp" {public}'
        kit = kit_command(False, destination(settings), user, public)
    return [
        f"public key: {public}",
        "For the server's admin, one of:",
        f"  with the server kit ({SERVER_KIT}, installed by its install.sh):",
        *(f"    {line}" for line in kit),
        f"  or by hand, as a line of a root-owned AuthorizedKeysFile for {user!r}",
        f"  (/etc/ssh/authorized_keys/{user}):",
        f"    {restricted}",
    ]


def host_key_step(
    settings: AgentSettings, options: EnrollOptions, say: Callable[[str], None]
) -> Outcome:
    """Show the server's host key; record it where the agent reads known_hosts when the
    operator trusts it (``--trust``) or its fingerprint equals the one given."""
    key = scan_host_key(settings.host, settings.port, settings.connect_timeout)
    seen = fingerprint(key)
    target = (settings.known_hosts_file or settings.state_dir / STATION_KNOWN_HOSTS).expanduser()
    say(f"server {settings.host}:{settings.port} offers {key.get_name()} {seen}")
    if options.replace_host_key and options.fingerprint is None and not options.trust:
        raise ConfigError(
            "--replace-host-key replaces the recorded host key only with the one whose "
            f"fingerprint the server's admin gave: add --fingerprint (this server offers {seen}; "
            "the admin prints theirs with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`), "
            "or --trust once you have compared it"
        )
    if options.fingerprint is not None:
        wanted = normalize_fingerprint(options.fingerprint)
        if wanted != seen:
            raise HostKeyError(
                f"the server offers {seen}, not the fingerprint given ({wanted}): nothing was "
                "recorded. Check the address, and ask the admin again"
            )
    elif not options.trust:
        say(
            "  compare it with the admin's `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`,"
            f" then record it in {target}: enroll --trust (or enroll --fingerprint {seen})"
        )
        return Outcome.OK
    if options.replace_host_key:
        dropped = replace_host_key(target, settings.host, settings.port, key)
        was = f" (instead of {', '.join(dropped)})" if dropped else ""
        say(f"  replaced: {target} now trusts {key.get_name()} {seen} for it{was}")
    else:
        added = trust_host_key(target, settings.host, settings.port, key)
        say(f"  {'recorded in' if added else 'already trusted in'} {target}")
    if settings.known_hosts_file is None:
        say(
            "  (the agent checks the server by it: its default where CSU_KNOWN_HOSTS_FILE is "
            "not set)"
        )
    return Outcome.OK


def enroll(
    settings: AgentSettings, options: EnrollOptions, say: Callable[[str], None] = print
) -> Outcome:
    """Make or show the station's key, say what the admin installs, and take the host
    key step. Raises the package's errors (the CLI maps them to exit codes)."""
    comment = f"{settings.station or socket.gethostname()} circadian-scp-upload"
    if options.public_key_only:  # stdout: the line alone, for a file (station-07.pub)
        key = station_key(settings, lambda line: print(line, file=sys.stderr))
        say(public_key_line(key, comment))
        return Outcome.OK
    key = station_key(settings, say)
    for line in key_lines(key, comment, options, settings):
        say(line)
    return host_key_step(settings, options, say)
