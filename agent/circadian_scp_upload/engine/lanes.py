"""Sharing one day's upload among several SFTP channels ("lanes") of one connection.

One SFTP channel moves at most the server's window (2 MiB with OpenSSH) per round trip,
as rsync's one stream does; several channels move several windows. On a short link two
channels still help small files: the server creates and hashes files in two processes
while this side reads, hashes and sends. Large files there go one at a time: two streams
at once cost more CPU than they save (measured on loopback, below).

This module decides how many lanes a day gets and which files go on each; the uploader
runs each lane in a thread of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from ..source.days import LocalFile

# A link whose probe took this long is long: several SFTP channels move more than one.
LONG_LINK_SECONDS = 0.01
LONG_LINK_LANES = 4
# Measured on loopback, three rounds each: 5,000 files of 20 KB in 4.9-5.5 s on two
# channels against 6.7-7.4 s on one; two files of 512 MiB in 5.6-7.6 s streamed side by
# side against 5.2-7.3 s one after the other (and about 1 s more CPU).
SHORT_LINK_LANES = 2  # small files
SHORT_LINK_LARGE_LANES = 1
MAX_CHANNELS = 8  # OpenSSH allows 10 sessions a connection (MaxSessions)
MIN_FILES_PER_LANE = 64  # fewer small files are not worth another channel

Plan = tuple[list[LocalFile], list[LocalFile]]  # one lane's small and large files


@dataclass
class LaneResult:
    """What one lane sent: checksums of the local bytes, and the server's where taken."""

    local_sums: dict[str, str] = field(default_factory=dict)
    server_sums: dict[str, str] = field(default_factory=dict)


def wanted_lanes(channels: int, round_trip: float | None) -> tuple[int, int]:
    """The lanes to ask for, for small files and for large ones: ``channels`` where set,
    else by the measured round trip."""
    if channels > 0:
        return channels, channels
    if round_trip is not None and round_trip >= LONG_LINK_SECONDS:
        return LONG_LINK_LANES, LONG_LINK_LANES
    return SHORT_LINK_LANES, SHORT_LINK_LARGE_LANES


def plan_lanes(
    small: list[LocalFile],
    large: list[LocalFile],
    wanted: tuple[int, int],
    *,
    parallel_large: bool,
    one_by_one: set[str],
) -> list[Plan]:
    """Share the files among lanes (``wanted``: at most so many for small files, and for
    large ones): small files in contiguous ranges of about equal bytes (each batch stays
    in one folder's order), large files dealt largest first to the least loaded lane, in
    parallel only where ``parallel_large``.

    Names in ``one_by_one`` (names a case-insensitive server cannot tell apart, which
    would share one temporary file there) all go on the first lane, one after the other.
    """
    small_lanes = max(1, min(wanted[0], len(small) // MIN_FILES_PER_LANE))
    large_lanes = max(1, min(wanted[1], len(large))) if parallel_large else 1
    plans: list[Plan] = [([], []) for _ in range(max(small_lanes, large_lanes))]
    total = sum(f.size for f in small) or 1
    done = 0
    for local in small:
        plans[min(small_lanes - 1, done * small_lanes // total)][0].append(local)
        done += local.size
    loads = [0] * large_lanes
    for local in sorted(large, key=lambda f: f.size, reverse=True):
        lane = 0 if local.relpath in one_by_one else loads.index(min(loads))
        plans[lane][1].append(local)
        loads[lane] += local.size
    order = {local.relpath: index for index, local in enumerate(large)}
    for _small, lane_large in plans:
        lane_large.sort(key=lambda f: order[f.relpath])
    return plans


def merge(plans: list[Plan], lanes: int) -> list[Plan]:
    """Fold the plans of lanes the server did not open into the ones it did."""
    merged: list[Plan] = [([], []) for _ in range(min(lanes, len(plans)))]
    for index, (small, large) in enumerate(plans):
        merged[index % len(merged)][0].extend(small)
        merged[index % len(merged)][1].extend(large)
    return merged


def run_lanes(work: list[Callable[[], None]]) -> None:
    """Run each lane's work, in threads where there is more than one; return when all
    have ended (each lane keeps its own failure: the work must not raise)."""
    if len(work) == 1:
        work[0]()
        return
    threads = [
        threading.Thread(target=lane, name=f"csu-lane-{index}", daemon=True)
        for index, lane in enumerate(work)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
