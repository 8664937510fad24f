"""Winners by the name Discord shows for them: the public draw page (the page Discord
links to) and its record, and the staff prize page."""

from __future__ import annotations

import html
import re

import pytest
from django.test import Client
from markupsafe import escape

from daylock.accounts.models import DiscordAccount, Role
from daylock.events.models import Event
from daylock.prizes import services
from daylock.prizes.models import Draw
from tests.events.factories import UserFactory
from tests.prizes.conftest import make_entrants, make_prize

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1)</script>"
#: (nickname, display name) of the five winners: each of Discord's three names, and markup.
NAMES = [
    ("Captain Nick", "Global One"),
    ("", "Global Two"),
    ("", ""),
    (SCRIPT, "Global Four"),
    ("", '"><img src=x>'),
]


def drawn_with_names(event: Event) -> tuple[Draw, dict[int, str]]:
    """A draw every entrant wins, its winners named as in :data:`NAMES`; returns the
    name each should be shown by, by user id (what Discord shows, worked out here)."""
    users = make_entrants(event, len(NAMES))
    expected = {}
    for user, (nick, global_name) in zip(users, NAMES, strict=True):
        DiscordAccount.objects.filter(user=user).update(
            username=f"user-{user.pk}", nick=nick, global_name=global_name
        )
        expected[user.pk] = nick or global_name or f"user-{user.pk}"
    prize = make_prize(event, quantity=len(NAMES))
    services.draw_close_entries(prize=prize, actor=None)
    return services.draw_run(prize=prize, actor=None, confirm=False), expected


def test_the_public_draw_page_shows_winners_by_discord_name_escaped(
    event: Event, client: Client
) -> None:
    draw, expected = drawn_with_names(event)
    page = client.get(f"/prizes/draws/{draw.pk}/").content.decode()
    rows = re.findall(
        r'data-user-id="(\d+)"[^>]*>\s*<td>\d+</td><td data-field="winner-name">(.*?)</td>', page
    )
    assert len(rows) == len(NAMES)
    assert {int(user_id): html.unescape(name) for user_id, name in rows} == expected
    assert SCRIPT not in page and "<img src=x>" not in page
    record = client.get(f"/prizes/draws/{draw.pk}/record.json").json()
    assert {w["user_id"]: w["name"] for w in record["winners"]} == expected


def test_the_public_draw_page_exposes_no_discord_id_or_internal_row(
    event: Event, client: Client
) -> None:
    """The entrant ids (Daylock user ids, what ``entrants.txt`` lists and the ranking
    hashes) are the only ids about people: not their Discord ids, not the winner rows'."""
    draw, _ = drawn_with_names(event)
    page = client.get(f"/prizes/draws/{draw.pk}/").content.decode()
    record = client.get(f"/prizes/draws/{draw.pk}/record.json").text
    for winner in draw.winners.select_related("user__discord"):
        for text in (page, record):
            assert winner.user.discord.discord_id not in text
        assert f'data-winner="{winner.pk}"' not in page
    winners = client.get(f"/prizes/draws/{draw.pk}/record.json").json()["winners"]
    keys = {tuple(sorted(winner)) for winner in winners}
    assert keys == {("name", "rank", "reason", "replaces_rank", "status", "user_id")}


def test_the_staff_prize_page_names_winners_with_their_username_and_id(event: Event) -> None:
    draw, expected = drawn_with_names(event)
    staff = Client()
    staff.force_login(UserFactory(role=Role.ADMIN))
    page = staff.get(f"/prizes/staff/prizes/{draw.prize_id}/").content.decode()
    for user_id, name in expected.items():
        shown = f'{escape(name)} <span class="muted">(@user-{user_id}, user {user_id})</span>'
        assert shown in page, name
    assert SCRIPT not in page
