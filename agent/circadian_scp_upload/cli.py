"""The ``circadian-scp-upload`` command: ``run``, ``once``, ``check``, ``enroll``,
``healthcheck``, ``status``.

Exit codes come from the one table in ``outcomes.py``; every error is one clear line on stderr,
never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from loguru import logger

from .config.load import env_reference, load_settings, unknown_variables
from .config.settings import AgentSettings
from .config.versions import version_text
from .engine import Pending
from .engine.writecheck import prove_destination
from .errors import CircadianError, ConfigError
from .office.fleet import (
    DEFAULT_DEPTH,
    MAX_DAYS,
    MAX_DEPTH,
    MAX_INTERVAL,
    Found,
    fleet_rows,
    human_bytes,
    missing_rows,
    read_enrolled,
    read_local,
    read_remote,
    render_json,
    render_text,
    summary,
    unreadable_lines,
    within,
)
from .office.page import render_html
from .outcomes import EXIT_CODE_MEANINGS, Outcome, exit_code, rule_for
from .remote import RemoteConnection
from .remote.paths import normalize_remote
from .report import report_name
from .setup.enroll import EnrollOptions, enroll
from .station.agent import Agent, station_name
from .station.clock import describe, measure
from .station.health import check_health
from .station.logs import setup_logging
from .station.status import read_status


def install_signal_handlers(stop_event: threading.Event) -> None:
    """On SIGTERM or SIGINT, ask the agent to stop safely."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        logger.warning(
            "{} received: stopping safely (current write abandoned, markers released)",
            signal.Signals(signum).name,
        )
        stop_event.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run the command, and return its exit code."""
    args = _parser().parse_args(argv)
    if args.command == "env-reference":
        sys.stdout.write(env_reference())
        return 0
    if args.command == "exit-codes":
        for code, meaning in EXIT_CODE_MEANINGS.items():
            print(f"{code}  {meaning}")
        return 0
    setup_logging()
    if args.command == "fleet" and args.remote and args.stations:
        logger.error(
            "--stations reads this machine's records of add-station: run fleet on the "
            "server, without --remote"
        )
        return exit_code(Outcome.CONFIG)
    if args.command == "fleet" and not args.remote:  # on the server: no settings needed
        return _fleet(read_local(Path(args.root), args.depth), args)
    for warning in unknown_variables(os.environ):
        logger.warning("{}", warning)
    try:
        # enroll makes the key and the known_hosts that the connection would check
        offline = ("healthcheck", "status", "enroll")
        settings = load_settings(
            connection=args.command not in offline,
            enrolling=args.command == "enroll",
            reading=args.command == "fleet",  # --remote: the connection only, no job
        )
    except ConfigError as error:
        logger.error("{}", error)
        return exit_code(Outcome.CONFIG)
    if args.command == "enroll":
        return _enroll(settings, args)
    if args.command == "fleet":
        try:
            with settings.connection as connection:
                found = read_remote(connection, normalize_remote(args.root), args.depth)
        except Exception as error:  # noqa: BLE001 - the outcome table decides the exit code
            logger.error("{}", error)
            return exit_code(rule_for(error).outcome)
        return _fleet(found, args)
    if args.command == "healthcheck":
        healthy, why = check_health(settings.state_dir, settings.unhealthy_after_seconds)
        print(("healthy: " if healthy else "unhealthy: ") + why)
        return 0 if healthy else 1
    if args.command == "status":
        return _status(settings, args.json)
    setup_logging(settings.log_level, settings.log_format, station_name(settings))
    return _run_command(args.command, settings, write=getattr(args, "write", False))


def _run_command(command: str, settings: AgentSettings, write: bool = False) -> int:
    stop_event = threading.Event()
    install_signal_handlers(stop_event)
    try:
        agent = Agent(settings, stop_event, serve_metrics=command == "run")
    except ConfigError as error:
        logger.error("invalid configuration: {}", error)
        return exit_code(Outcome.CONFIG)
    if command == "run":
        agent.run_forever()
        return 0
    if command == "once":
        outcome = agent.run_pass()
        return exit_code(Outcome.STOPPED if stop_event.is_set() else outcome)
    return _check(agent, write)


def _fleet(found: Found, args: argparse.Namespace) -> int:
    """Print the fleet (text or JSON), write its page; exit 1 if a station is late,
    failing or broken, 0 if all are well (no report found: 1, said). Folders that could
    not be read are listed (on stderr with --json) and counted, and fail nothing alone."""
    rows = fleet_rows(found.reports, late_after=args.late_after, root=str(args.root))
    if args.stations:
        enrolled, unreadable = read_enrolled(Path(args.stations))
        found.unreadable.extend(unreadable)
        rows = sorted(
            rows + missing_rows(rows, enrolled, str(args.root)),
            key=lambda row: (row.station, row.report),
        )
    if not rows:
        for line in unreadable_lines(found.unreadable):
            print(line, file=sys.stderr)
        print(f"no station reports below {args.root} (.csu/stations/*.json)", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.write(render_json(rows) + "\n")
        for line in [*unreadable_lines(found.unreadable), summary(rows, len(found.unreadable))]:
            print(line, file=sys.stderr)
    else:
        sys.stdout.write(render_text(rows, found.unreadable))
    if args.html:
        page = render_html(rows, args.days, unreadable=found.unreadable)
        try:
            Path(args.html).write_text(page, encoding="utf-8")
        except OSError as error:
            logger.error("the page cannot be written to {}: {}", args.html, error)
            return exit_code(Outcome.CONFIG)
        print(f"page written to {args.html}", file=sys.stderr)
    return 1 if any(row.state != "ok" for row in rows) else 0


def _enroll(settings: AgentSettings, args: argparse.Namespace) -> int:
    """Make or show the station's key, the admin's line, and the host key step."""
    options = EnrollOptions(
        args.key_for,
        args.upload_root,
        args.trust,
        args.fingerprint,
        args.replace_host_key,
        args.public_key,
    )
    try:
        return exit_code(enroll(settings, options))
    except Exception as error:  # noqa: BLE001 - the outcome table decides the exit code
        logger.error("{}", error)
        return exit_code(rule_for(error).outcome)


def _check(agent: Agent, write: bool = False) -> int:
    """Validate, connect, verify the host key, and print the plan; change nothing, but
    with ``write`` prove each destination by a probe file (``writecheck``)."""
    try:
        with agent.connection(retry=False) as connection:
            print(f"connected to {agent.settings.user}@{connection.where}: host key verified")
            print(f"server: {connection.traits().describe()}")
            print(f"station time zone: {agent.zone.describe()}")
            _say_clock_and_window(agent, connection, write)
            for job in agent.jobs:
                client = agent.make_client(connection, job)
                ready = client.ready_days()
                pending = client.pending()
                print(
                    f"job {job.label} -> {job.dst} ({job.variant}): "
                    f"{len(pending)} of {len(ready)} ready day(s) need work"
                )
                for day in pending:
                    print("  " + _describe_pending(day))
                current, ready_at = client.next_ready()
                local = ready_at.astimezone(agent.zone.zone)
                print(
                    f"  today is {current.isoformat()}; it becomes ready at "
                    f"{local.strftime('%Y-%m-%d %H:%M %Z')}"
                )
                if write:
                    for line in prove_destination(connection, job.dst):
                        print(f"  write check: {line}")
    except Exception as error:  # noqa: BLE001 - the outcome table decides the exit code
        logger.error("{}", error)
        return exit_code(rule_for(error).outcome)
    return 0


def _say_clock_and_window(agent: Agent, connection: RemoteConnection, write: bool) -> None:
    """``check``: the station's clock against the server's, and the upload window."""
    folder = normalize_remote(agent.jobs[0].dst) if agent.jobs else "."
    try:
        reading = measure(
            connection,
            folder,
            report_name(agent.book.status.station),
            write,
            now=lambda: agent.clock().timestamp(),
        )
        agent.offset = reading.offset
        print(f"clock: {describe(reading.offset)} (measured to {reading.uncertainty:.1f} s)")
    except CircadianError as error:
        print(f"clock: not checked ({error})")
    window = agent.window
    if window is None:
        return
    now = agent.clock().astimezone(agent.zone.zone)
    change = window.next_change(now)
    state = "open" if window.is_open(now) else "closed"
    when = "(no change within a week)"
    if change is not None:
        verb = "closes" if state == "open" else "opens"
        when = f"{verb} at {change.astimezone(agent.zone.zone):%Y-%m-%d %H:%M %Z}"
    print(f"upload window {window.text!r}: {state} now; {when}")


def _status(settings: AgentSettings, as_json: bool) -> int:
    """Print the status file the agent last wrote (no network); exit 1 if there is none."""
    status = read_status(settings.state_dir)
    if status is None:
        print(f"no status yet in {settings.state_dir}: no pass has finished", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(dataclasses.asdict(status), indent=2, sort_keys=True))
        return 0
    last = status.last_pass or {}
    print(f"station {status.station}, status of {status.updated}")
    said = f": {last['message']}" if last.get("message") else ""
    print(
        f"last pass: {last.get('outcome', '-')} at {last.get('finished', '-')} "
        f"({last.get('duration_seconds', 0):.0f} s){said}"
    )
    print(f"last success: {status.last_success or 'never'}")
    print(
        f"backlog: {status.backlog_days} day(s), {status.backlog_files} files, "
        f"{human_bytes(status.backlog_bytes)}, the oldest {status.oldest_pending_day or '-'}"
    )
    for job, backlog in sorted(status.jobs.items()):
        error = f" ({backlog['error']})" if backlog.get("error") else ""
        print(
            f"  {job}: {backlog['days']} day(s), {backlog['files']} files, "
            f"{human_bytes(backlog['bytes'])}{error}"
        )
    print(
        f"uploaded since the state began: {status.uploaded_files_total} files, "
        f"{human_bytes(status.uploaded_bytes_total)}"
    )
    if status.replaced_kept_total:
        print(
            f"server copies of changed files kept under .csu-replaced: "
            f"{status.replaced_kept_total} (OPERATOR.md: pruning kept versions)"
        )
    return 0


def _describe_pending(day: Pending) -> str:
    """Return one line of ``check``'s plan for a day."""
    if day.error:
        return f"{day.unit.label}  cannot be screened: {day.error}"
    parts = [f"{day.upload:>7} files to upload ({human_bytes(day.upload_bytes)})"]
    if day.compare:
        parts.append(f"{day.compare} to compare by checksum")
    if day.remove:
        parts.append(f"{day.remove} to remove locally once verified")
    if day.cleanup:
        parts.append(f"{day.cleanup} leftovers to clean up or folders to create")
    return f"{day.unit.label}  " + ", ".join(parts)


