"""Closing entries, running, rerolling and fulfilling draws against the real database."""

from __future__ import annotations

import hashlib

import pytest
from django.db import IntegrityError, transaction

from daylock.core.models import AuditLog
from daylock.discord.models import OutboxMessage
from daylock.events.models import Tier
from daylock.prizes import draw as algorithm
from daylock.prizes import selectors, services
from daylock.prizes.models import (
    Draw,
    DrawEntrantList,
    DrawStatus,
    DrawWinner,
    Fulfilment,
    PrizeCode,
    WinnerStatus,
)
from tests.config_override import production
from tests.events.factories import FeedbackFactory, UserFactory, complete
from tests.prizes.conftest import CHANNEL, ROLE, make_entrants, make_prize

pytestmark = pytest.mark.django_db


def test_prize_creation_commits_to_a_seed_before_entries_close(event) -> None:
    prize = make_prize(event)
    draw = Draw.objects.get(prize=prize)
    assert draw.status == DrawStatus.OPEN
    assert draw.seed_hash == algorithm.seed_hash(draw.seed)
    assert draw.public_seed is None
    assert draw.simulated is True
    assert draw.environment == "staging"


def test_close_entries_freezes_exactly_the_eligible_users(event) -> None:
    normal = make_entrants(event, 3, Tier.NORMAL)
    veteran = make_entrants(event, 2, Tier.VETERAN)
    partial = UserFactory()
    complete(partial, event, Tier.NORMAL, days=1)
    banned = make_entrants(event, 1)[0]
    banned.is_banned = True
    banned.save()
    left = UserFactory(discord__in_guild=False)
    complete(left, event, Tier.VETERAN)
    FeedbackFactory(user=normal[0], event=event)

    any_tier = make_prize(event, name="any")
    vets = make_prize(event, name="vets", min_tier=Tier.VETERAN)
    talkers = make_prize(event, name="feedback", feedback_required=True)
    c = services.draw_close_entries(prize=any_tier, actor=None)
    expected = sorted(u.pk for u in normal + veteran)
    assert selectors.entrant_ids(any_tier.draw) == expected
    assert selectors.entrants_encoded(any_tier.draw) == algorithm.encode_entrants(expected)
    assert c.entrant_count == 5
    assert c.entrants_hash == algorithm.entrants_hash(expected)
    services.draw_close_entries(prize=vets, actor=None)
    assert selectors.entrant_ids(vets.draw) == sorted(u.pk for u in veteran)
    services.draw_close_entries(prize=talkers, actor=None)
    assert selectors.entrant_ids(talkers.draw) == [normal[0].pk]
    log = AuditLog.objects.filter(action="prizes.draw_close_entries", target=f"draw:{c.draw_id}")
    assert log.get().details["entrants_hash"] == c.entrants_hash


def test_entries_close_once(event) -> None:
    prize = make_prize(event)
    services.draw_close_entries(prize=prize, actor=None)
    with pytest.raises(services.DrawError, match="already closed"):
        services.draw_close_entries(prize=prize, actor=None)


def test_run_needs_closed_entries(event) -> None:
    prize = make_prize(event)
    with pytest.raises(services.DrawError, match="still open; close them first"):
        services.draw_run(prize=prize, actor=None, confirm=False)
    assert not DrawWinner.objects.exists()


def test_run_picks_the_head_of_the_ranking_reveals_the_seed_and_never_reruns(event) -> None:
    users = make_entrants(event, 6)
    prize = make_prize(event, quantity=3)
    services.draw_close_entries(prize=prize, actor=None)
    draw = services.draw_run(prize=prize, actor=None, confirm=False)
    draw.refresh_from_db()
    ids = sorted(u.pk for u in users)
    winners = list(DrawWinner.objects.filter(draw=draw).order_by("rank"))
    assert [w.user_id for w in winners] == algorithm.winners(draw.seed, ids, 3)
    assert [w.rank for w in winners] == [1, 2, 3]
    assert all(w.simulated and w.status == WinnerStatus.WON for w in winners)
    assert draw.public_seed == draw.seed
    assert selectors.draw_verify(draw=draw).ok
    with pytest.raises(services.DrawAlreadyDrawn, match="already drawn"):
        services.draw_run(prize=prize, actor=None, confirm=True)
    assert DrawWinner.objects.filter(draw=draw).count() == 3
    assert AuditLog.objects.filter(action="prizes.draw_run").count() == 1


