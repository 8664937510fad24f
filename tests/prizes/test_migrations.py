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