class _PrintVersion(argparse.Action):
    """``--version``: one line, unwrapped (argparse's own version action wraps it)."""

    def __call__(self, parser: argparse.ArgumentParser, *_args: object, **_kw: object) -> None:
        print(version_text())
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="circadian-scp-upload",
        description="Upload each finished day of instrument data over SSH, verified. "
        "Configured by CSU_* environment variables (see `env-reference`).",
    )
    parser.add_argument(
        "--version", action=_PrintVersion, nargs=0, help="the agent's and its libraries' versions"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("run", help="the daemon: a pass every CSU_INTERVAL_SECONDS until stopped")
    commands.add_parser("once", help="one pass; the exit code says how it went")
    check = commands.add_parser(
        "check", help="validate, connect, verify the host key, print the plan"
    )
    check.add_argument(
        "--write",
        action="store_true",
        help="also create, write, rename, hash and remove a probe file in each destination",
    )
    enroll_command = commands.add_parser(
        "enroll",
        help="make the station's key (never overwriting one), print the line for the "
        "server's admin, show the server's host key and record it with --trust",
    )
    enroll_command.add_argument(
        "--for",
        dest="key_for",
        choices=("sftp-only", "csu-only", "proftpd"),
        default="sftp-only",
        help="the admin's line: SFTP only (default), the csu-only forced command "
        "(hashing on the server), or RFC 4716 for ProFTPD",
    )
    enroll_command.add_argument(
        "--upload-root", help="the folder csu-only confines the station to (default: CSU_DST)"
    )
    trust = enroll_command.add_mutually_exclusive_group()
    trust.add_argument(
        "--trust",
        action="store_true",
        help="record the server's host key (after comparing its fingerprint)",
    )
    trust.add_argument(
        "--fingerprint",
        metavar="SHA256:...",
        help="record the server's host key if its fingerprint is this one",
    )
    enroll_command.add_argument(
        "--replace-host-key",
        action="store_true",
        help="with --fingerprint (or --trust): the server's key changed on purpose "
        "(reinstalled, station moved): trust only the new key, dropping every other one "
        "for the host",
    )
    enroll_command.add_argument(
        "--public-key",
        action="store_true",
        help="print only the station's public key line (made if missing), for a file to "
        "give the server's admin: enroll --public-key > station-07.pub",
    )
    commands.add_parser("healthcheck", help="for Docker's HEALTHCHECK: exit 0 when healthy")
    fleet = commands.add_parser(
        "fleet",
        help="every station's report below ROOT: last contact, success, backlog, errors; "
        "exit 1 when one is late, failing or broken",
    )
    fleet.add_argument("root", metavar="ROOT", help="the folder the stations upload below")
    fleet.add_argument(
        "--remote",
        action="store_true",
        help="read ROOT on the server, over SSH with the agent's settings (CSU_HOST, ...)",
    )
    fleet.add_argument(
        "--stations",
        metavar="DIR",
        help="the server kit's records of the stations it enrolled (/etc/csu-upload/stations): "
        "each one without a report is a MISSING row",
    )
    fleet.add_argument("--json", action="store_true", help="as JSON, for scripts")
    fleet.add_argument("--html", metavar="FILE", help="also write a page with a picture")
    fleet.add_argument(
        "--days",
        type=within(1, MAX_DAYS, int),
        default=30,
        help=f"days in the page's picture (default 30, {MAX_DAYS} at most)",
    )
    fleet.add_argument(
        "--late-after",
        type=within(0, MAX_INTERVAL),
        metavar="SECONDS",
        help="LATE this long after the server should have heard from a station again "
        "(default: 2 pass intervals, 1 h at least)",
    )
    fleet.add_argument(
        "--depth",
        type=within(0, MAX_DEPTH, int),
        default=DEFAULT_DEPTH,
        help=f"folders below ROOT to look for reports in (default {DEFAULT_DEPTH})",
    )
    status = commands.add_parser("status", help="the last pass, the backlog (no network)")
    status.add_argument("--json", action="store_true", help="as JSON")
    commands.add_parser("env-reference", help="print the table of CSU_* variables")
    commands.add_parser("exit-codes", help="print the table of exit codes")
    return parser


def entry_point() -> None:
    """Console-script entry point."""
    sys.exit(main())
