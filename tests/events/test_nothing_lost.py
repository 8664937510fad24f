"""Nothing lost (issue 16 item 4): an answer or feedback sent from a tab whose session
expired, or whose CSRF token went stale, comes back after the Discord login to the page
it was typed on, in its field, with a note — never a 405, a 403 page or an empty field,
and never sent for the player.

Browser-free walks: Django's test client with real CSRF checks on Daylock's side, the
emulator over real HTTP on Discord's side (:mod:`tests.accounts.login_flow`).
"""

from __future__ import annotations

import re
import time
from importlib import import_module
from unittest import mock

import pytest
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.test import Client, RequestFactory

from daylock.accounts.models import User
from daylock.core import kept_input
from daylock.events.models import Feedback, Progress, WrongAnswer
from daylock.testing.discord_emulator import RunningEmulator
from tests.accounts.login_flow import CALLBACK, SAME_ORIGIN, browser, csrf_token, log_in

from .factories import EventFactory

pytestmark = pytest.mark.django_db

DAY = "/events/kept/day/1/"
ANSWER = "/events/kept/day/1/answer/normal/"
LOGIN_BACK = "/auth/login/?next=%2Fevents%2Fkept%2Fday%2F1%2F"
SECRET = "my secret guess"


@pytest.fixture
def emu(daylock_discord: RunningEmulator) -> RunningEmulator:
    daylock_discord.emulator.config.redirect_uris = [CALLBACK]
    return daylock_discord


@pytest.fixture
def player(emu: RunningEmulator) -> Client:
    """A browser logged in as the emulator's player, on an open day."""
    EventFactory(slug="kept")
    client = browser()
    assert log_in(client, emu)["Location"] == "/"
    return client


def session_store(key: str | None = None) -> SessionBase:
    store: SessionBase = import_module(settings.SESSION_ENGINE).SessionStore(session_key=key)
    return store


def expire_session(client: Client, how: str) -> None:
    """The session ends on the server (its age, a reset, a logout in another tab); with
    ``cookie-gone`` the browser also stopped sending its cookie."""
    session_store(client.cookies[settings.SESSION_COOKIE_NAME].value).delete()
    if how == "cookie-gone":
        del client.cookies[settings.SESSION_COOKIE_NAME]


def section(body: str, tier: str) -> str:
    start = body.index(f'<section class="challenge" id="{tier}"')
    return body[start : body.index("</section>", start)]


def answer_input(body: str, tier: str = "normal") -> str:
    found = re.search(rf'<input[^>]*id="id_{tier}_answer"[^>]*>', body)
    assert found, f"no {tier} answer field"
    return found[0]


def nothing_sent() -> None:
    assert not WrongAnswer.objects.exists()
    assert not Progress.objects.exists()


# --- the answer ---------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["server-side", "cookie-gone"])
def test_an_answer_from_an_expired_session_is_back_in_its_field_after_login(
    player: Client, emu: RunningEmulator, how: str
) -> None:
    token = csrf_token(player.get(DAY).content.decode())
    expire_session(player, how)

    sent = player.post(
        ANSWER, {"csrfmiddlewaretoken": token, "answer": SECRET}, headers=SAME_ORIGIN
    )
    assert sent.status_code == 302
    assert sent["Location"] == LOGIN_BACK  # the day page, not the POST address
    login_page = player.get(sent["Location"]).content.decode()
    assert "Your session expired, so your answer was not sent. Log in again" in login_page

    back = log_in(player, emu, sent["Location"])
    assert back.status_code == 302
    # No fragment: one naming an element would cancel the field's autofocus.
    assert back["Location"] == DAY
    assert SECRET not in sent["Location"] + back["Location"]  # never in a URL
    page = player.get(back["Location"])
    assert page.status_code == 200
    normal = section(page.content.decode(), "normal")
    field = answer_input(normal)
    assert f'value="{SECRET}"' in field
    assert "autofocus" in field
    assert 'aria-describedby="id_normal_answer_note"' in field
    assert "aria-invalid" not in field  # nothing is wrong with it: it was not checked
    assert (
        '<p class="kept-note" id="id_normal_answer_note">Your session expired, so your answer '
        "was not sent. We kept it: check it and submit again.</p>"
    ) in normal
    assert 'value="' not in answer_input(section(page.content.decode(), "veteran"), "veteran")
    nothing_sent()  # never submitted for the player

    # Shown once: a reload has the blank field.
    again = player.get(DAY).content.decode()
    assert 'value="' not in answer_input(again)
    assert "kept-note" not in again
    # And it is the player who sends it, with the new session's token.
    solved = player.post(
        ANSWER,
        {"csrfmiddlewaretoken": csrf_token(again), "answer": "normal-1"},
        headers=SAME_ORIGIN,
    )
    assert solved.status_code == 302
    assert Progress.objects.get().user == User.objects.get(username="pat")


