"""Memoised pages (daylock.core.pages): the same HTML as an ordinary render, a fresh CSRF
field in every response, and a new render whenever anything the page shows changes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.middleware.csrf import _unmask_cipher_token
from django.template import engines
from django.template.backends import jinja2 as jinja2_backend
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils.safestring import SafeString
from jinja2 import meta

from daylock.accounts.models import User
from daylock.core import pages
from daylock.events.models import Day, Tier
from daylock.events.views import DayHeading, EventHeading, TierPanel
from tests.events.factories import EventFactory, ProgressFactory, UserFactory

pytestmark = pytest.mark.django_db

CSRF_FIELD = re.compile(r'<input type="hidden" name="csrfmiddlewaretoken" value="([^"]+)">')


@pytest.fixture(autouse=True)
def empty_memo() -> Iterator[None]:
    pages.clear()
    yield
    pages.clear()


@pytest.fixture
def day_page(client: Client) -> tuple[Client, User, str]:
    event = EventFactory(slug="memo", day_count=1)
    player = UserFactory(username="memo-player")
    client.force_login(player)
    return client, player, f"/events/{event.slug}/day/1/"


def renders() -> int:
    return pages.counts()[1]


def test_second_view_is_served_from_memory_with_a_fresh_csrf_field(
    day_page: tuple[Client, User, str],
) -> None:
    client, _, url = day_page
    first, second = client.get(url), client.get(url)
    assert first.status_code == second.status_code == 200
    assert renders() == 1
    assert pages.counts()[0] == 1
    tokens = [CSRF_FIELD.findall(r.content.decode()) for r in (first, second)]
    assert all(len(t) == 3 for t in tokens)  # log out + two answer forms
    assert tokens[0][0] != tokens[1][0]  # masked afresh for each response
    secret = client.cookies["daylock_staging_csrftoken"].value
    assert {_unmask_cipher_token(t) for t in tokens[0] + tokens[1]} == {secret}
    without_csrf = [CSRF_FIELD.sub("", r.content.decode()) for r in (first, second)]
    assert without_csrf[0] == without_csrf[1]


def test_memoised_html_is_what_an_ordinary_render_gives(
    day_page: tuple[Client, User, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _, url = day_page
    memoised = client.get(url).content.decode()
    monkeypatch.setattr(engines["jinja2"].env, "auto_reload", True)  # as under DEBUG
    ordinary = client.get(url).content.decode()
    assert renders() == 1  # the second page did not go through the memo
    assert CSRF_FIELD.sub("", memoised) == CSRF_FIELD.sub("", ordinary)


def test_progress_name_and_staff_role_each_make_a_new_page(
    day_page: tuple[Client, User, str],
) -> None:
    client, player, url = day_page
    assert "badge ok" not in client.get(url).content.decode()
    ProgressFactory(user=player, day=Day.objects.get(event__slug="memo"), tier=Tier.NORMAL)
    assert "badge ok" in client.get(url).content.decode()
    User.objects.filter(pk=player.pk).update(username="renamed-player")
    assert "renamed-player" in client.get(url).content.decode()
    User.objects.filter(pk=player.pk).update(is_staff=True)
    assert "Prizes (staff)" in client.get(url).content.decode()
    assert renders() == 4


def test_pending_messages_are_shown_once_and_not_memoised(
    day_page: tuple[Client, User, str],
) -> None:
    client, _, url = day_page
    client.get(url)
    answer = reverse("events:answer", args=("memo", 1, "normal"))
    assert client.post(answer, {"answer": "wrong"}).status_code == 302
    assert "Not quite" in client.get(url).content.decode()
    assert renders() == 1
    assert "Not quite" not in client.get(url).content.decode()
    assert pages.counts()[0] == 1


@dataclass
class Mutable:
    text: str


def _request() -> Any:
    """A request by the same viewer each time (the frame is part of the key)."""
    request = RequestFactory().get("/")
    request.user = User.objects.get_or_create(username="memo-viewer")[0]
    request.session = {}
    request._messages = FallbackStorage(request)
    assert not get_messages(request)
    return request


@pytest.mark.parametrize(
    "value",
    [User(username="x"), Mutable("x"), ["a", "list"], {"a": "dict"}, (Mutable("nested"),)],
    ids=["model instance", "mutable dataclass", "list", "dict", "nested in a tuple"],
)
def test_context_that_is_not_plain_is_refused(value: Any) -> None:
    with pytest.raises(TypeError, match="only str, numbers, dates, None, tuples and frozen"):
        pages.render_memoised(_request(), "events/day.html", {"event": value})


def _day_page(**values: Any) -> str:
    """The day template memoised for a context of plain values, ``values`` changed."""
    context: dict[str, Any] = {
        "event": EventHeading(slug="e", name="E"),
        "day": DayHeading(number=1, title="One"),
        "body_html": SafeString(""),
        "panels": (),
        "signed_in": True,
        "login_url": None,
        "feedback_rating": None,
    }
    page = pages.render_memoised(_request(), "events/day.html", context | values)
    return page.content.decode()


def test_safe_and_plain_text_never_share_an_entry() -> None:
    escaped = _day_page(body_html="<b>x</b>")
    kept = _day_page(body_html=SafeString("<b>x</b>"))
    assert "&lt;b&gt;x&lt;/b&gt;" in escaped and "<b>x</b>" not in escaped
    assert "<b>x</b>" in kept
    assert renders() == 2


def test_equal_values_that_print_differently_are_different_keys() -> None:
    utc = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    paris = utc.astimezone(ZoneInfo("Europe/Paris"))
    berlin = utc.astimezone(ZoneInfo("Europe/Berlin"))
    assert utc == paris == berlin
    keys = {pages._frozen("t", v) for v in (utc, paris, berlin)}
    assert len(keys) == 3
    assert pages._frozen("f", 0.0) != pages._frozen("f", -0.0)
    assert pages._frozen("n", 1) != pages._frozen("n", 1.0) != pages._frozen("n", True)


def test_safe_and_plain_text_never_share_an_entry_inside_a_dataclass_either() -> None:
    def page(prompt: str) -> str:
        panel = TierPanel(
            tier="normal",
            label="Normal",
            prompt=prompt,
            solved=True,
            input_id="id",
            input_html=SafeString(""),
            errors=(),
        )
        return _day_page(panels=(panel,))

    assert "&lt;b&gt;x&lt;/b&gt;" in page("<b>x</b>")
    assert "<b>x</b>" in page(SafeString("<b>x</b>"))
    assert renders() == 2


def test_the_day_page_shows_nothing_outside_its_key(day_page: tuple[Client, User, str]) -> None:
    """Every name the templates read is in the key (or a helper that reads only its
    arguments and the key's environment): a template that read ``request``, ``user``
    or anything else unkeyed could not be memoised soundly."""
    client, _, url = day_page
    keyed: list[set[str]] = []
    real_render = jinja2_backend.Template.render

    def recording(template: Any, context: dict[str, Any], request: Any = None) -> str:
        keyed.append(set(context))
        return str(real_render(template, context, request))

    with mock.patch.object(jinja2_backend.Template, "render", recording):
        assert client.get(url).status_code == 200
    env = engines["jinja2"].env
    read: set[str] = set()
    for name in ("events/day.html", "base.html"):
        source = env.loader.get_source(env, name)[0]
        read |= meta.find_undeclared_variables(env.parse(source))
    given = keyed[0] | set(env.globals)
    assert read <= given, f"read but not keyed: {sorted(read - given)}"
