"""Run one command, print [wall seconds, peak RSS MB, client CPU seconds, error, the
command's last line of output] as JSON (a fresh process, so the resource use of the
children it waits for is this command's alone: CPU is user + system time of every
process of the command that was waited for, an ``ssh`` child of rsync, scp or lftp
included)."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time


def main() -> None:
    timeout = float(sys.argv[1])
    command = sys.argv[2:]
    started = time.monotonic()
    last = ""
    try:
        result = subprocess.run(command, capture_output=True, timeout=timeout)
        error = (
            ""
            if result.returncode == 0
            else (result.stderr.decode(errors="replace")[-400:] or f"exit {result.returncode}")
        )
        lines = result.stdout.decode(errors="replace").strip().splitlines()
        last = lines[-1] if lines else ""
    except subprocess.TimeoutExpired:
        error = f"over {timeout:.0f} s"
    elapsed = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime
    print(json.dumps([elapsed, usage.ru_maxrss / 1024, cpu, error, last]))


if __name__ == "__main__":
    main()
