"""Parsing of the test utilities' time arguments (shared by the CLI and the forms)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_PART = re.compile(r"(\d+)([wdhms])")


def parse_duration(text: str) -> timedelta:
    """``1d2h``, ``90m``, ``-3d`` (w, d, h, m, s; a leading ``-`` moves backwards)."""
    raw = text.strip().lower().replace(" ", "")
    sign = -1 if raw.startswith("-") else 1
    body = raw.lstrip("+-")
    if not body or _PART.sub("", body):
        raise ValueError(
            f"{text!r} is not a duration; use e.g. 1d2h, 90m or -3d (units w, d, h, m, s)"
        )
    total = timedelta()
    for amount, unit in _PART.findall(body):
        total += timedelta(**{_UNITS[unit]: int(amount)})
    return sign * total


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant; without an offset it is read as UTC (said so in the help)."""
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO 8601 date-time; use e.g. 2025-12-03T00:00:00Z"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_offset(offset: timedelta) -> str:
    sign = "-" if offset < timedelta(0) else "+"
    seconds = int(abs(offset).total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    parts += [f"{hours}h"] if hours else []
    parts += [f"{minutes}m"] if minutes else []
    parts += [f"{secs}s"] if secs or not parts else []
    return sign + "".join(parts)
