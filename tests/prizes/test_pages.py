"""Public draw pages (recomputed independently), my prizes, and the staff pages."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import threading
import time

import pytest
from django.db import connection, transaction
from django.test import Client

from daylock.accounts.models import Role
from daylock.core.models import AuditLog
from daylock.prizes import selectors, services
from daylock.prizes.models import Draw, DrawWinner, Fulfilment, WinnerStatus
from daylock.prizes.views import VERIFY_SNIPPET
from tests.config_override import production
from tests.events.factories import UserFactory
from tests.prizes.conftest import make_entrants, make_prize


def drawn_prize(event, *, entrants: int = 12, k: int = 3, **kwargs):
    make_entrants(event, entrants)
    prize = make_prize(event, quantity=k, **kwargs)
    services.draw_close_entries(prize=prize, actor=None)
    return services.draw_run(prize=prize, actor=None, confirm=False)


def recompute(record: dict, entrants_txt: bytes) -> list[int]:
    """The draw from published data with hashlib only (no Daylock code)."""
    assert hashlib.sha256(entrants_txt).hexdigest() == record["entrants_hash"]
    assert hashlib.sha256(record["seed"].encode()).hexdigest() == record["seed_hash"]
    ids = [int(line) for line in entrants_txt.decode().splitlines()]
    assert ids == sorted(set(ids))
    assert len(ids) == record["entrant_count"]
    key = lambda i: (hashlib.sha256(f"{record['seed']}:{i}".encode()).digest(), i)  # noqa: E731
    return sorted(ids, key=key)


@pytest.mark.django_db
def test_public_page_and_data_recompute_to_the_same_winners(event, client: Client) -> None:
    draw = drawn_prize(event, entrants=15, k=3)
    first = draw.winners.get(rank=1)
    services.draw_reroll(winner=first, reason="declined by email", actor=None, status="declined")
    page = client.get(f"/prizes/draws/{draw.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    record = client.get(f"/prizes/draws/{draw.pk}/record.json").json()
    entrants = b"".join(client.get(f"/prizes/draws/{draw.pk}/entrants.txt").streaming_content)
    ranking = recompute(record, entrants)
    for w in record["winners"]:
        assert ranking[w["rank"] - 1] == w["user_id"]
    assert [w["rank"] for w in record["winners"]] == [1, 2, 3, 4]
    assert record["winners"][3]["replaces_rank"] == 1
    # The HTML page shows the same commitment, seed and winners.
    assert record["seed"] in html
    assert record["entrants_hash"] in html
    for rank, user_id in re.findall(r'data-rank="(\d+)" data-user-id="(\d+)"', html):
        assert ranking[int(rank) - 1] == int(user_id)
    assert "declined by email" in html
    assert "SIMULATED" in html


@pytest.mark.django_db
def test_entrants_txt_is_streamed_in_slices_of_the_stored_list(
    event, client: Client, monkeypatch
) -> None:
    draw = drawn_prize(event, entrants=12, k=2)
    monkeypatch.setattr(selectors, "ENTRANTS_CHUNK_BYTES", 5)
    response = client.get(f"/prizes/draws/{draw.pk}/entrants.txt")
    chunks = list(response.streaming_content)
    stored = selectors.entrants_encoded(draw)
    assert b"".join(chunks) == stored
    assert len(chunks) == -(-len(stored) // 5)
    assert hashlib.sha256(stored).hexdigest() == draw.entrants_hash


@pytest.mark.django_db
def test_the_seed_stays_secret_until_the_draw_runs(event, client: Client) -> None:
    make_entrants(event, 3)
    prize = make_prize(event)
    draw = Draw.objects.get(prize=prize)
    html = client.get(f"/prizes/draws/{draw.pk}/").content.decode()
    assert draw.seed_hash in html
    assert draw.seed not in html
    assert client.get(f"/prizes/draws/{draw.pk}/entrants.txt").status_code == 404
    services.draw_close_entries(prize=prize, actor=None)
    for url in (f"/prizes/draws/{draw.pk}/", f"/prizes/draws/{draw.pk}/record.json"):
        body = client.get(url).content.decode()
        assert draw.seed not in body
        assert "entrants_hash" in body or "entrants hash" in body
    record = client.get(f"/prizes/draws/{draw.pk}/record.json").json()
    assert record["seed"] is None
    assert record["winners"] == []
    assert client.get("/prizes/draws/999999/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_published_snippet_verifies_a_live_draw(event, live_server) -> None:
    """Runs the page's Python snippet in a plain interpreter against a live server."""
    draw = drawn_prize(event, entrants=9, k=2)
    snippet = VERIFY_SNIPPET.format(base=f"{live_server.url}/prizes/draws/{draw.pk}/")
    result = subprocess.run(
        [sys.executable, "-I", "-c", snippet], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    expected = [(w.rank, w.user_id, w.status) for w in draw.winners.order_by("rank")]
    assert result.stdout.strip() == f"verified: {expected}"
    # Tampering with a stored winner makes the same snippet fail.
    winner = DrawWinner.objects.get(draw=draw, rank=2)
    others = set(draw.winners.values_list("user_id", flat=True))
    outsider = next(u for u in selectors.entrant_ids(draw) if u not in others)
    DrawWinner.objects.filter(pk=winner.pk).update(user_id=outsider)
    result = subprocess.run(
        [sys.executable, "-I", "-c", snippet], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "AssertionError" in result.stderr


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_in_two_connections_make_one_draw(event) -> None:
    """The first run holds its transaction open; the second waits on the draw's row lock,
    then sees the draw drawn and gets a clear error."""
    make_entrants(event, 10)
    prize = make_prize(event, quantity=2)
    services.draw_close_entries(prize=prize, actor=None)
    holding = threading.Event()
    results: dict[str, object] = {}

    def first() -> None:
        try:
            with transaction.atomic():
                results["first"] = services.draw_run(prize=prize, actor=None, confirm=False)
                holding.set()
                time.sleep(0.5)
        except BaseException as exc:  # pragma: no cover - reported below
            results["first"] = exc
            holding.set()
        finally:
            connection.close()

    def second() -> None:
        holding.wait(10)
        started = time.monotonic()
        try:
            services.draw_run(prize=prize, actor=None, confirm=False)
            results["second"] = "ran"
        except services.DrawError as exc:
            results["second"] = exc
        finally:
            results["waited"] = time.monotonic() - started
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert isinstance(results["first"], Draw)
    assert isinstance(results["second"], services.DrawAlreadyDrawn), results["second"]
    assert "already drawn" in str(results["second"])
    assert results["waited"] >= 0.3  # it really waited for the first transaction
    assert Draw.objects.filter(prize=prize).count() == 1
    assert DrawWinner.objects.filter(draw__prize=prize).count() == 2


# --- my prizes ------------------------------------------------------------------------


@pytest.mark.django_db
def test_my_prizes_needs_login_and_lists_only_my_wins(event, client: Client) -> None:
    assert client.get("/prizes/mine/").status_code == 302
    draw = drawn_prize(event, entrants=4, k=1, name="Golden mug")
    winner = draw.winners.get()
    loser = UserFactory()
    client.force_login(loser)
    assert "Golden mug" not in client.get("/prizes/mine/").content.decode()
    client.force_login(winner.user)
    html = client.get("/prizes/mine/").content.decode()
    assert "Golden mug" in html
    assert 'data-simulated="true"' in html


# --- staff pages -----------------------------------------------------------------------


@pytest.fixture
def staff(db) -> Client:
    client = Client()
    client.force_login(UserFactory(role=Role.ADMIN))  # closes entries and runs draws
    return client


@pytest.mark.django_db
def test_staff_pages_refuse_players_and_anonymous(event, client: Client) -> None:
    prize = make_prize(event)
    urls = [
        "/prizes/staff/",
        f"/prizes/staff/events/{event.slug}/",
        f"/prizes/staff/prizes/{prize.pk}/",
    ]
    for url in urls:
        assert client.get(url).status_code == 302  # to the login page
    client.force_login(UserFactory())
    for url in urls:
        assert client.get(url).status_code == 403
    assert client.post(f"/prizes/staff/prizes/{prize.pk}/close/").status_code == 403
    assert Draw.objects.get(prize=prize).status == "open"


@pytest.mark.django_db
def test_staff_close_run_reroll_and_ship(event, staff: Client) -> None:
    make_entrants(event, 5)
    prize = make_prize(event, quantity=2, name="Poster")
    assert "Poster" in staff.get(f"/prizes/staff/events/{event.slug}/").content.decode()
    page = staff.get(f"/prizes/staff/prizes/{prize.pk}/").content.decode()
    assert "Close entries" in page
    response = staff.post(f"/prizes/staff/prizes/{prize.pk}/close/", follow=True)
    assert "Entries closed: 5 entrant(s)" in response.content.decode()
    response = staff.post(f"/prizes/staff/prizes/{prize.pk}/run/", follow=True)
    assert "seed revealed" in response.content.decode()
    draw = Draw.objects.get(prize=prize)
    assert draw.status == "drawn"
    again = staff.post(f"/prizes/staff/prizes/{prize.pk}/run/", follow=True)
    assert "already drawn" in again.content.decode()
    winner = draw.winners.get(rank=1)
    empty = staff.post(f"/prizes/staff/winners/{winner.pk}/reroll/", {"reason": ""}, follow=True)
    assert "needs a reason" in empty.content.decode()
    staff.post(
        f"/prizes/staff/winners/{winner.pk}/reroll/",
        {"reason": "no reply", "status": "ineligible"},
    )
    winner.refresh_from_db()
    assert (winner.status, winner.reason) == (WinnerStatus.INELIGIBLE, "no reply")
    new = draw.winners.get(rank=3)
    staff.post(f"/prizes/staff/winners/{new.pk}/fulfilled/")
    new.refresh_from_db()
    assert new.fulfilled_at is not None
    actions = set(AuditLog.objects.values_list("action", flat=True))
    assert {
        "prizes.draw_close_entries",
        "prizes.draw_run",
        "prizes.draw_reroll",
        "prizes.winner_mark_fulfilled",
    } <= actions
    moderator = AuditLog.objects.get(action="prizes.draw_run")
    assert moderator.actor is not None
    assert moderator.environment == "staging"


@pytest.mark.django_db
def test_staff_run_in_production_needs_the_confirmation_box(event, staff: Client) -> None:
    make_entrants(event, 3)
    with production():
        prize = make_prize(event, quantity=1, fulfilment=Fulfilment.MANUAL)
        services.draw_close_entries(prize=prize, actor=None)
        page = staff.get(f"/prizes/staff/prizes/{prize.pk}/").content.decode()
        assert 'name="confirm"' in page
        refused = staff.post(f"/prizes/staff/prizes/{prize.pk}/run/", follow=True)
        assert "confirm explicitly" in refused.content.decode()
        assert Draw.objects.get(prize=prize).status == "closed"
        staff.post(f"/prizes/staff/prizes/{prize.pk}/run/", {"confirm": "yes"})
        draw = Draw.objects.get(prize=prize)
        assert draw.status == "drawn"
        assert draw.simulated is False
        assert json.dumps(client_record(staff, draw.pk)["simulated"]) == "false"


def client_record(client: Client, draw_id: int) -> dict:
    return client.get(f"/prizes/draws/{draw_id}/record.json").json()


@pytest.mark.django_db
def test_my_prizes_shows_eligibility_for_prizes_still_open(event, client: Client) -> None:
    from daylock.events.models import Tier

    make_prize(event, name="Veteran cape", min_tier=Tier.VETERAN)
    [normal_player] = make_entrants(event, 1, Tier.NORMAL)
    [veteran_player] = make_entrants(event, 1, Tier.VETERAN)
    client.force_login(normal_player)
    html = client.get("/prizes/mine/").content.decode()
    assert "Veteran cape" in html
    assert 'data-eligible="false"' in html
    assert "you need the veteran tier on days 1 and 2." in html
    client.force_login(veteran_player)
    html = client.get("/prizes/mine/").content.decode()
    assert 'data-eligible="true"' in html
    assert "you qualify" in html
    assert "you completed the veteran tier on all 2 days." in html
