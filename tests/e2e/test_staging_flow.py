"""The staging promise, end to end: a staging instance is used for everything a tester
does, in a real browser, while a production instance runs next to it — and afterwards
production's tables, Redis keys and Discord have not changed by a single byte.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import Instances
from tests.e2e.harness import Fingerprint, Instance, production_fingerprint

pytestmark = pytest.mark.e2e

TESTTOOLS_PATHS = ("/staff/testtools/", "/staff/testtools/clock/", "/staff/testtools/anything")


def shot(page: Page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


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


def assert_staging_banner(page: Page) -> None:
    banner = page.locator(".env-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("STAGING")


def test_staging_flow_leaves_production_untouched(
    instances: Instances, browser: Browser, artifacts: Path
) -> None:
    production, staging = instances.production, instances.staging
    assert_testtools_absent(production)
    before = production_fingerprint(production)
    assert before.tables, "production has no tables: was it migrated?"
    assert before.discord_requests == [], "production's Discord was called before the run"

    staging_ctx = browser.new_context(base_url=staging.public_url)
    production_ctx = browser.new_context(base_url=production.public_url, ignore_https_errors=True)
    try:
        # (a) The staging home page carries the STAGING banner; production's has none.
        page = staging_ctx.new_page()
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
        assert_testtools_absent(production)

        instances.production.assert_running()
        instances.staging.assert_running()
    finally:
        staging_ctx.close()
        production_ctx.close()

    assert_testtools_absent(production)
    assert_production_untouched(before, production, staging)
