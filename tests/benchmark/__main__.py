"""Throughput benchmark: this project against every tool a station could use instead
(rsync, OpenSSH scp, lftp's mirror, rclone's sftp backend), on one machine, one run.

    python -m tests.benchmark               # every workload, both harnesses, 3 repetitions
    python -m tests.benchmark --tiny        # seconds-long smoke version (run by the tests)
    python -m tests.benchmark --workloads a,b --harnesses stock --repeat 5

It generates the data, starts a real sshd on loopback, uploads the same day with each
tool into a fresh remote folder, checks every upload byte for byte, and prints per tool
the median wall time, the client's CPU seconds (user + system of every process of the
tool, an ``ssh`` child included) and peak memory (max RSS), with the ratios to rsync and
to the fastest of rsync, scp and lftp. Two harnesses: ``test``, the test suite's sshd
(its own config: ``UsePAM no``, ``internal-sftp``, the destination below /tmp), and
``stock``, Debian's sshd as installed (``/etc/ssh/sshd_config``: PAM, the external
``sftp-server``, privilege separation; the user's own ``authorized_keys``; the
destination in the user's home on the disk). The project runs through its library API
in its own process (verification on, removal off); its time includes interpreter
start-up, as the others' include theirs. Workloads (c), (e) and (f) go through a
loopback proxy that adds latency each way ((f) also a 20 Mbit/s uplink shared by all
connections, a station's); tools that wait a round trip or more per file (scp, lftp,
rclone) are stopped after ``PEER_CAP_SECONDS`` there and shown as "over N s". Workload
(s) is the steady state (``steady.py``): 40 and 400 days already uploaded, then a
second pass against rsync's no-op run. Timings are reported, never asserted; after the
table, the targets of this round say met or not met.
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
from tests.sshd_server import SSHServer, can_run_sshd, start_sshd, start_stock_sshd

ROOT = Path(__file__).resolve().parents[2]
DAY = "20240917"
MIB = 1024 * 1024
PEER_CAP_SECONDS = 30.0  # scp, lftp and rclone on the latency workloads
CAPPED = ("scp", "lftp", "rclone")
TOOLS = ("circadian-scp-upload", "rsync", "scp", "lftp", "rclone")
PEERS = ("rsync", "scp", "lftp")  # "the fastest" of the targets
STATION_UPLINK = 20_000_000 / 8  # 20 Mbit/s in bytes per second
PROJECT = "circadian-scp-upload"
# the project at another revision (--baseline REV): tool name -> its source tree, so a
# step back shows as an A/B in the same run, on the same data and server
BASELINES: dict[str, Path] = {}


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    files: dict[str, int]  # relative path in the day -> size
    latency: float = 0.0  # seconds, each way
    uplink: float = 0.0  # bytes per second, shared by all connections; 0: unlimited
    cap: float = 0.0  # seconds after which scp, lftp and rclone stop; 0: the --timeout


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
            cap=PEER_CAP_SECONDS,
        ),
        Workload(
            "d", f"1 file x {(8 if tiny else 1024)} MiB", {"big.bin": (8 if tiny else 1024) * MIB}
        ),
        Workload(
            "e",
            f"{count} files x 20 KB, 150 ms round trip",
            small,
            0.015 if tiny else 0.075,
            cap=PEER_CAP_SECONDS,
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
    cpu: list[float]
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
    if tool == "lftp":
        # its SFTP runs through an ssh child (the crypto is there); the password is a
        # placeholder that keeps lftp from asking (the key logs in)
        ssh = " ".join(["ssh", "-a", "-x", *options])
        script = (
            f"set sftp:connect-program '{ssh}'; set net:max-retries 1; "
            f"open -u {server.user},x -p {port} sftp://127.0.0.1; "
            f"mirror -R --parallel=4 {src / DAY} {dst / DAY}"
        )
        return ["lftp", "-c", script]
    if tool == "rclone":
        remote = (
            f":sftp,host=127.0.0.1,port={port},user={server.user},"
            f"key_file={server.key_file},known_hosts_file={known_hosts}:{dst / DAY}"
        )
        return ["rclone", "copy", "--config", "/dev/null", str(src / DAY), remote]
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


def add_baseline(revision: str, work: Path) -> str:
    """Unpack the project at ``revision`` (``git archive``) into ``work``, compile it as
    an installed package is, and return its tool name (``circadian-scp-upload@<rev>``)."""
    short = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", revision],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    tree = work / f"baseline-{short}"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", short, "agent", "tests"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "agent")], check=True)
    name = f"{PROJECT}@{short}"
    BASELINES[name] = tree
    return name


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
        tree = BASELINES.get(tool)
        command = command_for(PROJECT if tree else tool, server, port, known_hosts, src, dst)
        limit = min(timeout, workload.cap) if tool in CAPPED and workload.cap else timeout
        measure = str(ROOT / "tests" / "benchmark" / "measure.py")
        wrapper = [sys.executable, measure, str(limit), *command]
        # a baseline runs its own tree: its package first on the path, its run_upload
        path = f"{tree / 'agent'}:{tree}" if tree else str(ROOT)
        output = subprocess.run(
            wrapper,
            cwd=tree or ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": path},
        )
        seconds, rss, cpu, error, _last = json.loads(output.stdout.strip().splitlines()[-1])
        if not error and tree_digest(dst / DAY) != expected:
            error = "the upload differs from the source"
        shutil.rmtree(dst, ignore_errors=True)
        if error:
            result.failed = " ".join(error.split())[-200:]  # one line, for the table
        else:
            result.seconds.append(seconds)
            result.rss_mb.append(rss)
            result.cpu.append(cpu)


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )

    def first_line(*command: str) -> str:
        found = subprocess.run(command, capture_output=True, text=True)
        return (found.stdout or found.stderr).strip().split("\n")[0]

    tools = [
        first_line("ssh", "-V"),
        first_line("rsync", "--version"),
        first_line("lftp", "--version"),
        first_line("rclone", "version"),
    ]
    return (
        f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; " + "; ".join(tools)
    )


@dataclass
class Row:
    """One workload in one harness: each tool's measurements."""

    workload: Workload
    harness: str
    results: dict[str, Measurement]


