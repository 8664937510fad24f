"""No flow ends in a 405, and ``next`` stays on this site (issue 16 item 4).

The walk takes every URL of the resolver (``tests/core/urlwalk.py``), so a POST-only
address added tomorrow is walked tomorrow: a GET of it by a visitor or a player must
land somewhere (its form's page, a login, a refusal), never on a bare 405.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client

from daylock.testing.discord_emulator import RunningEmulator
from tests.accounts.login_flow import CALLBACK, browser, log_in
from tests.core.urlwalk import Samples, endpoints, make_samples
from tests.events.factories import EventFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def emu(daylock_discord: RunningEmulator) -> RunningEmulator:
    daylock_discord.emulator.config.redirect_uris = [CALLBACK]
    return daylock_discord


@pytest.fixture
def samples(django_capture_on_commit_callbacks: Callable[..., Any]) -> Samples:
    return make_samples(django_capture_on_commit_callbacks)


def test_no_get_ends_in_a_405_for_a_visitor_or_a_player(samples: Samples) -> None:
    player = Client()
    player.force_login(UserFactory(username="walk-405-player"))
    visitors = {"visitor": Client(), "player": player}
    dead_ends = []
    walked = set()
    for endpoint in endpoints(samples):
        walked.add(endpoint.name)
        for who, client in visitors.items():
            response = client.get(endpoint.path, follow=True)
            statuses = [status for _, status in response.redirect_chain] + [response.status_code]
            if 405 in statuses:
                dead_ends.append(f"GET {endpoint} as {who}: {statuses}")
    assert not dead_ends, "\n".join(dead_ends)
    # The players' POST-only addresses were among them.
    assert {"events:answer", "events:leaderboard_visibility", "accounts:logout"} <= walked


@pytest.mark.parametrize(
    ("address", "lands_on"),
    [
        ("/events/post/day/1/answer/normal/", "/events/post/day/1/#normal"),
        ("/events/post/day/1/answer/veteran/", "/events/post/day/1/#veteran"),
        ("/events/post/day/1/answer/nonsense/", "/events/post/day/1/"),
        ("/events/profile/leaderboard/", "/events/profile/#leaderboard"),
        ("/auth/logout/", "/auth/login/"),
    ],
)
@pytest.mark.parametrize("signed_in", [False, True], ids=["visitor", "player"])
def test_a_get_of_a_form_address_goes_to_the_forms_page(
    client: Client, address: str, lands_on: str, signed_in: bool
) -> None:
    EventFactory(slug="post")
    if signed_in:
        client.force_login(UserFactory())
    for method in (client.get, client.head):
        response = method(address)
        assert response.status_code == 302, (method, response.status_code)
        assert response["Location"] == lands_on
    if signed_in:
        assert "_auth_user_id" in client.session  # a GET of logout does not log out
    # Other methods are still refused as such.
    assert client.put(address).status_code == 405


def test_a_next_naming_a_post_only_address_lands_on_its_page(emu: RunningEmulator) -> None:
    EventFactory(slug="post")
    client = browser()
    back = log_in(client, emu, "/auth/login/?next=/events/post/day/2/answer/veteran/")
    assert back.status_code == 302
    assert back["Location"] == "/events/post/day/2/#veteran"


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "\\\\evil.example/",
        "http://testserver.evil.example/",
        "javascript:alert(1)",
        "///evil.example/",
    ],
)
def test_a_next_off_this_site_is_ignored(emu: RunningEmulator, next_url: str) -> None:
    client = browser()
    page = client.get("/auth/login/", {"next": next_url}).content.decode()
    assert 'name="next"' not in page  # not even carried to the form
    back = log_in(client, emu, "/auth/login/?" + urlencode({"next": next_url}))
    assert back.status_code == 302
    assert back["Location"] == "/"


def test_a_next_on_this_site_is_followed(emu: RunningEmulator) -> None:
    back = log_in(browser(), emu, "/auth/login/?next=/events/%3Fpage%3D2")
    assert back["Location"] == "/events/?page=2"
