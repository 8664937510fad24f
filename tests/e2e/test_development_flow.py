"""Issue 3's check: the development default tried as a new user would, in a real browser.

A fresh working directory (so ``var/development.sqlite3`` does not exist yet), exactly
the environment ``make run`` gives its commands (``APP_ENV=development`` and nothing
else Daylock-specific), and exactly what
``make run`` runs — ``daylock migrate --no-input``, ``daylock demo_data``,
``daylock runserver``. Then, in Chromium: the DEVELOPMENT banner, a login through the
in-process Discord emulator, day 1 of the demo event played wrong then right, feedback
whose HTML is shown escaped, and the progress on the calendar and the profile.

``make run`` serves on 127.0.0.1:8000. The test serves on a free port of the
end-to-end range instead, so it never collides with a developer's own ``make run``:
without a ``PUBLIC_URL``, development's ``runserver`` takes its public address — the
OAuth callback and the embedded emulator — from the port it is given (issue 16), which
the login through the emulator below proves.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from daylock.testing.discord_emulator.config import PLAYER_USER_ID
from tests.e2e.browser import save_failure, shot
from tests.e2e.harness import Process, base_environ, free_port, wait_until

pytestmark = pytest.mark.e2e

#: The user the emulator's consent page offers as "Pat Player" (@pat); pages name them
#: as Discord does: no server nickname, so their display name.
PLAYER = "pat"
PLAYER_NAME = "Pat Player"
WRONG_ANSWER = "certainly not the answer"
COMMENT = "Friendly warm-up <b>html</b> (e2e)"


@dataclass
class DevServer:
    public_url: str
    workdir: Path
    env: dict[str, str]
    process: Process

    def url(self, path: str) -> str:
        return self.public_url + path


def make_run_environ(public_url: str) -> dict[str, str]:
    """What ``make run`` gives its commands: the caller's basic environment plus
    ``APP_ENV=development`` (``public_url`` is where runserver will be: not passed)."""
    del public_url
    return base_environ() | {"APP_ENV": "development"}


def daylock_in(workdir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daylock", *args],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def dev_server(artifacts: Path, tmp_path: Path) -> Iterator[DevServer]:
    """``make run``'s three commands in a fresh directory; the server is stopped after."""
    workdir = tmp_path / "new-user"
    workdir.mkdir()
    sqlite = workdir / "var" / "development.sqlite3"
    assert not sqlite.exists()
    port = free_port(set())
    public_url = f"http://127.0.0.1:{port}"
    env = make_run_environ(public_url)
    assert not {key for key in env if key.startswith(("DAYLOCK_", "DATABASE_", "REDIS_"))}

    migrate = daylock_in(workdir, env, "migrate", "--no-input")
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    assert sqlite.is_file(), f"migrate did not create {sqlite}"
    demo = daylock_in(workdir, env, "demo_data")
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "demo event created" in demo.stdout, demo.stdout  # new database: created

    logs = artifacts / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / "development-runserver.log"
    with log.open("ab") as handle:
        popen = subprocess.Popen(
            [sys.executable, "-m", "daylock", "runserver", f"127.0.0.1:{port}", "--noreload"],
            env=env,
            cwd=workdir,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    process = Process("development-runserver", popen, log)
    try:
        wait_until(
            lambda: requests.get(public_url + "/", timeout=2).status_code == 200,
            "development runserver",
            process,
        )
        yield DevServer(public_url, workdir, env, process)
    finally:
        process.stop()
    assert not process.alive()


def assert_development_banner(page: Page) -> None:
    banner = page.locator(".env-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("DEVELOPMENT")
    expect(banner).to_have_attribute("data-environment", "development")


def goto_ok(page: Page, path: str) -> None:
    response = page.goto(path)
    assert response is not None and response.status == 200, (path, response)
    assert_development_banner(page)


def test_development_default_as_a_new_user(
    dev_server: DevServer, browser: Browser, artifacts: Path
) -> None:
    from daylock.events.demo import DEMO_DAYS, DEMO_SLUG

    title, _body, (_prompt, answer), _veteran = DEMO_DAYS[0]
    calendar = f"/events/{DEMO_SLUG}/"
    day1 = f"{calendar}day/1/"
    context = browser.new_context(base_url=dev_server.public_url)
    try:
        page = context.new_page()

        # The home page carries the DEVELOPMENT ribbon.
        goto_ok(page, "/")
        expect(page.get_by_role("heading", name="Daylock")).to_be_visible()
        shot(page, artifacts, "dev-01-home")

        # Log in through the in-process Discord emulator's consent page, as Pat.
        goto_ok(page, f"/auth/login/?next={calendar}")
        page.get_by_role("button", name="Log in with Discord").click()
        page.wait_for_url(f"{dev_server.public_url}/_emulator/discord/**")
        expect(page.get_by_role("button", name="Authorize")).to_be_visible()
        shot(page, artifacts, "dev-02-discord-consent")
        page.check(f"input[name=user_id][value='{PLAYER_USER_ID}']")
        page.get_by_role("button", name="Authorize").click()
        page.wait_for_url(f"{dev_server.public_url}{calendar}")
        assert_development_banner(page)
        expect(page.locator(".site-header .who")).to_have_text(PLAYER_NAME)
        # Their Discord (default) avatar, from the emulator's CDN, allowed by the CSP.
        avatar = page.locator(".site-header .who img.avatar")
        expect(avatar).to_have_attribute("src", re.compile(r"/_emulator/discord/embed/avatars/"))
        assert avatar.evaluate("img => img.complete && img.naturalWidth > 0")

        # The demo event's calendar: days 1-4 open (4 unlocked early), 5-7 locked.
        expect(page.get_by_role("heading", name="Daylock Demo")).to_be_visible()
        states = page.locator("table.calendar tr[data-day]").evaluate_all(
            "rows => rows.map(r => [Number(r.dataset.day), r.dataset.state])"
        )
        assert dict(states) == {
            1: "open",
            2: "open",
            3: "open",
            4: "open",
            5: "locked",
            6: "locked",
            7: "locked",
        }, states
        shot(page, artifacts, "dev-03-calendar")
        page.get_by_role("link", name=f"Day 1 — {title}").click()
        page.wait_for_url(f"{dev_server.public_url}{day1}")
        assert_development_banner(page)
        expect(page.get_by_role("heading", name=f"Day 1 — {title}")).to_be_visible()

        # A wrong answer, then the right one.
        normal = page.locator("section.challenge#normal")
        normal.locator("input[name=answer]").fill(WRONG_ANSWER)
        normal.get_by_role("button", name="Submit normal answer").click()
        # Issue 16: the error next to the field, announced; the answer kept; focus on it.
        normal = page.locator("section.challenge#normal")
        expect(normal.get_by_role("alert")).to_contain_text("Not quite")
        field = normal.locator("input[name=answer]")
        expect(field).to_have_value(WRONG_ANSWER)
        expect(field).to_be_focused()
        expect(field).to_have_attribute("aria-invalid", "true")
        expect(page.locator("section.challenge#normal .badge")).to_have_count(0)
        assert_development_banner(page)
        shot(page, artifacts, "dev-04-day1-wrong-answer")
        normal = page.locator("section.challenge#normal")
        normal.locator("input[name=answer]").fill(answer)
        normal.get_by_role("button", name="Submit normal answer").click()
        expect(page.locator(".messages")).to_contain_text("Correct!")
        expect(page.locator("section.challenge#normal .badge")).to_contain_text("solved")
        assert_development_banner(page)
        shot(page, artifacts, "dev-05-day1-solved")

        # Feedback: a rating and a comment whose HTML must be shown as text.
        page.get_by_role("link", name="Rate this day").click()
        assert_development_banner(page)
        page.check("input[name=rating][value='5']")
        page.fill("textarea[name=comment]", COMMENT)
        page.get_by_role("button", name="Save feedback").click()
        page.wait_for_load_state()
        assert_development_banner(page)
        goto_ok(page, f"{day1}feedback/")
        existing = page.locator(".existing-feedback")
        expect(existing).to_contain_text("5/5")
        expect(existing.locator("q.comment")).to_have_text(COMMENT)
        expect(existing.locator("b")).to_have_count(0)  # escaped, not rendered
        assert "&lt;b&gt;html&lt;/b&gt;" in existing.inner_html()
        shot(page, artifacts, "dev-06-day1-feedback-escaped")

        # The calendar shows day 1 solved (normal tier); the profile shows the progress.
        goto_ok(page, calendar)
        row = page.locator("table.calendar tr[data-day='1']")
        expect(row).to_have_attribute("data-state", "solved-normal")
        expect(row).to_contain_text("solved: normal")
        expect(page.locator("table.calendar tr[data-day='2']")).to_have_attribute(
            "data-state", "open"
        )
        shot(page, artifacts, "dev-07-calendar-day1-solved")
        page.get_by_role("link", name="Profile").click()
        page.wait_for_url(f"{dev_server.public_url}/events/profile/")
        assert_development_banner(page)
        expect(page.get_by_role("heading", name=PLAYER_NAME)).to_be_visible()
        standing = page.locator(f"tr[data-event='{DEMO_SLUG}']")
        cells = standing.locator("td")
        expect(cells.nth(0)).to_have_text("Daylock Demo")
        expect(cells.nth(1)).to_have_text(f"1/{len(DEMO_DAYS)}")
        expect(cells.nth(2)).to_have_text(f"0/{len(DEMO_DAYS)}")
        expect(standing.locator("[data-completion]")).to_have_attribute("data-completion", "none")
        expect(cells.nth(4)).to_have_text("given")
        shot(page, artifacts, "dev-08-profile-progress")
    except BaseException:
        save_failure(artifacts, context)
        raise
    finally:
        context.close()

    # The login went to the in-process emulator (nothing left the machine), and the
    # server answered no request with a server error.
    record = requests.get(
        dev_server.url("/_emulator/discord/_emulator/requests"), timeout=10
    ).json()
    paths = [entry.get("path", "") for entry in record]
    assert any(path.endswith("/oauth2/token") for path in paths), paths
    assert dev_server.process.alive(), dev_server.process.tail()
    log = dev_server.process.log.read_text(errors="replace")
    assert "Traceback" not in log, dev_server.process.tail(80)
    assert '" 500 ' not in log, dev_server.process.tail(80)
