"""What a player sees of prize draws (the event page's prizes, "My prizes"): each
prize's rule, whether they qualify and why while entries are open, when entries close,
the draw's public commitment, and — once entries closed — whether the frozen
``entrants.txt`` lists them.

A player's entrant id is their user id: ``entrants.txt`` is the list of entrants' user
ids (:mod:`daylock.prizes.draw`), so the id is what ``grep -x`` finds in it.

Reads are per page, not per prize: the prizes with their draws (one query), the
player's facts for all their events (:func:`daylock.events.eligibility.player_facts`,
two), and the lookups in the entrant lists (:func:`daylock.prizes.selectors.entrant_listed`,
one at most).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef, QuerySet

from daylock import clock
from daylock.accounts.models import User
from daylock.events.eligibility import PlayerFacts, Verdict, player_facts, verdict
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
    else:
        rule = f"solve {days} at normal tier (or all at veteran tier)"
    if prize.feedback_required:
        rule += ", and leave feedback on the event or one of its days"
    return rule[0].upper() + rule[1:]


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
        return self.draw is None or self.draw.status == DrawStatus.OPEN


def _draw_of(prize: Prize) -> Draw | None:
    # A reverse one-to-one without a row raises a subclass of AttributeError.
    return getattr(prize, "draw", None)


def _open(draw: Draw | None) -> bool:
    return draw is None or draw.status == DrawStatus.OPEN


def entries_for(*, prizes: Iterable[Prize], user: User | None) -> list[PrizeEntry]:
    """Entries for these prizes (their ``event`` and ``draw`` already loaded) as
    ``user`` (None: an anonymous visitor) sees them."""
    prizes = list(prizes)
    player = user if user is not None and user.is_authenticated else None
    facts: dict[int, PlayerFacts] = {}
    listed: set[int] = set()
    if player is not None:
        open_events = {p.event_id: p.event for p in prizes if _open(_draw_of(p))}
        facts = player_facts(user=player, events=list(open_events.values()))
        closed = [draw for p in prizes if (draw := _draw_of(p)) is not None and not _open(draw)]
        listed = entrant_listed(draws=closed, user_id=player.pk)
    now = clock.now(user_id=player.pk if player is not None else None)
    entries = []
    for prize in prizes:
        draw, event = _draw_of(prize), prize.event
        shown: Verdict | None = None
        if player is not None and _open(draw):
            shown = verdict(
                facts[event.pk],
                min_tier=Tier(prize.min_tier),
                feedback_required=prize.feedback_required,
                now=now,
            )
        entries.append(
            PrizeEntry(
                prize=prize,
                event=event,
                draw=draw,
                rule=rule_text(prize, event),
                verdict=shown,
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
    prizes = list(Prize.objects.filter(event=event).select_related("draw").order_by("id"))
    for prize in prizes:
        prize.event = event
    return entries_for(prizes=prizes, user=user)


@dataclass(frozen=True)
class MyEntries:
    #: Prizes of published events still open for entries, oldest event first.
    open: list[PrizeEntry]
    #: Prizes whose entries closed, of events the player played, newest close first
    #: (at most :data:`CLOSED_SHOWN`).
    closed: list[PrizeEntry]


def _with_event_and_draw(prizes: QuerySet[Prize]) -> Sequence[Prize]:
    return list(prizes.select_related("event", "draw"))


def my_entries(*, user: User) -> MyEntries:
    """A player's standing in every prize still open and in the latest closed draws
    of events they played (five queries at most, whatever the number of prizes)."""
    published = Prize.objects.filter(event__published=True)
    still_open = _with_event_and_draw(
        published.filter(draw__status=DrawStatus.OPEN).order_by("event__starts_on", "id")
    )
    played = Progress.objects.filter(user_id=user.pk, day__event=OuterRef("event"))
    closed = _with_event_and_draw(
        published.filter(draw__status__in=[DrawStatus.CLOSED, DrawStatus.DRAWN])
        .filter(Exists(played))
        .order_by("-draw__closed_at", "-id")[:CLOSED_SHOWN]
    )
    entries = entries_for(prizes=[*still_open, *closed], user=user)
    return MyEntries(open=entries[: len(still_open)], closed=entries[len(still_open) :])
