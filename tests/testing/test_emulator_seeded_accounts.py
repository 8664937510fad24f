"""The emulator offers the seeded test accounts on its consent page where the policy
says so (staging, development), never in production, with the identities the seed
writes (:mod:`daylock.seeded_accounts`), as one-click "Log in as …" buttons grouped by
role next to the usual "Continue as" list."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from django.conf import settings

from daylock import seeded_accounts
from daylock.config import POLICIES, Environment
from daylock.testing.discord_emulator import RunningEmulator, default_config, start_emulator
from daylock.testing.discord_emulator.django_adapter import configured_for_current
from daylock.testing.discord_emulator.seeded import (
    GROUP_ADMINS,
    GROUP_BANNED,
    GROUP_MODERATORS,
    GROUP_NOT_IN_SERVER,
    GROUP_PLAYERS,
)
from tests.config_override import production

CALLBACK = "http://testserver/auth/discord/callback/"


class Page(HTMLParser):
    """What a person (or a screen reader) finds on the page: legends, buttons with their
    attributes and text, the text of every element with an id, radio buttons."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.legends: list[str] = []
        self.buttons: list[dict[str, str]] = []
        self.by_id: dict[str, str] = {}
        self.radios: list[str] = []
        self.forms = 0
        self._open: list[tuple[str, dict[str, str]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "input":
            if attributes.get("type") == "radio":
                self.radios.append(attributes["value"])
            return
        self.forms += tag == "form"
        self._open.append((tag, {**attributes, "text": ""}))

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            name, element = self._open.pop()
            if element.get("id"):
                self.by_id[element["id"]] = element["text"].strip()
            if name == "legend":
                self.legends.append(element["text"].strip())
            if name == "button":
                self.buttons.append({**element, "text": element["text"].strip()})
            if name == tag:
                return

    def handle_data(self, data: str) -> None:
        for _, element in self._open:
            element["text"] += data


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    """An emulator configured as ``daylock emulator`` configures it in staging."""
    running = start_emulator(configured_for_current())
    running.emulator.config.redirect_uris = [CALLBACK]
    yield running
    running.stop()


def authorize_url(emulator: RunningEmulator) -> str:
    params = {
        "response_type": "code",
        "client_id": emulator.config.client_id,
        "redirect_uri": CALLBACK,
        "scope": "identify guilds.members.read",
        "state": "the-state",
    }
    return f"{emulator.base_api_url}/oauth2/authorize?{urlencode(params)}"


def test_the_policy_offers_seeded_accounts_outside_production_only() -> None:
    offers = {env: POLICIES[env].emulator_offers_seeded_accounts for env in Environment}
    assert offers == {
        Environment.PRODUCTION: False,
        Environment.STAGING: True,
        Environment.DEVELOPMENT: True,
    }


def test_the_emulator_serves_the_roster_with_the_environments_staff_roles() -> None:
    users = {user.id: user for user in configured_for_current().users}
    cfg = settings.DAYLOCK
    for account in seeded_accounts.ROSTER:
        user = users[account.discord_id]
        assert user.username == account.username
        assert user.global_name == account.display_name
        assert user.in_guild == account.in_guild
        assert user.quick_login_note == account.story
        assert user.roles == seeded_accounts.guild_role_ids(
            account.role,
            admin_role_ids=cfg.discord_admin_role_ids,
            moderator_role_ids=cfg.discord_moderator_role_ids,
        )
    admin = users[seeded_accounts.discord_id_of(1)]
    assert admin.roles == sorted(cfg.discord_admin_role_ids)[:1] != []
    # The emulator's own users are still there, in the "Continue as" list.
    assert {u.id for u in default_config().users} <= set(users)


def test_production_never_gets_the_seeded_accounts() -> None:
    with production():
        users = configured_for_current().users
    assert [u.id for u in users] == [u.id for u in default_config().users]
    assert not any(u.quick_login_group for u in users)


def test_the_consent_page_groups_one_click_logins_by_role(emulator: RunningEmulator) -> None:
    response = requests.get(authorize_url(emulator), timeout=10)
    assert response.status_code == 200
    page = Page(response.text)
    assert page.legends == [
        GROUP_ADMINS,
        GROUP_MODERATORS,
        GROUP_PLAYERS,
        GROUP_BANNED,
        GROUP_NOT_IN_SERVER,
        "Continue as",
    ]
    quick = {b["text"]: b for b in page.buttons if b.get("name") == "login_as"}
    assert list(quick) == [f"Log in as {a.username}" for a in seeded_accounts.ROSTER]
    for account in seeded_accounts.ROSTER:
        button = quick[f"Log in as {account.username}"]
        assert button["type"] == "submit"
        assert button["value"] == account.discord_id
        # Its description is on the page, with the display name and what it is for.
        description = page.by_id[button["aria-describedby"]]
        assert account.display_name in description
        assert account.story in description
    # The usual way: pick one of the emulator's own users, then Authorize or Cancel.
    assert page.radios == [u.id for u in default_config().users]
    assert {b["text"] for b in page.buttons if b.get("name") == "action"} == {
        "Authorize",
        "Cancel",
    }
    assert page.forms == 2


def test_the_production_stand_in_shows_no_seeded_accounts() -> None:
    with start_emulator(default_config(redirect_uris=[CALLBACK])) as running:
        page = Page(requests.get(authorize_url(running), timeout=10).text)
    assert page.legends == ["Continue as"]
    assert not [b for b in page.buttons if b.get("name") == "login_as"]
    assert page.forms == 1


@pytest.mark.parametrize("account", seeded_accounts.ROSTER, ids=lambda a: a.username)
def test_one_click_authorizes_as_that_account(
    emulator: RunningEmulator, account: seeded_accounts.SeededAccount
) -> None:
    location = emulator.log_in_as(authorize_url(emulator), username=account.username)
    assert location.startswith(CALLBACK)
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["the-state"]
    code = emulator.emulator.store.codes[query["code"][0]]
    assert code.user_id == account.discord_id
    assert code.scopes == ["identify", "guilds.members.read"]


def test_an_unknown_one_click_account_is_refused(emulator: RunningEmulator) -> None:
    url = authorize_url(emulator)
    form = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    answer = requests.post(
        url.split("?", 1)[0],
        data={**form, "login_as": "1009999"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 400
    assert "Pick one of the listed users" in answer.text
    assert emulator.emulator.store.codes == {}


def test_a_missing_button_is_reported_with_the_page(emulator: RunningEmulator) -> None:
    with pytest.raises(AssertionError, match="no 'Log in as test-player-99' button"):
        emulator.log_in_as(authorize_url(emulator), username="test-player-99")
