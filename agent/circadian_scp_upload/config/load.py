"""Loading the agent's configuration: the environment (and ``*_FILE`` secrets, and
``/run/secrets``) read into ``AgentSettings``, every problem listed at once, unknown
variables named, and the reference table of docs/configuration.md generated from the
declarations.
"""

from __future__ import annotations

import datetime
import difflib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_settings import SecretsSettingsSource

from ..errors import ConfigError
from ..source.readiness import station_zone
from . import settings as declared
from .schedule import UploadWindow
from .settings import (
    CONNECTION_OPTION_VARIABLES,
    ENV_PREFIX,
    FILE_SECRET_NAMES,
    SECRET_NAMES,
    STATION_KEY,
    STATION_KNOWN_HOSTS,
    AgentSettings,
    Job,
    accepted_keys_file,
    build_connection,
)
from .state import on_memory_filesystem


def resolve_secret_files(environ: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """Given the environment, return it with ``*_FILE`` secrets read in, and any problems."""
    env = dict(environ)
    problems = []
    for name in FILE_SECRET_NAMES:
        file_var = f"{ENV_PREFIX}{name}_FILE"
        path = _lookup(env, file_var)
        if path is None:
            continue
        if _lookup(env, ENV_PREFIX + name) is not None:
            problems.append(f"{file_var}: give either {ENV_PREFIX}{name} or {file_var}, not both")
            continue
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            problems.append(f"{file_var}: cannot read {path!r} ({error.strerror})")
            continue
        except UnicodeDecodeError:
            problems.append(f"{file_var}: {path!r} is not a text file")
            continue
        # `echo secret > file` leaves a line break that is no part of the secret
        env[ENV_PREFIX + name] = text.removesuffix("\n").removesuffix("\r")
    return env, problems


# Variables of deploy/docker-compose.yml (interpolated by compose, not read by the agent).
COMPOSE_VARIABLES = {"CSU_IMAGE", "CSU_UID", "CSU_GID", "CSU_DATA_DIR"}


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """Return a warning for each ``CSU_`` variable the agent does not know, with the
    closest known name (a misspelt variable would otherwise be ignored silently)."""
    known = {ENV_PREFIX + name.upper() for name in AgentSettings.model_fields}
    known |= COMPOSE_VARIABLES
    known |= {f"{ENV_PREFIX}{name}_FILE" for name in FILE_SECRET_NAMES}
    warnings = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known:
            continue
        close = difflib.get_close_matches(upper, sorted(known), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else "; see `env-reference`"
        warnings.append(f"{name} is not a variable this agent knows: it is ignored{hint}")
    return warnings


def load_settings(
    environ: Mapping[str, str] | None = None,
    connection: bool = True,
    enrolling: bool = False,
    reading: bool = False,
) -> AgentSettings:
    """Read and validate the configuration; raise one ConfigError listing every problem.

    ``connection``: also build (and so check) the connection: key files are read and
    parsed, fingerprints and known_hosts checked. The healthcheck does without.
    ``enrolling``: no credential is needed yet (``enroll`` makes the key).
    ``reading``: only the connection is used (``fleet --remote`` reads the reports): no
    job (``CSU_DST``) and no time zone are needed.
    """
    env, problems = resolve_secret_files(os.environ if environ is None else environ)
    settings: AgentSettings | None = None
    try:
        settings = _build(env)
    except ValidationError as error:
        problems.extend(_describe(error))
    except ConfigError as error:
        problems.append(str(error))
    if settings is not None:
        enrolled_defaults(settings)
    problems.extend(_cross_checks(env, settings, enrolling, jobs=not reading))
    if settings is not None:
        try:
            settings.resolve(zone=station_zone(settings.timezone, env))
            problems.extend(_window_problems(settings))
            problems.extend([] if enrolling or reading else _zone_problems(settings))
        except ConfigError as error:
            problems.append(str(error))
    if settings is not None and not problems and connection:
        try:
            settings.resolve(connection=build_connection(settings))
        except ConfigError as error:
            problems.extend(
                f"{CONNECTION_OPTION_VARIABLES.get(option, 'CSU_HOST')}: {message}"
                for option, message in error.problems
            )
    if problems:
        raise ConfigError("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))
    assert settings is not None
    return settings


def environment_values(environ: Mapping[str, str]) -> dict[str, str]:
    """Given the environment, return field name -> text for every ``CSU_`` variable that
    names a setting and is not empty (names are case-insensitive). pydantic parses the
    text as each field's type says; ``CSU_JOBS`` is decoded by its own validator."""
    fields = set(AgentSettings.model_fields)
    values = {}
    for key, value in environ.items():
        upper = key.upper()
        name = upper.removeprefix(ENV_PREFIX).lower()
        if upper.startswith(ENV_PREFIX) and name in fields and value != "":
            values[name] = value
    return values


def _build(env: dict[str, str]) -> AgentSettings:
    """Given the environment, return validated settings (raises ValidationError)."""
    values: dict[str, Any] = {}
    if declared.SECRETS_DIR.is_dir():
        secrets = SecretsSettingsSource(AgentSettings, secrets_dir=declared.SECRETS_DIR)
        values.update(secrets())
    values.update(environment_values(env))
    return AgentSettings(**values)


def _lookup(env: Mapping[str, str], name: str) -> str | None:
    for key, value in env.items():
        if key.upper() == name and value != "":
            return value
    return None


def enrolled_defaults(settings: AgentSettings) -> None:
    """Where nothing else is configured, use what ``enroll`` made in the state folder:
    ``station_key`` as the key, ``known_hosts`` as the known hosts (each only if there)."""
    key = settings.state_dir.expanduser() / STATION_KEY
    if (
        settings.key_file is None
        and settings.private_key is None
        and settings.password is None
        and key.is_file()
    ):
        settings.key_file = key
    known = settings.state_dir.expanduser() / STATION_KNOWN_HOSTS
    if (
        settings.known_hosts_file is None
        and settings.known_hosts is None
        and settings.host_key_fingerprint is None
        and known.is_file()
    ):
        settings.known_hosts_file = known


def _cross_checks(
    env: Mapping[str, str],
    settings: AgentSettings | None,
    enrolling: bool = False,
    jobs: bool = True,
) -> list[str]:
    problems = []
    if (
        not enrolling
        and settings is not None
        and settings.password is None
        and settings.key_file is None
        and settings.private_key is None
        and not env.get("SSH_AUTH_SOCK")
    ):
        problems.append(
            "CSU_KEY_FILE: no credential: run `enroll` (it makes <CSU_STATE_DIR>/station_key, "
            "used when nothing else is set), give a private key (CSU_KEY_FILE, CSU_PRIVATE_KEY "
            "or the secret csu_private_key) or a password (CSU_PASSWORD), or run an ssh-agent "
            "(SSH_AUTH_SOCK)"
        )
    has_jobs = _lookup(env, "CSU_JOBS") is not None
    if jobs and not has_jobs and _lookup(env, "CSU_DST") is None:
        problems.append("CSU_DST: missing; give the remote folder (or several jobs in CSU_JOBS)")
    if has_jobs and _lookup(env, "CSU_DST") is not None:
        problems.append("CSU_DST: give either CSU_DST (one job) or CSU_JOBS (several), not both")
    if (
        settings is not None
        and settings.bandwidth_schedule is not None
        and settings.bandwidth_limit_kib
    ):
        problems.append(
            "CSU_BANDWIDTH_SCHEDULE: give either CSU_BANDWIDTH_LIMIT_KIB or "
            "CSU_BANDWIDTH_SCHEDULE, not both"
        )
    record = accepted_keys_file(settings) if settings is not None else None
    if (
        settings is not None
        and record is not None
        and record.parent == settings.state_dir
        and on_memory_filesystem(settings.state_dir)
    ):
        problems.append(
            f"CSU_ACCEPT_NEW_HOST_KEY: the accepted key would be kept in CSU_STATE_DIR "
            f"({str(settings.state_dir)!r}), a tmpfs that every restart empties: then any key "
            "would be new again. Mount a volume there, give a writable CSU_KNOWN_HOSTS_FILE, "
            "or trust the key explicitly (CSU_KNOWN_HOSTS_FILE, CSU_HOST_KEY_FINGERPRINT)"
        )
    if settings is not None and settings.key_file is not None and settings.private_key is not None:
        problems.append("CSU_KEY_FILE: give either CSU_KEY_FILE or CSU_PRIVATE_KEY, not both")
    return problems


def _zone_problems(settings: AgentSettings) -> list[str]:
    """Removal needs a time zone that was said: without one, days end at midnight UTC,
    and a station west of Greenwich would lose the folder it is still writing (UTC said
    in CSU_TIMEZONE or TZ counts; an image's own /etc/localtime does not)."""
    if not settings.zone.defaulted:
        return []
    try:
        jobs = settings.job_list()
    except ValidationError:  # no destination: said already (CSU_DST: missing)
        return []
    removing = [job.label for job in jobs if job.remove_after_upload]
    if not removing:
        return []
    return [
        f"CSU_TIMEZONE: local files are removed after upload ({', '.join(removing)}) but no "
        "time zone is given, so days would end at midnight UTC, maybe hours before they end "
        "at the station: set CSU_TIMEZONE to the station's zone (such as Europe/Berlin, or "
        "UTC if the instrument writes by UTC), or mount the host's /etc/localtime"
    ]


def _window_problems(settings: AgentSettings) -> list[str]:
    """An upload window that stays shut for the next week (``night`` in a polar summer,
    ``day`` in a polar night) is a configuration error, unless the operator allows it."""
    if not settings.upload_window or settings.window_may_stay_closed:
        return []
    window = UploadWindow.parse(settings.upload_window, settings.place)
    now = datetime.datetime.now(settings.zone.zone)
    if not window.never_opens(now):
        return []
    where = ""
    if settings.place is not None:
        where = f" at {settings.place.latitude:g}, {settings.place.longitude:g}"
    return [
        f"CSU_UPLOAD_WINDOW: {settings.upload_window!r} stays closed for the next week"
        f"{where} (a polar day or night?): no pass could run; change the window, or set "
        "CSU_WINDOW_MAY_STAY_CLOSED=true to start anyway and wait for it"
    ]


def _describe(error: ValidationError) -> list[str]:
    """Turn pydantic's errors into one line per variable, never echoing secret values."""
    lines = []
    for item in error.errors():
        location = [str(part) for part in item["loc"]]
        if not location:
            lines.append(item["msg"])
            continue
        name = ENV_PREFIX + location[0].upper()
        if len(location) > 1:
            name += "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in location[1:])
        message = item["msg"].removeprefix("Value error, ")
        secret_value = location[0].upper() in SECRET_NAMES
        if item["type"] == "missing":
            lines.append(f"{name}: missing; {_field_help(location)}")
        elif secret_value:
            lines.append(f"{name}: {message}")
        else:
            shown = json.dumps(item.get("input"), default=str)
            if len(shown) > 80:
                shown = shown[:77] + "..."
            lines.append(f"{name}: {message} (got {shown})")
    return lines


def _field_help(location: list[str]) -> str:
    model: type[BaseModel] = AgentSettings if len(location) == 1 else Job
    field = model.model_fields.get(location[-1])
    return field.description if field and field.description else "required"


def env_reference() -> str:
    """Return the Markdown table of every variable, generated from the declarations."""
    rows = ["| variable | meaning | default |", "|---|---|---|"]
    for name, field in AgentSettings.model_fields.items():
        default = (
            "required" if field.is_required() else field.get_default(call_default_factory=True)
        )
        shown = "-" if default is None else f"`{default}`" if default != "required" else default
        if name == "known_hosts_file":
            shown = "`~/.ssh/known_hosts`"
        if name == "state_dir":
            shown = "`~/.local/state/circadian-scp-upload`"
        rows.append(f"| `{ENV_PREFIX}{name.upper()}` | {field.description} | {shown} |")
    for name in FILE_SECRET_NAMES:
        rows.append(
            f"| `{ENV_PREFIX}{name}_FILE` | read `{ENV_PREFIX}{name}` from this file "
            f"(or a secret `/run/secrets/{(ENV_PREFIX + name).lower()}`) | - |"
        )
    return "\n".join(rows) + "\n"
