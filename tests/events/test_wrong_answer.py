"""After a wrong answer (issue 16 item 4): the day page again (200), the answer still in
its field, the error next to the field in an alert the field is described by, focus on
the field, and a warning before the attempt limit. A correct answer still redirects
(post/redirect/get). Prompts are Markdown (item 5)."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from daylock.events import ratelimit
from daylock.events.models import Challenge, Tier

from .factories import EventFactory, UserFactory
from .test_day_page import PAGE_QUERIES, count_queries

pytestmark = pytest.mark.django_db

DAY = "/events/wrong/day/1/"
ANSWER = "/events/wrong/day/1/answer/normal/"


@pytest.fixture
def player(client: Client) -> Client:
    EventFactory(slug="wrong")
    client.force_login(UserFactory())
    return client


def section(body: str, tier: str) -> str:
    start = body.index(f'<section class="challenge" id="{tier}"')
    return body[start : body.index("</section>", start)]


def field(body: str, tier: str = "normal") -> str:
    found = re.search(rf'<input[^>]*id="id_{tier}_answer"[^>]*>', body)
    assert found, f"no {tier} answer field"
    return found[0]


def alert(body: str, tier: str = "normal") -> str:
    found = re.search(
        rf'<div class="field-alert" id="id_{tier}_answer_error" role="alert">(.*?)</div>',
        body,
        re.S,
    )
    assert found, f"no alert next to the {tier} field"
    return found[1]


def test_a_wrong_answer_stays_in_its_field_with_the_error_next_to_it(player: Client) -> None:
    response = player.post(ANSWER, {"answer": "forty <two>"})
    assert response.status_code == 200
    body = response.content.decode()
    normal = section(body, "normal")
    tag = field(normal)
    assert 'value="forty &lt;two&gt;"' in tag
    assert 'aria-invalid="true"' in tag
    assert 'aria-describedby="id_normal_answer_error"' in tag
    assert "autofocus" in tag
    assert "Not quite — that is not the normal answer. Try again." in alert(normal)
    # The alert follows the field, inside its form, before the button.
    assert normal.index(tag) < normal.index('role="alert"') < normal.index("Submit normal answer")
    # Only this field is focused, marked or filled; no message at the top of the page.
    veteran = field(section(body, "veteran"), "veteran")
    assert "autofocus" not in veteran and "aria-invalid" not in veteran and "value=" not in veteran
    assert body.count("autofocus") == 1
    assert 'class="messages"' not in body


def test_a_correct_answer_still_redirects(player: Client) -> None:
    player.post(ANSWER, {"answer": "nope"})
    response = player.post(ANSWER, {"answer": "normal-1"})
    assert response.status_code == 302
    assert response["Location"] == "/events/wrong/day/1/#normal"
    page = player.get(response["Location"]).content.decode()
    assert "Correct! Day 1 is solved at normal tier." in page
    assert "autofocus" not in page


def test_an_invalid_answer_is_a_400_with_the_same_alert(player: Client) -> None:
    response = player.post(ANSWER, {"answer": ""})
    assert response.status_code == 400
    normal = section(response.content.decode(), "normal")
    assert "Type an answer first." in alert(normal)
    assert 'aria-invalid="true"' in field(normal)


def wrong_answers(player: Client, count: int) -> list[str]:
    """The alerts after ``count`` wrong answers, in order."""
    alerts = []
    for n in range(count):
        response = player.post(ANSWER, {"answer": f"wrong {n}"})
        assert response.status_code == 200, n
        alerts.append(alert(section(response.content.decode(), "normal")))
    return alerts


def test_a_warning_comes_before_the_attempt_limit(player: Client) -> None:
    alerts = wrong_answers(player, ratelimit.MAX_ATTEMPTS)
    minutes = ratelimit.WINDOW_SECONDS // 60
    limit = f"(at most {ratelimit.MAX_ATTEMPTS} attempts per {minutes} minutes)"
    quiet = ratelimit.MAX_ATTEMPTS - ratelimit.WARN_AT_ATTEMPTS_LEFT - 1
    assert all("attempts-left" not in text for text in alerts[:quiet])
    warned = alerts[quiet:]
    assert len(warned) == ratelimit.WARN_AT_ATTEMPTS_LEFT + 1
    for left, text in zip(range(ratelimit.WARN_AT_ATTEMPTS_LEFT, 0, -1), warned[:-1], strict=True):
        plural = "s" if left != 1 else ""
        expected = f"{left} attempt{plural} left in the next {minutes} minutes {limit}."
        assert f'<p class="attempts-left">{expected}</p>' in text
    assert f"That was your last attempt for the next {minutes} minutes {limit}." in warned[-1]
    # Then the limit: the answer still in its field, the wait next to it.
    refused = player.post(ANSWER, {"answer": "one more"})
    assert refused.status_code == 429
    normal = section(refused.content.decode(), "normal")
    assert 'value="one more"' in field(normal)
    assert f"try again in {minutes} minutes. Your answer stays in the field." in alert(normal)


def test_the_warning_reads_the_limits_numbers_from_the_rate_limit(
    player: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ratelimit, "MAX_ATTEMPTS", 4)
    monkeypatch.setattr(ratelimit, "WINDOW_SECONDS", 300)
    monkeypatch.setattr(ratelimit, "WARN_AT_ATTEMPTS_LEFT", 2)
    alerts = wrong_answers(player, 4)
    assert "attempts-left" not in alerts[0]
    assert "2 attempts left in the next 5 minutes (at most 4 attempts per 5 minutes)." in alerts[1]
    assert "1 attempt left in the next 5 minutes" in alerts[2]
    assert "That was your last attempt for the next 5 minutes" in alerts[3]
    assert player.post(ANSWER, {"answer": "fifth"}).status_code == 429


def test_the_day_page_get_reads_nothing_more(player: Client) -> None:
    """The GET path has the same queries as before this feature (the session was
    already read to know the player); only the first view after a rescue writes the
    session once, to drop what it showed."""
    assert len(count_queries(player, DAY)) == PAGE_QUERIES + 1
    # A stale token sent from this site: the answer is kept for the page.
    player.cookies[settings.CSRF_COOKIE_NAME] = "s" * 32
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = player.cookies
    kept = strict.post(ANSWER, {"answer": "kept one"}, headers={"Origin": "http://testserver"})
    assert kept.status_code == 302
    with CaptureQueriesContext(connection) as captured:
        body = player.get(DAY).content.decode()
    assert 'value="kept one"' in body
    extra = [q["sql"] for q in captured.captured_queries][PAGE_QUERIES + 1 :]
    assert extra, "the session write is expected after a rescue"
    assert all("django_session" in q or "SAVEPOINT" in q for q in extra), extra
    assert len(count_queries(player, DAY)) == PAGE_QUERIES + 1


# --- prompts are Markdown (item 5) ----------------------------------------------------------


def test_prompts_render_as_sanitised_markdown(player: Client) -> None:
    Challenge.objects.filter(day__event__slug="wrong", day__number=1, tier=Tier.NORMAL).update(
        prompt="Find the **bold** word, run `grep -n x`, read [the notes](https://example.com/n)."
        '\n\n<script>alert("x")</script><img src=x onerror="alert(1)">'
    )
    normal = section(player.get(DAY).content.decode(), "normal")
    assert "<strong>bold</strong>" in normal
    assert "<code>grep -n x</code>" in normal
    assert (
        '<a href="https://example.com/n" rel="noopener noreferrer nofollow">the notes</a>' in normal
    )
    assert "<script" not in normal
    assert "alert(" not in normal
    assert "onerror" not in normal
    assert "**bold**" not in normal