def test_the_runs_ranking_matches_the_definition(event) -> None:
    """The run ranks the stored encoding's lines (part in CPython, part in PostgreSQL);
    it must agree with draw.rank."""
    users = make_entrants(event, 40)
    prize = make_prize(event)
    services.draw_close_entries(prize=prize, actor=None)
    draw = Draw.objects.get(prize=prize)
    ids = sorted(u.pk for u in users)
    for _ in range(25):
        draw.seed = algorithm.new_seed()
        assert selectors.first_ranks(draw=draw, k=40) == algorithm.rank(draw.seed, ids)


def test_fewer_entrants_than_prizes_and_no_entrants(event) -> None:
    make_entrants(event, 1)
    prize = make_prize(event, quantity=3)
    services.draw_close_entries(prize=prize, actor=None)
    draw = services.draw_run(prize=prize, actor=None, confirm=False)
    assert draw.winners.count() == 1
    assert selectors.draw_verify(draw=draw).ok
    empty = make_prize(event, name="nobody", min_tier=Tier.VETERAN)
    services.draw_close_entries(prize=empty, actor=None)
    draw = services.draw_run(prize=empty, actor=None, confirm=False)
    assert draw.winners.count() == 0
    assert selectors.draw_verify(draw=draw).ok
    announcement = OutboxMessage.objects.filter(source=f"draw:{draw.pk}").get()
    assert "no eligible entrants" in announcement.content


def test_run_announces_in_the_channel_and_dms_each_winner_through_the_outbox(event) -> None:
    users = make_entrants(event, 4)
    prize = make_prize(event, quantity=2)
    services.draw_close_entries(prize=prize, actor=None)
    draw = services.draw_run(prize=prize, actor=None, confirm=False)
    winners = {w.user_id for w in draw.winners.all()}
    channel = OutboxMessage.objects.get(kind="channel_message", source=f"draw:{draw.pk}")
    assert channel.channel_id == CHANNEL
    assert channel.content.startswith("[SIMULATED] ")
    assert channel.embeds[0]["url"].endswith(f"/prizes/draws/{draw.pk}/")
    by_id = {u.pk: u.discord.discord_id for u in users}
    for uid in winners:
        assert f"<@{by_id[uid]}>" in channel.content
    dms = OutboxMessage.objects.filter(kind="direct_message")
    assert {m.recipient_id for m in dms} == {by_id[uid] for uid in winners}
    assert all("SIMULATED" in m.content for m in dms)


def test_reroll_takes_the_next_rank_and_never_a_past_winner(event) -> None:
    users = make_entrants(event, 5)
    prize = make_prize(event, quantity=2)
    services.draw_close_entries(prize=prize, actor=None)
    draw = services.draw_run(prize=prize, actor=None, confirm=False)
    ranking = algorithm.rank(draw.seed, [u.pk for u in users])
    first = DrawWinner.objects.get(draw=draw, rank=1)
    new = services.draw_reroll(
        winner=first, reason="did not answer in 7 days", actor=None, status="declined"
    )
    assert (new.rank, new.user_id, new.replaces_id) == (3, ranking[2], first.pk)
    first.refresh_from_db()
    assert (first.status, first.reason) == (WinnerStatus.DECLINED, "did not answer in 7 days")
    with pytest.raises(services.DrawError, match="already rerolled"):
        services.draw_reroll(winner=first, reason="again", actor=None)
    new2 = services.draw_reroll(winner=new, reason="left the server", actor=None)
    new3 = services.draw_reroll(
        winner=DrawWinner.objects.get(draw=draw, rank=2), reason="banned", actor=None
    )
    assert [new2.user_id, new3.user_id] == ranking[3:5]
    with pytest.raises(services.DrawError, match="no entrant left"):
        services.draw_reroll(winner=new3, reason="x", actor=None)
    picked = list(DrawWinner.objects.filter(draw=draw).values_list("user_id", flat=True))
    assert len(picked) == len(set(picked)) == 5
    assert selectors.draw_verify(draw=draw).ok
    assert AuditLog.objects.filter(action="prizes.draw_reroll").count() == 3
    record = selectors.draw_public_record(draw=draw)
    assert record["winners"][2]["replaces_rank"] == 1
    assert record["winners"][0]["reason"] == "did not answer in 7 days"


