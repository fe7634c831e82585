"""Fixtures of the interop tier: one real server of each kind at a time, station data in
both variants, and the agent's passes over it (each run once per server, then shared).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import not_near_midnight, tree, write_file
from tests.integration.helpers import agent, day
from tests.servers import SERVERS, UNREACHABLE, RunningServer

# a case runs three passes of the agent over minutes: it starts that far from midnight
CASE_MIDNIGHT_MARGIN_SECONDS = 300
FILES_REGEX = r"^%Y%m%d-.*$"
# Over 256 KiB: sent as one large file (a raw exec stream where there is a shell),
# its name quoted on a command line there. Backslashes before a quote and doubled ones
# read differently in fish's single quotes than in a POSIX shell's.
LARGE_HOSTILE = "big 'quoted' $(touch pwned) back\\\\slash it\\'s.bin"
LARGE_PLAIN = "large.bin"
SMALL_HOSTILE = [
    "with space.txt",
    'quote\'single "double".txt',
    "$(touch pwned) `touch pwned`.txt",
    "semi;colon && echo x.txt",
]


def station_data(src: Path) -> None:
    """Write both jobs' data (a few MB): past days, today and tomorrow."""
    for offset in (-3, -2, 0, 1):
        date = day(offset)
        folder = src / "dirs" / date
        for index, name in enumerate(SMALL_HOSTILE):
            write_file(folder / name, f"{date} {name} {index}\n".encode() * 40)
        write_file(folder / "sub dir" / "deeper" / "data.bin", os.urandom(100_000))
        write_file(folder / "sub dir" / "empty.txt", b"")
        write_file(folder / LARGE_HOSTILE, os.urandom(1024 * 1024 + 17))
        write_file(folder / LARGE_PLAIN, os.urandom(600_000))
        write_file(src / "files" / f"{date}-station A.log", f"{date} log\n".encode() * 2000)
        write_file(src / "files" / f"{date}-big $(date).dat", os.urandom(400_000))
    write_file(src / "files" / "README without a date.txt", b"not dated: never uploaded")


@dataclass(frozen=True)
class Snapshot:
    """Every path below a folder with its size and modification time (ns)."""

    entries: dict[str, tuple[int, int]]

    @classmethod
    def of(cls, root: Path) -> Snapshot:
        entries = {}
        for path in sorted(root.rglob("*")):
            info = path.lstat()
            entries[path.relative_to(root).as_posix()] = (info.st_size, info.st_mtime_ns)
        return cls(entries)

    def changes(self, later: Snapshot) -> list[str]:
        """Return the paths that appeared, vanished or changed size or time."""
        keys = sorted(set(self.entries) | set(later.entries))
        return [k for k in keys if self.entries.get(k) != later.entries.get(k)]


@dataclass(frozen=True)
class Step:
    """One run of the agent and the server's folder before and after it."""

    result: subprocess.CompletedProcess[str]
    before: Snapshot
    after: Snapshot


STEPS = (("first", "once"), ("second", "once"), ("check", "check"))


@dataclass
class Case:
    """One server of the matrix with station data, and the agent's passes against it."""

    name: str
    server: RunningServer
    src: Path
    env: dict[str, str]
    local_before: dict[str, bytes]
    local_mtimes: dict[str, int]
    past: list[str] = field(default_factory=list)  # the days uploaded (named at the start)
    not_ready: list[str] = field(default_factory=list)  # today and tomorrow then
    steps: dict[str, Step] = field(default_factory=dict)

    def step(self, name: str) -> Step:
        """Return the step ``name`` of the sequence first pass, second pass, ``check``:
        each runs once per case, after the steps before it."""
        for step, command in STEPS:
            if step not in self.steps:
                before = Snapshot.of(self.server.landing)
                result = agent(command, self.env, timeout=180)
                self.steps[step] = Step(result, before, Snapshot.of(self.server.landing))
            if step == name:
                return self.steps[step]
        raise KeyError(name)

    def remote(self, job: str) -> Path:
        return self.server.landing / job

    def expected_remote(self, job: str) -> dict[str, bytes]:
        """Return what the server must hold for ``job``: every past day, nothing else."""
        prefix = f"{job}/"
        return {
            k[len(prefix) :]: v
            for k, v in self.local_before.items()
            if k.startswith(prefix) and any(k[len(prefix) :].startswith(d) for d in self.past)
        }

    def report(self, result: subprocess.CompletedProcess[str]) -> str:
        """Return the agent's and the server's logs, for failure messages."""
        return (
            f"agent exit {result.returncode}\n--- agent stderr ---\n{result.stderr[-6000:]}\n"
            f"--- agent stdout ---\n{result.stdout[-2000:]}\n"
            f"--- {self.server.kind} log ---\n{self.server.log_text()}"
        )


