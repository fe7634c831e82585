"""The interop matrix: the agent's CLI against every kind of server a station may upload to.

Each server (tests/servers/) is installed from Debian's packages and started on loopback,
one at a time. Against each: ``once`` with two jobs (a folder per day with removal on; dated
files), a second ``once`` that must change nothing, then ``check``. tinysshd, which paramiko
cannot talk to, must be refused clearly.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import tree
from tests.integration.helpers import leftovers
from tests.interop.conftest import Case, decision_lines
from tests.servers.common import home_of

pytestmark = pytest.mark.interop
JOBS = ("dirs", "files")


def test_first_pass_uploads_every_past_day_byte_for_byte(case: Case) -> None:
    step = case.step("first")
    result = step.result
    assert result.returncode == 0, case.report(result)
    assert "Traceback" not in result.stderr, case.report(result)
    for job in JOBS:
        held = tree(case.remote(job))
        expected = case.expected_remote(job)
        missing = sorted(set(expected) - set(held))
        extra = sorted(set(held) - set(expected))
        different = sorted(k for k in expected if k in held and held[k] != expected[k])
        assert (missing, extra, different) == ([], [], []), case.report(result)
    for date in case.not_ready:
        assert not any(date in path for path in step.after.entries), "a day not yet over"


def test_removal_job_removed_only_the_uploaded_local_files(case: Case) -> None:
    result = case.step("first").result
    local = tree(case.src)
    uploaded_dirs = [k for k in case.local_before if k.startswith("dirs/") and k[5:13] in case.past]
    assert [k for k in uploaded_dirs if k in local] == [], case.report(result)
    kept = {k: v for k, v in case.local_before.items() if k not in uploaded_dirs}
    assert local == kept, "removal off, or a day not ready, yet local files changed"


def test_no_marker_or_temporary_file_is_left_on_either_side(case: Case) -> None:
    result = case.step("first").result
    assert leftovers(case.server.landing) == [], case.report(result)
    assert leftovers(case.src) == [], case.report(result)
    # Hidden names: nothing that starts with '.' may remain on the server but the agent's
    # own folder in each destination, .csu, which holds only its empty temporary folder.
    entries = case.step("first").after.entries
    hidden = [p for p in entries if p.split("/")[-1].startswith(".")]
    own = [p for p in hidden if p.split("/")[-1] == ".csu"]
    assert sorted(hidden) == sorted(own), case.report(result)
    inside = sorted(p for p in entries if any(p.startswith(f"{o}/") for o in own))
    assert inside == sorted(f"{o}/partial" for o in own), case.report(result)


def test_no_file_name_ran_as_a_command(case: Case) -> None:
    case.step("first")
    places = [case.server.landing, home_of(case.server.user)]
    ran = [str(p) for place in places for p in place.rglob("pwned")]
    assert ran == []


def test_the_server_decision_is_logged_once_and_as_expected(case: Case) -> None:
    result = case.step("first").result
    decision = case.server.decision
    assert decision is not None
    lines = decision_lines(result.stderr, case.server.where)
    assert len(lines) == 1, f"decision lines: {lines}\n" + case.report(result)
    assert decision.problems(lines[0]) == [], case.report(result)


def test_server_copies_keep_the_local_modification_time(case: Case) -> None:
    result = case.step("first").result
    wrong = {}
    for job in JOBS:
        for relpath in case.expected_remote(job):
            remote = case.remote(job) / relpath
            if not remote.exists():
                continue
            seconds = remote.stat().st_mtime_ns // 1_000_000_000
            local = case.local_mtimes[f"{job}/{relpath}"]
            if seconds != local:
                wrong[f"{job}/{relpath}"] = (local, seconds)
    assert wrong == {}, case.report(result)


def test_a_second_pass_changes_nothing_on_the_server(case: Case) -> None:
    step = case.step("second")
    result = step.result
    assert result.returncode == 0, case.report(result)
    assert step.before.changes(step.after) == [], case.report(result)
    assert f"{len(case.past)} day(s) already on the server, unchanged" in result.stderr, (
        case.report(result)
    )
    assert "Traceback" not in result.stderr, case.report(result)
    assert leftovers(case.server.landing) == [], case.report(result)
    assert len(decision_lines(result.stderr, case.server.where)) <= 1


def test_check_connects_and_finds_nothing_to_do(case: Case) -> None:
    step = case.step("check")
    result = step.result
    assert result.returncode == 0, case.report(result)
    assert f"@{case.server.where}: host key verified" in result.stdout, case.report(result)
    for job in JOBS:
        planned = re.search(
            rf"^job {job} -> .*: (\d+) of (\d+) ready day\(s\) need work$", result.stdout, re.M
        )
        assert planned is not None, case.report(result)
        assert planned.group(1) == "0", case.report(result)
    assert step.before.changes(step.after) == [], case.report(result)


def test_a_server_paramiko_cannot_talk_to_is_refused_clearly(unreachable: Case) -> None:
    result = unreachable.step("first").result
    stderr = result.stderr
    assert result.returncode == 3, unreachable.report(result)
    assert tree(unreachable.server.landing) == {}
    assert tree(unreachable.src) == unreachable.local_before
    # The message names the server's side (the cipher it offers), the client's side
    # (what paramiko offers) and why: paramiko has no implementation of that cipher.
    assert "chacha20-poly1305" in stderr, stderr
    assert re.search(r"aes(?:128|192|256)-(?:ctr|cbc|gcm)", stderr), stderr
    assert re.search(
        r"paramiko[^\n]*(?:has no|implements no|does not implement|lacks|no implementation)",
        stderr,
        re.IGNORECASE,
    ), stderr
    assert "update the server's OpenSSH" not in stderr, stderr
    assert "ed25519 host key" not in stderr, stderr


def test_the_refusal_is_clear_lines_without_a_traceback(unreachable: Case) -> None:
    result = unreachable.step("first").result
    assert result.returncode == 3, unreachable.report(result)
    # Every error is one clear line on stderr, never a traceback (paramiko's included).
    assert "Traceback" not in result.stderr, result.stderr


def test_the_forced_command_wrapper_writes_only_below_its_root() -> None:
    """The server kit's csu-only: a station key with it cannot write its way to a shell."""
    from circadian_scp_upload import RemoteConnection
    from tests.servers import SERVERS

    with SERVERS["openssh-forced-command-wrapper"]() as server:
        assert server.key_file is not None
        connection = RemoteConnection(
            server.host,
            server.user,
            port=server.port,
            key_filename=server.key_file,
            known_hosts_file=server.known_hosts,
            allow_agent=False,
        )
        with connection:
            home = home_of(server.user)
            for target in (
                home / ".ssh" / "authorized_keys",
                home / ".bashrc",
                server.landing / ".." / "escaped.txt",
            ):
                result = connection.run(f"cat > '{target}'", b"ssh-ed25519 AAAA intruder\n")
                assert result.exit_status != 0, target
                assert b"is not below" in result.stderr
            (server.landing / "link").symlink_to(home / ".profile")
            result = connection.run(f"cat > '{server.landing / 'link'}'", b"echo owned\n")
            assert result.exit_status != 0  # never written through a link
            assert not (server.landing.parent / "escaped.txt").exists()
            bashrc = home / ".bashrc"
            assert not bashrc.exists() or b"intruder" not in bashrc.read_bytes()
            result = connection.run(f"cat > '{server.landing / 'ok.txt'}'", b"fine\n")
            assert result.exit_status == 0
            assert (server.landing / "ok.txt").read_bytes() == b"fine\n"
