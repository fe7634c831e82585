"""What a ping URL may be, and what of it may be said or sent: checked when the settings
load (``check_ping_url``), split into a URL and basic-auth credentials when a ping goes
(``split_credentials``), and cut to its host for a log line (``where``). The station's
pings (``station/pings.py``) send them."""

from __future__ import annotations

import base64
import urllib.parse


def check_ping_url(url: str) -> None:
    """Raise ValueError (never echoing the URL: it holds the check's token) for a URL a
    ping cannot go to."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("give an http:// or https:// URL of the monitor's check")
    if "/api/push/" in parts.path and "{status}" not in url:
        raise ValueError(
            "an Uptime Kuma push URL needs {status} (and may have {msg}) in its query: "
            "...?status={status}&msg={msg}&ping="
        )


def split_credentials(url: str) -> tuple[str, str | None]:
    """Given a URL, return it without its ``user:password@`` and the ``Authorization``
    header that carries them instead (HTTP basic authentication, as curl sends them), or
    None where it holds none. urllib would neither send them nor keep them out of an
    error message."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    pair = (
        f"{urllib.parse.unquote(parts.username or '')}:{urllib.parse.unquote(parts.password or '')}"
    )
    header = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc)), header


def where(url: str) -> str:
    """Return what a log line may say of a ping URL: its host and port only (the path
    may hold the check's token, the user part a password)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    return f"{host}:{parts.port}" if parts.port is not None else host
