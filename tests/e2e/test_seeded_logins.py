"""Staging QA logs in as a seeded account from staging's Discord consent page — the
emulator exactly as the harness starts it (``daylock emulator``, nothing edited) — by
keyboard, and Daylock treats the login as it treats a real one: the seeded admin lands
on the test utilities, the banned account is refused with its message."""

from __future__ import annotations

from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from daylock import seeded_accounts
from tests.e2e.conftest import Instances
from tests.e2e.harness import Instance

pytestmark = pytest.mark.e2e

ADMIN = seeded_accounts.ROSTER[0]
BANNED = next(a for a in seeded_accounts.ROSTER if a.banned)
SERIOUS = {"critical", "serious"}
GROUPS = ("Admins", "Moderators", "Players", "Banned in Daylock", "Not in the server")


def open_consent_page(page: Page, staging: Instance, next_path: str) -> None:
    page.goto(f"/auth/login/?next={next_path}")
    page.get_by_role("button", name="Log in with Discord").click()
    page.wait_for_url(f"{staging.emulator_url}/**")


def test_staging_qa_logs_in_as_the_seeded_admin_by_keyboard(
    instances: Instances, browser: Browser, artifacts: Path
) -> None:
    staging = instances.staging
    assert ADMIN.role == seeded_accounts.ADMIN
    context = browser.new_context(base_url=staging.public_url)
    try:
        page = context.new_page()
        open_consent_page(page, staging, "/staff/testtools/")
        for group in GROUPS:
            expect(page.get_by_role("group", name=group)).to_be_visible()
        admins = page.get_by_role("group", name="Admins")
        expect(
            admins.get_by_role("button", name=f"Log in as {ADMIN.username}")
        ).to_have_accessible_description(f"{ADMIN.display_name} · {ADMIN.story}")
        page.screenshot(path=str(artifacts / "qa-01-consent-seeded-accounts.png"), full_page=True)
        violations = Axe().run(page).response["violations"]
        serious = [(v["id"], v["impact"]) for v in violations if v["impact"] in SERIOUS]
        assert serious == [], serious
        # Keyboard only: the first control on the page is the seeded admin's button.
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.textContent")
        assert focused == f"Log in as {ADMIN.username}", focused
        page.keyboard.press("Enter")
        page.wait_for_url(f"{staging.public_url}/staff/testtools/**")
        expect(page.get_by_role("heading", name="Test utilities")).to_be_visible()
        expect(page.locator(".site-header")).to_contain_text(ADMIN.display_name)
        page.screenshot(path=str(artifacts / "qa-02-seeded-admin-testtools.png"), full_page=True)
    finally:
        context.close()

    # The banned seeded account: same page, one click, refused by Daylock.
    context = browser.new_context(base_url=staging.public_url)
    try:
        page = context.new_page()
        open_consent_page(page, staging, "/")
        banned = page.get_by_role("group", name="Banned in Daylock")
        banned.get_by_role("button", name=f"Log in as {BANNED.username}").click()
        page.wait_for_url(f"{staging.public_url}/**")
        expect(page.get_by_role("heading", name="Login failed")).to_be_visible()
        expect(page.locator("[data-failure=banned]")).to_have_text(
            "This account is banned from Daylock."
        )
        expect(page.locator(".site-header")).not_to_contain_text(BANNED.display_name)
        page.screenshot(path=str(artifacts / "qa-03-seeded-banned-refused.png"), full_page=True)
    finally:
        context.close()
    staging.assert_running()
