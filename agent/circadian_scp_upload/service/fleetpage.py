"""The fleet as one self-contained static page: the table, and a picture of the last N
days of every station (a grid of day cells: verified, pending, failed, no data), made
with the standard library only (inline CSS and SVG), readable offline and mailable."""

from __future__ import annotations

import datetime
import html

from .fleet import StationRow, human_age, human_bytes, short_time

CELL = 16  # pixels of a day cell
GAP = 2
NAME_WIDTH = 150
COLOURS = {
    "verified": "#2e7d32",
    "pending": "#f9a825",
    "failed": "#c62828",
    "absent": "#e0e0e0",
}
STATE_COLOURS = {"ok": "#2e7d32", "FAILING": "#c62828", "LATE": "#ef6c00"}
STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #212121; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; }
p.when { color: #616161; margin-top: 0; }
table { border-collapse: collapse; margin: 1em 0 2em; }
th, td { padding: 0.3em 0.8em; border-bottom: 1px solid #e0e0e0; text-align: left;
  white-space: nowrap; vertical-align: top; }
td.error { white-space: normal; max-width: 28em; font-size: 0.9em; color: #616161; }
th { background: #f5f5f5; }
td.state { font-weight: bold; }
td.num { text-align: right; }
.legend span { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px;
  vertical-align: middle; }
"""


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
        name = html.escape(row.station)
        parts.append(f'<text x="0" y="{y + CELL - 3}" font-size="12" class="station">{name}</text>')
        for index, date in enumerate(dates):
            state = row.days.get(date.isoformat(), "absent")
            colour = COLOURS.get(state, COLOURS["absent"])
            x = NAME_WIDTH + index * (CELL + GAP)
            parts.append(
                f'<rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" rx="2" '
                f'fill="{colour}" data-state="{state}"><title>{name} {date.isoformat()}: '
                f"{state}</title></rect>"
            )
    parts.append("</svg>")
    return "".join(parts)


def render_html(
    rows: list[StationRow], days: int = 30, now: datetime.datetime | None = None
) -> str:
    """Return the fleet page: a table of the stations and the grid of their days."""
    moment = now or datetime.datetime.now(datetime.timezone.utc)
    counts = {state: sum(1 for row in rows if row.state == state) for state in STATE_COLOURS}
    lines = []
    for row in rows:
        state = row.state + (f" (late by {human_age(row.late_by_seconds)})" if row.late else "")
        error = html.escape(row.message) if row.failing else ""
        lines.append(
            "<tr>"
            f'<td class="station">{html.escape(row.station)}</td>'
            f'<td class="state" style="color: {STATE_COLOURS[row.state]}">{state}</td>'
            f"<td>{short_time(row.last_contact)}</td>"
            f"<td>{short_time(row.last_success)}</td>"
            f'<td class="num">{row.backlog_days} d, {human_bytes(row.backlog_bytes)}</td>'
            f"<td>{html.escape(row.oldest_pending_day or '-')}</td>"
            f"<td>{html.escape(row.agent_version)}</td>"
            f'<td class="error">{error}</td>'
            "</tr>"
        )
    legend = "".join(
        f'<span style="background: {colour}"></span>{name}' for name, colour in COLOURS.items()
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Fleet: {len(rows)} station(s)</title>
<style>{STYLE}</style>
</head>
<body>
<h1>circadian-scp-upload: {len(rows)} station(s)</h1>
<p class="when">{counts["ok"]} ok, {counts["FAILING"]} failing, {counts["LATE"]} late;
as of {moment.astimezone(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}</p>
<table>
<tr><th>station</th><th>state</th><th>last contact</th><th>last success</th>
<th>backlog</th><th>oldest pending</th><th>agent</th><th>last error</th></tr>
{"".join(lines)}
</table>
<h2>The last {days} days</h2>
<p class="legend">{legend}</p>
{day_grid(rows, days, moment.date())}
</body>
</html>
"""
