"""The documents' paths, walked as written: the technician's (deploy/OPERATOR.md), the
server admin's (docs/server-admin.md) and the office's (docs/monitoring.md).

A fenced ``bash`` block right after a marker ``<!-- path: step N, ROLE -->`` is a step
of the path (``ROLE``: technician, admin or office; ``, receives NAME``: before the step,
the file or folder NAME is handed over from the other side, as by mail or a USB stick).
The steps of the three documents run in the order of their numbers, literally: each block
by ``bash -euo pipefail``, the technician's on this machine (Docker and compose v2, as
root), the admin's and the office's in a Debian server container (tests/container/server)
as root, each side in the folder its last step ended in. A step that fails fails the
walk; so does a changed word that breaks a command.

What the documents do not say is the world around them, set up here: the USB stick (a
folder with the arm64 station bundle, made by deploy/bundle/make-bundles.sh from the
arm64 image, and the same tree bundled as 1.3.0 for the upgrade section's steps), the
server (reachable from the station's containers as data.example.org), and the
instrument, which has written three past days and today into /srv/instrument-data. The
walk ends with those three days on the server byte for byte, the station in the office's
fleet page, and, after the upgrade and the rollback, the first image running again with
its state kept.

Run alone: ``python -m tests.container.doc_paths`` (after tests/setup-machine.sh).
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = (
    ROOT / "deploy" / "OPERATOR.md",
    ROOT / "docs" / "server-admin.md",
    ROOT / "docs" / "monitoring.md",
)
DOCKER = "/usr/bin/docker"
MARK = re.compile(
    r"^[ ]*<!-- path: step (?P<number>\d+), (?P<role>technician|admin|office)"
    r"(?:, receives (?P<receives>[^ ]+))? -->\n(?P<indent>[ ]*)```bash\n(?P<body>.*?)^[ ]*```",
    re.M | re.S,
)
SERVER_ROLES = ("admin", "office")
PROJECT = "circadian-scp-upload"  # install-station.sh's compose project
SERVER = "csu-doc-server"
SERVER_IMAGE = "csu-doc-server:test"
SERVER_NAME = "data.example.org"  # the server's name in the documents
STATION_DIR = Path("/opt/circadian-scp-upload")  # install-station.sh's default
DATA_DIR = Path("/srv/instrument-data")  # the documents' data folder
DATA_OWNER = 10001
QUIET_SECONDS = 5 * 60  # CSU_QUIET_MINUTES' default: the instrument's days must be that old
ARM_IMAGE = "circadian-scp-upload:test-arm64"
UPGRADE_VERSION = "1.3.0"  # the upgrade section's bundle: this tree, named as the next version


@dataclass(frozen=True)
class Step:
    number: int
    role: str
    receives: str | None
    body: str
    doc: str


def steps() -> list[Step]:
    """Return the marked steps of the three documents, in the order of their numbers;
    raise ValueError for a number used twice or out of order within a document."""
    found: list[Step] = []
    for doc in DOCS:
        numbers = []
        for match in MARK.finditer(doc.read_text()):
            body = textwrap.dedent(match["body"])
            number = int(match["number"])
            numbers.append(number)
            name = doc.relative_to(ROOT).as_posix()
            found.append(Step(number, match["role"], match["receives"], body, name))
        if numbers != sorted(numbers):
            raise ValueError(f"{doc}: path steps out of order: {numbers}")
    seen = [step.number for step in found]
    if len(seen) != len(set(seen)):
        raise ValueError(f"a path step number is used twice: {sorted(seen)}")
    return sorted(found, key=lambda step: step.number)


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload, no-any-return]


def must(command: list[str], **kwargs: object) -> str:
    result = run(command, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: exit {result.returncode}\n{result.stderr}")
    return result.stdout


@dataclass
class Walk:
    """Both sides of the path: where each stands, and what each started with."""

    usb: Path  # the technician's starting folder
    cwd: dict[str, str] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.start = {"technician": str(self.usb), "server": "/root"}
        self.cwd = dict(self.start)

    @staticmethod
    def side(role: str) -> str:
        return "server" if role in SERVER_ROLES else "technician"

    def hand_over(self, name: str, to: str) -> None:
        """Hand ``name`` to side ``to``: the technician takes it from the USB stick (where
        it started) if it is there; else it comes from the other side, from where that
        stands, else from where it started."""
        if to == "technician" and (self.usb / name).exists():
            shutil.copy(self.usb / name, Path(self.cwd["technician"]) / name)
            return
        source = "technician" if to == "server" else "server"
        for folder in (self.cwd[source], self.start[source]):
            path = f"{folder}/{name}"
            if source == "technician" and os.path.exists(path):
                must([DOCKER, "cp", path, f"{SERVER}:{self.cwd['server']}/"])
                return
            if (
                source == "server"
                and run([DOCKER, "exec", SERVER, "test", "-e", path]).returncode == 0
            ):
                must([DOCKER, "cp", f"{SERVER}:{path}", f"{self.cwd['technician']}/"])
                return
        raise RuntimeError(f"{name}: the {source} has no such file to hand over")

    def take(self, step: Step) -> subprocess.CompletedProcess[str]:
        """Run one step as written; return what it printed."""
        side = self.side(step.role)
        if step.receives:
            self.hand_over(step.receives, side)
        script = step.body + '\nprintf "\\n@@cwd %s\\n" "$PWD"\n'
        started = time.monotonic()
        if side == "technician":
            result = run(
                ["bash", "-euo", "pipefail", "-c", script], cwd=self.cwd[side], timeout=1200
            )
        else:
            result = run(
                [
                    DOCKER,
                    "exec",
                    "-i",
                    "-w",
                    self.cwd[side],
                    SERVER,
                    "bash",
                    "-euo",
                    "pipefail",
                    "-c",
                    script,
                ],
                timeout=1200,
            )
        took = time.monotonic() - started
        said = f"== step {step.number} ({step.role}, {step.doc}) in {took:.0f} s: "
        said += f"exit {result.returncode}"
        self.log += [said, result.stdout[-3000:], result.stderr[-3000:]]
        print(said, file=sys.stderr)
        marks = [line for line in result.stdout.splitlines() if line.startswith("@@cwd ")]
        if marks:
            self.cwd[side] = marks[-1].removeprefix("@@cwd ")
        return result


def make_instrument_data() -> dict[str, bytes]:
    """The instrument's days: three past ones and today, owned by its user; return the
    past days' files as the server must end up holding them."""
    if DATA_DIR.exists():
        shutil.rmtree(DATA_DIR)
    today = datetime.date.today()
    expected = {}
    for offset in (3, 2, 1, 0):
        day = (today - datetime.timedelta(days=offset)).strftime("%Y%m%d")
        folder = DATA_DIR / day
        folder.mkdir(parents=True)
        spectrum = os.urandom(200_000 + offset)
        (folder / "spectrum.bin").write_bytes(spectrum)
        (folder / "log.txt").write_text(f"{day}\n")
        noon = datetime.datetime.combine(
            today - datetime.timedelta(days=offset), datetime.time(12)
        ).timestamp()
        for path in folder.iterdir():
            os.utime(path, (noon, noon))
        if offset:
            expected[f"{day}/spectrum.bin"] = spectrum
            expected[f"{day}/log.txt"] = f"{day}\n".encode()
    for path in [DATA_DIR, *DATA_DIR.rglob("*")]:
        os.chown(path, DATA_OWNER, DATA_OWNER)
    return expected