def test_reroll_refuses_bad_input(event) -> None:
    make_entrants(event, 3)
    prize = make_prize(event, quantity=1)
    services.draw_close_entries(prize=prize, actor=None)
    draw = services.draw_run(prize=prize, actor=None, confirm=False)
    winner = draw.winners.get()
    with pytest.raises(services.DrawError, match="needs a reason"):
        services.draw_reroll(winner=winner, reason="  ", actor=None)
    with pytest.raises(services.DrawError, match="not a reroll status"):
        services.draw_reroll(winner=winner, reason="x", actor=None, status="won")
    with pytest.raises(ValueError, match="is not a valid WinnerStatus"):
        services.draw_reroll(winner=winner, reason="x", actor=None, status="gone")


def test_staging_code_prize_never_attaches_or_shows_a_real_code(event, client) -> None:
    users = make_entrants(event, 3)
    prize = make_prize(event, fulfilment=Fulfilment.CODE, quantity=2)
    services.prize_codes_add(prize=prize, codes=["REAL-AAAA-1111", "REAL-BBBB-2222"])
    services.draw_close_entries(prize=prize, actor=None)
    draw = services.draw_run(prize=prize, actor=None, confirm=False)
    assert not PrizeCode.objects.filter(assigned_to__isnull=False).exists()
    assert not DrawWinner.objects.filter(code__isnull=False).exists()
    winner = draw.winners.first()
    assert winner is not None
    user = next(u for u in users if u.pk == winner.user_id)
    client.force_login(user)
    page = client.get("/prizes/mine/").content.decode()
    assert "REAL-" not in page
    assert winner.placeholder_code in page
    assert "SIMULATED" in page
    # The outbox has the announcement; delivering it under staging's capture mode keeps it.
    from daylock.discord import delivery

    announcement = OutboxMessage.objects.get(kind="channel_message", source=f"draw:{draw.pk}")
    assert "REAL-" not in announcement.content
    delivery.deliver(announcement.pk)
    announcement.refresh_from_db()
    assert announcement.status in {"captured", "blocked"}
    for m in OutboxMessage.objects.all():
        assert "REAL-" not in m.content


def test_the_database_refuses_a_code_on_a_simulated_win(event) -> None:
    make_entrants(event, 1)
    prize = make_prize(event, fulfilment=Fulfilment.CODE, quantity=1)
    services.prize_codes_add(prize=prize, codes=["REAL-1"])
    services.draw_close_entries(prize=prize, actor=None)
    draw = services.draw_run(prize=prize, actor=None, confirm=False)
    winner = draw.winners.get()
    winner.code = PrizeCode.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        winner.save()


def test_role_prize_grants_through_the_outbox_even_when_simulated(event) -> None:
    users = make_entrants(event, 2)
    prize = make_prize(event, fulfilment=Fulfilment.DISCORD_ROLE, discord_role_id=ROLE, quantity=2)
    services.draw_close_entries(prize=prize, actor=None)
    services.draw_run(prize=prize, actor=None, confirm=False)
    grants = OutboxMessage.objects.filter(kind="role_grant")
    assert {g.recipient_id for g in grants} == {u.discord.discord_id for u in users}
    assert {g.role_id for g in grants} == {ROLE}
    from daylock.discord import delivery

    for g in grants:
        delivery.deliver(g.pk)
        g.refresh_from_db()
        assert g.status in {"captured", "blocked"}


def test_manual_prize_is_marked_shipped_once(event) -> None:
    make_entrants(event, 1)
    prize = make_prize(event, quantity=1)
    services.draw_close_entries(prize=prize, actor=None)
    winner = services.draw_run(prize=prize, actor=None, confirm=False).winners.get()
    assert winner.fulfilled_at is None
    done = services.winner_mark_fulfilled(winner=winner, actor=None)
    assert done.fulfilled_at is not None
    with pytest.raises(services.DrawError, match="already marked fulfilled"):
        services.winner_mark_fulfilled(winner=winner, actor=None)


