"""Issue 16 item 5, in the browser: every page state of the player flow and every staff
page, on the staging instance of the end-to-end run, at 390 px (a phone) and 1280 px.

At each state and width: no horizontal overflow (``scrollWidth <= clientWidth``) and
no critical or serious axe-core violation. On the key pages, the keyboard: Tab from
the top reaches the skip link first (visible, with a focus ring), then every link and
button of the header in order; the skip link takes the next Tab into the content; a
player answers a day's challenge with the keyboard only. Every problem is collected
and reported at the end, all at once.

The player walk is written out (its states need a history: a wrong answer, a solve, a
draw). Everything else comes from the URL resolver (``tests/core/urlwalk.py``): after
the walk, every route not visited yet that answers a page to GET is opened as an admin
and checked too, so a page added tomorrow is checked tomorrow. The walk uses its own
player (sam) and its own prize, so it leaves the other tests' seeded data alone.

Per-state results: ``test-artifacts/e2e/walk-results.txt``; 390 px screenshots
``walk-*.png`` next to it.
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from django.urls import Resolver404, resolve
from playwright.sync_api import Browser, Locator, Page, expect

from daylock.testing.discord_emulator.config import ADMIN_USER_ID, SECOND_PLAYER_USER_ID
from tests.core.urlwalk import endpoints
from tests.e2e.browser import (
    Focused,
    assert_staging_banner,
    axe_serious,
    challenge_answer,
    discord_login,
    focus_ring_problem,
    focused,
    horizontal_overflow,
    save_failure,
    shot,
    tab,
)
from tests.e2e.conftest import Instances
from tests.e2e.harness import Instance

pytestmark = pytest.mark.e2e

WIDTHS = (390, 1280)
HEIGHT = 900
#: The seeded event that is running (days 1-4 open), and the walk's own player.
RUNNING = "staging-running"
PLAYER = "sam"
WALK_PRIZE = "Walk poster (e2e)"
#: Enough Tab presses to cross any page's header and reach a day's answer field.
MAX_TABS = 60
#: Enough to Tab through the longest page walked by keyboard (the event editor).
MAX_PAGE_TABS = 200
_FOCUSABLE = (
    "a[href], button, input:not([type=hidden]), select, textarea, [tabindex]:not([tabindex='-1'])"
)


@dataclass
class Walk:
    """Checks page states and keeps every problem and result."""

    artifacts: Path
    problems: list[str] = field(default_factory=list)
    results: list[str] = field(default_factory=list)
    #: Resolver routes checked (``events/<slug:slug>/day/<int:number>/``).
    routes: set[str] = field(default_factory=set)
    count: itertools.count[int] = field(default_factory=itertools.count)

    def check(self, page: Page, state: str) -> None:
        """The page as it is now, at each width (no reload: a state after a POST stays)."""
        assert_staging_banner(page)
        url = urlsplit(page.url)
        shown = url.path + (f"?{url.query}" if url.query else "")
        self.routes.add(route_of(url.path))
        for width in WIDTHS:
            started = time.monotonic()
            page.set_viewport_size({"width": width, "height": HEIGHT})
            overflow = horizontal_overflow(page)
            serious = axe_serious(page)
            if overflow:
                self.problems.append(f"{state} ({shown}) at {width}px: {overflow}px overflow")
            self.problems += [f"{state} ({shown}) at {width}px: {v}" for v in serious]
            self.results.append(
                f"{state:<40} {width:>4}px  overflow {overflow:>3}px  "
                f"axe critical/serious {len(serious)}  "
                f"({time.monotonic() - started:.1f}s)  {shown}"
            )
            if width == WIDTHS[0]:
                slug = re.sub(r"[^a-z0-9]+", "-", state.lower()).strip("-")
                shot(page, self.artifacts, f"walk-{next(self.count):02d}-{slug}")

    def skipped(self, path: str, why: str) -> None:
        self.results.append(f"{'(not a page: ' + why + ')':<40} {path}")

    def problem(self, text: str) -> None:
        self.problems.append(text)


def route_of(path: str) -> str:
    try:
        return resolve(path).route
    except Resolver404:
        return ""


# --- the keyboard ------------------------------------------------------------------------


def keyboard_from_the_top(page: Page, walk: Walk, state: str) -> None:
    """On a freshly loaded page: the skip link first, then the header's links and
    buttons in page order, then the rest of the page — every stop with a visible focus
    ring — and the skip link, used, leads the next Tab into main."""
    page.set_viewport_size({"width": WIDTHS[-1], "height": HEIGHT})
    first = tab(page)
    if first is None or not first.is_skip_link:
        walk.problem(f"{state}: the first Tab reaches {_name(first)}, not the skip link")
        return
    _ring(walk, state, first)
    expected = (
        page.locator("header")
        .first.locator(_FOCUSABLE)
        .evaluate_all(
            "els => els.filter(e => e.offsetParent !== null)"
            ".map(e => e.getAttribute('href') || e.innerText.trim())"
        )
    )
    stops: list[Focused] = []
    for _ in range(MAX_PAGE_TABS):
        element = tab(page)
        if element is None or element.is_skip_link:
            break  # past the last element: focus left the page or came round again
        _ring(walk, state, element)
        stops.append(element)
    else:
        walk.problem(f"{state}: still tabbing after {MAX_PAGE_TABS} stops")
    header = [e.href or e.text for e in itertools.takewhile(lambda e: e.in_header, stops)]
    if header != expected:
        walk.problem(f"{state}: Tab order in the header {header}, page order {expected}")
    if not any(href.startswith("/events/") for href in header):
        walk.problem(f"{state}: the nav's links were not reached by Tab: {header}")
    # The skip link, used: the next Tab is inside the content.
    page.reload()
    tab(page)
    page.keyboard.press("Enter")
    after = tab(page)
    if not any(e.in_main for e in stops):
        walk.problem(f"{state}: main has nothing to Tab to; check the skip link elsewhere")
    elif after is None or not after.in_main:
        walk.problem(f"{state}: after the skip link, Tab reaches {_name(after)}, not main")
    walk.results.append(
        f"keyboard, {state}: skip link, then {len(stops)} Tab stops (header: {header}); "
        f"after the skip link: {_name(after)}"
    )


def _name(element: Focused | None) -> str:
    return "nothing" if element is None else element.describe()


def _ring(walk: Walk, state: str, element: Focused) -> None:
    problem = focus_ring_problem(element)
    if problem:
        walk.problem(f"{state}: {problem}")


def tab_to(page: Page, target: Locator, walk: Walk, state: str) -> bool:
    """Tab (never click) until ``target`` has the focus."""
    for _ in range(MAX_TABS):
        if target.evaluate("el => el === document.activeElement"):
            element = focused(page)
            if element is not None:
                _ring(walk, state, element)
            return True
        page.keyboard.press("Tab")
    walk.problem(f"{state}: {MAX_TABS} Tabs never reached {target}")
    return False


def answer_with_keyboard(page: Page, walk: Walk, state: str, text: str) -> None:
    """Tab to the normal answer's field, type, Tab to its button, press Enter."""
    form = page.locator("form").filter(
        has=page.get_by_role("button", name="Submit normal answer", exact=True)
    )
    field_ = form.get_by_role("textbox")
    button = form.get_by_role("button", name="Submit normal answer", exact=True)
    assert tab_to(page, field_, walk, state), walk.problems[-1]
    page.keyboard.press("Control+A")
    page.keyboard.type(text)
    assert tab_to(page, button, walk, state), walk.problems[-1]
    with page.expect_navigation():
        page.keyboard.press("Enter")


