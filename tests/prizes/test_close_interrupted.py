"""Closing entries that fails while the eligibility query streams: the call returns with
the error instead of hanging, the transaction is rolled back, no connection is left
inside a transaction, and entries can be closed again.

The hang this guards against: psycopg holds the connection's lock for as long as a
streamed query is being read, so a consumer that raises and leaves the stream open
makes the rollback wait for that lock forever. Each close runs in a thread so that a
regression fails the test after ``RETURN_WITHIN_S`` instead of hanging the run; the
thread keeps its connection open until the test has looked at ``pg_stat_activity``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import pytest
from django.db import connection, connections
from django.db.models.expressions import RawSQL

from daylock.accounts.models import User
from daylock.events.models import EligibilityOverride, Event
from daylock.prizes import draw as algorithm
from daylock.prizes import selectors, services
from daylock.prizes.models import Draw, DrawEntrantList, DrawStatus, Prize
from tests.events.factories import EventFactory
from tests.prizes.conftest import make_prize

pytestmark = pytest.mark.django_db(transaction=True)

#: "Returns promptly" means within this many seconds (closing 20,000 entrants takes
#: well under one); a hang fails here instead of blocking the test run.
RETURN_WITHIN_S = 20
#: Enough entrants that the server is still sending rows when the consumer fails
#: (more than the socket buffers hold), in batches of ``BATCH``: 40 batches.
ENTRANTS = 20_000
BATCH = 500
#: Per row, for the query still running when the consumer fails: 20,000 rows = 40 s.
SLOW_ROW_S = 0.002


def _bulk_entrants(event: Event, n: int) -> list[int]:
    """``n`` users forced eligible by staging overrides (fast to create in bulk)."""
    users = User.objects.bulk_create(
        [User(username=f"bulk-entrant-{i}", password="!") for i in range(n)]
    )
    EligibilityOverride.objects.bulk_create(
        [EligibilityOverride(user=u, event=event, eligible=True, reason="bulk") for u in users]
    )
    return sorted(u.pk for u in users)


@dataclass
class Consumed:
    """What the failing consumer saw."""

    batches: list[int] = field(default_factory=list)


def _fail_after_first_batch(
    monkeypatch: pytest.MonkeyPatch, error: BaseException, consumed: Consumed
) -> None:
    """The batch consumer (``freeze_entrants``) formats the first batch, then
    ``error`` is raised while it asks for the second, as a bug or a Ctrl-C would."""
    real = algorithm.freeze_entrants

    def failing(batches: Iterable[Sequence[int]]) -> algorithm.FrozenEntrants:
        def first_then_fail() -> Iterator[Sequence[int]]:
            for batch in batches:
                consumed.batches.append(len(batch))
                yield batch
                raise error

        return real(first_then_fail())

    monkeypatch.setattr(algorithm, "freeze_entrants", failing)


@dataclass
class Outcome:
    error: BaseException | None = None
    returned: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


def _close_in_thread(prize: Prize) -> tuple[threading.Thread, Outcome]:
    """Close entries in a thread with its own connection, kept open (and in whatever
    state the close left it) until ``outcome.release`` is set."""
    outcome = Outcome()

    def target() -> None:
        try:
            services.draw_close_entries(prize=prize, actor=None)
        except BaseException as exc:  # KeyboardInterrupt included: it is what we test
            outcome.error = exc
        outcome.returned.set()
        outcome.release.wait(RETURN_WITHIN_S)
        connections.close_all()

    thread = threading.Thread(target=target, name="close-entries", daemon=True)
    thread.start()
    return thread, outcome


def _other_backends() -> list[tuple[int, str, str]]:
    """(pid, state, query) of every other connection to this test database."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, state, left(query, 80) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        )
        return list(cursor.fetchall())