def test_production_requires_confirmation_and_reveals_real_codes(event, client) -> None:
    users = make_entrants(event, 3)
    with production():
        prize = make_prize(event, fulfilment=Fulfilment.CODE, quantity=2)
        services.prize_codes_add(prize=prize, codes=["TEST-ONLY"], is_test=True)
        services.prize_codes_add(prize=prize, codes=["PROD-1111"])
        services.draw_close_entries(prize=prize, actor=None)
        with pytest.raises(services.ConfirmationRequired, match="confirm explicitly"):
            services.draw_run(prize=prize, actor=None, confirm=False)
        with pytest.raises(services.DrawError, match="1 unassigned code"):
            services.draw_run(prize=prize, actor=None, confirm=True)
        services.prize_codes_add(prize=prize, codes=["PROD-2222"])
        draw = services.draw_run(prize=prize, actor=None, confirm=True)
        assert draw.simulated is False
        winners = list(draw.winners.select_related("code"))
        assert sorted(w.code.code for w in winners if w.code) == ["PROD-1111", "PROD-2222"]
        assert not any(w.simulated for w in winners)
        assert PrizeCode.objects.get(code="TEST-ONLY").assigned_to is None
        user = next(u for u in users if u.pk == winners[0].user_id)
        client.force_login(user)
        page = client.get("/prizes/mine/").content.decode()
        assert winners[0].code is not None
        assert winners[0].code.code in page
        assert "SIMULATED" not in page
        dm = OutboxMessage.objects.filter(kind="direct_message").first()
        assert dm is not None
        assert "PROD-" not in dm.content  # codes only on the page, never in Discord
        assert not dm.content.startswith("[SIMULATED")