# --- the staging database ----------------------------------------------------------------


def one_value(staging: Instance, query: str, *args: Any) -> Any:
    with psycopg.connect(staging.database_url) as conn:
        row = conn.execute(query, args).fetchone()
    assert row is not None and row[0] is not None, (query, args)
    return row[0]


@dataclass(frozen=True)
class StagingArguments:
    """URL arguments for the resolver walk, from what the walk made on staging."""

    prize_id: int
    draw_id: int
    winner_id: int
    message_id: int

    def value(self, name: str, model_admin: Any) -> str:
        by_name: dict[str, Any] = {
            "slug": RUNNING,
            "number": 1,
            "tier": "normal",
            "prize_id": self.prize_id,
            "draw_id": self.draw_id,
            "winner_id": self.winner_id,
            "message_id": self.message_id,
        }
        if name not in by_name:
            raise AssertionError(
                f"the browser walk has no value for the URL argument {name!r}: add one to "
                "StagingArguments in tests/e2e/test_walk_phone_and_keyboard.py"
            )
        return str(by_name[name])


def walked_by_resolver(route: str) -> bool:
    """The Django admin is Django's: its index is checked, the rest is not walked."""
    return route == "admin/" or not route.startswith("admin/")


# --- the test ------------------------------------------------------------------------------


