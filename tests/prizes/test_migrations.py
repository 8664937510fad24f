"""The migration from one row per entrant to one encoded list per draw, both ways."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from daylock.prizes import selectors, services
from daylock.prizes.models import Draw
from tests.prizes.conftest import make_entrants, make_prize

ROWS = ("prizes", "0003_drawentrant_no_db_foreign_key")


def _migrate(target: list[tuple[str, str]] | None = None) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(target or executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_entrant_lists_survive_migrating_back_to_rows_and_forward_again(event) -> None:
    users = make_entrants(event, 5)
    closed = make_prize(event, name="closed")
    services.draw_close_entries(prize=closed, actor=None)
    drawn = make_prize(event, name="drawn", quantity=2)
    services.draw_close_entries(prize=drawn, actor=None)
    services.draw_run(prize=drawn, actor=None, confirm=False)
    nobody = make_prize(event, name="nobody", feedback_required=True)
    services.draw_close_entries(prize=nobody, actor=None)
    still_open = make_prize(event, name="open")
    draws = [Draw.objects.get(prize=p) for p in (closed, drawn, nobody, still_open)]
    before = {d.pk: selectors.entrants_encoded(d) for d in draws[:3]}
    try:
        _migrate([ROWS])
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT draw_id, array_agg(user_id ORDER BY user_id) "
                "FROM prizes_drawentrant GROUP BY draw_id"
            )
            rows = dict(cursor.fetchall())
        expected = sorted(u.pk for u in users)
        assert rows == {draws[0].pk: expected, draws[1].pk: expected}
    finally:
        _migrate()
    after = {d.pk: selectors.entrants_encoded(d) for d in draws[:3]}
    assert after == before
    assert before[draws[2].pk] == b""
    for draw in draws:
        draw.refresh_from_db()
        assert selectors.draw_verify(draw=draw).ok


HEAD = ("prizes", "0004_drawentrantlist")


def _entrant_list_columns() -> list[str]:
    with connection.cursor() as cursor:
        return [
            c.name
            for c in connection.introspection.get_table_description(
                cursor, "prizes_drawentrantlist"
            )
        ]


@pytest.mark.django_db(transaction=True)
def test_the_ranking_head_column_is_gone_and_comes_back_empty_when_migrating_back(
    event,
) -> None:
    """0005 drops the stored head; going back to 0004 restores the column as NULL
    (0004's code ranked such lists when the draw ran), and forward drops it again."""
    make_entrants(event, 4)
    prize = make_prize(event, quantity=2)
    services.draw_close_entries(prize=prize, actor=None)
    assert "head" not in _entrant_list_columns()
    try:
        _migrate([HEAD])
        assert "head" in _entrant_list_columns()
        with connection.cursor() as cursor:
            cursor.execute("SELECT head FROM prizes_drawentrantlist")
            assert cursor.fetchall() == [(None,)]
    finally:
        _migrate()
    assert "head" not in _entrant_list_columns()
    draw = services.draw_run(prize=prize, actor=None, confirm=False)
    assert draw.winners.count() == 2
    assert selectors.draw_verify(draw=draw).ok
