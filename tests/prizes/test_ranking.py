"""The run's ranking, computed when the draw runs: CPython and PostgreSQL each rank a
part of the stored list at the same time; together they must give exactly the ranking
the published definition gives."""

from __future__ import annotations

import hashlib
import time

import psycopg
import pytest
from django.db import connection, transaction

from daylock.prizes import draw as algorithm
from daylock.prizes import selectors, services
from daylock.prizes.models import Draw, DrawStatus
from tests.prizes.conftest import make_entrants, make_prize

pytestmark = pytest.mark.django_db

#: A cancelled ranking returns within this many seconds; not cancelled, it would wait
#: for the whole (30 s) query.
RETURN_WITHIN_S = 20


def oracle(seed: str, ids: list[int]) -> list[int]:
    """The whole ranking from the published definition alone."""
    return sorted(ids, key=lambda i: (hashlib.sha256(f"{seed}:{i}".encode()).digest(), i))


@pytest.mark.parametrize("share", [0.0, 0.3, 0.7, 1.0])
def test_the_ranking_split_between_cpython_and_postgresql_is_the_oracles(
    event, monkeypatch: pytest.MonkeyPatch, share: float
) -> None:
    """At share 0.0 CPython ranks one line and PostgreSQL the rest; at 1.0 the reverse."""
    users = make_entrants(event, 23)
    prize = make_prize(event)
    services.draw_close_entries(prize=prize, actor=None)
    draw = Draw.objects.get(prize=prize)
    ids = sorted(u.pk for u in users)
    monkeypatch.setattr(selectors, "PYTHON_SHARE", share)
    for seed in ("00" * 32, "ab" * 32, algorithm.new_seed()):
        draw.seed = seed
        ranking = oracle(seed, ids)
        for k in (1, 2, 7, 23, 30):
            assert selectors.first_ranks(draw=draw, k=k) == ranking[:k], (seed, k)


def test_no_entrants_and_no_winners_wanted_rank_nothing(event) -> None:
    prize = make_prize(event)
    services.draw_close_entries(prize=prize, actor=None)
    draw = Draw.objects.get(prize=prize)
    assert selectors.first_ranks(draw=draw, k=3) == []
    make_entrants(event, 2)
    other = make_prize(event, name="other")
    services.draw_close_entries(prize=other, actor=None)
    assert selectors.first_ranks(draw=Draw.objects.get(prize=other), k=0) == []


def test_an_interrupted_ranking_cancels_postgresqls_part_and_the_run_can_be_repeated(
    event, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while CPython ranks its part: PostgreSQL's part (made to take 30 s here) is
    cancelled, not waited for; the run rolls back and runs fine afterwards."""
    users = make_entrants(event, 6)
    prize = make_prize(event, quantity=2)
    services.draw_close_entries(prize=prize, actor=None)
    monkeypatch.setattr(
        selectors,
        "_RANK_IN_POSTGRESQL",
        "SELECT %(draw)s::bigint FROM pg_sleep(30) "
        "WHERE %(start)s::int > 0 AND %(prefix)s::bytea IS NOT NULL AND %(k)s::int > 0",
    )

    def interrupted(seed: str, encoded: bytes, k: int) -> list[int]:
        time.sleep(0.2)  # PostgreSQL's part has started
        raise KeyboardInterrupt

    monkeypatch.setattr(algorithm, "winners_from_encoding", interrupted)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        services.draw_run(prize=prize, actor=None, confirm=False)
    assert time.monotonic() - started < RETURN_WITHIN_S
    monkeypatch.undo()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")  # the connection is usable, the transaction not aborted
        assert cursor.fetchone() == (1,)
    draw = Draw.objects.get(prize=prize)
    assert draw.status == DrawStatus.CLOSED
    assert not draw.winners.exists()
    draw = services.draw_run(prize=prize, actor=None, confirm=False)
    expected = oracle(draw.seed, sorted(u.pk for u in users))[:2]
    assert [w.user_id for w in draw.winners.order_by("rank")] == expected


def test_an_error_in_postgresqls_part_stops_the_run(event, monkeypatch: pytest.MonkeyPatch) -> None:
    make_entrants(event, 4)
    prize = make_prize(event, quantity=1)
    services.draw_close_entries(prize=prize, actor=None)
    monkeypatch.setattr(selectors, "_RANK_IN_POSTGRESQL", "SELECT 1/0")
    with pytest.raises(psycopg.errors.DivisionByZero), transaction.atomic():
        services.draw_run(prize=prize, actor=None, confirm=False)
    assert Draw.objects.get(prize=prize).status == DrawStatus.CLOSED
