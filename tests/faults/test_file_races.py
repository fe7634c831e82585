"""Writers that race the agent on the station's disk, removal on, over many passes.

Real writer processes work in a day the agent considers finished (its date is past, no
quiet period: the harshest setting) while the library uploads it again and again over a
real sshd: one appends to a file it holds open, one renames new versions over its file
(as rsync and most writers replace files), one copies files in keeping their old times
(``cp -p``: old by their modification time), one holds a file open and writes to it now
and then, one deletes and recreates its file. Each writer journals every version it
leaves complete. At the end, every writer's last version of every file is on the server
under its name, and no byte it wrote is anywhere lost: the ledger counts what exists
nowhere intact (must be 0).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.ledger import LEDGER, SOAK
from tests.integration.helpers import PAST, Recorder, client
from tests.sshd_server import SSHServer

pytestmark = pytest.mark.faults
DAY = PAST[0]
PASSES = 240 if SOAK else 60
WRITER = r'''
import hashlib, json, os, random, sys, time
kind, folder, journal, stop = sys.argv[1:5]
random.seed(kind)
log = open(journal, "a")
last = {}  # name -> (inode, size, sha256) of the version this writer left last
def record(name, sha, size, superseded):
    entry = {"name": name, "sha256": sha, "size": size, "superseded": superseded}
    log.write(json.dumps(entry) + "\n")
    log.flush()
def begin(name):
    """Before a new version of ``name``: was the last one still in place? Then this
    writer supersedes it (its choice); if it is gone, someone else removed it (the agent:
    then the server must hold it)."""
    if name not in last:
        return
    ino, size, sha = last.pop(name)
    try:
        st = os.stat(os.path.join(folder, name))
        in_place = st.st_ino == ino and st.st_size == size
    except FileNotFoundError:
        in_place = False
    record(name, sha, size, in_place)
def done(name, handle):
    """The version just left: what the inode this writer wrote holds (read through its fd)."""
    handle.flush()
    st = os.fstat(handle.fileno())
    content = os.pread(handle.fileno(), st.st_size, 0)
    last[name] = (st.st_ino, st.st_size, hashlib.sha256(content).hexdigest())
n = 0
while not os.path.exists(stop):
    n += 1
    if kind == "append":  # a log a writer keeps open, appending now and then
        begin("append.log")
        with open(os.path.join(folder, "append.log"), "ab+") as handle:
            for _ in range(random.randint(3, 8)):
                handle.write(f"line {n} {random.random()}\n".encode())
                handle.flush()
                time.sleep(random.uniform(0.005, 0.05))
            done("append.log", handle)
    elif kind == "rename":  # new versions renamed over the name
        draft = os.path.join(folder, f".version.dat.{n}")
        with open(draft, "wb+") as handle:
            handle.write(os.urandom(random.randint(1, 400_000)))
            begin("version.dat")
            os.rename(draft, os.path.join(folder, "version.dat"))
            done("version.dat", handle)
        time.sleep(random.uniform(0.0, 0.05))
    elif kind == "copy":  # files copied in slowly, their old times kept (cp -p)
        name = f"copied-{n % 7}.bin"
        begin(name)
        with open(os.path.join(folder, name), "wb+") as handle:
            for _ in range(random.randint(2, 6)):
                handle.write(os.urandom(random.randint(1000, 100_000)))
                handle.flush()
                time.sleep(random.uniform(0.005, 0.03))
            old = time.time() - 3 * 86400
            os.utime(handle.fileno(), (old, old))
            done(name, handle)
    elif kind == "hold":  # opened, written, kept open, written again
        begin("held.bin")
        with open(os.path.join(folder, "held.bin"), "ab+") as handle:
            handle.write(os.urandom(50_000))
            handle.flush()
            time.sleep(random.uniform(0.05, 0.3))
            handle.write(os.urandom(50_000))
            done("held.bin", handle)
    elif kind == "recreate":  # deleted and made anew under the same name
        path = os.path.join(folder, "recreated.txt")
        begin("recreated.txt")
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        with open(path, "wb+") as handle:
            handle.write(f"generation {n}\n".encode() * random.randint(1, 5000))
            done("recreated.txt", handle)
        time.sleep(random.uniform(0.0, 0.05))
for name, (_ino, size, sha) in last.items():  # the last versions: the server must hold them
    record(name, sha, size, False)
'''
KINDS = ("append", "rename", "copy", "hold", "recreate")


def sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def server_versions(dst: Path) -> set[str]:
    """Every file content on the server (final names and the copies kept aside)."""
    return {digest for path in dst.rglob("*") if path.is_file() and (digest := sha256(path))}


def test_writers_that_race_the_agent_lose_nothing(shell_server: SSHServer, tmp_path: Path) -> None:
    src, journal_dir = tmp_path / "src", tmp_path / "journals"
    folder = src / DAY
    folder.mkdir(parents=True)
    journal_dir.mkdir()
    dst = shell_server.new_remote_dir("file-races")
    stop = tmp_path / "stop"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, kind, str(folder), str(journal_dir / kind), str(stop)]
        )
        for kind in KINDS
    ]
    recorder = Recorder()
    removed = 0
    try:
        with shell_server.connection() as connection:
            upload = client(connection, src, dst, True, recorder)
            for _ in range(PASSES):
                folder.mkdir(exist_ok=True)  # a removal of the whole day is fine: writers go on
                report = upload.run()
                removed += sum(d.removed for d in report.days)
            stop.touch()
            for writer in writers:
                assert writer.wait(timeout=30) == 0
            for _ in range(5):  # the writers are done: the last versions settle
                upload.run()
    finally:
        stop.touch()
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
    must: dict[str, tuple[str, int]] = {}  # versions the server must hold: sha -> (name, size)
    final: dict[str, str] = {}
    versions = 0
    for kind in KINDS:
        for line in (journal_dir / kind).read_text().splitlines():
            record = json.loads(line)
            versions += 1
            if not record["superseded"]:  # removed by the agent, or the writer's last
                must[record["sha256"]] = (record["name"], record["size"])
                final[record["name"]] = record["sha256"]
    on_server = server_versions(dst)
    lost = {sha: where for sha, where in must.items() if sha not in on_server}
    for name, size in lost.values():
        LEDGER.lose(f"{dst / DAY / name} (a version of {size} bytes)", size)
    assert not lost, (sorted(lost.values()), recorder.errors[-10:])
    for name, digest in final.items():
        assert sha256(dst / DAY / name) == digest, name  # the last version, under its name
    assert removed > 0, "the agent never removed anything: the race was never run"
    assert not list(folder.glob(".csu-removing.*"))
    LEDGER.faults["writers racing the agent (append, rename over, copy, hold, recreate)"] += len(
        KINDS
    )
    LEDGER.notes["file races: passes, versions written, local removals"] = (
        f"{PASSES}, {versions}, {removed}"
    )
    LEDGER.runs_completed += PASSES + 5
    LEDGER.files_verified += len(must)
    LEDGER.bytes_verified += sum(size for _name, size in must.values())
