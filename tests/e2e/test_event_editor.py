"""Issue 14's check of the event editor, in the browser, on the staging instance of the
end-to-end run: a seeded admin logs in through staging's Discord (its emulator) and
creates a 7-day event with both challenges per day, picks a completion role by name,
pastes 20 prize codes (a duplicate first: refused next to the field with its line
number), and previews a locked day — in under 30 page actions. A moderator gets 403 on
every one of those pages. Every editor page has no horizontal overflow at 390 px and
1280 px and no critical or serious axe-core violation.

A *page action* is what a person does besides typing: loading a page, clicking a button
or link, choosing an option, ticking a box. Typing into a field (``fill``) is not
counted; the issue's complaint was page loads (a 3-day event took 9) and raw ids.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect

from daylock.testing.discord_emulator.config import (
    ADMIN_USER_ID,
    MODERATOR_USER_ID,
    WINNER_ROLE_ID,
)
from tests.e2e.browser import (
    assert_staging_banner,
    axe_serious,
    no_horizontal_overflow,
    save_failure,
    shot,
)
from tests.e2e.conftest import Instances
from tests.e2e.harness import Instance, production_fingerprint
from tests.e2e.test_staging_flow import assert_production_untouched

pytestmark = pytest.mark.e2e

SLUG = "browser-riddles"
MAX_ACTIONS = 30
WIDTHS = (390, 1280)
CODES = [f"BROWSER-{n:02d}" for n in range(1, 21)]


class Actions:
    """The page, with every page action counted (see the module's docstring)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.count = 0
        self.log: list[str] = []

    def _did(self, what: str) -> None:
        self.count += 1
        self.log.append(what)

    def goto(self, path: str) -> None:
        self._did(f"load {path}")
        self.page.goto(path)

    def click(self, role: str, name: str, *, within: Any = None) -> None:
        self._did(f"click {role} {name!r}")
        (within or self.page).get_by_role(role, name=name, exact=True).click()

    def select(self, label: str, option: str) -> None:
        self._did(f"choose {option!r} in {label!r}")
        self.page.get_by_label(label, exact=True).select_option(label=option)

    def check(self, selector: str) -> None:
        self._did(f"tick {selector}")
        self.page.check(selector)

    def type(self, label: str, text: str, *, within: Any = None) -> None:
        """Typing: not a page action."""
        (within or self.page).get_by_label(label, exact=True).fill(text)


def login(actions: Actions, staging: Instance, user_id: str, next_path: str) -> None:
    """Log in through staging's own Discord (the emulator's consent page): 4 actions."""
    actions.goto(f"/auth/login/?next={next_path}")
    assert_staging_banner(actions.page)
    actions.click("button", "Log in with Discord")
    actions.page.wait_for_url(f"{staging.emulator_url}/**")
    actions.check(f"input[name=user_id][value='{user_id}']")
    actions.click("button", "Authorize")
    actions.page.wait_for_url(f"{staging.public_url}/**")


def db_rows(staging: Instance, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(staging.database_url) as conn:
        return list(conn.execute(sql, args).fetchall())


def test_an_admin_authors_a_week_long_event_in_under_30_page_actions(
    instances: Instances, browser: Browser, artifacts: Path
) -> None:
    production, staging = instances.production, instances.staging
    before = production_fingerprint(production)
    # bypass_csp: axe-core is injected into the page by the test (the pages' own CSP is
    # checked by tests/core/test_csp.py and the other browser tests).
    admin_ctx = browser.new_context(
        base_url=staging.public_url, viewport={"width": 1280, "height": 900}, bypass_csp=True
    )
    moderator_ctx = browser.new_context(base_url=staging.public_url)
    try:
        admin = Actions(admin_ctx.new_page())
        page = admin.page
        login(admin, staging, ADMIN_USER_ID, "/staff/events/new/")
        expect(page.get_by_role("heading", name="New event")).to_be_visible()
        assert page.locator("fieldset.day").count() == 7, "a new event starts with 7 days"

        # The event: starts in 3 days (every day locked), a role picked by name.
        editor = page.locator("form#event-editor")
        admin.type("Name", "Browser riddles", within=editor)
        admin.type("Slug", SLUG, within=editor)
        starts = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=3)).isoformat()
        admin.type("First day", starts, within=editor)
        admin.type("Number of days", "7", within=editor)
        admin.select("Role for a normal completion", "Event Winner")
        for number in range(1, 8):
            day = page.locator(f"fieldset#day-{number}")
            admin.type("Title", f"Riddle {number}", within=day)
            admin.type("Text (Markdown)", f"What comes **{number}**?", within=day)
            admin.type("Normal challenge", f"Normal riddle {number}", within=day)
            admin.type("Normal answer", f"normal-{number}", within=day)
            admin.type("Veteran challenge", f"Veteran riddle {number}", within=day)
            admin.type("Veteran answer", f"veteran-{number}", within=day)
        shot(page, artifacts, "editor-01-new-event-filled")
        admin.click("button", "Create event")
        expect(page.get_by_text("created with 7 days")).to_be_visible()
        expect(page.get_by_role("heading", name="Edit “Browser riddles”")).to_be_visible()
        shot(page, artifacts, "editor-02-event-created")

        # A prize with 20 codes pasted; a duplicate first, refused next to the field.
        admin.click("link", "Add a prize")
        admin.type("Name", "Browser finisher code")
        admin.select("Fulfilment", "Code reveal")
        admin.type("Add codes", "\n".join([*CODES[:19], CODES[2]]) + "\n")
        admin.click("button", "Create prize")
        codes = page.get_by_label("Add codes", exact=True)
        expect(codes).to_have_attribute("aria-invalid", "true")
        error = page.locator("#id_codes_error")
        expect(error).to_contain_text("line 20: “BROWSER-03” is also on line 3; keep one")
        assert "id_codes_error" in (codes.get_attribute("aria-describedby") or "")
        shot(page, artifacts, "editor-03-duplicate-code-refused")
        admin.type("Add codes", "\n".join(CODES) + "\n\n")
        admin.click("button", "Create prize")
        expect(page.get_by_text("20 code(s) added")).to_be_visible()

        # Preview a locked day as players will see it.
        admin.click("link", "Preview day 5")
        expect(page.locator(".preview-banner")).to_contain_text("locked for players until")
        expect(page.get_by_role("heading", name="Day 5 — Riddle 5")).to_be_visible()
        expect(page.locator("main")).to_contain_text("Veteran riddle 5")
        expect(page.locator("main")).not_to_contain_text("veteran-5")
        assert page.locator("input[name=answer]").count() == 0
        assert page.locator("main form").count() == 0
        shot(page, artifacts, "editor-04-preview-locked-day")

        assert admin.count < MAX_ACTIONS, admin.log
        (artifacts / "editor-page-actions.txt").write_text(
            f"{admin.count} page actions\n" + "\n".join(admin.log) + "\n"
        )

        # What the browser made is what the database holds.
        ((event_id, role_id, day_count),) = db_rows(
            staging,
            "SELECT id, completion_role_normal_id, day_count FROM events_event WHERE slug = %s",
            SLUG,
        )
        assert (role_id, day_count) == (WINNER_ROLE_ID, 7)
        challenges = db_rows(
            staging,
            "SELECT d.number, c.tier, c.answer FROM events_challenge c "
            "JOIN events_day d ON d.id = c.day_id WHERE d.event_id = %s ORDER BY 1, 2",
            event_id,
        )
        assert len(challenges) == 14
        assert challenges[-1] == (7, "veteran", "veteran-7")
        stored = db_rows(
            staging,
            "SELECT pc.code FROM prizes_prizecode pc JOIN prizes_prize p ON p.id = pc.prize_id "
            "WHERE p.event_id = %s ORDER BY pc.code",
            event_id,
        )
        assert [code for (code,) in stored] == CODES
        previews = db_rows(
            staging,
            "SELECT details FROM core_auditlog WHERE action = 'editor.day_preview' AND target = %s",
            f"event:{SLUG}",
        )
        assert previews and previews[-1][0] == {"day": 5, "locked": True}

        # Every editor page: no horizontal overflow, no critical/serious axe violation.
        ((prize_id,),) = db_rows(
            staging, "SELECT id FROM prizes_prize WHERE event_id = %s", event_id
        )
        pages = [
            "/staff/events/",
            "/staff/events/new/",
            f"/staff/events/{SLUG}/edit/",
            f"/staff/events/{SLUG}/prizes/new/",
            f"/staff/events/{SLUG}/prizes/{prize_id}/edit/",
            f"/staff/events/{SLUG}/preview/5/",
        ]
        problems: list[str] = []
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            for path in pages:
                page.goto(path)
                assert_staging_banner(page)
                no_horizontal_overflow(page)
                problems += [f"{path} at {width}px: {p}" for p in axe_serious(page)]
            shot(page, artifacts, f"editor-05-preview-{width}px")
        page.goto(f"/staff/events/{SLUG}/edit/")
        shot(page, artifacts, "editor-06-edit-390px")
        assert not problems, "\n".join(problems)

        # A moderator can do none of it.
        moderator = Actions(moderator_ctx.new_page())
        login(moderator, staging, MODERATOR_USER_ID, "/")
        for path in pages:
            response = moderator.page.goto(path)
            assert response is not None and response.status == 403, path
            expect(moderator.page.locator("main")).to_contain_text("you need the admin role")
        shot(moderator.page, artifacts, "editor-07-moderator-refused")
    except Exception:
        save_failure(artifacts, admin_ctx, moderator_ctx)
        raise
    finally:
        admin_ctx.close()
        moderator_ctx.close()
    assert_production_untouched(before, production, staging)
