"""Issue 6's tester check, in the browser, on the staging instance of the end-to-end run
(production serving next to it): staff move the clock forward one day with the test
utilities page and the next locked day of ``staging-running`` opens; staff mark a
player veteran-complete and the player becomes eligible for the event's veteran-only
prize. Production's tables, Redis keys and Discord do not change by a byte.

Where eligibility shows: the test reads the profile's completion (the rule of a
veteran-only prize) and, decisively, the prize's entrant list once staff close its
entries (``entrants.txt`` on the public draw page) — exactly the eligible users. (The
event page and My prizes also say whether and why a player qualifies; their own tests
are tests/prizes/test_entries.py.)
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect

from daylock.testing.discord_emulator.config import ADMIN_USER_ID, PLAYER_USER_ID
from tests.e2e.browser import assert_staging_banner, discord_login, save_failure, shot
from tests.e2e.conftest import Instances
from tests.e2e.harness import Instance, only_its_own_identity_checks, production_fingerprint
from tests.e2e.test_staging_flow import (
    RUNNING,
    assert_production_untouched,
    assert_testtools_absent,
)

pytestmark = pytest.mark.e2e

#: The seed's veteran-only prize of the running event (src/daylock/staging/seed_prizes.py).
VETERAN_PRIZE = "Veteran role (test)"
PLAYER = "pat"


def day_titles(staging: Instance, slug: str) -> dict[int, str]:
    with psycopg.connect(staging.database_url) as conn:
        rows = conn.execute(
            "SELECT d.number, d.title FROM events_day d JOIN events_event e ON e.id = d.event_id "
            "WHERE e.slug = %s ORDER BY d.number",
            (slug,),
        ).fetchall()
    return {int(number): str(title) for number, title in rows}


def user_id(staging: Instance, username: str) -> int:
    with psycopg.connect(staging.database_url) as conn:
        row = conn.execute(
            "SELECT id FROM accounts_user WHERE username = %s", (username,)
        ).fetchone()
    assert row is not None, f"no user {username!r} on staging"
    return int(row[0])


def calendar_states(page: Page) -> dict[int, str]:
    rows = page.locator("table.calendar tr[data-day]").evaluate_all(
        "rows => rows.map(r => [Number(r.dataset.day), r.dataset.state])"
    )
    return {int(number): str(state) for number, state in rows}


def status_of(page: Page, path: str) -> int:
    response = page.goto(path)
    assert response is not None, path
    return response.status


def test_testtools_open_a_day_and_make_a_veteran_eligible(
    instances: Instances, browser: Browser, artifacts: Path
) -> None:
    production, staging = instances.production, instances.staging
    # Starts from the seeded data set on wall time (the session's seed, or the staging
    # flow's closing reset); the calendar and the clock section check that below.
    assert_testtools_absent(production)
    before = production_fingerprint(production)
    assert only_its_own_identity_checks(before.discord_requests), before.discord_requests
    titles = day_titles(staging, RUNNING)
    calendar = f"/events/{RUNNING}/"

    player_ctx = browser.new_context(base_url=staging.public_url)
    staff_ctx = browser.new_context(base_url=staging.public_url)
    try:
        # (a) The player's calendar: the seed opens the running event up to day 4 (day 5
        # too from 00:00 Berlin until 00:00 UTC, since the seed anchors on the UTC day).
        page = player_ctx.new_page()
        discord_login(page, staging, PLAYER_USER_ID, calendar)
        page.goto(calendar)
        assert_staging_banner(page)
        states = calendar_states(page)
        locked = sorted(number for number, state in states.items() if state == "locked")
        assert locked, f"no locked day on {RUNNING}: {states}"
        next_day = locked[0]
        assert next_day in {5, 6}, states
        assert all(states[n] != "locked" for n in range(1, next_day)), states
        assert locked == list(range(next_day, len(titles) + 1)), states
        title = titles[next_day]
        locked_row = page.locator(f"table.calendar tr[data-day='{next_day}']")
        expect(locked_row).to_contain_text("locked")
        expect(page.locator("main")).not_to_contain_text(title)
        shot(page, artifacts, "tt-01-calendar-before-clock-move")
        next_path = f"{calendar}day/{next_day}/"
        assert status_of(page, next_path) == 404
        expect(page.locator("body")).not_to_contain_text(title)
        shot(page, artifacts, f"tt-02-day{next_day}-404-before")

        # (b) Staff move the environment clock forward one day (test utilities page).
        staff = staff_ctx.new_page()
        discord_login(staff, staging, ADMIN_USER_ID, "/staff/testtools/")
        staff.goto("/staff/testtools/")
        expect(staff.get_by_role("heading", name="Test utilities")).to_be_visible()
        assert_staging_banner(staff)
        expect(staff.locator("section.testtools-clock")).to_contain_text("No clock is moved")
        clock = staff.locator("section.testtools-clock form")
        clock.get_by_label("Action:").select_option("forward")
        clock.get_by_label("Forward:").fill("1d")
        clock.get_by_role("button", name="Apply").click()
        expect(staff.locator(".messages")).to_contain_text("Clock of the environment moved to")
        clock_rows = staff.locator("section.testtools-clock table tbody tr")
        expect(clock_rows).to_have_count(1)
        expect(clock_rows.first).to_contain_text("environment")
        expect(clock_rows.first.locator("td").nth(1)).to_have_text("+1d")
        expect(staff.locator(".env-banner .clock-moved")).to_be_visible()
        expect(staff.locator("section.testtools-audit")).to_contain_text("clock")
        shot(staff, artifacts, "tt-03-staff-clock-forward-1d")

        # (c) The player now sees that day open: its page answers and shows its title;
        # the day after it (if any) is still locked — the clock moved one day, no more.
        page.goto(calendar)
        assert_staging_banner(page)
        expect(page.locator(".env-banner .clock-moved")).to_be_visible()
        after = calendar_states(page)
        assert after[next_day] == "open", after
        expect(page.get_by_role("link", name=f"Day {next_day} — {title}")).to_be_visible()
        if next_day + 1 in after:
            assert after[next_day + 1] == "locked", after
        shot(page, artifacts, "tt-04-calendar-after-clock-move")
        assert status_of(page, next_path) == 200
        assert_staging_banner(page)
        expect(page.get_by_role("heading", name=f"Day {next_day} — {title}")).to_be_visible()
        shot(page, artifacts, f"tt-05-day{next_day}-open-after")
        if next_day + 1 in after:
            assert status_of(page, f"{calendar}day/{next_day + 1}/") == 404

        # (d) Before: the player has no completion of the running event.
        page.goto("/events/profile/")
        assert_staging_banner(page)
        standing = page.locator(f"tr[data-event='{RUNNING}']")
        expect(standing.locator("[data-completion]")).to_have_attribute("data-completion", "none")
        shot(page, artifacts, "tt-06-profile-before-completion")

        # (e) Staff mark the player veteran-complete.
        staff.goto("/staff/testtools/")
        complete = staff.locator("section.testtools-complete form")
        complete.get_by_label("User:").fill(PLAYER)
        complete.get_by_label("Event:").select_option(RUNNING)
        complete.get_by_label("Tier:").select_option("veteran")
        complete.get_by_role("button", name="Mark completed").click()
        expect(staff.locator(".messages")).to_contain_text(
            f"{PLAYER} completed {RUNNING} at veteran tier"
        )
        expect(staff.locator("section.testtools-audit")).to_contain_text(PLAYER)
        assert_staging_banner(staff)
        shot(staff, artifacts, "tt-07-staff-marked-veteran")

        # (f) The profile shows the veteran completion (a veteran-only prize's rule).
        page.goto("/events/profile/")
        assert_staging_banner(page)
        standing = page.locator(f"tr[data-event='{RUNNING}']")
        days = len(titles)
        expect(standing.locator("td").nth(2)).to_have_text(f"{days}/{days}")
        expect(standing.locator("[data-completion]")).to_have_attribute(
            "data-completion", "veteran"
        )
        shot(page, artifacts, "tt-08-profile-veteran-complete")

        # (g) The event's veteran-only prize: closing its entries freezes exactly the
        # eligible users, and the player is among them.
        staff.goto(f"/prizes/staff/events/{RUNNING}/")
        assert_staging_banner(staff)
        prize_row = staff.locator("tr[data-prize]").filter(has_text=VETERAN_PRIZE)
        expect(prize_row).to_contain_text("Veteran completion")
        shot(staff, artifacts, "tt-09-staff-event-prizes")
        prize_row.get_by_role("link", name=VETERAN_PRIZE).click()
        assert_staging_banner(staff)
        staff.get_by_role("button", name="Sync members now").click()
        expect(staff.locator(".messages")).to_contain_text("Guild membership synced")
        # The clock moved one day: the running event's last days are still locked, so
        # closing is refused unless staff give a reason, which the draw page publishes.
        expect(staff.locator("[data-close-blockers]")).to_contain_text("still locked")
        staff.get_by_label("Reason for closing anyway").fill("e2e: closing early on purpose")
        staff.get_by_role("button", name="Close entries anyway").click()
        expect(staff.locator(".messages")).to_contain_text("Entries closed")
        expect(staff.locator("[data-draw-status]")).to_have_attribute("data-draw-status", "closed")
        shot(staff, artifacts, "tt-10-staff-veteran-prize-entries-closed")
        staff.locator("a[href^='/prizes/draws/']").first.click()
        assert_staging_banner(staff)
        expect(staff.locator("[data-simulated=true]")).to_be_visible()
        expect(staff.locator("[data-forced-close]")).to_contain_text("Entries closed early")
        expect(staff.locator("[data-forced-close]")).to_contain_text("closing early on purpose")
        shot(staff, artifacts, "tt-11-draw-commitment")
        entrants_link = staff.get_by_role("link", name="entrants.txt").first
        entrants_url = entrants_link.get_attribute("href")
        assert entrants_url
        response = staff.request.get(entrants_url)
        assert response.status == 200
        entrants = [int(line) for line in response.text().split()]
        assert user_id(staging, PLAYER) in entrants, entrants
        count = staff.locator("[data-field=entrant_count]")
        expect(count).to_have_text(str(len(entrants)))
        # A veteran-only list: every entrant solved every day at veteran tier.
        with psycopg.connect(staging.database_url) as conn:
            veterans = {
                int(row[0])
                for row in conn.execute(
                    "SELECT p.user_id FROM events_progress p "
                    "JOIN events_day d ON d.id = p.day_id "
                    "JOIN events_event e ON e.id = d.event_id "
                    "WHERE e.slug = %s AND p.tier = 'veteran' AND d.number <= e.day_count "
                    "GROUP BY p.user_id, e.day_count "
                    "HAVING count(DISTINCT d.number) = e.day_count",
                    (RUNNING,),
                ).fetchall()
            }
        assert set(entrants) <= veterans, sorted(set(entrants) - veterans)

        # (h) Back to wall time with the same page: the banner's clock notice goes.
        staff.goto("/staff/testtools/")
        clock = staff.locator("section.testtools-clock form")
        clock.get_by_label("Action:").select_option("reset")
        clock.get_by_role("button", name="Apply").click()
        expect(staff.locator(".messages")).to_contain_text("back to wall time")
        expect(staff.locator("section.testtools-clock")).to_contain_text("No clock is moved")
        expect(staff.locator(".env-banner .clock-moved")).to_have_count(0)
        assert_staging_banner(staff)
        shot(staff, artifacts, "tt-12-staff-clock-back-to-wall-time")
        page.goto(calendar)
        assert_staging_banner(page)
        expect(page.locator(".env-banner .clock-moved")).to_have_count(0)
        assert calendar_states(page)[next_day] == "locked"
        staging.assert_running()
        production.assert_running()
    except BaseException:
        save_failure(artifacts, player_ctx, staff_ctx)
        raise
    finally:
        player_ctx.close()
        staff_ctx.close()

    # Staging keeps the player's veteran progress and the closed draw (no reset here:
    # the staging flow already checks `daylock reset` while serving).
    assert_testtools_absent(production)
    assert_production_untouched(before, production, staging)
    production.assert_running()
    staging.assert_running()
