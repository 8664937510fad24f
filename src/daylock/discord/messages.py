"""The text of the event life cycle's Discord posts (:mod:`daylock.discord.lifecycle`).

Pure functions of what they are given, so each post's wording is tested without a
database. Discord formatting: bold names, ``<t:unix:F>`` timestamps (every reader sees
their own time zone), hashes in code spans so they copy whole. Nothing here mentions a
role or ``@everyone``: the outbox allows no such ping anyway.
"""

from __future__ import annotations

from datetime import datetime


def _when(instant: datetime) -> str:
    unix = int(instant.timestamp())
    return f"<t:{unix}:F> (<t:{unix}:R>)"


def _tag(simulated: bool) -> str:
    return "[SIMULATED] " if simulated else ""


def day_open(*, event_name: str, number: int, title: str, url: str) -> str:
    """ "Day N is open", with the day's title and its page."""
    name = f": **{title}**" if title else ""
    return f"🔓 **{event_name}** — Day {number} is open{name}\n{url}"


def last_day_reminder(*, event_name: str, number: int, opens_at: datetime, url: str) -> str:
    """The reminder before the last day: when it opens, and the event's page."""
    return (
        f"⏰ **{event_name}** — the last day (Day {number}) opens {_when(opens_at)}. "
        f"Catch up on the days you missed: {url}"
    )


def entries_closed(
    *,
    event_name: str,
    prize_name: str,
    seed_hash: str,
    entrants_hash: str,
    entrant_count: int,
    url: str,
    simulated: bool,
) -> str:
    """The draw's commitment, published when entries close and before the seed is
    revealed: anyone can later check that the draw ranked exactly this list with the
    seed whose hash was published."""
    entrants = "1 entrant" if entrant_count == 1 else f"{entrant_count} entrants"
    return (
        f"{_tag(simulated)}🔒 Entries closed for **{prize_name}** ({event_name}): {entrants}.\n"
        f"Commitment — seed hash `{seed_hash}`, entrants hash `{entrants_hash}`.\n"
        f"Find your entry and verify the draw: {url}"
    )


def results(
    *, event_name: str, prize_name: str, winner_count: int, url: str, simulated: bool
) -> str:
    """The draw was run: where to see the winners and check the ranking."""
    winners = (
        "no winner"
        if winner_count == 0
        else ("1 winner" if winner_count == 1 else f"{winner_count} winners")
    )
    return (
        f"{_tag(simulated)}🏆 **{prize_name}** ({event_name}) was drawn: {winners}. "
        f"The seed is revealed; see the results and verify them: {url}"
    )