def wait_until_quiet() -> None:
    """The instrument finished its past days at least CSU_QUIET_MINUTES ago (their change
    times, which no one can set back, are when they were written here)."""
    newest = max(path.stat().st_ctime for path in DATA_DIR.rglob("*"))
    remaining = newest + QUIET_SECONDS + 5 - time.time()
    if remaining > 0:
        print(f"the instrument's days become quiet in {remaining:.0f} s", file=sys.stderr)
        time.sleep(remaining)


def start_server() -> None:
    """The Debian server, on the station's compose network as data.example.org (the
    network made with compose's own labels, so the station's compose takes it as its
    own), pip told the site's CA (a TLS-intercepting proxy's, as many sites have)."""
    base = os.environ.get("CSU_LOCAL_BASE", "csu-local/debian-python:bookworm")
    args = (
        ["--build-arg", f"BASE_IMAGE={base}"]
        if run([DOCKER, "image", "inspect", base]).returncode == 0
        else []
    )
    must(
        [
            DOCKER,
            "build",
            "-q",
            *args,
            "-t",
            SERVER_IMAGE,
            str(ROOT / "tests" / "container" / "server"),
        ]
    )
    network = f"{PROJECT}_default"
    run([DOCKER, "rm", "-f", SERVER])
    run([DOCKER, "network", "rm", network])
    must(
        [
            DOCKER,
            "network",
            "create",
            "--label",
            "com.docker.compose.network=default",
            "--label",
            f"com.docker.compose.project={PROJECT}",
            network,
        ]
    )
    must(
        [
            DOCKER,
            "run",
            "-d",
            "--name",
            SERVER,
            "--hostname",
            "data",
            "--security-opt",
            "seccomp=unconfined",  # bubblewrap's jail (docs/server-admin.md)
            "--network",
            network,
            "--network-alias",
            SERVER_NAME,
            SERVER_IMAGE,
        ]
    )
    ca = Path("/etc/ssl/certs/ca-certificates.crt")
    if ca.exists():
        must([DOCKER, "cp", str(ca), f"{SERVER}:/etc/ssl/certs/site-ca.crt"])
        must(
            [
                DOCKER,
                "exec",
                SERVER,
                "sh",
                "-c",
                "printf '[global]\\ncert = /etc/ssl/certs/site-ca.crt\\n' > /etc/pip.conf",
            ]
        )