def start_server(harness: str, work: Path) -> SSHServer:
    if harness == "stock":
        return start_stock_sshd(work / "sshd-stock")
    if harness == "tmpfs":  # the test sshd writing into memory: the server's disk left out
        server = start_sshd(work / "sshd-tmpfs")
        server.remote_root = Path(tempfile.mkdtemp(prefix="csu-bench-", dir="/dev/shm"))
        server.remote_root.chmod(0o755)
        return server
    return start_sshd(work / "sshd")


def run_harness(
    harness: str,
    chosen: list[Workload],
    tools: list[str],
    repeat: int,
    timeout: float,
    work: Path,
) -> list[Row]:
    """Run the workloads against one harness's sshd; return their rows."""
    server = start_server(harness, work)
    rows = []
    try:
        for workload in chosen:
            src = work / f"src-{workload.key}"
            generate(src, workload)
            os.sync()
            proxy = FaultProxy(server.port) if workload.latency or workload.uplink else None
            port = proxy.port if proxy else server.port
            known = work / f"known_hosts-{harness}-{port}"
            known.write_text(
                server.known_hosts.read_text().replace(f":{server.port} ", f":{port} ")
            )
            if proxy:
                proxy.faults.latency_seconds = workload.latency
                proxy.faults.uplink_bytes_per_second = workload.uplink
            results = {tool: Measurement([], [], []) for tool in tools}
            expected = tree_digest(src / DAY)
            for _ in range(repeat):
                measure_round(tools, workload, server, port, known, src, expected, timeout, results)
            for tool in tools:
                print(
                    f"  {harness} {workload.key} {tool}: {summary(results[tool])}",
                    file=sys.stderr,
                    flush=True,
                )
            if proxy:
                proxy.close()
            shutil.rmtree(src)
            rows.append(Row(workload, harness, results))
    finally:
        server.stop()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmark")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes, one repetition")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workloads", default="a,b,c,d,e,f,s")
    parser.add_argument(
        "--stock-workloads", default="a,b,c", help="workloads also run against the stock sshd"
    )
    parser.add_argument("--harnesses", default="test,stock,tmpfs")
    parser.add_argument(
        "--tmpfs-workloads",
        default="a,b",
        help="workloads also run with the destination in memory (/dev/shm)",
    )
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--timeout", type=float, default=300.0, help="per upload")
    parser.add_argument(
        "--baseline",
        metavar="REV",
        action="append",
        default=[],
        help="also run the project at this git revision (an A/B in the same run: a step "
        "back shows beside the current code); may be given more than once",
    )
    args = parser.parse_args()
    reason = can_run_sshd()
    if reason:
        print(f"cannot run the benchmark here: {reason}", file=sys.stderr)
        return 2
    repeat = 1 if args.tiny else args.repeat
    tools = args.tools.split(",")
    missing = [t for t in tools if t != PROJECT and shutil.which(t) is None]
    if missing:
        print(f"not installed: {', '.join(missing)} (tests/setup-machine.sh)", file=sys.stderr)
        return 2
    # the package's bytecode, compiled once: every timed run starts as an installed
    # package does (with PYTHONDONTWRITEBYTECODE set, each run would compile it afresh)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "agent")], check=True)
    wanted = args.workloads.split(",")
    harnesses = args.harnesses.split(",")
    work = Path(tempfile.mkdtemp(prefix="csu-bench-"))
    work.chmod(0o755)  # the login user reads its authorized_keys below it
    if PROJECT in tools:
        at = tools.index(PROJECT) + 1
        tools[at:at] = [add_baseline(revision, work) for revision in args.baseline]
    rows: list[Row] = []
    steady: list[Steady] = []
    try:
        for harness in harnesses:
            keys = {
                "test": wanted,
                "stock": args.stock_workloads.split(","),
                "tmpfs": args.tmpfs_workloads.split(","),
            }[harness]
            chosen = [w for w in workloads(args.tiny) if w.key in keys]
            if chosen:
                rows += run_harness(harness, chosen, tools, repeat, args.timeout, work)
        if "s" in wanted:
            server = start_sshd(work / "sshd-steady")
            try:
                options = ssh_options(server, server.port, server.known_hosts)
                for days in (4, 40) if args.tiny else (40, 400):
                    measured = run_steady(
                        server, server.known_hosts, options, work, days, repeat, args.tiny
                    )
                    print(f"  s{days}: {measured.seconds} {measured.failed}", file=sys.stderr)
                    steady.append(measured)
            finally:
                server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    failures = sum(
        1
        for row in rows
        for m in row.results.values()
        if m.failed and not m.failed.startswith("over ")
    ) + sum(len(s.failed) for s in steady)
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
    return (
        f"{statistics.median(measurement.seconds):.2f} s, "
        f"{statistics.median(measurement.cpu):.2f} s CPU, {max(measurement.rss_mb):.0f} MB"
    )


