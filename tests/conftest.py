"""Fixtures shared by every tier: real sshd servers, data builders, a fixed clock."""

from __future__ import annotations

import datetime
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sshd_server import SSHServer, can_run_sshd, running_sshd

# The server kit's bench (kit_server, station): for its own tests and the hostile suite.
pytest_plugins = ["tests.integration.kit"]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """In CI a skipped test is a failure: every tier must really run there."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every tier must run: {report.longrepr}"


MIDNIGHT_MARGIN_SECONDS = 150


def not_near_midnight(margin: float = MIDNIGHT_MARGIN_SECONDS) -> None:
    """Return at least ``margin`` seconds before the next UTC midnight: within it, wait
    until just after midnight (at most once a night, and only then)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    midnight = datetime.datetime.combine(
        now.date() + datetime.timedelta(days=1), datetime.time(), datetime.timezone.utc
    )
    left = (midnight - now).total_seconds()
    if left < margin:
        time.sleep(left + 1)


@pytest.fixture(autouse=True)
def _not_across_midnight() -> None:
    """A test that makes days around today must not see the UTC date change under it:
    one that would start in the last minutes before midnight waits until just after it.
    Fixtures that span several tests (tests/interop's cases) guard themselves."""
    not_near_midnight()


def _server(sftp_only: bool) -> Iterator[SSHServer]:
    reason = can_run_sshd()
    if reason is not None:
        pytest.skip(reason)
    with running_sshd(Path(tempfile.mkdtemp(prefix="csu-sshd-")), sftp_only) as server:
        yield server


@pytest.fixture(scope="session")
def shell_server() -> Iterator[SSHServer]:
    """A full OpenSSH server: SFTP and a shell."""
    yield from _server(sftp_only=False)


@pytest.fixture(scope="session")
def sftp_only_server() -> Iterator[SSHServer]:
    """An SFTP-only OpenSSH server (``ForceCommand internal-sftp``, no shell)."""
    yield from _server(sftp_only=True)


@pytest.fixture(params=["shell", "sftp-only"])
def server(request: pytest.FixtureRequest) -> SSHServer:
    """Each test using this runs against both kinds of server."""
    name = "shell_server" if request.param == "shell" else "sftp_only_server"
    found: SSHServer = request.getfixturevalue(name)
    return found


@pytest.fixture
def remote_dir(server: SSHServer, request: pytest.FixtureRequest) -> Path:
    """A fresh destination folder on the server, writable by its login user."""
    return server.new_remote_dir(f"{request.node.name}-{os.urandom(4).hex()}")


def fixed_clock(when: datetime.datetime) -> Callable[[], datetime.datetime]:
    """Return a clock that always says ``when`` (naive: local time)."""
    aware = when.astimezone() if when.tzinfo is None else when
    return lambda: aware


def write_file(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def tree(root: Path) -> dict[str, bytes]:
    """Return every regular file below ``root`` as relative path -> content."""
    found: dict[str, bytes] = {}
    if not root.exists():
        return found
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the fault suite's table when it ran."""
    from tests.faults.ledger import LEDGER
    from tests.integration.helpers import SECRETS_CHECKED

    if SECRETS_CHECKED["lines"]:
        LEDGER.notes["agent log lines checked for secrets (none found)"] = str(
            SECRETS_CHECKED["lines"]
        )
    if not LEDGER.empty():
        terminalreporter.section("fault suite summary")
        terminalreporter.write_line(LEDGER.table())
    verdict = LEDGER.verdict()
    if verdict is not None:
        terminalreporter.write_line(f"FAILED: {verdict}", red=True, bold=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A session whose fault ledger counted lost bytes fails, whatever its tests said."""
    from tests.faults.ledger import LEDGER

    if LEDGER.verdict() is not None and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
