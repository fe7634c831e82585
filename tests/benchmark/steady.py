"""The steady-state workload: N past days already on the server, then a second pass.

What a station that keeps its data locally (removal off) pays every pass: the time of a
pass over days that are all uploaded and verified, against ``rsync -a``'s no-op run on
the same tree, with the bytes the pass read and the day folders whose modification time
changed (local and remote; a marker written and removed changes its folder's time).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.sshd_server import SSHServer

ROOT = Path(__file__).resolve().parents[2]
LAST_DAY = datetime.date(2024, 9, 19)  # the benchmark's clock says 2024-09-20 noon
MIB = 1024 * 1024


@dataclass
class Steady:
    """The measurements of one steady-state workload."""

    days: int
    data_bytes: int
    seconds: dict[str, list[float]] = field(default_factory=dict)
    read_bytes: list[int] = field(default_factory=list)
    touched: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def generate_days(root: Path, days: int, files: int, size: int) -> int:
    """Write ``days`` day folders of ``files`` random files of ``size`` bytes; return bytes."""
    block = os.urandom(size)
    for index in range(days):
        name = (LAST_DAY - datetime.timedelta(days=index)).strftime("%Y%m%d")
        for number in range(files):
            path = root / name / f"data-{number:02d}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            salt = hashlib.sha256(f"{name}/{number}".encode()).digest()
            path.write_bytes(salt + block[len(salt) :])
    return days * files * size


def folder_times(root: Path) -> dict[str, int]:
    """Return the modification time of ``root`` and of each day folder in it."""
    found = {".": root.stat().st_mtime_ns}
    for entry in os.scandir(root):
        if entry.is_dir(follow_symlinks=False):
            found[entry.name] = entry.stat(follow_symlinks=False).st_mtime_ns
    return found


def commands(
    server: SSHServer, known_hosts: Path, ssh_options: list[str], src: Path, dst: Path
) -> dict[str, list[str]]:
    """Return the command of each tool that brings ``dst`` in line with ``src``."""
    settings = {
        "port": server.port,
        "user": server.user,
        "key_file": str(server.key_file),
        "known_hosts": str(known_hosts),
        "src": str(src),
        "dst": str(dst),
        "remove": False,
        "now": "2024-09-20T12:00:00",
        "quiet": True,
        "report": True,
    }
    ssh = " ".join(["ssh", "-p", str(server.port), *ssh_options])
    return {
        "circadian-scp-upload": [
            sys.executable,
            "-m",
            "tests.integration.run_upload",
            json.dumps(settings),
        ],
        "rsync": ["rsync", "-a", "-e", ssh, f"{src}/", f"{server.user}@127.0.0.1:{dst}/"],
    }


def measure(command: list[str], timeout: float) -> tuple[float, str, str]:
    """Run ``command`` under the benchmark's wrapper; return seconds, error, last line."""
    wrapper = [sys.executable, "-m", "tests.benchmark.measure", str(timeout), *command]
    output = subprocess.run(
        wrapper,
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    seconds, _rss, _cpu, error, last = json.loads(output.stdout.strip().splitlines()[-1])
    return float(seconds), str(error), str(last)


def run_steady(
    server: SSHServer,
    known_hosts: Path,
    ssh_options: list[str],
    work: Path,
    days: int,
    repeat: int,
    tiny: bool,
) -> Steady:
    """Upload ``days`` days once with each tool (untimed), then time ``repeat`` passes."""
    src = work / f"steady-{days}"
    files, size = (4, 16 * 1024) if tiny else (8, MIB)
    result = Steady(days, generate_days(src, days, files, size))
    for tool in ("circadian-scp-upload", "rsync"):
        dst = server.new_remote_dir(f"steady-{days}-{tool}-{os.urandom(3).hex()}")
        command = commands(server, known_hosts, ssh_options, src, dst)[tool]
        _seconds, error, _last = measure(command, 1800)
        before = (folder_times(src), folder_times(dst))
        result.seconds[tool] = []
        for _ in range(repeat):
            if error:
                break
            os.sync()
            seconds, error, last = measure(command, 600)
            result.seconds[tool].append(seconds)
            if tool == "circadian-scp-upload" and last.startswith("{"):
                result.read_bytes.append(int(json.loads(last)["read_bytes"]))
        after = (folder_times(src), folder_times(dst))
        result.touched[tool] = sum(
            1 for b, a in zip(before, after, strict=True) for k in b if a.get(k) != b[k]
        )
        if error:
            result.failed[tool] = error
        shutil.rmtree(dst, ignore_errors=True)
    shutil.rmtree(src, ignore_errors=True)
    return result


def render_steady(results: list[Steady]) -> str:
    """Return the steady-state table, with the targets beside the figures."""
    lines = [
        "",
        "Steady state: a second pass over N verified, unchanged days (removal off), against "
        "rsync -a's no-op run. Target: at most 2x rsync + 1 s, reading under 5 % of the "
        "data, and N = 400 at most 10x N = 40.",
        "",
        "| N days | data | tool | median time | vs rsync | bytes read in the pass "
        "| day folders touched |",
        "|---|---|---|---|---|---|---|",
    ]
    for steady in results:
        medians = {t: statistics.median(s) for t, s in steady.seconds.items() if s}
        for tool in ("circadian-scp-upload", "rsync"):
            if tool not in medians:
                lines.append(
                    f"| {steady.days} | {steady.data_bytes / MIB:.0f} MiB | {tool} | "
                    f"{steady.failed.get(tool, 'not run')} | - | - | - |"
                )
                continue
            ratio = f"{medians[tool] / medians['rsync']:.2f}x" if "rsync" in medians else "-"
            read = "-"
            if tool == "circadian-scp-upload" and steady.read_bytes:
                share = max(steady.read_bytes) / steady.data_bytes
                read = f"{max(steady.read_bytes) / 1024:.0f} KiB ({100 * share:.2f} %)"
            lines.append(
                f"| {steady.days} | {steady.data_bytes / MIB:.0f} MiB | {tool} | "
                f"{medians[tool]:.2f} s | {ratio} | {read} | {steady.touched.get(tool, '-')} |"
            )
    return "\n".join(lines)
