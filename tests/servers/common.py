"""What every interop server shares: the object a test gets, users, keys, ports, processes.

Nothing here installs software (``install.sh`` does, from Debian's packages); each server
module starts an installed server in the foreground, as a child process in its own
process group, on a free loopback port, and stops it (and everything it forked) again.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

LoginMethod = Literal["password", "key"]
STARTUP_SECONDS = 10.0
HOST = "127.0.0.1"
# One password per user and test process: only the interop tier uses these users.
_PASSWORDS: dict[str, str] = {}


@dataclass(frozen=True)
class Decision:
    """How the agent must handle a server: the line it logs once per connection.

    ``shell``: exec requests run a shell; ``shell_text``: the exact wording of the shell
    part when it is pinned (None: any shell). ``no_shell_detail``: text the "no shell"
    part must contain. ``server_hash``: SHA-256 computed on the server (else read back
    over SFTP). The three SFTP extensions the server announces (OpenSSH: all three).
    """

    shell: bool
    server_hash: bool
    fsync: bool = True
    posix_rename: bool = True
    statvfs: bool = True
    hardlink: bool = True
    shell_text: str | None = None
    no_shell_detail: str = ""
    hashers: str = "openssl dgst -sha256 -r, sha256sum -z"

    def problems(self, line: str) -> list[str]:
        """Given the logged decision (after ``host:port: ``), return what is not as expected."""
        found: list[str] = []
        shell_part, _, rest = line.partition("; verification: ")
        verify, _, rest = rest.partition("; durability: ")
        durability, _, flags = rest.rpartition("; ")
        wanted_durability = (
            "fsync@openssh.com for each file, sync of its folder before local removal"
            if self.shell and self.server_hash and self.fsync
            else "fsync@openssh.com for each file; a rename is not made durable"
            if self.fsync
            else "none offered"
        )
        if not durability.startswith(wanted_durability):
            found.append(f"expected durability {wanted_durability!r}, got {durability!r}")
        if self.shell:
            if shell_part.startswith("no shell"):
                found.append(f"expected a shell, the agent saw {shell_part!r}")
            elif self.shell_text is not None and shell_part != self.shell_text:
                found.append(f"expected {self.shell_text!r}, the agent said {shell_part!r}")
        elif not shell_part.startswith("no shell") or self.no_shell_detail not in shell_part:
            found.append(f"expected no shell ({self.no_shell_detail}), got {shell_part!r}")
        if self.server_hash:
            wanted = f"SHA-256 on the server ({self.hashers})"
            if verify != wanted:
                found.append(f"expected verification {wanted!r}, got {verify!r}")
        elif "read back over SFTP" not in verify or "on the server" in verify:
            found.append(f"expected verification by read-back over SFTP, got {verify!r}")
        want_flags = ", ".join(
            f"{name}: {'yes' if on else 'no'}"
            for name, on in (
                ("fsync", self.fsync),
                ("posix-rename", self.posix_rename),
                ("statvfs", self.statvfs),
                ("hardlink", self.hardlink),
            )
        )
        if flags != want_flags:
            found.append(f"expected {want_flags!r}, got {flags!r}")
        return found


@dataclass
class RunningServer:
    """A server under test and everything the agent needs to upload to it.

    ``password`` or ``key_file`` (the other is None) is the login to use. ``landing`` is
    the folder on this machine where uploads to ``dst`` land (inside a chroot ``dst`` is
    the path the server's user sees). ``decision`` is None where no connection can be
    made at all (tinysshd).
    """

    kind: str
    port: int
    user: str
    password: str | None
    key_file: Path | None
    known_hosts: Path
    landing: Path
    dst: str
    decision: Decision | None
    workdir: Path
    log: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    host: str = HOST

    @property
    def where(self) -> str:
        """``host:port`` as the agent names the server."""
        return f"{self.host}:{self.port}"

    def destination(self, name: str) -> tuple[str, Path]:
        """Create the folder ``name`` below the destination, owned by the login user;
        return it as the agent must give it and as it is on this machine."""
        local = self.landing / name
        local.mkdir(parents=True, exist_ok=True)
        chown(local, self.user)
        return f"{self.dst.rstrip('/')}/{name}", local

    def log_text(self) -> str:
        """Return what the server logged so far (for failure messages)."""
        return self.log.read_text(errors="replace")[-4000:]


def free_port() -> int:
    """Return a TCP port on loopback that is free right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def ensure_user(name: str, shell: str) -> str:
    """Create the dedicated login user ``name`` with ``shell`` (once), set a fresh
    password for this process, and return the password."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "-m", "-s", shell, name], check=True)
    if pwd.getpwnam(name).pw_shell != shell:
        subprocess.run(["usermod", "-s", shell, name], check=True)
    home = Path(pwd.getpwnam(name).pw_dir)
    home.mkdir(parents=True, exist_ok=True)
    chown(home, name)
    home.chmod(0o755)
    password = _PASSWORDS.setdefault(name, "ix-" + secrets.token_urlsafe(16))
    subprocess.run(["chpasswd"], input=f"{name}:{password}".encode(), check=True)
    return password


def home_of(user: str) -> Path:
    return Path(pwd.getpwnam(user).pw_dir)


def chown(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def keygen(path: Path, kind: str = "ed25519", pem: bool = False) -> Path:
    """Create an unencrypted OpenSSH key pair at ``path`` (``.pub`` beside it)."""
    command = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(path)]
    if pem:
        command[2:2] = ["-m", "PEM"]
    subprocess.run(command, check=True)
    return path


def known_hosts_file(workdir: Path, port: int, public_keys: Sequence[str]) -> Path:
    """Write a known_hosts file naming ``[127.0.0.1]:port`` with each public key line
    (``type base64 [comment]``); return its path."""
    path = workdir / "known_hosts"
    lines = []
    for key in public_keys:
        kind, blob = key.split()[:2]
        lines.append(f"[{HOST}]:{port} {kind} {blob}\n")
    path.write_text("".join(lines))
    return path


def make_workdir(kind: str, parent: Path | None = None) -> Path:
    """Return a fresh working folder for one server (readable by its users)."""
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"csu-ix-{kind}-", dir=parent))
    workdir.chmod(0o755)
    return workdir


def landing_folder(workdir: Path, user: str, name: str = "station data") -> Path:
    """Create the folder uploads go to (a space in its name), owned by ``user``."""
    landing = workdir / name
    landing.mkdir()
    chown(landing, user)
    return landing


def start(command: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
    """Start a server in the foreground in its own process group, output to ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until something accepts connections on ``port``; raise if the server died."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{process.args!r} exited with {process.returncode} at start:\n"
                + log.read_text(errors="replace")[-2000:]
            )
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listened on port {port} within {STARTUP_SECONDS} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server started by ``start`` and whatever it forked into its group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def running(server: RunningServer, cleanup: Sequence[Path] = ()) -> Iterator[RunningServer]:
    """Yield ``server``; then stop it and remove its working folders."""
    try:
        yield server
    finally:
        stop(server.process)
        for path in (server.workdir, *cleanup):
            shutil.rmtree(path, ignore_errors=True)


def require_root() -> None:
    if os.geteuid() != 0:
        raise RuntimeError("the interop servers log in separate users: run the tests as root")


def require(*paths: str) -> None:
    """Raise naming ``tests/servers/install.sh`` if a server's binary is missing."""
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise RuntimeError(
            f"{', '.join(missing)} not installed: run tests/servers/install.sh "
            "(tests/setup-machine.sh does)"
        )