def test_a_token_gone_stale_while_logged_in_comes_back_to_the_page(
    player: Client, emu: RunningEmulator
) -> None:
    """Logging in again in another tab rotates the CSRF cookie: this tab's form now
    fails Django's check. Sent from this site, it comes back to its page (no login
    needed); Django's check itself still refuses to act on it."""
    stale = csrf_token(player.get(DAY).content.decode())
    assert log_in(player, emu)["Location"] == "/"  # the other tab
    sent = player.post(
        ANSWER, {"csrfmiddlewaretoken": stale, "answer": SECRET}, headers=SAME_ORIGIN
    )
    assert sent.status_code == 302
    assert sent["Location"] == DAY
    normal = section(player.get(DAY).content.decode(), "normal")
    assert f'value="{SECRET}"' in answer_input(normal)
    assert "This form had expired, so your answer was not sent. We kept it" in normal
    nothing_sent()


def test_cleared_cookies_lose_nothing_either(player: Client, emu: RunningEmulator) -> None:
    """No session and no CSRF cookie at all (the browser's cookies were cleared): the
    token on the page matches nothing, the session is gone — still kept."""
    token = csrf_token(player.get(DAY).content.decode())
    player.cookies.clear()
    sent = player.post(
        ANSWER, {"csrfmiddlewaretoken": token, "answer": SECRET}, headers=SAME_ORIGIN
    )
    assert sent.status_code == 302
    assert sent["Location"] == LOGIN_BACK
    back = log_in(player, emu, sent["Location"])
    normal = section(player.get(back["Location"]).content.decode(), "normal")
    assert f'value="{SECRET}"' in answer_input(normal)
    assert "Your session expired" in normal
    nothing_sent()


@pytest.mark.parametrize("origin", [None, "https://evil.example", "null"])
def test_a_form_from_elsewhere_is_refused_and_nothing_is_kept(
    player: Client, origin: str | None
) -> None:
    """Without this site's ``Origin`` the text may come from another site's form: the
    usual 403 page, and nothing is put in the player's session."""
    player.cookies[settings.CSRF_COOKIE_NAME] = "x" * 32  # stale
    headers = {"Origin": origin} if origin else {}
    sent = player.post(
        ANSWER, {"csrfmiddlewaretoken": "y" * 64, "answer": "planted"}, headers=headers
    )
    assert sent.status_code == 403
    assert "This form could not be sent" in sent.content.decode()
    assert kept_input.SESSION_KEY not in player.session
    nothing_sent()


def test_the_anonymous_day_page_says_the_answer_waits_for_the_login(
    player: Client,
) -> None:
    token = csrf_token(player.get(DAY).content.decode())
    expire_session(player, "server-side")
    player.post(ANSWER, {"csrfmiddlewaretoken": token, "answer": SECRET}, headers=SAME_ORIGIN)
    normal = section(player.get(DAY).content.decode(), "normal")
    assert "to answer." in normal  # the "Log in to answer" link, no field
    assert "It is kept for a while: log in again to get it back here." in normal
    assert SECRET not in normal
    # Still kept for after the login (a look is not a use).
    assert DAY in player.session[kept_input.SESSION_KEY]


