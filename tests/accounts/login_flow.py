"""A browser's Discord login, without a browser: Django's test client with real CSRF
checks on Daylock's side (it sends the token from the page and the ``Origin`` header a
browser sends with a form POST), the emulator's consent page over real HTTP on
Discord's side. Shared by the "nothing lost" and ``next`` tests."""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

from django.http import HttpResponse
from django.test import Client

from daylock.config import OAUTH_CALLBACK_PATH
from daylock.testing.discord_emulator import RunningEmulator
from daylock.testing.discord_emulator.config import PLAYER_USER_ID

CALLBACK = "http://testserver" + OAUTH_CALLBACK_PATH
#: What a browser sends with a form POST from a page of the site.
SAME_ORIGIN = {"Origin": "http://testserver"}

_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_NEXT = re.compile(r'name="next" value="([^"]*)"')


def browser() -> Client:
    return Client(enforce_csrf_checks=True)


def csrf_token(body: str) -> str:
    found = _TOKEN.search(body)
    assert found, "no CSRF field on the page"
    return found[1]


def log_in(
    client: Client,
    emu: RunningEmulator,
    login_page: str = "/auth/login/",
    *,
    user_id: str = PLAYER_USER_ID,
) -> HttpResponse:
    """Open ``login_page`` (it may carry ``?next=``), press "Log in with Discord" with
    the page's token and its hidden ``next``, authorize on the emulator's consent page
    and follow its redirect into the callback; return the callback's response."""
    page = client.get(login_page)
    assert page.status_code == 200, page.content
    body = page.content.decode()
    data = {"csrfmiddlewaretoken": csrf_token(body)}
    if found := _NEXT.search(body):
        data["next"] = html.unescape(found[1])
    started = client.post("/auth/login/", data, headers=SAME_ORIGIN)
    assert started.status_code == 302, started.content
    location = emu.authorize(str(started["Location"]), user_id=user_id)
    assert location.startswith(CALLBACK), location
    parts = urlsplit(location)
    response: HttpResponse = client.get(f"{parts.path}?{parts.query}")
    return response