def test_every_page_on_a_phone_and_with_a_keyboard(
    instances: Instances, browser: Browser, artifacts: Path
) -> None:
    staging = instances.staging
    calendar = f"/events/{RUNNING}/"
    day1 = f"{calendar}day/1/"
    walk = Walk(artifacts)
    options: dict[str, Any] = {
        "base_url": staging.public_url,
        "viewport": {"width": WIDTHS[-1], "height": HEIGHT},
        "bypass_csp": True,  # axe-core is injected by the test
    }
    visitor_ctx = browser.new_context(**options)
    player_ctx = browser.new_context(**options)
    admin_ctx = browser.new_context(**options)
    try:
        # Logged out.
        page = visitor_ctx.new_page()
        page.goto("/")
        walk.check(page, "home, logged out")
        page.goto("/events/")
        keyboard_from_the_top(page, walk, "events, logged out")
        walk.check(page, "events, logged out")
        for path, state in (
            (calendar, "event page, logged out"),
            (day1, "day page, logged out"),
            (f"{calendar}leaderboard/", "leaderboard, logged out"),
            ("/auth/login/", "login page"),
        ):
            response = page.goto(path)
            assert response is not None and response.status == 200, (path, response)
            walk.check(page, state)
        response = page.goto("/no-such-page/")
        assert response is not None and response.status == 404
        walk.check(page, "404")

        # The player: a day fresh, after a wrong answer, solved — by keyboard only.
        page = player_ctx.new_page()
        discord_login(page, staging, SECOND_PLAYER_USER_ID, calendar)
        for path, state in (
            ("/", "home, logged in"),
            (calendar, "event page, logged in"),
        ):
            page.goto(path)
            walk.check(page, state)
        page.goto(day1)
        keyboard_from_the_top(page, walk, "day page")
        walk.check(page, "day page, fresh")
        answer_with_keyboard(page, walk, "day page, wrong answer", "certainly not the answer")
        expect(page.get_by_role("button", name="Submit normal answer")).to_be_visible()
        walk.check(page, "day page, after a wrong answer")
        answer = challenge_answer(staging, RUNNING, 1, "normal")
        answer_with_keyboard(page, walk, "day page, right answer", answer)
        expect(page.get_by_role("button", name="Submit normal answer")).to_have_count(0)
        walk.check(page, "day page, solved")
        for path, state in (
            (f"{day1}feedback/", "day feedback"),
            (f"{calendar}feedback/", "event feedback"),
            (f"{calendar}leaderboard/", "leaderboard, after solving"),
            ("/events/profile/", "profile"),
            ("/prizes/mine/", "my prizes, nothing won"),
        ):
            page.goto(path)
            walk.check(page, state)
        response = page.goto("/staff/audit/")
        assert response is not None and response.status == 403
        walk.check(page, "403 (a player on a staff page)")

        # Staff: a prize of the walk's own, the player completes, entries close, the draw.
        staff = admin_ctx.new_page()
        discord_login(staff, staging, ADMIN_USER_ID, "/prizes/staff/")
        walk.check(staff, "staff prizes")
        staff.goto(f"/staff/events/{RUNNING}/prizes/new/")
        walk.check(staff, "prize editor, new")
        editor = staff.locator("form#prize-editor")
        editor.get_by_label("Name", exact=True).fill(WALK_PRIZE)
        editor.get_by_label("Fulfilment", exact=True).select_option(value="manual")
        editor.get_by_label("Quantity", exact=True).fill("2")
        editor.get_by_role("button", name="Create prize").click()
        expect(staff.locator("tr[data-prize]").filter(has_text=WALK_PRIZE)).to_be_visible()
        walk.check(staff, "event editor, a prize added")
        keyboard_from_the_top(staff, walk, "event editor")
        staff.goto("/staff/testtools/")
        complete = staff.locator("section.testtools-complete form")
        complete.get_by_label("User:").fill(PLAYER)
        complete.get_by_label("Event:").select_option(RUNNING)
        complete.get_by_label("Tier:").select_option("normal")
        complete.get_by_role("button", name="Mark completed").click()
        expect(staff.locator("section.testtools-audit")).to_contain_text(PLAYER)
        walk.check(staff, "test utilities, after an action")
        prize_id = one_value(
            staging,
            "SELECT p.id FROM prizes_prize p JOIN events_event e ON e.id = p.event_id "
            "WHERE e.slug = %s AND p.name = %s",
            RUNNING,
            WALK_PRIZE,
        )
        staff.goto(f"/prizes/staff/events/{RUNNING}/")
        walk.check(staff, "staff prizes of an event")
        staff.goto(f"/prizes/staff/prizes/{prize_id}/")
        walk.check(staff, "staff prize, entries open")
        staff.get_by_role("button", name="Sync members now").click()
        reason = staff.get_by_label("Reason for closing anyway", exact=False)
        if reason.count():
            reason.fill("e2e walk: closing early on purpose")
            staff.get_by_role("button", name="Close entries anyway").click()
        else:
            staff.get_by_role("button", name="Close entries", exact=True).click()
        expect(staff.locator("[data-draw-status]")).to_have_attribute("data-draw-status", "closed")
        walk.check(staff, "staff prize, entries closed")
        draw_id = one_value(staging, "SELECT id FROM prizes_draw WHERE prize_id = %s", prize_id)
        staff.goto(f"/prizes/draws/{draw_id}/")
        walk.check(staff, "public draw page, before the draw")
        staff.goto(f"/prizes/staff/prizes/{prize_id}/")
        confirm = staff.get_by_label(re.compile("I confirm"))
        if confirm.count():
            confirm.check()
        staff.get_by_role("button", name="Run the draw").click()
        expect(staff.locator("tr[data-winner]").first).to_be_visible()
        walk.check(staff, "staff prize, drawn (reroll forms)")
        keyboard_from_the_top(staff, walk, "staff prize, drawn")
        staff.goto(f"/prizes/draws/{draw_id}/")
        walk.check(staff, "public draw page, after the draw")
        page.goto("/prizes/mine/")
        expect(page.locator("main")).to_contain_text(WALK_PRIZE)
        walk.check(page, "my prizes, a prize won")
        page.goto(calendar)
        walk.check(page, "event page, after the draw")

        # Every other route of the resolver that answers a page to GET, as the admin.
        arguments = StagingArguments(
            prize_id=prize_id,
            draw_id=draw_id,
            winner_id=one_value(
                staging, "SELECT min(id) FROM prizes_drawwinner WHERE draw_id = %s", draw_id
            ),
            message_id=one_value(staging, "SELECT max(id) FROM discord_outboxmessage"),
        )
        for endpoint in endpoints(arguments, where=walked_by_resolver):
            if endpoint.route in walk.routes:
                continue
            probe = staff.request.get(endpoint.path, max_redirects=0)
            kind = probe.headers.get("content-type", "")
            if probe.status == 405:
                walk.skipped(endpoint.path, "POST only")
            elif 300 <= probe.status < 400:
                walk.skipped(endpoint.path, f"{probe.status} to {probe.headers.get('location')}")
            elif not kind.startswith("text/html"):
                walk.skipped(endpoint.path, kind.split(";")[0])
            else:
                staff.goto(endpoint.path)
                walk.check(staff, f"{endpoint.name or endpoint.route} ({probe.status})")
        staging.assert_running()
    except BaseException:
        save_failure(artifacts, visitor_ctx, player_ctx, admin_ctx)
        raise
    finally:
        (artifacts / "walk-results.txt").write_text(
            "\n".join(walk.results) + "\n\nproblems:\n" + "\n".join(walk.problems) + "\n"
        )
        visitor_ctx.close()
        player_ctx.close()
        admin_ctx.close()
    assert not walk.problems, f"{len(walk.problems)} problem(s):\n" + "\n".join(walk.problems)
