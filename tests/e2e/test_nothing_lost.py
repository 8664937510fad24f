"""Issue 16 item 4 in a real browser (Chromium, 390 px wide, on the staging instance):
a wrong answer stays in its field with the error announced next to it and focus on the
field; an answer submitted after the session expired — and after every cookie was
cleared, so the CSRF check fails too — comes back after the Discord login in its field,
with a note. The browser's own ``Origin`` header is what lets the second one through.

axe-core runs on those states, limited to the challenge sections this feature renders
(the page frame is checked by the accessibility walk of ``make e2e``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect

from daylock.testing.discord_emulator.config import SECOND_PLAYER_USER_ID
from tests.e2e.conftest import Instances
from tests.e2e.harness import Instance

pytestmark = pytest.mark.e2e

DAY = "/events/staging-running/day/1/"
SESSION_COOKIE = "daylock_staging_session"


def log_in(page: Page, staging: Instance) -> None:
    """From the login page (with its ``next``): Discord's consent as the second player."""
    page.get_by_role("button", name="Log in with Discord").click()
    page.wait_for_url(f"{staging.emulator_url}/**")
    page.check(f"input[name=user_id][value='{SECOND_PLAYER_USER_ID}']")
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{staging.public_url}{DAY}**")


def checked(page: Page) -> None:
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{page.url}: {overflow}px of horizontal overflow"
    results = Axe().run(page, context="section.challenge")
    serious = [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:5]}"
        for v in results.response["violations"]
        if v["impact"] in {"critical", "serious"}
    ]
    assert not serious, serious


def submit_veteran(page: Page, text: str) -> None:
    veteran = page.locator("section.challenge#veteran")
    veteran.locator("input[name=answer]").fill(text)
    veteran.get_by_role("button", name="Submit veteran answer").click()


def expect_kept(page: Page, text: str, note: str) -> None:
    veteran = page.locator("section.challenge#veteran")
    field = veteran.locator("input[name=answer]")
    expect(field).to_have_value(text)
    expect(field).to_be_focused()
    expect(veteran.locator(".kept-note")).to_contain_text(note)


def save_failure(artifacts: Path, context: BrowserContext) -> None:
    for p, open_page in enumerate(context.pages):
        stem = artifacts / f"FAILED-nothing-lost-page{p}"
        with contextlib.suppress(Exception):
            open_page.screenshot(path=f"{stem}.png", full_page=True)
            Path(f"{stem}.html").write_text(open_page.content())


def test_nothing_typed_is_lost(instances: Instances, browser: Browser, artifacts: Path) -> None:
    staging = instances.staging
    # bypass_csp: axe-core is injected by the test (the pages' CSP is tested elsewhere).
    context = browser.new_context(
        base_url=staging.public_url, viewport={"width": 390, "height": 844}, bypass_csp=True
    )
    try:
        page = context.new_page()
        page.goto(f"/auth/login/?next={DAY}")
        log_in(page, staging)

        # A wrong answer: kept, announced next to the field, focus on it.
        submit_veteran(page, "not it (e2e)")
        veteran = page.locator("section.challenge#veteran")
        expect(veteran.get_by_role("alert")).to_contain_text("Not quite")
        field = veteran.locator("input[name=answer]")
        expect(field).to_have_value("not it (e2e)")
        expect(field).to_be_focused()
        expect(field).to_have_attribute("aria-describedby", "id_veteran_answer_error")
        checked(page)
        page.screenshot(path=str(artifacts / "lost-01-wrong-answer.png"), full_page=True)

        # The session expires while the tab is open; the answer is typed and sent.
        context.clear_cookies(name=SESSION_COOKIE)
        submit_veteran(page, "typed after expiry (e2e)")
        page.wait_for_url(f"{staging.public_url}/auth/login/**")
        expect(page.locator(".messages")).to_contain_text("Your session expired")
        log_in(page, staging)
        expect_kept(page, "typed after expiry (e2e)", "Your session expired")
        checked(page)
        page.screenshot(path=str(artifacts / "lost-02-kept-after-login.png"), full_page=True)

        # Every cookie cleared (the CSRF check fails as well): still kept.
        context.clear_cookies()
        submit_veteran(page, "typed after clearing cookies (e2e)")
        page.wait_for_url(f"{staging.public_url}/auth/login/**")
        log_in(page, staging)
        expect_kept(page, "typed after clearing cookies (e2e)", "Your session expired")
    except Exception:
        save_failure(artifacts, context)
        raise
    finally:
        context.close()
