"""The event editor's pages: one page for the event and all its days, errors next to
their fields (``aria-describedby``) with what was typed kept, "Update days", roles
picked by name from the guild (the emulator), codes pasted on the prize page, the
preview of a locked day through the day page's template. Who may open them is the
staff walk's (``tests/accounts/test_staff_walk.py``); the refusals are checked here
too, page by page."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from daylock import clock
from daylock.accounts.models import Role, User
from daylock.core.models import AuditLog
from daylock.discord import directory
from daylock.events.models import Challenge, Day, Event
from daylock.prizes.models import Prize, PrizeCode
from daylock.testing.discord_emulator import RunningEmulator
from daylock.testing.discord_emulator.config import DEFAULT_GUILD_ID, WINNER_ROLE_ID
from tests.config_override import production
from tests.events.factories import EventFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin() -> User:
    return UserFactory(username="editor-admin", role=Role.ADMIN)


@pytest.fixture
def client(admin: User) -> Client:
    client = Client()
    client.force_login(admin)
    return client


def new_event_post(count: int = 7, **changes: str) -> dict[str, str]:
    data = {
        "name": "Winter riddles",
        "slug": "winter-riddles",
        "description": "",
        "starts_on": (clock.now().date() + dt.timedelta(days=5)).isoformat(),
        "time_zone": "UTC",
        "day_count": str(count),
        "published": "on",
        "completion_role_normal_id": "",
        "completion_role_veteran_id": "",
        "announce_channel_id": "",
        "days-TOTAL_FORMS": str(count),
        "days-INITIAL_FORMS": "0",
        "days-MIN_NUM_FORMS": "0",
        "days-MAX_NUM_FORMS": "366",
        "save": "1",
    }
    for i in range(count):
        n = i + 1
        data |= {
            f"days-{i}-title": f"Riddle {n}",
            f"days-{i}-body_markdown": f"Body {n}",
            f"days-{i}-normal_prompt": f"Normal prompt {n}",
            f"days-{i}-normal_answer": f"normal-{n}",
            f"days-{i}-veteran_prompt": f"Veteran prompt {n}",
            f"days-{i}-veteran_answer": f"veteran-{n}",
        }
    return data | changes


def field_error(html: str, field_id: str) -> str:
    """The error shown next to ``field_id``, checking the widget points at it."""
    widget = re.search(rf"<(?:input|textarea|select)[^>]*id=\"{re.escape(field_id)}\"[^>]*>", html)
    assert widget is not None, f"no widget {field_id}"
    assert 'aria-invalid="true"' in widget.group(0), widget.group(0)
    described = re.search(r'aria-describedby="([^"]*)"', widget.group(0))
    assert described is not None and f"{field_id}_error" in described.group(1).split()
    error = re.search(
        rf'<ul class="error errorlist" id="{re.escape(field_id)}_error">(.*?)</ul>', html, re.S
    )
    assert error is not None, f"no error element {field_id}_error"
    return re.sub(r"<[^>]+>", " ", error.group(1))


def test_new_event_page_has_one_form_per_day_and_roles_by_name(
    client: Client, daylock_discord: RunningEmulator
) -> None:
    response = client.get(reverse("editor:new"))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('<fieldset class="day"') == 7
    assert 'name="days-TOTAL_FORMS" value="7"' in html
    role_select = re.search(r'<select name="completion_role_normal_id".*?</select>', html, re.S)
    assert role_select is not None
    assert f'<option value="{WINNER_ROLE_ID}">Event Winner</option>' in role_select.group(0)
    assert "Daylock Bot" not in role_select.group(0)


def test_creating_an_event_with_all_its_days_in_one_post(
    client: Client, daylock_discord: RunningEmulator
) -> None:
    data = new_event_post(completion_role_normal_id=WINNER_ROLE_ID)
    response = client.post(reverse("editor:new"), data)
    assert response.status_code == 302
    assert response["Location"] == reverse("editor:edit", kwargs={"slug": "winter-riddles"})
    event = Event.objects.get(slug="winter-riddles")
    assert event.completion_role_normal_id == WINNER_ROLE_ID
    assert Challenge.objects.filter(day__event=event).count() == 14
    edit = client.get(response["Location"]).content.decode()
    assert "created with 7 days" in edit
    assert f'<option value="{WINNER_ROLE_ID}" selected>Event Winner</option>' in edit
    assert 'value="normal-7"' in edit


def test_errors_are_shown_next_to_their_fields_and_typing_is_kept(client: Client) -> None:
    data = new_event_post(**{"days-2-normal_answer": "   ", "days-4-title": "", "slug": "a b"})
    response = client.post(reverse("editor:new"), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "Nothing was saved" in html
    assert "Enter a valid “slug”" in field_error(html, "id_slug")
    assert "This field is required." in field_error(html, "id_days-4-title")
    # What was typed elsewhere is still there.
    assert 'value="Winter riddles"' in html
    assert "Veteran prompt 6</textarea>" in html
    assert not Event.objects.exists()


def test_service_refusals_land_next_to_their_day_field(client: Client) -> None:
    data = new_event_post(**{"days-2-normal_answer": "\u00a0 \u3000"})
    response = client.post(reverse("editor:new"), data)
    assert response.status_code == 400
    assert "no player could ever solve it" in field_error(
        response.content.decode(), "id_days-2-normal_answer"
    )


def test_update_days_resizes_the_day_forms_and_saves_nothing(client: Client) -> None:
    data = new_event_post(count=7, day_count="3", update_days="1")
    del data["save"]
    response = client.post(reverse("editor:new"), data)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('<fieldset class="day"') == 3
    assert 'value="Riddle 2"' in html and "Riddle 4" not in html
    assert "3 day form(s) now" in html
    assert not Event.objects.exists()
    data = new_event_post(count=2, day_count="4", update_days="1")
    html = client.post(reverse("editor:new"), data).content.decode()
    assert html.count('<fieldset class="day"') == 4
    assert 'id="id_days-3-title"' in html


def test_a_seen_day_shows_the_confirmation_and_refuses_without_it(
    client: Client, admin: User
) -> None:
    event = EventFactory(slug="running", starts_on=clock.now().date() - dt.timedelta(days=1))
    edit = reverse("editor:edit", kwargs={"slug": "running"})
    page = client.get(edit).content.decode()
    assert 'name="confirm_seen"' in page
    assert "open to players" in page
    data = new_event_post(
        count=3,
        slug="running",
        name=event.name,
        starts_on=event.starts_on.isoformat(),
        description=event.description,
        **{"days-0-normal_prompt": "Changed after it opened"},
    )
    for i in range(3):
        day = Day.objects.get(event=event, number=i + 1)
        data[f"days-{i}-title"], data[f"days-{i}-body_markdown"] = day.title, day.body_markdown
        for challenge in day.challenges.all():
            data.setdefault(f"days-{i}-{challenge.tier}_prompt", challenge.prompt)
            data[f"days-{i}-{challenge.tier}_answer"] = challenge.answer
            if not (i == 0 and challenge.tier == "normal"):
                data[f"days-{i}-{challenge.tier}_prompt"] = challenge.prompt
    response = client.post(edit, data)
    assert response.status_code == 400
    assert "has been open to players" in field_error(
        response.content.decode(), "id_days-0-normal_prompt"
    )
    assert Challenge.objects.get(day__event=event, day__number=1, tier="normal").prompt != (
        "Changed after it opened"
    )
    response = client.post(edit, data | {"confirm_seen": "on"})
    assert response.status_code == 302
    assert Challenge.objects.get(day__event=event, day__number=1, tier="normal").prompt == (
        "Changed after it opened"
    )


def test_prize_page_takes_twenty_codes_and_a_role_by_name(
    client: Client, daylock_discord: RunningEmulator
) -> None:
    event = EventFactory(slug="prized")
    url = reverse("editor:prize_new", kwargs={"slug": "prized"})
    page = client.get(url).content.decode()
    assert f'<option value="{WINNER_ROLE_ID}">Event Winner</option>' in page
    codes = "\n".join(f"CODE-{n}" for n in range(1, 21))
    response = client.post(
        url,
        {
            "name": "Finisher code",
            "quantity": "2",
            "min_tier": "normal",
            "fulfilment": "code",
            "discord_role_id": "",
            "announce_channel_id": "",
            "codes": codes,
        },
    )
    assert response.status_code == 302
    prize = Prize.objects.get(event=event, name="Finisher code")
    assert PrizeCode.objects.filter(prize=prize).count() == 20
    response = client.post(
        url,
        {
            "name": "Winner role",
            "quantity": "1",
            "min_tier": "veteran",
            "fulfilment": "discord_role",
            "discord_role_id": WINNER_ROLE_ID,
            "announce_channel_id": "",
            "codes": "",
        },
    )
    assert response.status_code == 302
    assert Prize.objects.get(event=event, name="Winner role").discord_role_id == WINNER_ROLE_ID
    edit = client.get(reverse("editor:edit", kwargs={"slug": "prized"})).content.decode()
    assert "role Event Winner" in edit


def test_duplicate_codes_are_refused_next_to_the_field_with_line_numbers(client: Client) -> None:
    event = EventFactory(slug="prized")
    url = reverse("editor:prize_new", kwargs={"slug": "prized"})
    pasted = "A-1\nA-2\n\nA-1\n"
    response = client.post(
        url,
        {
            "name": "Finisher code",
            "quantity": "1",
            "min_tier": "normal",
            "fulfilment": "code",
            "codes": pasted,
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "line 4: “A-1” is also on line 1; keep one" in field_error(html, "id_codes")
    assert "A-1\nA-2\n\nA-1\n</textarea>" in html, "the paste is kept as typed"
    assert not Prize.objects.filter(event=event).exists()


def test_preview_of_a_locked_day_is_read_only_and_audited(client: Client, admin: User) -> None:
    event = EventFactory(slug="later", starts_on=clock.now().date() + dt.timedelta(days=30))
    answer = Challenge.objects.get(day__event=event, day__number=2, tier="veteran").answer
    # Players get a 404: the day is locked.
    assert (
        Client().get(reverse("events:day", kwargs={"slug": "later", "number": 2})).status_code
        == 404
    )
    response = client.get(reverse("editor:preview", kwargs={"slug": "later", "number": 2}))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<title>Preview: Day 2" in html
    assert 'class="preview-banner"' in html and 'data-preview="locked"' in html
    assert "Day 2 title" in html and "day 2" in html.lower()
    assert answer not in html
    assert '<form method="post" action="/events/' not in html
    assert 'name="answer"' not in html
    assert "Rate this day" not in html
    row = AuditLog.objects.get(action="editor.day_preview")
    assert row.actor_id == admin.pk and row.details == {"day": 2, "locked": True}


def test_preview_works_in_production(client: Client) -> None:
    EventFactory(slug="later", starts_on=clock.now().date() + dt.timedelta(days=30))
    with production():
        response = client.get(reverse("editor:preview", kwargs={"slug": "later", "number": 3}))
    assert response.status_code == 200
    assert 'class="preview-banner"' in response.content.decode()


@pytest.mark.parametrize("role", [Role.MODERATOR, Role.PLAYER])
def test_moderators_and_players_cannot_author_or_preview(role: Role) -> None:
    EventFactory(slug="later", starts_on=clock.now().date() + dt.timedelta(days=30))
    client = Client()
    client.force_login(UserFactory(role=role))
    urls: list[tuple[str, dict[str, Any]]] = [
        (reverse("editor:list"), {}),
        (reverse("editor:new"), new_event_post()),
        (reverse("editor:edit", kwargs={"slug": "later"}), new_event_post(slug="later")),
        (reverse("editor:prize_new", kwargs={"slug": "later"}), {"name": "x"}),
        (reverse("editor:preview", kwargs={"slug": "later", "number": 2}), {}),
    ]
    for url, data in urls:
        got = client.get(url)
        assert got.status_code == 403, url
        assert "you need the admin role" in got.content.decode(), url
        assert client.post(url, data).status_code == 403, url
    assert not Event.objects.filter(slug="winter-riddles").exists()
    assert not AuditLog.objects.filter(action__startswith="editor.").exists()


def test_refresh_forgets_the_directory_and_returns(
    client: Client, daylock_discord: RunningEmulator
) -> None:
    path = f"/api/v10/guilds/{DEFAULT_GUILD_ID}/roles"
    directory.guild_roles()
    client.get(reverse("editor:new"))
    assert len(daylock_discord.requests(path)) == 1
    back = reverse("editor:new")
    response = client.post(reverse("editor:directory_refresh"), {"next": back})
    assert response.status_code == 302 and response["Location"] == back
    client.get(back)
    assert len(daylock_discord.requests(path)) == 2
    elsewhere = client.post(reverse("editor:directory_refresh"), {"next": "https://evil.example/"})
    assert elsewhere["Location"] == reverse("editor:list")


def test_an_unreachable_discord_is_said_on_the_page(client: Client) -> None:
    html = client.get(reverse("editor:new")).content.decode()
    assert "could not read the server&#39;s roles from Discord" in html
    assert "Refresh roles and channels" in html