def test_a_draw_has_one_entrant_list(event) -> None:
    make_entrants(event, 2)
    prize = make_prize(event)
    services.draw_close_entries(prize=prize, actor=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        DrawEntrantList.objects.create(draw=prize.draw, encoded=b"")


def test_the_entrant_list_is_stored_uncompressed(event) -> None:
    """So closing entries spends no time in pglz, and entrants.txt slices are cheap."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attstorage FROM pg_attribute "
            "WHERE attrelid = 'prizes_drawentrantlist'::regclass AND attname = 'encoded'"
        )
        assert cursor.fetchone() == ("e",)


def test_closing_entries_canonicalises_a_list_the_selector_got_wrong(event, monkeypatch) -> None:
    """The ids are checked even though the selector orders them: a descending list with a
    repeat is still frozen ascending and distinct."""
    from daylock.accounts.models import User

    users = make_entrants(event, 3)
    prize = make_prize(event)

    def wrong(**kwargs: object) -> object:
        return (
            User.objects.filter(pk__in=[u.pk for u in users])
            .order_by("-id")
            .values_list("id", flat=True)
            .union(User.objects.filter(pk=users[0].pk).values_list("id", flat=True), all=True)
        )

    monkeypatch.setattr(selectors, "eligible_user_ids", wrong)
    commitment = services.draw_close_entries(prize=prize, actor=None)
    expected = sorted(u.pk for u in users)
    assert selectors.entrant_ids(prize.draw) == expected
    assert commitment.entrant_count == 3
    assert commitment.entrants_hash == algorithm.entrants_hash(expected)


@pytest.mark.django_db(transaction=True)
def test_the_eligibility_query_streams_without_jit_or_workers_in_its_transaction_only(
    event, monkeypatch
) -> None:
    from django.db import connection

    users = make_entrants(event, 5)
    prize = make_prize(event)
    monkeypatch.setattr(selectors, "STREAM_BATCH", 2)
    settings = "SELECT current_setting('jit'), current_setting('max_parallel_workers_per_gather')"
    with connection.cursor() as cursor:
        cursor.execute(settings)
        defaults = cursor.fetchone()
        with transaction.atomic():
            batches = list(selectors.eligible_entrant_batches(prize=prize))
            cursor.execute(settings)
            assert cursor.fetchone() == ("off", "0")
        cursor.execute(settings)
        assert cursor.fetchone() == defaults
    assert [len(b) for b in batches] == [2, 2, 1]
    assert sorted(i for b in batches for i in b) == sorted(u.pk for u in users)


def test_without_chunked_rows_the_query_is_read_whole_then_batched(event, monkeypatch) -> None:
    """libpq before 17 cannot stream in chunks: same ids, only nothing overlaps."""
    import psycopg

    users = make_entrants(event, 3)
    prize = make_prize(event)
    monkeypatch.setattr(selectors, "STREAM_BATCH", 2)
    monkeypatch.setattr(psycopg.pq, "version", lambda: 160004)
    batches = list(selectors.eligible_entrant_batches(prize=prize))
    assert [len(b) for b in batches] == [2, 1]
    assert sorted(i for b in batches for i in b) == sorted(u.pk for u in users)


def oracle_ranking(seed: str, entrants_txt: bytes) -> list[int]:
    """The whole ranking, written from the published definition alone (the README's
    verification snippet), over the published entrants.txt: no draw module."""
    ids = [int(x) for x in entrants_txt.split()]
    return sorted(ids, key=lambda i: (hashlib.sha256(f"{seed}:{i}".encode()).digest(), i))


def test_the_runs_winners_and_rerolls_are_the_oracles_ranking_of_the_frozen_list(
    event,
) -> None:
    make_entrants(event, 12)
    for quantity in (1, 4, 12, 15):
        prize = make_prize(event, name=f"prize of {quantity}", quantity=quantity)
        services.draw_close_entries(prize=prize, actor=None)
        draw = services.draw_run(prize=prize, actor=None, confirm=False)
        published = b"".join(selectors.entrants_text_chunks(draw=draw))
        ranking = oracle_ranking(draw.seed, published)
        winners = list(draw.winners.order_by("rank"))
        assert [w.user_id for w in winners] == ranking[:quantity]
        if quantity < 12:
            new = services.draw_reroll(winner=winners[0], reason="declined", actor=None)
            assert (new.rank, new.user_id) == (quantity + 1, ranking[quantity])
        assert selectors.draw_verify(draw=draw).ok


def test_the_run_ranks_with_the_seed_when_it_runs_not_when_entries_closed(event) -> None:
    """Nothing ranked while entries closed is kept: a seed swapped after closing (which
    verify then reports) changes the winners to that seed's ranking."""
    make_entrants(event, 8)
    prize = make_prize(event, quantity=3)
    services.draw_close_entries(prize=prize, actor=None)
    other = "ab" * 32
    Draw.objects.filter(prize=prize).update(seed=other)
    draw = services.draw_run(prize=prize, actor=None, confirm=False)
    published = b"".join(selectors.entrants_text_chunks(draw=draw))
    assert [w.user_id for w in draw.winners.order_by("rank")] == oracle_ranking(other, published)[
        :3
    ]
    assert selectors.draw_verify(draw=draw).problems[0].startswith("seed hash: stored ")


def test_closing_entries_stores_nothing_derived_from_the_seed(event) -> None:
    """Two draws over the same entrants store the same row whatever their seeds: the
    entrant list is its encoding alone (no unpublished ranking head)."""
    from django.db import connection

    make_entrants(event, 5)
    first, second = make_prize(event, name="first"), make_prize(event, name="second")
    assert first.draw.seed != second.draw.seed
    services.draw_close_entries(prize=first, actor=None)
    services.draw_close_entries(prize=second, actor=None)
    with connection.cursor() as cursor:
        columns = connection.introspection.get_table_description(
            cursor, DrawEntrantList._meta.db_table
        )
    assert sorted(c.name for c in columns) == ["draw_id", "encoded"]
    assert selectors.entrants_encoded(first.draw) == selectors.entrants_encoded(second.draw)


def test_verify_names_a_tampered_entrant_list(event) -> None:
    users = make_entrants(event, 4)
    prize = make_prize(event)
    services.draw_close_entries(prize=prize, actor=None)
    draw = services.draw_run(prize=prize, actor=None, confirm=False)
    ids = sorted(u.pk for u in users)
    stored = DrawEntrantList.objects.filter(draw=draw)
    stored.update(encoded=algorithm.encode_entrants(ids[1:]))
    problems = selectors.draw_verify(draw=draw).problems
    assert any(p.startswith("entrants hash: stored") for p in problems), problems
    assert "entrant count: stored 4, list has 3" in problems
    stored.update(encoded=algorithm.encode_entrants(ids[::-1]))
    assert selectors.draw_verify(draw=draw).problems == [
        "entrant list is not canonical (ascending distinct decimal ids)"
    ]


def test_a_prize_has_one_draw(event) -> None:
    prize = make_prize(event)
    with pytest.raises(IntegrityError), transaction.atomic():
        Draw.objects.create(prize=prize, seed="00" * 32, seed_hash="x", simulated=True)


def test_a_picked_entrant_whose_account_was_deleted_stops_the_run(event) -> None:
    users = make_entrants(event, 2)
    prize = make_prize(event, quantity=2)
    services.draw_close_entries(prize=prize, actor=None)
    users[0].delete()
    with pytest.raises(services.DrawError, match=r"no longer have an account"):
        services.draw_run(prize=prize, actor=None, confirm=False)
    assert Draw.objects.get(prize=prize).status == DrawStatus.CLOSED
