"""The daemon's passes back to back, for the soak test: ``python -m
tests.integration.soak_driver PASSES`` with the agent's settings in the environment.

It runs what ``run`` runs between its waits (``Agent.run_pass``, the connection kept
between passes as the daemon keeps it when passes come often) and prints one JSON line
per sample: the pass, its outcome, the process's resident memory (KiB) and threads.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading

from circadian_scp_upload.config.load import load_settings
from circadian_scp_upload.station.agent import Agent
from circadian_scp_upload.station.logs import setup_logging

SAMPLE_EVERY = 100


def rss_kib() -> int:
    """The resident memory of this process, in KiB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def main() -> None:
    passes = int(sys.argv[1])
    setup_logging("ERROR")
    agent = Agent(load_settings())
    agent.keep_open = True
    outcomes: dict[str, int] = {}
    for number in range(1, passes + 1):
        outcome = agent.run_pass().value
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if number % SAMPLE_EVERY == 0 or number == passes:
            gc.collect()
            sample = {
                "pass": number,
                "rss_kib": rss_kib(),
                "threads": threading.active_count(),
                "outcomes": outcomes,
            }
            print(json.dumps(sample), flush=True)
    agent.settings.connection.close()


if __name__ == "__main__":
    main()
