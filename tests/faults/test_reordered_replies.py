"""A server that answers SFTP requests out of order, as the protocol allows (round
three, 7): OpenSSH's own sftp-server behind a relay that swaps every two replies
(``tests/servers/sftp_reorder.py``), as the forced command of a real sshd."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import tree, write_file
from tests.faults.ledger import LEDGER
from tests.integration.helpers import PAST, Recorder, client, leftovers
from tests.sshd_server import SSHServer, can_run_sshd, running_sshd

pytestmark = pytest.mark.faults
RELAY = Path(__file__).resolve().parents[1] / "servers" / "sftp_reorder.py"


@pytest.fixture(scope="module")
def reordering_server() -> Iterator[tuple[SSHServer, Path]]:
    reason = can_run_sshd()
    if reason is not None:
        pytest.skip(reason)
    workdir = Path(tempfile.mkdtemp(prefix="csu-reorder-"))
    counts = workdir / "counts"
    counts.mkdir()
    counts.chmod(0o777)
    relay = workdir / "sftp_reorder.py"
    shutil.copy(RELAY, relay)
    relay.chmod(0o755)
    count = counts / "swapped"
    forced = f"ForceCommand /usr/bin/python3 {relay} {count}\n"
    with running_sshd(workdir, extra_config=forced) as server:
        yield server, count


def test_replies_out_of_order_are_matched_by_request_number(
    reordering_server: tuple[SSHServer, Path], tmp_path: Path
) -> None:
    """Batches (opens, writes, closes, renames), folders, times, large files written
    over SFTP, listings and read-back proofs: every reply arrives, paired wrongly, and
    the day is uploaded and verified within the usual time (replies matched by their
    request number, never dropped as paramiko drops an early one)."""
    server, count = reordering_server
    src = tmp_path / "src"
    expected = {}
    for index in range(120):
        expected[f"{PAST[0]}/d{index % 3}/f{index:03d}.txt"] = os.urandom(500 + index)
    expected[f"{PAST[0]}/large-a.bin"] = os.urandom(3 << 20)
    expected[f"{PAST[0]}/large-b.bin"] = os.urandom((1 << 20) + 123)
    for relpath, content in expected.items():
        write_file(src / relpath, content)
    dst = server.new_remote_dir("reordered")
    recorder = Recorder()
    with server.connection(io_timeout=5.0) as connection:
        report = client(connection, src, dst, True, recorder, manifest=True).run()
        assert not connection.traits().shell  # the relay answers exec requests too: SFTP only
    assert [d.status for d in report.days] == ["uploaded"], recorder.errors
    uploaded = tree(dst)
    uploaded.pop(f"{PAST[0]}/SHA256SUMS")
    assert uploaded == expected
    assert leftovers(dst) == []
    assert tree(src) == {}
    assert int(count.read_text()) > 100  # the replies really came in swapped pairs
    LEDGER.faults["SFTP replies out of order"] += int(count.read_text())