def decision_lines(stderr: str, where: str) -> list[str]:
    """Return the server decisions the agent logged for ``where`` (INFO lines)."""
    pattern = re.compile(rf" INFO - (?:\[\S+\] )?{re.escape(where)}: (.*; verification: .*)$")
    return [m.group(1) for line in stderr.splitlines() if (m := pattern.search(line))]


def environment(server: RunningServer, src: Path, **extra: str) -> dict[str, str]:
    """Return the agent's environment for two jobs against ``server``."""
    dirs_dst, _ = server.destination("dirs")
    files_dst, _ = server.destination("files")
    jobs = [
        {"name": "dirs", "src": str(src / "dirs"), "dst": dirs_dst, "remove_after_upload": True},
        {
            "name": "files",
            "src": str(src / "files"),
            "dst": files_dst,
            "variant": "files",
            "dated_regex": FILES_REGEX,
        },
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSU_")}
    env.update(
        {
            "CSU_HOST": server.host,
            "CSU_PORT": str(server.port),
            "CSU_USER": server.user,
            "CSU_KNOWN_HOSTS_FILE": str(server.known_hosts),
            "CSU_JOBS": json.dumps(jobs),
            "CSU_TIMEZONE": "UTC",
            "CSU_STATE_DIR": str(src.parent / "state"),
            "CSU_REPORT": "false",  # the trees of both sides are compared
            "CSU_QUIET_MINUTES": "0",  # its days are written just before
            "CSU_CONNECT_TIMEOUT": "10",
            "CSU_IO_TIMEOUT": "20",
            "CSU_KEEPALIVE_SECONDS": "5",
            "CSU_RETRY_INITIAL_WAIT_SECONDS": "0.2",
            "CSU_RETRY_MAX_WAIT_SECONDS": "1",
            # A server the agent cannot handle must fail the test, not stall the tier.
            "CSU_RETRY_GIVE_UP_SECONDS": "10",
        }
    )
    if server.password is not None:
        env["CSU_PASSWORD"] = server.password
    if server.key_file is not None:
        env["CSU_KEY_FILE"] = str(server.key_file)
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def workspace() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="csu-interop-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module", params=sorted(SERVERS))
def case(request: pytest.FixtureRequest, workspace: Path) -> Iterator[Case]:
    """Each server of the matrix in turn (stopped before the next starts), with data."""
    name: str = request.param
    not_near_midnight(CASE_MIDNIGHT_MARGIN_SECONDS)
    src = workspace / name / "src"
    station_data(src)
    before = tree(src)
    mtimes = {k: (src / k).stat().st_mtime_ns // 1_000_000_000 for k in before}
    past, not_ready = [day(-3), day(-2)], [day(0), day(1)]
    with SERVERS[name]() as server:
        yield Case(name, server, src, environment(server, src), before, mtimes, past, not_ready)


@pytest.fixture(scope="module", params=sorted(UNREACHABLE))
def unreachable(request: pytest.FixtureRequest, workspace: Path) -> Iterator[Case]:
    """A server paramiko cannot talk to, with data."""
    name: str = request.param
    src = workspace / name / "src"
    station_data(src)
    before = tree(src)
    with UNREACHABLE[name]() as server:
        yield Case(name, server, src, environment(server, src), before, {})
