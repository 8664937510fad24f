"""The environment banner on every page Daylock serves (issue 14 item 3), by a crawl.

Every URL of the resolver (``tests/core/urlwalk.py``: Daylock's pages, the staff pages
and every Django admin page — index, changelists, change forms, history, delete
confirmations), as a visitor, a player and an operator, plus the pages no URL leads to:
a CSRF failure, a 400 (a Host not served here, too many form fields), a 404, a 403 and
a forced 500. In staging each HTML page carries the STAGING ribbon; in production
none carries a ribbon at all.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import clear_url_caches

import daylock.urls
from daylock.accounts.models import User
from daylock.core.models import ClockOverride
from tests.config_override import production
from tests.core.urlwalk import Samples, endpoints, make_samples
from tests.events.factories import UserFactory

pytestmark = pytest.mark.django_db

RIBBON = 'class="env-banner"'


def is_page(response: HttpResponse) -> bool:
    """An HTML page with a body (JSON, text files and empty answers are not pages)."""
    return response.get("Content-Type", "").startswith("text/html") and bool(
        getattr(response, "content", b"").strip()
    )


def body(response: HttpResponse) -> str:
    return response.content.decode()


@pytest.fixture
def samples(django_capture_on_commit_callbacks: Callable[..., Any]) -> Samples:
    return make_samples(django_capture_on_commit_callbacks)


def visitors() -> dict[str, Client]:
    player = Client()
    player.force_login(UserFactory(username="crawl-player"))
    operator = Client(raise_request_exception=False)
    operator.force_login(User.objects.create_superuser("crawl-operator", password="x"))
    return {"visitor": Client(), "player": player, "operator": operator}


def crawl(samples: Samples) -> Iterator[tuple[str, HttpResponse]]:
    """Every URL by every visitor (redirects followed, as a browser would), then the
    error pages no link leads to."""
    clients = visitors()
    for endpoint in endpoints(samples):
        for who, client in clients.items():
            if endpoint.is_admin and who != "operator":
                continue  # the admin's own refusals are pages of the same kind (see below)
            yield f"GET {endpoint} as {who}", client.get(endpoint.path, follow=True)
    yield from error_pages(clients)


def error_pages(clients: dict[str, Client]) -> Iterator[tuple[str, HttpResponse]]:
    strict = Client(enforce_csrf_checks=True)
    csrf = strict.post("/auth/login/", {"next": "/"})
    assert csrf.status_code == 403
    yield "CSRF failure (login form)", csrf
    admin_csrf = strict.post("/admin/login/", {"username": "x", "password": "y"})
    assert admin_csrf.status_code == 403
    yield "CSRF failure (admin login form)", admin_csrf
    bad_host = Client().get("/", HTTP_HOST="not-daylock.example")
    assert bad_host.status_code == 400
    yield "400: a Host not served here", bad_host
    too_many = Client().post("/auth/login/", {f"field{n}": "x" for n in range(1100)})
    assert too_many.status_code == 400  # SuspiciousOperation: TooManyFieldsSent
    yield "400: too many form fields", too_many
    missing = Client().get("/no/such/page/")
    assert missing.status_code == 404
    yield "404", missing
    refused = clients["player"].get("/staff/audit/")
    assert refused.status_code == 403
    yield "403: a player on a staff page", refused
    admin_refused = clients["player"].get("/admin/")
    assert admin_refused.status_code == 403
    yield "403: a player in the admin", admin_refused
    failing = Client(raise_request_exception=False)
    with mock.patch("daylock.core.selectors.health_report", side_effect=RuntimeError("boom")):
        crashed = failing.get("/healthz")
    assert crashed.status_code == 500
    yield "500: a view that raises", crashed


def test_every_page_in_staging_shows_the_staging_ribbon(samples: Samples) -> None:
    pages = 0
    statuses: set[int] = set()
    missing: list[str] = []
    for label, response in crawl(samples):
        if not is_page(response):
            continue
        pages += 1
        statuses.add(response.status_code)
        text = body(response)
        if RIBBON not in text or 'data-environment="staging"' not in text or "STAGING" not in text:
            missing.append(f"{label}: {response.status_code}")
    assert not missing, "pages without the STAGING ribbon:\n" + "\n".join(missing)
    assert pages > 100
    assert {200, 400, 403, 404, 500} <= statuses


@pytest.fixture
def production_urlconf() -> Iterator[None]:
    """``daylock.urls`` as a production process builds it (and rebuilt after)."""
    with production():
        clear_url_caches()
        importlib.reload(daylock.urls)
        try:
            yield
        finally:
            clear_url_caches()
    importlib.reload(daylock.urls)
    clear_url_caches()


def test_no_page_in_production_shows_a_ribbon(samples: Samples, production_urlconf: None) -> None:
    pages = 0
    statuses: set[int] = set()
    shown: list[str] = []
    for label, response in crawl(samples):
        if not is_page(response):
            continue
        pages += 1
        statuses.add(response.status_code)
        text = body(response)
        if "env-banner" in text or "STAGING" in text or "DEVELOPMENT" in text:
            shown.append(f"{label}: {response.status_code}")
    assert not shown, "pages with a ribbon in production:\n" + "\n".join(shown)
    assert pages > 100
    assert {200, 400, 403, 404, 500} <= statuses


def test_the_admin_shows_a_moved_clock_outside_production_only() -> None:
    ClockOverride.objects.create(scope="environment", offset=timedelta(days=2))
    client = Client()
    client.force_login(User.objects.create_superuser("clock-operator", password="x"))
    staging = body(client.get("/admin/"))
    assert RIBBON in staging and "Clock moved to" in staging
    # The ribbon's colour comes from the environment's stylesheet rule, not inline style.
    assert "daylock/admin.css" in staging and " env-staging" in staging
    with production():
        page = body(client.get("/admin/"))
    assert "Clock moved to" not in page and RIBBON not in page
    assert "Daylock administration" in page


def test_error_pages_keep_the_frame_when_the_request_context_fails() -> None:
    """A context processor that fails (the session store down, say) must not turn a
    404 into a 500: the page falls back to the frame without the request's context."""
    with mock.patch(
        "daylock.site.context_processors.clock.active_override", side_effect=RuntimeError("x")
    ):
        response = Client().get("/no/such/page/")
    assert response.status_code == 404
    assert RIBBON in body(response)