def test_only_the_forms_fields_are_kept_and_long_values_are_cut(player: Client) -> None:
    token = csrf_token(player.get(DAY).content.decode())
    expire_session(player, "server-side")
    huge = "z" * (kept_input.MAX_FIELD_CHARS + 50)
    player.post(
        ANSWER,
        {"csrfmiddlewaretoken": token, "answer": huge, "extra": "y" * 10_000},
        headers=SAME_ORIGIN,
    )
    record = player.session[kept_input.SESSION_KEY][DAY]
    assert record["fields"] == {"answer": "z" * kept_input.MAX_FIELD_CHARS}
    assert record["form"] == "normal"


def test_an_empty_form_keeps_nothing_and_still_says_to_log_in(player: Client) -> None:
    token = csrf_token(player.get(DAY).content.decode())
    expire_session(player, "server-side")
    sent = player.post(ANSWER, {"csrfmiddlewaretoken": token, "answer": ""}, headers=SAME_ORIGIN)
    assert sent["Location"] == LOGIN_BACK
    assert kept_input.SESSION_KEY not in player.session
    assert "Your session expired: log in again." in player.get(sent["Location"]).content.decode()


def test_kept_text_expires(player: Client, emu: RunningEmulator) -> None:
    token = csrf_token(player.get(DAY).content.decode())
    expire_session(player, "server-side")
    sent = player.post(
        ANSWER, {"csrfmiddlewaretoken": token, "answer": SECRET}, headers=SAME_ORIGIN
    )
    log_in(player, emu, sent["Location"])
    later = time.time() + kept_input.KEEP_SECONDS + 1
    with mock.patch.object(kept_input.time, "time", return_value=later):
        body = player.get(DAY).content.decode()
    assert SECRET not in body
    assert "kept-note" not in body


def test_the_store_keeps_the_newest_pages_only() -> None:
    request = RequestFactory().get("/")
    request.session = session_store()
    pages = [f"/events/e/day/{n}/" for n in range(kept_input.MAX_PAGES + 1)]
    for page in pages:
        kept_input.keep(
            request,
            page=f"{page}#normal",
            form="normal",
            what="answer",
            fields={"answer": page},
            why=kept_input.Why.SESSION_EXPIRED,
        )
    assert kept_input.peek(request, path=pages[0]) is None  # the oldest went
    newest = kept_input.take(request, path=pages[-1])
    assert newest is not None
    assert newest.fields == {"answer": pages[-1]}
    assert kept_input.take(request, path=pages[-1]) is None  # taken once
    assert kept_input.peek(request, path=pages[1]) is not None


# --- feedback -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "form_page", ["/events/kept/day/1/feedback/", "/events/kept/feedback/"], ids=["day", "event"]
)
def test_feedback_from_an_expired_session_is_back_in_the_form_after_login(
    player: Client, emu: RunningEmulator, form_page: str
) -> None:
    token = csrf_token(player.get(form_page).content.decode())
    expire_session(player, "server-side")
    comment = "Loved it <b>really</b>"
    sent = player.post(
        form_page,
        {"csrfmiddlewaretoken": token, "rating": "4", "comment": comment},
        headers=SAME_ORIGIN,
    )
    assert sent.status_code == 302
    assert sent["Location"].startswith("/auth/login/?next=")
    back = log_in(player, emu, sent["Location"])
    assert back["Location"] == form_page
    body = player.get(form_page).content.decode()
    assert re.search(r'<input[^>]*value="4"[^>]*checked', body)
    textarea = re.search(r"<textarea[^>]*>", body)
    assert textarea
    assert "autofocus" in textarea[0]
    assert 'aria-describedby="kept-note"' in textarea[0]
    assert "Loved it &lt;b&gt;really&lt;/b&gt;</textarea>" in body
    assert "Your session expired, so your feedback was not sent. We kept it" in body
    assert not Feedback.objects.exists()  # not saved until the player saves it
    saved = player.post(
        form_page,
        {"csrfmiddlewaretoken": csrf_token(body), "rating": "4", "comment": comment},
        headers=SAME_ORIGIN,
    )
    assert saved.status_code == 302
    assert Feedback.objects.get().comment == comment