def clean_up(image_was_there: bool) -> None:
    if (STATION_DIR / "docker-compose.yml").exists():
        run(["docker", "compose", "down", "-v", "--remove-orphans"], cwd=STATION_DIR)
    run([DOCKER, "rm", "-f", SERVER])
    run([DOCKER, "network", "rm", f"{PROJECT}_default"])
    run([DOCKER, "volume", "rm", f"{PROJECT}_state"])
    shutil.rmtree(STATION_DIR, ignore_errors=True)
    shutil.rmtree(DATA_DIR, ignore_errors=True)
    version = project_version()
    for tag in (f"{version}-arm64", UPGRADE_VERSION, f"{UPGRADE_VERSION}-arm64"):
        run([DOCKER, "rmi", f"circadian-scp-upload:{tag}"])
    if not image_was_there:
        run([DOCKER, "rmi", f"circadian-scp-upload:{version}"])


def project_version() -> str:
    found = re.search(r'^version = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert found is not None
    return found[1]


def walk(expected: dict[str, bytes] | None = None) -> tuple[Walk, dict[str, bytes]]:
    """Walk every path; return the walk (its log) and what the server must hold (the
    instrument's days: made now unless ``expected`` says they were made earlier). Raises
    AssertionError where a step failed or the end is not as the documents say."""
    if (STATION_DIR / ".env").exists():
        raise RuntimeError(f"{STATION_DIR} holds a station on this machine: the walk refuses")
    version = project_version()
    image_was_there = (
        run([DOCKER, "image", "inspect", f"circadian-scp-upload:{version}"]).returncode == 0
    )
    if run([DOCKER, "image", "inspect", ARM_IMAGE]).returncode != 0:
        must(["bash", str(ROOT / "tests" / "container" / "build-images.sh"), "linux/arm64"])
    if expected is None:
        expected = make_instrument_data()
    usb = Path(tempfile.mkdtemp(prefix="csu-usb-"))
    try:
        for named in ([], ["--as-version", UPGRADE_VERSION]):  # this one, and "the next"
            must(
                [
                    str(ROOT / "deploy" / "bundle" / "make-bundles.sh"),
                    "--arch",
                    "arm64",
                    "--image",
                    f"arm64={ARM_IMAGE}",
                    "--out",
                    str(usb),
                    *named,
                ],
                env={**os.environ, "PYTHON": sys.executable},
                timeout=900,
            )
        start_server()
        wait_until_quiet()
        the_walk = Walk(usb)
        for step in steps():
            result = the_walk.take(step)
            assert result.returncode == 0, "\n".join(the_walk.log[-9:])
        held = must(
            [
                DOCKER,
                "exec",
                SERVER,
                "sh",
                "-c",
                "cd /srv/upload/station-07 && find . -path ./.csu -prune -o -type f -print | sort",
            ]
        )
        for name, data in expected.items():
            assert f"./{name}" in held.splitlines(), held
            copy = must(
                [DOCKER, "exec", SERVER, "sha256sum", f"/srv/upload/station-07/{name}"]
            ).split()[0]
            assert copy == hashlib.sha256(data).hexdigest(), name
        page = must([DOCKER, "exec", SERVER, "cat", "/var/lib/csu-fleet/index.html"])
        assert "station-07" in page
        # after the upgrade and the rollback: the old image again, the state kept (the
        # key and the host key: check --write logged in), one agent running
        env_file = (STATION_DIR / ".env").read_text()
        assert f"CSU_IMAGE=circadian-scp-upload:{version}\n" in env_file, env_file
        running = must(["docker", "compose", "ps", "--format", "{{.Image}}"], cwd=STATION_DIR)
        assert running.split() == [f"circadian-scp-upload:{version}"], running
        return the_walk, expected
    finally:
        shutil.rmtree(usb, ignore_errors=True)
        if os.environ.get("CSU_KEEP_WALK") != "1":
            clean_up(image_was_there)


if __name__ == "__main__":
    done, _ = walk()
    print("\n".join(done.log))