def _terminate_other_backends() -> None:
    """After a hang: free the stuck transaction's locks so the test database can still
    be flushed (the stuck thread itself is a daemon and dies with the run)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        )


def _slow_eligibility(monkeypatch: pytest.MonkeyPatch, ids: list[int]) -> None:
    """The eligibility query takes ``SLOW_ROW_S`` per row (far longer in all than
    ``RETURN_WITHIN_S``), so the server is still running it when the consumer fails."""

    def slow(**kwargs: object) -> object:
        return (
            User.objects.filter(pk__in=ids)
            .alias(slow=RawSQL("pg_sleep(%s)", [SLOW_ROW_S]))
            .filter(slow__isnull=False)
            .order_by("id")
            .values_list("id", flat=True)
        )

    monkeypatch.setattr(selectors, "eligible_user_ids", slow)


def _close_failing_mid_stream(
    monkeypatch: pytest.MonkeyPatch, error: BaseException, *, slow_query: bool = False
) -> tuple[Prize, list[int], Consumed, BaseException | None]:
    event = EventFactory(day_count=1)
    ids = _bulk_entrants(event, ENTRANTS)
    prize = make_prize(event, quantity=3)
    monkeypatch.setattr(selectors, "STREAM_BATCH", BATCH)
    if slow_query:
        _slow_eligibility(monkeypatch, ids)
    consumed = Consumed()
    _fail_after_first_batch(monkeypatch, error, consumed)
    thread, outcome = _close_in_thread(prize)
    try:
        if not outcome.returned.wait(RETURN_WITHIN_S):
            stuck = _other_backends()
            _terminate_other_backends()
            pytest.fail(
                f"draw_close_entries did not return within {RETURN_WITHIN_S} s after the "
                f"consumer raised mid-stream (hung); other connections: {stuck}"
            )
        # The thread's connection is still open: it must not be inside a transaction
        # (idle in transaction would hold the draw's row lock) nor still running the
        # query (active: the stream was abandoned, not cancelled).
        backends = _other_backends()
        assert backends, "the closing thread's connection should still be open"
        assert {state for _, state, _ in backends} == {"idle"}, backends
    finally:
        outcome.release.set()
        thread.join(RETURN_WITHIN_S)
    monkeypatch.undo()
    return prize, ids, consumed, outcome.error


def _assert_closable_again(prize: Prize, ids: list[int]) -> None:
    draw = Draw.objects.get(prize=prize)
    assert draw.status == DrawStatus.OPEN
    assert not DrawEntrantList.objects.filter(draw=draw).exists()
    commitment = services.draw_close_entries(prize=prize, actor=None)
    assert (commitment.seed_hash, commitment.entrants_hash) == algorithm.commitment(draw.seed, ids)
    assert commitment.entrant_count == ENTRANTS
    assert selectors.entrant_ids(draw) == ids
    run = services.draw_run(prize=prize, actor=None, confirm=False)
    assert [w.user_id for w in run.winners.order_by("rank")] == algorithm.winners(draw.seed, ids, 3)
    assert selectors.draw_verify(draw=run).ok


def test_an_error_while_entries_stream_returns_rolls_back_and_can_close_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    boom = RuntimeError("formatting failed")
    prize, ids, consumed, error = _close_failing_mid_stream(monkeypatch, boom)
    assert error is boom
    assert consumed.batches == [BATCH], "the consumer should fail after exactly one batch"
    _assert_closable_again(prize, ids)


def test_ctrl_c_while_entries_stream_returns_rolls_back_and_can_close_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    interrupt = KeyboardInterrupt()
    prize, ids, consumed, error = _close_failing_mid_stream(monkeypatch, interrupt)
    assert error is interrupt
    assert consumed.batches == [BATCH]
    _assert_closable_again(prize, ids)


def test_a_query_still_running_when_the_consumer_fails_is_cancelled_not_waited_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server needs 40 s for every row; the failing close returns within
    ``RETURN_WITHIN_S`` because closing the stream cancels the query."""
    boom = ValueError("hashing failed")
    prize, ids, consumed, error = _close_failing_mid_stream(monkeypatch, boom, slow_query=True)
    assert error is boom
    assert consumed.batches == [BATCH]
    _assert_closable_again(prize, ids)
