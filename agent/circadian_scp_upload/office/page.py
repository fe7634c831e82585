"""The fleet as one self-contained static page: the table, and a picture of the last N
days of every station (a grid of day cells: verified, pending, failed, unknown, no data),
made with the standard library only (inline CSS and SVG), readable offline and mailable.

Everything a station wrote (its name, version, messages, times, day states) is escaped
where it goes into the page: a report is never markup."""

from __future__ import annotations

import datetime
import html
from collections.abc import Sequence

from .fleet import StationRow, counts, describe_state, human_age, human_bytes, short_time

CELL = 16  # pixels of a day cell
GAP = 2
NAME_WIDTH = 150
COLOURS = {
    "verified": "#2e7d32",
    "pending": "#f9a825",
    "failed": "#c62828",
    "unknown": "#8d6e63",
    "absent": "#e0e0e0",
}
STATE_COLOURS = {
    "ok": "#2e7d32",
    "FAILING": "#c62828",
    "LATE": "#ef6c00",
    "MISSING": "#ef6c00",
    "BROKEN": "#6a1b9a",
}
STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #212121; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; }
p.when { color: #616161; margin-top: 0; }
table { border-collapse: collapse; margin: 1em 0 2em; }
th, td { padding: 0.3em 0.8em; border-bottom: 1px solid #e0e0e0; text-align: left;
  white-space: nowrap; vertical-align: top; }
td.error { white-space: normal; min-width: 18em;
  max-width: 36em; font-size: 0.9em; color: #616161; }
small { color: #616161; }
th { background: #f5f5f5; }
td.state { font-weight: bold; }
td.num { text-align: right; }
.legend span { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px;
  vertical-align: middle; }
"""


def escape(value: object) -> str:
    """Return ``value`` as text fit for HTML content and quoted attributes."""
    return html.escape(str(value), quote=True)


def day_grid(rows: list[StationRow], days: int, today: datetime.date) -> str:
    """Return the inline SVG of the last ``days`` days per station, oldest on the left."""
    dates = [today - datetime.timedelta(days=offset) for offset in range(days - 1, -1, -1)]
    width = NAME_WIDTH + days * (CELL + GAP)
    height = 24 + len(rows) * (CELL + GAP)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="the last {days} days of each station">'
    ]
    for index, date in enumerate(dates):
        if date.day == 1 or index == 0:
            x = NAME_WIDTH + index * (CELL + GAP)
            parts.append(f'<text x="{x}" y="12" font-size="10" fill="#616161">{date:%d %b}</text>')
    for line, row in enumerate(rows):
        y = 20 + line * (CELL + GAP)
        name = escape(row.station)
        parts.append(f'<text x="0" y="{y + CELL - 3}" font-size="12" class="station">{name}</text>')
        for index, date in enumerate(dates):
            state = row.days.get(date.isoformat(), "absent")
            colour = COLOURS.get(state, COLOURS["unknown"])
            x = NAME_WIDTH + index * (CELL + GAP)
            parts.append(
                f'<rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" rx="2" '
                f'fill="{colour}" data-state="{escape(state)}"><title>{name} '
                f"{date.isoformat()}: {escape(state)}</title></rect>"
            )
    parts.append("</svg>")
    return "".join(parts)


def clock_offset(seconds: float | None) -> str:
    """The station's clock offset as the server saw it: ``+3 s``, ``-2 h 5 min`` (or ``-``)."""
    if seconds is None:
        return "-"
    if abs(seconds) < 120:
        return f"{seconds:+.0f} s"
    return ("+" if seconds > 0 else "-") + human_age(abs(seconds))


def table_row(row: StationRow) -> str:
    """Return one station's row of the table (its state and report file as a tooltip)."""
    if row.problems:
        said = "; ".join(row.problems)
    elif row.failing:
        said = row.message
    else:
        said = ""
    state = row.state + (f" (late by {human_age(row.late_by_seconds)})" if row.late else "")
    contact = [
        short_time(row.last_contact),
        f"<small>clock {escape(clock_offset(row.clock_offset_seconds))}, "
        f"next due {short_time(row.due)}</small>",
    ]
    if row.upload_window:
        contact.append(f"<small>upload window {escape(row.upload_window)}</small>")
    if row.contact_source != "server":  # SFTP: the station can set that time
        contact.append(f"<small>(the {escape(row.contact_source)}'s word)</small>")
    station = [escape(row.station)]
    if row.folder and row.folder != row.station:
        station.append(f"<small>folder {escape(row.folder)}</small>")
    station += [f"<small>{escape(note)}</small>" for note in row.notes]
    cells = [
        ("station", "<br>".join(station)),
        ("state", escape(state)),
        ("", "<br>".join(contact)),
        ("", short_time(row.last_success)),
        ("num", f"{row.backlog_days} d, {human_bytes(row.backlog_bytes)}"),
        ("", escape(row.oldest_pending_day or "-")),
        ("", escape(row.agent_version)),
        ("error", escape(said)),
    ]
    colour = f' style="color: {STATE_COLOURS[row.state]}"'
    return (
        f'<tr title="{escape(describe_state(row))}&#10;{escape(row.report)}">'
        + "".join(
            f'<td class="{kind}"{colour if kind == "state" else ""}>{content}</td>'
            if kind
            else f"<td>{content}</td>"
            for kind, content in cells
        )
        + "</tr>"
    )


def render_html(
    rows: list[StationRow],
    days: int = 30,
    now: datetime.datetime | None = None,
    unreadable: Sequence[tuple[str, str]] = (),
) -> str:
    """Return the fleet page: a table of the stations, the folders that could not be
    read, and the grid of the stations' days."""
    moment = now or datetime.datetime.now(datetime.timezone.utc)
    count = counts(rows)
    legend = "".join(
        f'<span style="background: {colour}"></span>{name}' for name, colour in COLOURS.items()
    )
    folders = "".join(f"<li>{escape(path)} ({escape(why)})</li>" for path, why in unreadable)
    unread = f"<h2>Unreadable folders</h2>\n<ul>{folders}</ul>\n" if unreadable else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Fleet: {len(rows)} station(s)</title>
<style>{STYLE}</style>
</head>
<body>
<h1>circadian-scp-upload: {len(rows)} station(s)</h1>
<p class="when">{count["ok"]} ok, {count["FAILING"]} failing, {count["LATE"]} late,
{count["BROKEN"]} broken{f", {count['MISSING']} missing" if count["MISSING"] else ""}{
        f"; {len(unreadable)} folder(s) unreadable" if unreadable else ""
    };
as of {moment.astimezone(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}</p>
<table>
<tr><th>station</th><th>state</th><th>last contact (the server's time)</th>
<th>last success</th><th>backlog</th><th>oldest pending</th><th>agent</th>
<th>last error</th></tr>
{"".join(table_row(row) for row in rows)}
</table>
{unread}<h2>The last {days} days</h2>
<p class="legend">{legend}</p>
{day_grid(rows, days, moment.date())}
</body>
</html>
"""
