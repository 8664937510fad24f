"""Pages are Jinja2 templates with Django's helpers: the same URLs, dates, escaping
and CSRF protection as Django's own template language would give."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import clear_script_prefix, set_script_prefix

from daylock.core import templating

from ..events.factories import EventFactory, UserFactory

pytestmark = pytest.mark.django_db

CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def test_url_is_django_reverse_and_follows_the_script_prefix() -> None:
    assert templating.url("events:day", "advent", 3) == "/events/advent/day/3/"
    try:
        set_script_prefix("/daylock/")
        assert templating.url("events:day", "advent", 3) == "/daylock/events/advent/day/3/"
    finally:
        clear_script_prefix()
    assert templating.url("events:day", "advent", 3) == "/events/advent/day/3/"


def test_date_filter_is_djangos() -> None:
    when = datetime(2026, 11, 25, 17, 5, 9, tzinfo=UTC)
    assert templating.format_date(when, "Y-m-d H:i:s") == "2026-11-25 17:05:09"
    assert templating.format_date(when.date(), "j M Y") == "25 Nov 2026"
    assert templating.format_date(None, "Y") == ""


def test_variables_are_escaped_and_safe_html_is_not(client: Client) -> None:
    EventFactory(slug="esc", name="<script>alert(1)</script> & co")
    body = client.get("/events/esc/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in body
    assert "<script>alert" not in body


def test_every_form_of_a_page_carries_one_token_and_it_is_accepted() -> None:
    EventFactory(slug="csrf")
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory())
    body = client.get("/events/csrf/day/1/").content.decode()
    tokens = CSRF_FIELD.findall(body)
    assert len(tokens) == 3  # log out, normal answer, veteran answer
    assert len(set(tokens)) == 1
    answer = "/events/csrf/day/1/answer/normal/"
    refused = client.post(answer, {"answer": "x"})
    assert refused.status_code == 403  # no token: Django's CSRF check still runs
    accepted = client.post(answer, {"answer": "x", "csrfmiddlewaretoken": tokens[0]})
    assert accepted.status_code == 200  # checked: a wrong answer, the page again
    assert "Not quite" in accepted.content.decode()


def test_date_after_the_timezone_filter_shows_that_zone() -> None:
    when = datetime(2025, 3, 30, 22, 0, tzinfo=UTC)
    berlin = templating.environment().filters["timezone"](when, "Europe/Berlin")
    assert templating.format_date(berlin, "H:i T") == "00:00 CEST"
    assert templating.format_date(when, "H:i T") == "22:00 UTC"
