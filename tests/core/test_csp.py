"""Content-Security-Policy on every kind of response, and templates that need no
inline script or style (so the policy can forbid them)."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client

from daylock.accounts.models import Role, User
from daylock.config import BASE_DIR
from tests.core.test_reset_under_load import database_gone
from tests.events.factories import UserFactory

HEADER = "Content-Security-Policy"
TEMPLATES = BASE_DIR / "jinja2"


def directives(header: str) -> dict[str, list[str]]:
    """``"a x y; b z"`` -> ``{"a": ["x", "y"], "b": ["z"]}``."""
    found: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            found[words[0].lower()] = words[1:]
    return found


def assert_strict(header: str) -> None:
    policy = directives(header)
    assert policy["default-src"] == ["'self'"]
    # script-src falls back to default-src when absent: check what applies.
    scripts = policy.get("script-src", policy["default-src"])
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    assert "'unsafe-inline'" not in policy.get("style-src", policy["default-src"])
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"][0] == "'self'"


# --- the header on every kind of response ------------------------------------------------


@pytest.mark.django_db
def test_the_policy_is_strict_and_lets_the_login_reach_discord() -> None:
    """Chromium applies form-action to the redirect that answers a form's POST: the
    login posts here and is redirected to DISCORD_API_BASE's authorize page."""
    api = urlsplit(settings.DAYLOCK.discord_api_base)
    client = Client()
    header = client.get("/healthz")[HEADER]
    assert_strict(header)
    assert directives(header)["form-action"] == ["'self'", f"{api.scheme}://{api.netloc}"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "status"),
    [("/", 200), ("/events/", 200), ("/no/such/page/", 404), ("/admin/login/", 200)],
)
def test_pages_carry_the_policy(client: Client, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert_strict(response[HEADER])
    assert_no_inline_code(response.content.decode(), path)


@pytest.mark.django_db
def test_healthz_carries_the_policy(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code in (200, 503)
    assert_strict(response[HEADER])


@pytest.mark.django_db
def test_a_forbidden_page_carries_the_policy(client: Client) -> None:
    client.force_login(UserFactory())
    response = client.get("/prizes/staff/")
    assert response.status_code == 403
    assert_strict(response[HEADER])
    assert "Not allowed" in response.content.decode()


@pytest.mark.django_db
def test_admin_pages_work_under_the_policy(client: Client) -> None:
    """The admin keeps working with no relaxation: its pages load only this site's
    scripts and styles, none inline."""
    admin = User.objects.create_superuser("root", password="x", role=Role.ADMIN)
    client.force_login(admin)
    for path in ("/admin/", "/admin/accounts/user/", f"/admin/accounts/user/{admin.pk}/change/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_strict(response[HEADER])
        assert_no_inline_code(response.content.decode(), path)


@pytest.mark.django_db(transaction=True)
def test_the_503_of_a_reset_carries_the_policy() -> None:
    """The 503 is made by handler500 for an exception: it still passes the CSP
    middleware (which sits outside sessions and auth)."""
    client = Client(raise_request_exception=False)
    with database_gone():
        response = client.get("/events/")
    assert response.status_code == 503
    assert_strict(response[HEADER])
    assert_no_inline_code(response.content.decode(), "503")


# --- templates: no inline script, handler or style ---------------------------------------


class InlineCode(HTMLParser):
    """Finds what a strict policy blocks: ``<script>`` without ``src``, ``on…=``
    handler attributes, ``javascript:`` URLs, ``style=""`` attributes and ``<style>``
    blocks. Jinja2 syntax is text to it; a ``{% if online %}`` inside a tag is an
    attribute without a value, which no handler is."""

    URL_ATTRIBUTES = frozenset({"href", "src", "action", "formaction"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line = self.getpos()[0]
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append(f"line {line}: inline <script>")
        if tag == "style":
            self.found.append(f"line {line}: <style> block")
        for name, value in attrs:
            if value is None:
                continue
            if name.startswith("on") and name[2:].isalpha():
                self.found.append(f"line {line}: handler attribute {name}=")
            if name == "style":
                self.found.append(f"line {line}: style attribute")
            if name in self.URL_ATTRIBUTES and value.strip().lower().startswith("javascript:"):
                self.found.append(f"line {line}: javascript: URL in {name}")

    handle_startendtag = handle_starttag


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    parser.close()
    return parser.found


def assert_no_inline_code(html: str, where: str) -> None:
    assert inline_code(html) == [], where


def test_the_templates_hold_no_inline_script_handler_or_style() -> None:
    templates = sorted(TEMPLATES.rglob("*.html"))
    assert len(templates) > 15, templates
    found = {str(path.relative_to(TEMPLATES)): inline_code(path.read_text()) for path in templates}
    assert {name: issues for name, issues in found.items() if issues} == {}


@pytest.mark.parametrize(
    "bad",
    [
        "<script>alert(1)</script>",
        '<SCRIPT type="text/javascript">go()</SCRIPT>',
        '{% block x %}<script nonce="{{ n }}">go()</script>{% endblock %}',
        '<button type="button" onclick="go()">Go</button>',
        "<body onload=go()>",
        '<img src="x.png" onerror="go()"/>',
        '<p style="color:red">',
        "<style>p { color: red }</style>",
        '<a href="javascript:go()">go</a>',
    ],
)
def test_the_scan_finds_inline_code(bad: str) -> None:
    assert inline_code(f"<div>{bad}</div>") != []


@pytest.mark.parametrize(
    "fine",
    [
        "<script src=\"{{ static('daylock/x.js') }}\"></script>",
        '<p data-online="1" class="one">online</p>',
        "<input {% if online %}checked{% endif %} name=x>",
        "<a href=\"{{ url('home') }}\">home</a>",
        '<link rel="stylesheet" href="/static/daylock/daylock.css">',
    ],
)
def test_the_scan_accepts_external_code_and_plain_markup(fine: str) -> None:
    assert inline_code(fine) == []
