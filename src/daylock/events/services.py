"""Writes: answering a challenge, leaving feedback, and keeping the completion table
(:class:`EventCompletion`) true. Views call these; nothing else writes progress, wrong
answers or feedback in normal operation (the admin, the test utilities, the seed and
the demo data do, and each calls :func:`completion_refresh` afterwards)."""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connection, transaction

from daylock import clock
from daylock.accounts.models import User
from daylock.discord import lifecycle
from daylock.events import leaderboard, ratelimit, timelock
from daylock.events.answers import answers_match
from daylock.events.models import (
    MAX_ANSWER_LENGTH,
    MAX_COMMENT_LENGTH,
    WRONG_ANSWER_STORED_LENGTH,
    Challenge,
    Day,
    Event,
    EventCompletion,
    Feedback,
    Progress,
    Tier,
    WrongAnswer,
)


class DayLockedError(Exception):
    """The day is not open for this user yet (views answer 404 before this happens)."""


class Outcome(enum.StrEnum):
    CORRECT = "correct"  # newly solved: progress recorded now
    ALREADY_SOLVED = "already-solved"  # solved before (or by a concurrent request)
    WRONG = "wrong"  # recorded as a wrong answer
    RATE_LIMITED = "rate-limited"  # not checked, nothing stored


@dataclass(frozen=True)
class SubmitResult:
    outcome: Outcome
    tier: Tier
    #: Until the rate limit's window ends (:mod:`daylock.events.ratelimit`).
    retry_after_seconds: int = 0
    #: A wrong answer's attempts left in that window (None for other outcomes).
    attempts_left: int | None = None

    @property
    def solved(self) -> bool:
        return self.outcome in {Outcome.CORRECT, Outcome.ALREADY_SOLVED}

    @property
    def retry_after_minutes(self) -> int:
        return max(1, -(-self.retry_after_seconds // 60))


def answer_submit(*, user: User, day: Day, tier: Tier, answer: str) -> SubmitResult:
    """Check ``answer`` against the day's challenge of ``tier`` and record the result.

    Tiers are independent: the veteran challenge can be solved without the normal one.
    A correct answer records :class:`Progress` exactly once, also when two requests
    race (unique constraint + ``get_or_create``: the loser of the race sees the
    winner's row and reports ``ALREADY_SOLVED``). Attempts on an unsolved challenge are
    rate limited (:mod:`daylock.events.ratelimit`); a refused attempt is not checked.

    Raises :class:`ValidationError` for an over-long answer (nothing stored),
    :class:`DayLockedError` for a day not open to this user, and
    ``Challenge.DoesNotExist`` if the day has no challenge of that tier.
    """
    tier = Tier(tier)
    if len(answer) > MAX_ANSWER_LENGTH:
        raise ValidationError(
            f"answers are at most {MAX_ANSWER_LENGTH} characters (this one has {len(answer)})",
            code="answer_too_long",
        )
    if not timelock.is_open(day, user_id=user.pk):
        raise DayLockedError(f"day {day.number} of {day.event.slug} is locked")
    challenge = Challenge.objects.get(day=day, tier=tier)
    if Progress.objects.filter(user=user, day=day, tier=tier).exists():
        return SubmitResult(Outcome.ALREADY_SOLVED, tier)
    decision = ratelimit.attempt(user_id=user.pk, day_id=day.pk, tier=tier)
    if not decision.allowed:
        return SubmitResult(Outcome.RATE_LIMITED, tier, decision.retry_after_seconds)
    now = clock.now(user_id=user.pk)
    with transaction.atomic():
        if not answers_match(answer, challenge.answer):
            WrongAnswer.objects.create(
                user=user,
                day=day,
                tier=tier,
                answer=answer[:WRONG_ANSWER_STORED_LENGTH],
                created_at=now,
            )
            return SubmitResult(
                Outcome.WRONG,
                tier,
                decision.retry_after_seconds,
                attempts_left=decision.attempts_left,
            )
        progress_writers_lock(user_ids=[user.pk])
        _, created = Progress.objects.get_or_create(
            user=user, day=day, tier=tier, defaults={"solved_at": now}
        )
        if created:
            _completion_record(user_id=user.pk, event_id=day.event_id, tier=tier)
            leaderboard.standing_after_solve(user_id=user.pk, event_id=day.event_id)
            # A new completion earns the event's role, through the outbox (exactly once).
            lifecycle.completion_roles_sync(event=day.event, user_ids=[user.pk])
    return SubmitResult(Outcome.CORRECT if created else Outcome.ALREADY_SOLVED, tier)


# --- the completion table ------------------------------------------------------------------

_T = {
    "completion": EventCompletion._meta.db_table,
    "progress": Progress._meta.db_table,
    "day": Day._meta.db_table,
    "event": Event._meta.db_table,
}

#: (user, event, tier) completions that hold now, with the instant each was completed:
#: every day up to ``day_count`` solved at that tier. ``COUNT(*)`` counts distinct days
#: because progress is unique per (user, day, tier) and day numbers per event. The
#: event's ``day_count`` is read from the database, never from a possibly stale object.
#: ``{event}`` / ``{users}`` / ``{tier}`` narrow it (one event / an ``IN`` list / one
#: tier) or are empty.
_HOLDING_SQL = (
    "SELECT p.user_id, d.event_id, p.tier, MAX(p.solved_at) AS completed_at "
    "FROM {progress} p JOIN {day} d ON d.id = p.day_id JOIN {event} e ON e.id = d.event_id "
    "WHERE d.number <= e.day_count{event_filter}{users}{tier} "
    "GROUP BY p.user_id, d.event_id, p.tier HAVING COUNT(*) = MAX(e.day_count)"
)
#: Rows of the event (of some users) that no longer hold. Row-value ``NOT IN`` (no
#: NULLs on either side) is one hashed subplan in PostgreSQL, not a probe per row.
_DELETE_SQL = (
    "DELETE FROM {completion} WHERE event_id = %s{plain_users} "
    "AND (user_id, tier) NOT IN (SELECT h.user_id, h.tier FROM ({holding}) h)"
)
#: Rows that hold now: added, or their ``completed_at`` corrected (a solve time edited
#: in the admin). ``WHERE`` in the SELECT is there, as SQLite's upsert needs it.
_UPSERT_SQL = (
    "INSERT INTO {completion} (user_id, event_id, tier, completed_at) {holding} "
    "ON CONFLICT (user_id, event_id, tier) DO UPDATE SET completed_at = excluded.completed_at "
    "WHERE {completion}.completed_at <> excluded.completed_at"
)
#: Every completion of every event that holds and is not in the table yet (no
#: ``ON CONFLICT``: it runs while a bulk load has the unique constraint dropped).
_ADD_MISSING_SQL = (
    "INSERT INTO {completion} (user_id, event_id, tier, completed_at) "
    "SELECT h.user_id, h.event_id, h.tier, h.completed_at FROM ({holding}) h "
    "WHERE NOT EXISTS (SELECT 1 FROM {completion} c WHERE c.user_id = h.user_id "
    "AND c.event_id = h.event_id AND c.tier = h.tier)"
)
#: Few enough placeholders per statement for every SQLite build.
_USER_BATCH = 500


def _holding(*, users: int, tier: bool, one_event: bool = True) -> str:
    marks = ", ".join(["%s"] * users)
    return _HOLDING_SQL.format(
        event_filter=" AND d.event_id = %s" if one_event else "",
        users=f" AND p.user_id IN ({marks})" if users else "",
        tier=" AND p.tier = %s" if tier else "",
        **_T,
    )


def progress_writers_lock(*, user_ids: Iterable[int]) -> None:
    """Lock these users' rows until the transaction ends, in id order (no deadlocks).

    Whoever writes progress and then decides completion from a count must hold this
    first: two requests solving a user's last two days at once would otherwise each
    count the other's row as missing (neither committed yet) and neither would record
    the completion. ``FOR NO KEY UPDATE`` does not block the foreign-key checks of
    rows referencing the user; on SQLite (one writer at a time) it is a no-op.
    """
    ids = sorted(set(user_ids))
    if ids:
        list(
            User.objects.select_for_update(no_key=True)
            .filter(pk__in=ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )


def _completion_record(*, user_id: int, event_id: int, tier: Tier) -> None:
    """After ``user_id`` newly solved a day at ``tier``: add the completion if that was
    the last day missing. One indexed query over this user's progress; a new solve never
    takes a completion away, so nothing is deleted."""
    sql = _UPSERT_SQL.format(holding=_holding(users=1, tier=True), **_T)
    with connection.cursor() as cursor:
        cursor.execute(sql, [event_id, user_id, Tier(tier).value])


def completions_add_missing() -> int:
    """Add every completion that holds and is missing, of every event, in ONE
    ``INSERT … SELECT … GROUP BY`` over the whole progress table; returns how many.

    The seed's bulk path, right after it loaded progress: one pass over a million rows
    instead of one per event, and no ``ON CONFLICT``, so it runs while the bulk load
    has the table's constraints and indexes dropped (rebuilt once afterwards). It only
    adds: after progress was deleted or days changed, use :func:`completion_refresh`.
    """
    with connection.cursor() as cursor:
        holding = _holding(users=0, tier=False, one_event=False)
        cursor.execute(_ADD_MISSING_SQL.format(holding=holding, **_T))
        added: int = cursor.rowcount
    return max(added, 0)


def completion_refresh(*, event: Event, user_ids: Iterable[int] | None = None) -> None:
    """Make :class:`EventCompletion` of ``event`` true again for these users (default:
    every user), after progress was written or deleted, days changed or ``day_count``
    changed: completions that no longer hold are deleted, new ones added.

    Set-based SQL (PostgreSQL and SQLite): a whole event is two statements whatever its
    size, so the seed calls it once per event after its bulk load. Users' rows are
    locked first (see :func:`progress_writers_lock`) when ``user_ids`` is given.
    """
    with transaction.atomic():
        if user_ids is None:
            batches: list[list[int]] = [[]]
        else:
            ids = sorted(set(user_ids))
            if not ids:
                return
            progress_writers_lock(user_ids=ids)
            batches = [ids[i : i + _USER_BATCH] for i in range(0, len(ids), _USER_BATCH)]
        with connection.cursor() as cursor:
            for batch in batches:
                holding = _holding(users=len(batch), tier=False)
                plain = ", ".join(["%s"] * len(batch))
                delete = _DELETE_SQL.format(
                    plain_users=f" AND user_id IN ({plain})" if batch else "",
                    holding=holding,
                    **_T,
                )
                cursor.execute(delete, [event.pk, *batch, event.pk, *batch])
                upsert = _UPSERT_SQL.format(holding=holding, **_T)
                cursor.execute(upsert, [event.pk, *batch])
        # The leaderboard's standings follow the same writes (see events.leaderboard).
        leaderboard.standings_refresh(event_id=event.pk, user_ids=None if user_ids is None else ids)
        # So do the completion roles: granted for new completions, revoked for removed ones.
        lifecycle.completion_roles_sync(event=event, user_ids=None if user_ids is None else ids)


def completions_refresh_for(*, pairs: Iterable[tuple[int, int]]) -> None:
    """:func:`completion_refresh` for these (user id, event id) pairs: what an admin edit
    or deletion of progress rows may have changed."""
    users_by_event: defaultdict[int, set[int]] = defaultdict(set)
    for user_id, event_id in pairs:
        users_by_event[event_id].add(user_id)
    for event in Event.objects.filter(pk__in=users_by_event):
        completion_refresh(event=event, user_ids=users_by_event[event.pk])


def feedback_save(
    *, user: User, event: Event, day: Day | None, rating: int, comment: str
) -> Feedback:
    """Create or update (in place) this user's feedback on the event or one of its days.

    Feedback is keyed by its author, so nobody can edit another user's feedback. The
    comment is stored exactly as typed (templates escape it). A day's feedback needs
    the day to be open for the user.
    """
    errors: dict[str, str] = {}
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        errors["rating"] = "the rating is a whole number from 1 to 5"
    if len(comment) > MAX_COMMENT_LENGTH:
        errors["comment"] = (
            f"comments are at most {MAX_COMMENT_LENGTH} characters (this one has {len(comment)})"
        )
    if errors:
        raise ValidationError(errors)
    if day is not None:
        if day.event_id != event.pk:
            raise ValueError(f"day {day.pk} does not belong to event {event.slug}")
        if not timelock.is_open(day, user_id=user.pk):
            raise DayLockedError(f"day {day.number} of {event.slug} is locked")
    with transaction.atomic():
        feedback, _ = Feedback.objects.update_or_create(
            user=user, event=event, day=day, defaults={"rating": rating, "comment": comment}
        )
    return feedback
