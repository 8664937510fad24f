"""The frame every Daylock page shares (``base.html``): the skip link, the content it
skips to, and the staff links each role sees (issue 16 item 5). The browser checks
(focus order, focus ring, contrast, no overflow at 390 px) are in
``tests/e2e/test_walk_phone_and_keyboard.py``."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse

from daylock.accounts.models import Role
from tests.config_override import production
from tests.events.factories import UserFactory

pytestmark = pytest.mark.django_db

ALL_STAFF_LINKS = {
    "Prizes": "/prizes/staff/",
    "Edit events": "/staff/events/",
    "Event packs": "/staff/packs/",
    "Outbox": "/staff/outbox/",
    "Audit log": "/staff/audit/",
    "Test utilities": "/staff/testtools/",
    "Admin": "/admin/",
}
MODERATOR_LINKS = {
    label: ALL_STAFF_LINKS[label] for label in ("Prizes", "Outbox", "Audit log", "Admin")
}


class Frame(HTMLParser):
    """The first focusable element, the ids of the page, and the links of each nav."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.first_link: dict[str, str | None] | None = None
        self.ids: set[str] = set()
        self.navs: dict[str, dict[str, str]] = {}
        self._nav: str | None = None
        self._href: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(str(found["id"]))
        if tag in ("a", "button", "input", "select", "textarea") and self.first_link is None:
            self.first_link = found | {"tag": tag}
        if tag == "nav":
            self._nav = found.get("aria-label") or ""
            self.navs[self._nav] = {}
        if tag == "a" and self._nav is not None:
            self._href, self._text = found.get("href"), ""

    def handle_data(self, data: str) -> None:
        self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._nav is not None and self._href is not None:
            self.navs[self._nav][self._text.strip()] = self._href
            self._href = None
        if tag == "nav":
            self._nav = None


def frame_of(client: Client, path: str = "/") -> Frame:
    response = client.get(path)
    assert response.status_code == 200, path
    parser = Frame()
    parser.feed(response.content.decode())
    return parser


def test_the_skip_link_is_first_and_leads_to_the_content(client: Client) -> None:
    frame = frame_of(client)
    assert frame.first_link is not None
    assert frame.first_link["tag"] == "a"
    assert frame.first_link["class"] == "skip-link"
    href = frame.first_link["href"] or ""
    assert href.startswith("#") and href[1:] in frame.ids, (href, frame.ids)


def test_a_player_sees_no_staff_links(client: Client) -> None:
    client.force_login(UserFactory())
    frame = frame_of(client)
    assert "Staff" not in frame.navs
    assert frame.navs["Site"] == {
        "Events": reverse("events:list"),
        "Profile": reverse("events:profile"),
        "My prizes": reverse("prizes:mine"),
    }


def test_a_visitor_sees_the_site_links_only(client: Client) -> None:
    frame = frame_of(client)
    assert set(frame.navs) == {"Site"}
    assert frame.navs["Site"] == {"Events": reverse("events:list")}


@pytest.mark.parametrize(
    ("role", "expected"), [(Role.MODERATOR, MODERATOR_LINKS), (Role.ADMIN, ALL_STAFF_LINKS)]
)
def test_staff_see_a_link_to_every_staff_page_they_may_open(
    client: Client, role: Role, expected: dict[str, str]
) -> None:
    client.force_login(UserFactory(role=role))
    links = frame_of(client).navs["Staff"]
    assert links == expected
    for label, path in links.items():
        assert client.get(path).status_code == 200, f"{label}: {path}"


def test_production_links_no_test_utilities(client: Client) -> None:
    client.force_login(UserFactory(role=Role.ADMIN))
    with production():
        links = frame_of(client).navs["Staff"]
    assert "Test utilities" not in links
    assert links == {k: v for k, v in ALL_STAFF_LINKS.items() if k != "Test utilities"}


def test_a_banned_admin_sees_no_staff_links(client: Client) -> None:
    client.force_login(UserFactory(role=Role.ADMIN, is_banned=True))
    response = client.get("/")
    assert 'aria-label="Staff"' not in response.content.decode()