def medians(results: dict[str, Measurement]) -> dict[str, float]:
    return {tool: statistics.median(m.seconds) for tool, m in results.items() if m.seconds}


def fastest_peer(results: dict[str, Measurement]) -> tuple[str, float] | None:
    found = {t: s for t, s in medians(results).items() if t in PEERS}
    if not found:
        return None
    tool = min(found, key=found.__getitem__)
    return tool, found[tool]


def render(rows: list[Row], tools: list[str], repeat: int) -> str:
    lines = [
        f"Machine: {machine()}",
        f"Median of {repeat} run(s); every upload checked byte for byte; client CPU: user + "
        "system seconds of the tool's processes (children included); peak memory: the "
        "largest RSS of them; harness test: the suite's sshd, stock: Debian's sshd as "
        "installed.",
        "",
        "| workload | harness | tool | wall time | client CPU | peak memory | vs rsync "
        "| vs fastest of rsync, scp, lftp |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        times = medians(row.results)
        best = fastest_peer(row.results)
        for tool in tools:
            m = row.results[tool]
            title = f"({row.workload.key}) {row.workload.title}"
            if not m.seconds:
                lines.append(f"| {title} | {row.harness} | {tool} | {m.failed} | - | - | - | - |")
                continue
            vs_rsync = f"{times[tool] / times['rsync']:.2f}x" if "rsync" in times else "-"
            vs_best = f"{times[tool] / best[1]:.2f}x ({best[0]})" if best else "-"
            lines.append(
                f"| {title} | {row.harness} | {tool} | {times[tool]:.2f} s | "
                f"{statistics.median(m.cpu):.2f} s | {max(m.rss_mb):.0f} MB | {vs_rsync} | "
                f"{vs_best} |"
            )
    return "\n".join(lines)


PEAK_MEMORY_MB = 80.0
CPU_PER_GIB_VS_SCP = 1.5


def render_targets(rows: list[Row]) -> str:
    """Say, for each target of this round whose workload ran, the figure and whether it
    was met (issue 25)."""
    lines = ["Targets in this run:", ""]

    def say(name: str, figure: str, met: bool) -> None:
        lines.append(f"- {name}: {figure}, {'met' if met else 'not met'}")

    for row in rows:
        key, ours = row.workload.key, row.results.get(PROJECT)
        if ours is None:
            continue
        where = f"({key}) {row.harness}"
        if not ours.seconds:
            lines.append(f"- {where}: not measured ({ours.failed})")
            continue
        mine = statistics.median(ours.seconds)
        times = medians(row.results)
        for baseline in BASELINES:
            before = row.results.get(baseline)
            if before and before.seconds and before.cpu and ours.cpu:
                wall = mine / statistics.median(before.seconds)
                cpu = statistics.median(ours.cpu) / statistics.median(before.cpu)
                say(
                    f"{where} no step back from {baseline} (wall and client CPU <= 1.05x)",
                    f"wall {wall:.2f}x, CPU {cpu:.2f}x",
                    wall <= 1.05 and cpu <= 1.05,
                )
        if key == "a":
            best = fastest_peer(row.results)
            if best:
                say(
                    f"{where} <= 1.1x the fastest",
                    f"{mine / best[1]:.2f}x {best[0]}",
                    mine <= 1.1 * best[1],
                )
            scp = row.results.get("scp")
            if scp and scp.cpu and ours.cpu:
                ratio = statistics.median(ours.cpu) / statistics.median(scp.cpu)
                say(
                    f"{where} client CPU <= {CPU_PER_GIB_VS_SCP}x scp",
                    f"{ratio:.2f}x",
                    ratio <= CPU_PER_GIB_VS_SCP,
                )
        if key in ("b", "c", "e") and "rsync" in times:
            say(f"{where} <= 1.0x rsync", f"{mine / times['rsync']:.2f}x", mine <= times["rsync"])
        if key in ("c", "e"):
            for peer in ("lftp", "rclone"):
                other = row.results.get(peer)
                if other is None:
                    continue
                if not other.seconds and not other.failed.startswith("over "):
                    lines.append(f"- {where} ahead of {peer}: not measured ({peer} failed)")
                    continue
                theirs = statistics.median(other.seconds) if other.seconds else float("inf")
                figure = f"{theirs:.2f} s" if other.seconds else other.failed
                say(f"{where} ahead of {peer}", f"{mine:.2f} s against {figure}", mine < theirs)
    peaks = [
        max(r.results[PROJECT].rss_mb)
        for r in rows
        if r.results.get(PROJECT) and r.results[PROJECT].rss_mb
    ]
    if peaks:
        say(
            f"peak memory <= {PEAK_MEMORY_MB:.0f} MB",
            f"{max(peaks):.0f} MB (largest of all workloads)",
            max(peaks) <= PEAK_MEMORY_MB,
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
