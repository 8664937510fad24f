"""The outbox pages in Chromium (``/usr/bin/chromium``), against a live server: at 390 px
and 1280 px no horizontal overflow with 64-digit hashes, long URLs and long names in
the messages, the Discord stylesheet applied under the strict CSP (no violation), and
no critical or serious axe-core finding. End-to-end: ``pytest -m e2e``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings
from django.db import connections
from django.test import Client
from playwright.sync_api import Browser, Page, sync_playwright

from daylock.accounts.models import Role, User
from daylock.discord import delivery, messages
from daylock.discord.models import OutboxMessage
from daylock.discord.services import outbox_enqueue
from daylock.testing.discord_emulator import GuildChannel, RunningEmulator, default_config
from daylock.testing.discord_emulator.config import PLAYER_USER_ID, WINNER_ROLE_ID
from tests.events.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
ANNOUNCE = "710000000000000001"
WIDTHS = (390, 1280)
AT = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
LONG = "Averyveryverylongeventnamewithoutanyspacesatallthatmustwrap" * 3


@pytest.fixture
def chromium(monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    # Playwright's sync API runs an event loop in this thread; the live server's
    # database work happens in its own thread.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


def _messages() -> list[OutboxMessage]:
    UserFactory(discord__discord_id=PLAYER_USER_ID, discord__global_name=LONG[:64])
    url = "https://daylock.example/prizes/draws/7/?" + "x" * 200
    posts = [
        messages.entries_closed(
            event_name=LONG,
            prize_name=LONG,
            seed_hash="a" * 64,
            entrants_hash="b" * 64,
            entrant_count=1234,
            url=url,
            closed_at=AT,
            simulated=True,
        ),
        messages.draw_winners(
            event_name=LONG,
            prize_name="Keys",
            winners=[messages.Winner(1, PLAYER_USER_ID, "")],
            entrant_count=1234,
            url=url,
            drawn_at=AT,
            simulated=True,
        ),
        messages.reroll(
            prize_name=LONG,
            replaced_rank=1,
            status_label="Declined",
            reason="no-answer-" * 80,
            new_winner=messages.Winner(2, PLAYER_USER_ID, ""),
            url=url,
            rerolled_at=AT,
            simulated=True,
        ),
    ]
    rows = [
        outbox_enqueue(kind="channel_message", channel_id=ANNOUNCE, **post.outbox_fields())
        for post in posts
    ]
    rows.append(
        outbox_enqueue(kind="role_grant", recipient_id=PLAYER_USER_ID, role_id=WINNER_ROLE_ID)
    )
    for row in rows:
        delivery.deliver(row.pk)  # staging: captured
    return rows


def _logged_in(browser: Browser, live_url: str, width: int, **options: Any) -> Page:
    staff = User.objects.create_user(
        username=f"mod{width}{len(options)}", password="pw", role=Role.MODERATOR
    )
    client = Client()
    client.force_login(staff)
    context = browser.new_context(
        base_url=live_url, viewport={"width": width, "height": 900}, **options
    )
    host = live_url.split("://", 1)[1].split(":")[0]
    cookie = settings.SESSION_COOKIE_NAME
    context.add_cookies(
        [
            {
                "name": cookie,
                "value": client.cookies[cookie].value,
                "domain": host,
                "path": "/",
            }
        ]
    )
    return context.new_page()


def test_the_outbox_pages_fit_a_phone_and_pass_axe(
    chromium: Browser, live_server: Any, daylock_discord: RunningEmulator
) -> None:
    daylock_discord.reset(default_config(channels=[GuildChannel(ANNOUNCE, "announcements")]))
    try:
        rows = _messages()
        _check(
            chromium, live_server.url, ["/staff/outbox/", *[f"/staff/outbox/{r.pk}/" for r in rows]]
        )
    finally:
        # With Playwright's loop running, this test's database connection is not the one
        # pytest-django closes afterwards: close it, or the test database cannot be dropped.
        connections.close_all()


def _check(chromium: Browser, live_url: str, paths: list[str]) -> None:
    for width in WIDTHS:
        page = _logged_in(chromium, live_url, width)
        violations: list[str] = []

        def note_csp(message: Any, found: list[str] = violations) -> None:
            if "Content Security Policy" in message.text:
                found.append(message.text)

        page.on("console", note_csp)
        for path in paths:
            response = page.goto(path)
            assert response is not None and response.status == 200, path
            overflow = page.evaluate(
                "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{path} at {width}px: {overflow}px of horizontal overflow"
            if path != "/staff/outbox/" and page.locator(".dc-embed").count():
                stripe = page.eval_on_selector(
                    ".dc-embed", "e => getComputedStyle(e).borderLeftWidth"
                )
                assert stripe == "4px", "discord.css is not applied"
                raw = page.locator("details.dc-raw")
                assert raw.count() == 1 and not raw.get_attribute("open")
                raw.locator("summary").click()  # one click: the payload
                assert page.locator(".dc-raw-json").is_visible()
                overflow = page.evaluate(
                    "() => document.documentElement.scrollWidth"
                    " - document.documentElement.clientWidth"
                )
                assert overflow <= 0, f"{path} at {width}px, payload open: {overflow}px"
        assert violations == []
        page.context.close()

    axe_page = _logged_in(chromium, live_url, 390, bypass_csp=True)
    for path in paths:
        axe_page.goto(path)
        results = Axe().run(axe_page)
        serious = [
            f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:5]}"
            for v in results.response["violations"]
            if v["impact"] in {"critical", "serious"}
        ]
        assert serious == [], path
    axe_page.context.close()
