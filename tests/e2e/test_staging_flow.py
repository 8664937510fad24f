"""The staging promise, end to end: a staging instance is used for everything a tester
does, in a real browser, while a production instance runs next to it — and afterwards
production's tables, Redis keys and Discord have not changed by a single byte.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Browser, expect

from daylock.testing.discord_emulator.config import ADMIN_USER_ID, PLAYER_USER_ID
from tests.e2e.browser import (
    assert_staging_banner,
    challenge_answer,
    discord_login,
    save_failure,
    shot,
)
from tests.e2e.conftest import Instances
from tests.e2e.harness import (
    Fingerprint,
    Instance,
    only_its_own_identity_checks,
    production_fingerprint,
)

pytestmark = pytest.mark.e2e

#: The seeded staging event that is running now, and its normal-tier prize.
RUNNING = "staging-running"
PRIZE = "Finisher code (test)"
TESTTOOLS_PATHS = ("/staff/testtools/", "/staff/testtools/clock/", "/staff/testtools/anything")


def assert_testtools_absent(production: Instance) -> None:
    for path in TESTTOOLS_PATHS:
        response = production.get(path)
        assert response.status_code == 404, (path, response.status_code)


def assert_production_untouched(
    before: Fingerprint, production: Instance, staging: Instance
) -> None:
    after = production_fingerprint(production)
    changed = {
        table: (before.tables.get(table), digest)
        for table, digest in after.tables.items()
        if before.tables.get(table) != digest
    }
    assert not changed, f"production tables changed: {changed}"
    assert set(before.tables) == set(after.tables)
    assert after.redis == before.redis, "production Redis keys or values changed"
    assert after.discord_requests == before.discord_requests, "production Discord was called"
    # Nothing staging knows may ever have reached production's Discord.
    record = repr(after.discord_requests)
    for marker in (
        staging.env["DISCORD_CLIENT_ID"],
        staging.env["DISCORD_BOT_TOKEN"],
        staging.public_url,
    ):
        assert marker not in record


def test_staging_flow_leaves_production_untouched(
    instances: Instances, browser: Browser, artifacts: Path
) -> None:
    production, staging = instances.production, instances.staging
    assert_testtools_absent(production)
    before = production_fingerprint(production)
    assert before.tables, "production has no tables: was it migrated?"
    assert only_its_own_identity_checks(before.discord_requests), before.discord_requests
    staging_discord_before = len(staging.emulator_requests())

    player_ctx = browser.new_context(base_url=staging.public_url)
    staff_ctx = browser.new_context(base_url=staging.public_url)
    production_ctx = browser.new_context(base_url=production.public_url, ignore_https_errors=True)
    try:
        # (a) The staging home page carries the STAGING banner; production's has none.
        page = player_ctx.new_page()
        page.goto("/")
        assert_staging_banner(page)
        shot(page, artifacts, "01-staging-home")
        prod_page = production_ctx.new_page()
        prod_page.goto("/")
        expect(prod_page.locator("body")).to_be_visible()
        assert prod_page.locator(".env-banner").count() == 0
        assert "STAGING" not in prod_page.content()
        shot(prod_page, artifacts, "01-production-home")
        prod_page.close()
        # Staging mounts its test utilities (for staff: anonymous users are sent away).
        assert staging.get("/staff/testtools/").status_code in {302, 403}
        assert_testtools_absent(production)

        # (b) A player logs in through staging's emulator, plays day 1, leaves feedback.
        day1 = f"/events/{RUNNING}/day/1/"
        page.goto(f"/auth/login/?next={day1}")
        page.get_by_role("button", name="Log in with Discord").click()
        page.wait_for_url(f"{staging.emulator_url}/**")
        assert production.emulator_url not in page.url
        expect(page.get_by_role("button", name="Authorize")).to_be_visible()
        shot(page, artifacts, "02-staging-discord-consent")
        page.check(f"input[name=user_id][value='{PLAYER_USER_ID}']")
        page.get_by_role("button", name="Authorize").click()
        page.wait_for_url(f"{staging.public_url}{day1}**")
        assert_staging_banner(page)
        # Named as Discord shows them (no nickname: the display name), with the avatar
        # staging's emulator serves as Discord's CDN (the CSP allows its origin).
        expect(page.locator(".site-header .who")).to_have_text("Pat Player")
        avatar = page.locator(".site-header .who img.avatar")
        expect(avatar).to_have_attribute("src", re.compile(f"^{re.escape(staging.emulator_url)}/"))
        assert avatar.evaluate("img => img.complete && img.naturalWidth > 0")
        # A new player's way in: home → today's day of the running event in one click.
        page.goto("/")
        running = page.locator(f"li.event-card[data-event={RUNNING}]")
        running.get_by_role("link", name=re.compile(r"^Day \d+ of .+ is open$")).click()
        page.wait_for_url(re.compile(rf"/events/{RUNNING}/day/\d+/$"))
        page.goto(day1)
        normal = page.locator("section.challenge#normal")
        normal.locator("input[name=answer]").fill("certainly not the answer")
        normal.get_by_role("button", name="Submit normal answer").click()
        expect(page.locator("section.challenge#normal").get_by_role("alert")).to_contain_text(
            "Not quite"
        )
        shot(page, artifacts, "03-day1-wrong-answer")
        normal = page.locator("section.challenge#normal")
        normal.locator("input[name=answer]").fill(challenge_answer(staging, RUNNING, 1, "normal"))
        normal.get_by_role("button", name="Submit normal answer").click()
        expect(page.locator(".messages")).to_contain_text("Correct!")
        expect(page.locator("section.challenge#normal .badge")).to_contain_text("solved")
        shot(page, artifacts, "04-day1-solved")
        # The leaderboard lists the player once they solved something.
        page.goto(f"/events/{RUNNING}/leaderboard/")
        expect(page.locator("tr[data-you=true]")).to_be_visible()
        # The event page tells them, before the draw, whether they qualify and why.
        page.goto(f"/events/{RUNNING}/")
        card = page.locator("li.prize-card").filter(has_text=PRIZE)
        expect(card).to_have_attribute("data-eligible", "false")
        expect(card.locator(".eligibility-reason")).to_contain_text("you")
        page.goto(day1)
        page.get_by_role("link", name="Rate this day").click()
        assert_staging_banner(page)
        page.check("input[name=rating][value='4']")
        page.fill("textarea[name=comment]", "Nice warm-up puzzle (e2e).")
        page.get_by_role("button", name="Save feedback").click()
        page.goto(f"/events/{RUNNING}/day/1/feedback/")
        expect(page.locator(".existing-feedback")).to_contain_text("4/5")
        shot(page, artifacts, "05-day1-feedback")

        # (c) Staff: move the clock past the event, complete it for the player, close
        # entries and run the draw (simulated).
        staff = staff_ctx.new_page()
        discord_login(staff, staging, ADMIN_USER_ID, "/staff/testtools/")
        staff.goto("/staff/testtools/")
        expect(staff.get_by_role("heading", name="Test utilities")).to_be_visible()
        assert_staging_banner(staff)
        clock = staff.locator("section.testtools-clock form")
        clock.get_by_label("Action:").select_option("forward")
        clock.get_by_label("Forward:").fill("5d")
        clock.get_by_role("button", name="Apply").click()
        expect(staff.locator("section.testtools-clock table")).to_contain_text("environment")
        shot(staff, artifacts, "06-staff-clock-moved")
        complete = staff.locator("section.testtools-complete form")
        complete.get_by_label("User:").fill("pat")
        complete.get_by_label("Event:").select_option(RUNNING)
        complete.get_by_label("Tier:").select_option("normal")
        complete.get_by_role("button", name="Mark completed").click()
        expect(staff.locator("section.testtools-audit")).to_contain_text("pat")
        shot(staff, artifacts, "07-staff-player-completed")
        staff.goto(f"/prizes/staff/events/{RUNNING}/")
        assert_staging_banner(staff)
        staff.get_by_role("link", name=PRIZE).first.click()
        # Entries close only with guild membership freshly synced from staging's Discord
        # (the worker syncs every 10 minutes; staff can sync at once).
        staff.get_by_role("button", name="Sync members now").click()
        expect(staff.locator(".messages")).to_contain_text("Guild membership synced")
        staff.get_by_role("button", name="Close entries", exact=True).click()
        expect(staff.locator("[data-draw-status]")).to_be_visible()
        shot(staff, artifacts, "08-staff-entries-closed")
        staff.get_by_role("button", name="Run the draw").click()
        expect(staff.locator(".badge.simulated").first).to_be_visible()
        expect(staff.locator("tr[data-winner]")).to_contain_text("pat")
        assert_staging_banner(staff)
        shot(staff, artifacts, "09-staff-draw-run")

        # The player sees the prize, marked simulated, with no real code.
        page.goto("/prizes/mine/")
        assert_staging_banner(page)
        prize = page.locator("section.my-prize").filter(has_text=PRIZE)
        expect(prize.locator("[data-simulated=true]")).to_be_visible()
        code = prize.locator("code.prize-code")
        if code.count():
            assert code.get_attribute("data-placeholder") == "true"
        shot(page, artifacts, "10-player-simulated-prize")
        # After the draw, the event page shows their entry (entrants.txt lists them)
        # and links to the result.
        page.goto(f"/events/{RUNNING}/")
        card = page.locator("li.prize-card").filter(has_text=PRIZE)
        expect(card).to_have_attribute("data-listed", "true")
        expect(card.locator("code.entrant-id")).to_be_visible()
        card.get_by_role("link", name="Public draw page: the results").click()
        page.wait_for_url(re.compile(r"/prizes/draws/\d+/$"))
        shot(page, artifacts, "10b-player-draw-result")

        # The announcement is captured by staging's outbox (delivered by the worker).
        staff.goto("/staff/outbox/")
        rows = staff.locator("table.outbox tr[data-outbox-id]")
        expect(rows.first).to_be_visible()
        deadline = time.monotonic() + 30
        while staff.locator("tr[data-status=queued], tr[data-status=pending]").count():
            assert time.monotonic() < deadline, "the staging worker did not process the outbox"
            time.sleep(0.5)
            staff.reload()
        assert_staging_banner(staff)
        mine = rows.filter(has_text=f"user:{PLAYER_USER_ID}")
        expect(mine.first).to_have_attribute("data-status", "captured")
        statuses = set(rows.evaluate_all("rows => rows.map(r => r.dataset.status)"))
        assert statuses, "no outbox rows"
        assert statuses <= {"captured", "blocked"}, statuses
        shot(staff, artifacts, "11-staff-outbox-captured")
        # Capture means nothing left: staging's own Discord got no bot message either.
        assert staging.emulator_messages() == []
        assert_testtools_absent(production)
        staging.assert_running()
        production.assert_running()
    except BaseException:
        save_failure(artifacts, player_ctx, staff_ctx, production_ctx)
        raise
    finally:
        player_ctx.close()
        staff_ctx.close()
        production_ctx.close()

    # (d) `daylock reset --yes` from the command line; the site comes back seeded.
    reset = staging.daylock("reset", "--yes")
    assert reset.returncode == 0, reset.stderr[-3000:]
    fresh_ctx = browser.new_context(base_url=staging.public_url)
    try:
        page = fresh_ctx.new_page()
        for index, path in enumerate(
            ("/", "/events/", f"/events/{RUNNING}/", f"/events/{RUNNING}/day/1/", "/auth/login/"),
            start=1,
        ):
            response = page.goto(path)
            assert response is not None and response.status == 200, (path, response)
            assert_staging_banner(page)
            shot(page, artifacts, f"12-after-reset-{index}")
        expect(page.locator("body")).to_be_visible()
        page.goto(f"/events/{RUNNING}/")
        expect(page.locator("main")).to_contain_text("Staging Puzzle Week")
        # The reset wiped the player's progress and the moved clock.
        with psycopg.connect(staging.database_url) as conn:
            assert conn.execute("SELECT count(*) FROM core_clockoverride").fetchone() == (0,)
            assert conn.execute(
                "SELECT count(*) FROM accounts_user WHERE username = 'pat'"
            ).fetchone() == (0,)
    finally:
        fresh_ctx.close()

    assert_testtools_absent(production)
    assert_production_untouched(before, production, staging)
    assert len(staging.emulator_requests()) > staging_discord_before  # staging used its own
    production.assert_running()
    # Last, so every check above has run: the staging web server and outbox worker must
    # survive a reset (an operator resets staging while it is serving).
    staging.assert_running()
