"""What a player sees of prize draws (the event page's prizes, "My prizes"): each
prize's rule, whether they qualify and why while entries are open, when entries close,
the draw's public commitment, and — once entries closed — whether the frozen
``entrants.txt`` lists them.

A player's entrant id is their user id: ``entrants.txt`` is the list of entrants' user
ids (:mod:`daylock.prizes.draw`), so the id is what ``grep -x`` finds in it.

Reads are per page, not per prize: the prizes with their draws and the player's facts
in their events (one query, :func:`daylock.events.eligibility.fact_annotations`), the
days the player solved where a verdict names what is missing (one query at most), and
the lookups in the frozen entrant lists (one query at most, none once remembered:
:func:`daylock.prizes.selectors.entrant_listed`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef, QuerySet

from daylock import clock
from daylock.accounts.models import User
from daylock.events import eligibility
from daylock.events.eligibility import Verdict
from daylock.events.models import Event, Progress, Tier, unlock_instant
from daylock.prizes.models import Draw, DrawStatus, Prize
from daylock.prizes.selectors import entrant_listed

#: Prizes whose entries closed listed on "My prizes" (newest first).
CLOSED_SHOWN = 20


def rule_text(prize: Prize, event: Event) -> str:
    """What qualifies for ``prize``, as one sentence without the full stop."""
    days = "the event's day" if event.day_count == 1 else f"all {event.day_count} days"
    if Tier(prize.min_tier) is Tier.VETERAN:
        rule = f"solve {days} at veteran tier"
    elif event.day_count == 1:
        rule = f"solve {days} at normal or veteran tier"
    else:
        rule = f"solve {days} at normal tier (or all at veteran tier)"
    if prize.feedback_required:
        rule += ", and leave feedback on the event or one of its days"
    return rule[0].upper() + rule[1:]


def _open(draw: Draw | None) -> bool:
    """Entries are open until the draw freezes its list (a prize without a draw yet
    has not frozen anything)."""
    return draw is None or draw.status == DrawStatus.OPEN


@dataclass(frozen=True)
class PrizeEntry:
    prize: Prize
    event: Event
    #: None only for a prize whose draw was never set up.
    draw: Draw | None
    rule: str
    #: Whether the viewer would enter if entries closed now, and why: while entries are
    #: open, for a signed-in viewer (None otherwise).
    verdict: Verdict | None
    #: The viewer's entrant id (their user id); None for an anonymous visitor.
    entrant_id: int | None
    #: Whether ``entrants.txt`` lists the viewer: once entries closed, for a signed-in
    #: viewer (None otherwise).
    listed: bool | None
    #: When the last day opens: staff close entries after it (``close_blockers``).
    last_day_opens: datetime

    @property
    def status(self) -> str:
        """``open``, ``closed``, ``drawn``, or ``unset`` (no draw yet)."""
        return self.draw.status if self.draw is not None else "unset"

    @property
    def entries_open(self) -> bool:
        return _open(self.draw)


def _draw_of(prize: Prize) -> Draw | None:
    # A reverse one-to-one without a row raises a subclass of AttributeError.
    return getattr(prize, "draw", None)


def prizes_with_facts(
    prizes: QuerySet[Prize], *, user: User | None, limit: int | None = None
) -> list[Prize]:
    """The first ``limit`` (default: all) of ``prizes`` with their event and draw, and —
    for a signed-in ``user`` — the player's facts in each prize's event as columns of
    the same query."""
    prizes = prizes.select_related("event", "draw")
    if user is not None and user.is_authenticated:
        columns = eligibility.fact_annotations(user_id=user.pk, event_field="event")
        prizes = prizes.annotate(**columns)
    return list(prizes[:limit])


def entries_for(*, prizes: Iterable[Prize], user: User | None) -> list[PrizeEntry]:
    """Entries for these prizes (read by :func:`prizes_with_facts` for this ``user``) as
    ``user`` (None: an anonymous visitor) sees them."""
    prizes = list(prizes)
    player = user if user is not None and user.is_authenticated else None
    verdicts: dict[int, Verdict] = {}
    listed: set[int] = set()
    if player is not None:
        now = clock.now(user_id=player.pk)
        still_open = [p for p in prizes if _open(_draw_of(p))]
        facts = {
            p.event_id: eligibility.facts_from_row(p, user=player, event=p.event)
            for p in still_open
        }
        facts = eligibility.with_solved_days(
            facts,
            user=player,
            event_ids={
                p.event_id
                for p in still_open
                if eligibility.needs_solved_days(facts[p.event_id], min_tier=Tier(p.min_tier))
            },
        )
        verdicts = {
            p.pk: eligibility.verdict(
                facts[p.event_id],
                min_tier=Tier(p.min_tier),
                feedback_required=p.feedback_required,
                now=now,
            )
            for p in still_open
        }
        closed = [draw for p in prizes if (draw := _draw_of(p)) is not None and not _open(draw)]
        listed = entrant_listed(draws=closed, user_id=player.pk)
    entries = []
    for prize in prizes:
        draw, event = _draw_of(prize), prize.event
        entries.append(
            PrizeEntry(
                prize=prize,
                event=event,
                draw=draw,
                rule=rule_text(prize, event),
                verdict=verdicts.get(prize.pk),
                entrant_id=player.pk if player is not None else None,
                listed=(
                    draw.pk in listed
                    if player is not None and draw is not None and not _open(draw)
                    else None
                ),
                last_day_opens=unlock_instant(event, event.day_count),
            )
        )
    return entries


def event_entries(*, event: Event, user: User | None) -> list[PrizeEntry]:
    """The prizes of ``event`` in the order staff created them."""
    prizes = prizes_with_facts(Prize.objects.filter(event=event).order_by("id"), user=user)
    return entries_for(prizes=prizes, user=user)


@dataclass(frozen=True)
class MyEntries:
    #: Prizes of published events still open for entries, oldest event first.
    open: list[PrizeEntry]
    #: Prizes whose entries closed, of events the player played, newest close first
    #: (at most :data:`CLOSED_SHOWN`).
    closed: list[PrizeEntry]


def my_entries(*, user: User) -> MyEntries:
    """A player's standing in every prize still open and in the latest closed draws of
    events they played: two queries for the prizes (with the player's facts), one for
    the days solved where a verdict needs them, one at most for the entrant lists."""
    published = Prize.objects.filter(event__published=True)
    still_open = prizes_with_facts(
        published.filter(draw__status=DrawStatus.OPEN).order_by("event__starts_on", "id"),
        user=user,
    )
    played = Progress.objects.filter(user_id=user.pk, day__event=OuterRef("event"))
    closed = prizes_with_facts(
        published.filter(draw__status__in=[DrawStatus.CLOSED, DrawStatus.DRAWN])
        .filter(Exists(played))
        .order_by("-draw__closed_at", "-id"),
        user=None,  # the list decides: no verdict, no facts to read
        limit=CLOSED_SHOWN,
    )
    entries = entries_for(prizes=[*still_open, *closed], user=user)
    return MyEntries(open=entries[: len(still_open)], closed=entries[len(still_open) :])
