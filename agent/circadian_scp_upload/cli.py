"""The ``circadian-scp-upload`` command: ``run``, ``once``, ``check``, ``healthcheck``.

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
from types import FrameType

from loguru import logger

from .engine import Pending
from .errors import ConfigError
from .outcomes import EXIT_CODE_MEANINGS, Outcome, exit_code, rule_for
from .service.agent import Agent, station_name
from .service.config import env_reference, load_settings, unknown_variables
from .service.health import check_health
from .service.logs import setup_logging
from .service.settings import AgentSettings
from .service.status import read_status
from .service.versions import version_text


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
    for warning in unknown_variables(os.environ):
        logger.warning("{}", warning)
    try:
        settings = load_settings(connection=args.command not in ("healthcheck", "status"))
    except ConfigError as error:
        logger.error("{}", error)
        return exit_code(Outcome.CONFIG)
    if args.command == "healthcheck":
        healthy, why = check_health(settings.state_dir, settings.unhealthy_after_seconds)
        print(("healthy: " if healthy else "unhealthy: ") + why)
        return 0 if healthy else 1
    if args.command == "status":
        return _status(settings, args.json)
    setup_logging(settings.log_level, settings.log_format, station_name(settings))
    return _run_command(args.command, settings)


def _run_command(command: str, settings: AgentSettings) -> int:
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
    return _check(agent)


def _check(agent: Agent) -> int:
    """Validate, connect, verify the host key, and print the plan; change nothing."""
    try:
        with agent.connection(retry=False) as connection:
            print(f"connected to {agent.settings.user}@{connection.where}: host key verified")
            print(f"server: {connection.traits().describe()}")
            print(f"station time zone: {agent.zone.describe()}")
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
    except Exception as error:  # noqa: BLE001 - the outcome table decides the exit code
        logger.error("{}", error)
        return exit_code(rule_for(error).outcome)
    return 0


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
        f"{_human(status.backlog_bytes)}, the oldest {status.oldest_pending_day or '-'}"
    )
    for job, backlog in sorted(status.jobs.items()):
        error = f" ({backlog['error']})" if backlog.get("error") else ""
        print(
            f"  {job}: {backlog['days']} day(s), {backlog['files']} files, "
            f"{_human(backlog['bytes'])}{error}"
        )
    print(
        f"uploaded since the state began: {status.uploaded_files_total} files, "
        f"{_human(status.uploaded_bytes_total)}"
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
    parts = [f"{day.upload:>7} files to upload ({_human(day.upload_bytes)})"]
    if day.compare:
        parts.append(f"{day.compare} to compare by checksum")
    if day.remove:
        parts.append(f"{day.remove} to remove locally once verified")
    if day.cleanup:
        parts.append(f"{day.cleanup} leftovers to clean up or folders to create")
    return f"{day.unit.label}  " + ", ".join(parts)


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


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
    commands.add_parser("check", help="validate, connect, verify the host key, print the plan")
    commands.add_parser("healthcheck", help="for Docker's HEALTHCHECK: exit 0 when healthy")
    status = commands.add_parser("status", help="the last pass, the backlog (no network)")
    status.add_argument("--json", action="store_true", help="as JSON")
    commands.add_parser("env-reference", help="print the table of CSU_* variables")
    commands.add_parser("exit-codes", help="print the table of exit codes")
    return parser


def entry_point() -> None:
    """Console-script entry point."""
    sys.exit(main())
