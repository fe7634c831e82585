"""Throughput benchmark: this project against rsync and OpenSSH scp, on one machine, one run.

    python -m tests.benchmark               # workloads (a)-(f) and steady state, 3 repetitions
    python -m tests.benchmark --tiny        # seconds-long smoke version (run by the tests)
    python -m tests.benchmark --workloads a,d --repeat 5

It generates the data, starts a real sshd on loopback (as root, like the test suite),
uploads the same day with each tool into a fresh remote folder, checks every upload byte
for byte, and prints the median wall time and peak memory (max RSS) per tool with the
ratios to rsync and scp. The project runs through its library API in its own process
(verification on, removal off); its time includes interpreter start-up, as rsync's and
scp's include theirs. Workloads (c), (e) and (f) go through a loopback proxy that adds
latency each way ((f) also a 20 Mbit/s uplink shared by all connections, a station's);
scp, which waits a round trip per file, is stopped after ``SCP_CAP_SECONDS`` there and
shown as "over N s". Workload (s) is the steady state (``steady.py``): 40 and 400 days
already uploaded, then a second pass against rsync's no-op run. Timings are reported,
never asserted; after the table, the targets of this round say met or not met.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.benchmark.steady import Steady, render_steady, run_steady
from tests.faultproxy import FaultProxy
from tests.sshd_server import SSHServer, can_run_sshd, start_sshd

ROOT = Path(__file__).resolve().parents[2]
DAY = "20240917"
MIB = 1024 * 1024
SCP_CAP_SECONDS = 60.0
STATION_UPLINK = 20_000_000 / 8  # 20 Mbit/s in bytes per second
PROJECT = "circadian-scp-upload"


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    files: dict[str, int]  # relative path in the day -> size
    latency: float = 0.0  # seconds, each way
    uplink: float = 0.0  # bytes per second, shared by all connections; 0: unlimited
    scp_cap: float = 0.0  # seconds after which scp is stopped; 0: the --timeout


def workloads(tiny: bool) -> list[Workload]:
    large = 2 * MIB if tiny else 512 * MIB
    count = 200 if tiny else 5000
    small = {f"d{i // 500:02d}/f{i:05d}.dat": 20_000 for i in range(count)}
    uplinked = 1 * MIB if tiny else 64 * MIB
    return [
        Workload("a", f"2 files x {large // MIB} MiB", {"a.bin": large, "b.bin": large}),
        Workload("b", f"{count} files x 20 KB", small),
        Workload(
            "c",
            f"{count} files x 20 KB, 50 ms round trip",
            small,
            0.005 if tiny else 0.025,
            scp_cap=SCP_CAP_SECONDS,
        ),
        Workload(
            "d", f"1 file x {(8 if tiny else 1024)} MiB", {"big.bin": (8 if tiny else 1024) * MIB}
        ),
        Workload(
            "e",
            f"{count} files x 20 KB, 150 ms round trip",
            small,
            0.015 if tiny else 0.075,
            scp_cap=SCP_CAP_SECONDS,
        ),
        Workload(
            "f",
            f"2 files x {uplinked // MIB} MiB, 50 ms round trip, 20 Mbit/s uplink",
            {"a.bin": uplinked, "b.bin": uplinked},
            0.005 if tiny else 0.025,
            uplink=STATION_UPLINK,
        ),
    ]


@dataclass
class Measurement:
    seconds: list[float]
    rss_mb: list[float]
    failed: str = ""


def generate(root: Path, workload: Workload) -> None:
    block = os.urandom(MIB)
    for relpath, size in workload.files.items():
        path = root / DAY / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            left = size
            while left:
                # vary each block so nothing compresses or deduplicates
                piece = hashlib.sha256(relpath.encode() + left.to_bytes(8, "big")).digest() + block
                handle.write(piece[: min(left, MIB)])
                left -= min(left, MIB)


def tree_digest(root: Path) -> dict[str, str]:
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            sha = hashlib.sha256()
            with path.open("rb") as handle:
                while chunk := handle.read(MIB):
                    sha.update(chunk)
            found[path.relative_to(root).as_posix()] = sha.hexdigest()
    return found


def ssh_options(server: SSHServer, port: int, known_hosts: Path) -> list[str]:
    return [
        "-i",
        str(server.key_file),
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
    ]


def command_for(
    tool: str, server: SSHServer, port: int, known_hosts: Path, src: Path, dst: Path
) -> list[str]:
    target = f"{server.user}@127.0.0.1"
    options = ssh_options(server, port, known_hosts)
    if tool == "rsync":
        ssh = " ".join(["ssh", "-p", str(port), *options])
        return ["rsync", "-a", "-e", ssh, f"{src / DAY}/", f"{target}:{dst / DAY}/"]
    if tool == "scp":
        return ["scp", "-q", "-r", "-P", str(port), *options, str(src / DAY), f"{target}:{dst}/"]
    settings = {
        "port": port,
        "user": server.user,
        "key_file": str(server.key_file),
        "known_hosts": str(known_hosts),
        "src": str(src),
        "dst": str(dst),
        "remove": False,
        "now": "2024-09-20T12:00:00",
        "quiet": True,
    }
    return [sys.executable, "-m", "tests.integration.run_upload", json.dumps(settings)]


def measure_round(
    tools: list[str],
    workload: Workload,
    server: SSHServer,
    port: int,
    known_hosts: Path,
    src: Path,
    expected: dict[str, str],
    timeout: float,
    results: dict[str, Measurement],
) -> None:
    """Run each tool once (round-robin across repetitions, so no tool always runs first
    after the data was written); record time, peak memory, or the failure."""
    for tool in tools:
        result = results[tool]
        if result.failed:
            continue
        os.sync()  # no tool pays for another's write-back
        dst = server.new_remote_dir(f"bench-{workload.key}-{tool}-{os.urandom(3).hex()}")
        command = command_for(tool, server, port, known_hosts, src, dst)
        limit = min(timeout, workload.scp_cap) if tool == "scp" and workload.scp_cap else timeout
        wrapper = [sys.executable, "-m", "tests.benchmark.measure", str(limit), *command]
        output = subprocess.run(
            wrapper,
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        seconds, rss, error, _last = json.loads(output.stdout.strip().splitlines()[-1])
        if not error and tree_digest(dst / DAY) != expected:
            error = "the upload differs from the source"
        shutil.rmtree(dst, ignore_errors=True)
        if error:
            result.failed = error
        else:
            result.seconds.append(seconds)
            result.rss_mb.append(rss)


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    ssh = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
    rsync = subprocess.run(["rsync", "--version"], capture_output=True, text=True).stdout.split(
        "\n"
    )[0]
    return (
        f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, {ssh}, {rsync}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmark")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes, one repetition")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workloads", default="a,b,c,d,e,f,s")
    parser.add_argument("--tools", default=f"{PROJECT},rsync,scp")
    parser.add_argument("--timeout", type=float, default=300.0, help="per upload")
    args = parser.parse_args()
    reason = can_run_sshd()
    if reason:
        print(f"cannot run the benchmark here: {reason}", file=sys.stderr)
        return 2
    repeat = 1 if args.tiny else args.repeat
    tools = args.tools.split(",")
    chosen = [w for w in workloads(args.tiny) if w.key in args.workloads.split(",")]
    work = Path(tempfile.mkdtemp(prefix="csu-bench-"))
    work.chmod(0o755)  # the login user reads its authorized_keys below it
    server = start_sshd(work / "sshd")
    rows: list[tuple[Workload, dict[str, Measurement]]] = []
    steady: list[Steady] = []
    failures = 0
    try:
        for workload in chosen:
            src = work / f"src-{workload.key}"
            generate(src, workload)
            os.sync()
            proxy = FaultProxy(server.port) if workload.latency or workload.uplink else None
            port = proxy.port if proxy else server.port
            known = work / f"known_hosts-{port}"
            known.write_text(
                server.known_hosts.read_text().replace(f":{server.port} ", f":{port} ")
            )
            if proxy:
                proxy.faults.latency_seconds = workload.latency
                proxy.faults.uplink_bytes_per_second = workload.uplink
            results = {tool: Measurement([], []) for tool in tools}
            expected = tree_digest(src / DAY)
            for _ in range(repeat):
                measure_round(
                    tools, workload, server, port, known, src, expected, args.timeout, results
                )
            for tool in tools:
                failures += bool(results[tool].failed and "over" not in results[tool].failed)
                print(
                    f"  {workload.key} {tool}: {summary(results[tool])}",
                    file=sys.stderr,
                    flush=True,
                )
            if proxy:
                proxy.close()
            shutil.rmtree(src)
            rows.append((workload, results))
        if "s" in args.workloads.split(","):
            options = ssh_options(server, server.port, server.known_hosts)
            for days in (4, 40) if args.tiny else (40, 400):
                measured = run_steady(
                    server, server.known_hosts, options, work, days, repeat, args.tiny
                )
                failures += len(measured.failed)
                print(f"  s{days}: {measured.seconds} {measured.failed}", file=sys.stderr)
                steady.append(measured)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    if rows:
        print(render(rows, tools, repeat))
        print()
        print(render_targets(rows))
    if steady:
        print(render_steady(steady))
    return 1 if failures else 0


def summary(measurement: Measurement) -> str:
    if measurement.failed:
        return f"FAILED: {measurement.failed}"
    return f"{statistics.median(measurement.seconds):.2f} s, {max(measurement.rss_mb):.0f} MB"


def render(
    rows: list[tuple[Workload, dict[str, Measurement]]], tools: list[str], repeat: int
) -> str:
    lines = [
        f"Machine: {machine()}",
        f"Median of {repeat} run(s); every upload checked byte for byte; "
        "peak memory: the largest RSS of the tool's processes.",
        "",
        "| workload | tool | median time | peak memory | vs rsync | vs scp |",
        "|---|---|---|---|---|---|",
    ]
    for workload, results in rows:
        medians = {t: statistics.median(m.seconds) for t, m in results.items() if m.seconds}
        for tool in tools:
            m = results[tool]
            if not m.seconds:
                lines.append(
                    f"| ({workload.key}) {workload.title} | {tool} | {m.failed} | - | - | - |"
                )
                continue
            ratio = {
                base: (f"{medians[tool] / medians[base]:.2f}x" if base in medians else "-")
                for base in ("rsync", "scp")
            }
            lines.append(
                f"| ({workload.key}) {workload.title} | {tool} | {medians[tool]:.2f} s | "
                f"{max(m.rss_mb):.0f} MB | {ratio['rsync']} | {ratio['scp']} |"
            )
    return "\n".join(lines)


# this round's targets: workload, the tool compared with, the largest ratio allowed
TARGETS = (("a", "scp", 1.1), ("b", "rsync", 1.0), ("c", "rsync", 1.0), ("e", "rsync", 1.0))
PEAK_MEMORY_MB = 80.0


def render_targets(rows: list[tuple[Workload, dict[str, Measurement]]]) -> str:
    """Say, for each target whose workload ran, the figure and whether it was met."""
    lines = ["Targets in this run:", ""]
    measured = {w.key: results for w, results in rows}
    for key, base, limit in TARGETS:
        results = measured.get(key)
        if results is None or PROJECT not in results or base not in results:
            continue
        ours, theirs = results[PROJECT], results[base]
        if not ours.seconds or not theirs.seconds:
            failed = ours.failed or theirs.failed
            lines.append(f"- ({key}) <= {limit:.1f}x {base}: not measured ({failed})")
            continue
        ratio = statistics.median(ours.seconds) / statistics.median(theirs.seconds)
        verdict = "met" if ratio <= limit else "not met"
        lines.append(f"- ({key}) <= {limit:.1f}x {base}: {ratio:.2f}x, {verdict}")
    peaks = [max(r[PROJECT].rss_mb) for _w, r in rows if PROJECT in r and r[PROJECT].rss_mb]
    if peaks:
        verdict = "met" if max(peaks) <= PEAK_MEMORY_MB else "not met"
        lines.append(
            f"- peak memory <= {PEAK_MEMORY_MB:.0f} MB: {max(peaks):.0f} MB "
            f"(largest of all workloads), {verdict}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
