"""The audit log for staff (issue 14 item 4): a read-only page in every environment,
filterable by actor, action and object, with details a person can read; and every
write made through the Django admin audited, old → new, secrets hidden."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client
from django.urls import clear_url_caches

import daylock.urls
from daylock.accounts.models import Role, User
from daylock.core.audit import AuditFilters, audit_entries
from daylock.core.models import AuditLog
from daylock.core.readable import details_lines
from daylock.core.services import audit_record
from daylock.events.models import Challenge, Day, Event, Tier
from daylock.prizes import services as prize_services
from daylock.prizes.models import Fulfilment
from tests.config_override import production
from tests.events.factories import EventFactory, UserFactory

# --- details as lines --------------------------------------------------------------------


def test_details_are_lines_not_python_dicts() -> None:
    assert details_lines(
        {
            "model": "events.event",
            "changes": {"name": ["Old", "New"], "published": [False, True], "notes": ["", None]},
            "codes": ["A", "B"],
            "from": "player",
            "to": "admin",
            "nested": {"seconds": 1.5, "ok": True},
            "inlines": [
                {"added": "day “1”", "fields": {"title": "T", "number": 1}},
                {"deleted": "day “2”"},
            ],
        }
    ) == [
        "player → admin",
        "model: events.event",
        "name: Old → New",
        "published: no → yes",
        "notes: (empty) → —",
        "codes: A, B",
        "nested / seconds: 1.5",
        "nested / ok: yes",
        "inlines: added: day “1”; title: T; number: 1",
        "inlines: deleted: day “2”",
    ]


def test_details_of_every_shape_stay_readable() -> None:
    assert details_lines({}) == []
    assert details_lines(None) == []
    assert details_lines({"changed": {"role": ["player", "moderator"]}}) == [
        "role: player → moderator"
    ]
    assert details_lines({"list": [], "empty": {}}) == ["list: (none)"]
    assert details_lines("plain text") == ["plain text"]
    for line in details_lines({"a": {"b": {"c": [1, 2]}}, "d": [{"e": None}]}):
        assert "{" not in line and "[" not in line and "None" not in line


# --- the page --------------------------------------------------------------------------


def _client(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.mark.django_db
def test_moderators_and_admins_read_it_players_do_not() -> None:
    audit_record(action="prizes.draw_run", target="draw:12", details={"seed": "abc"})
    assert _client(None).get("/staff/audit/")["Location"].startswith("/auth/login/?next=")
    refused = _client(UserFactory()).get("/staff/audit/")
    assert refused.status_code == 403
    assert "you need the moderator or admin role" in refused.content.decode()
    for role in (Role.MODERATOR, Role.ADMIN):
        page = _client(UserFactory(role=role)).get("/staff/audit/")
        assert page.status_code == 200
        assert "draw:12" in page.content.decode()
    assert _client(UserFactory(role=Role.ADMIN)).post("/staff/audit/").status_code == 405


@pytest.mark.django_db
def test_details_are_rendered_as_lines_on_the_page() -> None:
    audit_record(
        action="accounts.admin_change",
        target="user pat",
        details={"changed": {"role": ["player", "moderator"]}, "reasons": ["a", "b"]},
        actor_label="ada",
    )
    page = _client(UserFactory(role=Role.MODERATOR)).get("/staff/audit/").content.decode()
    assert "<li>role: player → moderator</li>" in page
    assert "<li>reasons: a, b</li>" in page
    assert "{&#39;" not in page and "[&#39;" not in page


@pytest.fixture
def rows() -> None:
    audit_record(action="prizes.draw_run", target="draw:7", details={}, actor_label="ada")
    audit_record(action="prizes.draw_reroll", target="draw:7:rank:2", details={}, actor_label="mo")
    audit_record(action="prizes.draw_run", target="draw:71", details={}, actor_label="ada")
    audit_record(action="testtools.clock_set", target="clock of env", details={}, actor_label="cli")
    audit_record(action="testtools.day_unlock", target="user pat", details={}, actor_label="ada")


@pytest.mark.django_db
@pytest.mark.usefixtures("rows")
@pytest.mark.parametrize(
    ("filters", "targets"),
    [
        (AuditFilters(), {"draw:7", "draw:7:rank:2", "draw:71", "clock of env", "user pat"}),
        (AuditFilters(actor="ADA"), {"draw:7", "draw:71", "user pat"}),
        (AuditFilters(action="prizes.draw_run"), {"draw:7", "draw:71"}),
        (AuditFilters(action="testtools."), {"clock of env", "user pat"}),
        (AuditFilters(target="draw:7"), {"draw:7", "draw:7:rank:2"}),
        (AuditFilters(target="user pat"), {"user pat"}),
        (AuditFilters(actor="ada", target="draw:7"), {"draw:7"}),
        (AuditFilters(actor="nobody"), set()),
    ],
)
def test_filters_by_actor_action_and_object(filters: AuditFilters, targets: set[str]) -> None:
    assert {row.target for row in audit_entries(filters=filters)} == targets


@pytest.mark.django_db
@pytest.mark.usefixtures("rows")
def test_the_page_filters_from_the_query_string() -> None:
    client = _client(UserFactory(role=Role.MODERATOR))
    page = client.get("/staff/audit/", {"object": "draw:7", "actor": "mo"}).content.decode()
    assert "draw:7:rank:2" in page and "draw:71" not in page
    assert page.count("<tr data-audit-id=") == 1
    assert "1 entry matching" in page
    family = client.get("/staff/audit/", {"action": "testtools."}).content.decode()
    assert "clock of env" in family and "draw:71" not in family
    assert family.count("<tr data-audit-id=") == 2
    # Every actor, action and object links to its own filter.
    assert 'href="?actor=mo"' in page
    assert 'href="?action=prizes.draw_reroll"' in page
    assert 'href="?object=draw%3A7%3Arank%3A2"' in page


@pytest.mark.django_db
def test_pages_of_fifty_newest_first_keeping_the_filters() -> None:
    for n in range(120):
        audit_record(action="prizes.draw_run", target=f"draw:{n}", details={"n": n})
    audit_record(action="other.thing", target="x", details={})
    client = _client(UserFactory(role=Role.MODERATOR))
    first = client.get("/staff/audit/", {"action": "prizes.draw_run"}).content.decode()
    assert first.count("<tr data-audit-id=") == 50
    assert first.index("draw:119") < first.index("draw:118")
    assert "page 1 of 3" in first
    assert 'href="?action=prizes.draw_run&amp;page=2"' in first
    last = client.get("/staff/audit/", {"action": "prizes.draw_run", "page": "3"}).content.decode()
    assert last.count("<tr data-audit-id=") == 20 and "draw:0<" in last
    assert 'data-action="other.thing"' not in last
    beyond = client.get("/staff/audit/", {"action": "prizes.draw_run", "page": "99"})
    assert beyond.status_code == 200 and "page 3 of 3" in beyond.content.decode()
    nonsense = client.get("/staff/audit/", {"page": "x"})
    assert nonsense.status_code == 200


@pytest.fixture
def production_urlconf() -> Iterator[None]:
    with production():
        clear_url_caches()
        importlib.reload(daylock.urls)
        try:
            yield
        finally:
            clear_url_caches()
    importlib.reload(daylock.urls)
    clear_url_caches()


@pytest.mark.django_db
def test_readable_in_production(production_urlconf: None) -> None:
    audit_record(action="events.pack_import", target="event:3", details={"created": ["day 1"]})
    page = _client(UserFactory(role=Role.MODERATOR)).get("/staff/audit/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "event:3" in text and "created: day 1" in text
    assert "env-banner" not in text


# --- writes through the Django admin -----------------------------------------------------


class _FormReader(HTMLParser):
    """What a browser would submit from the page's admin form (``<form id=…_form>``)."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._in_form = False
        self._select: str | None = None
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("id", "").endswith("_form"):
            self._in_form = True
        if not self._in_form:
            return
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button", "file"):
            ticked = a.get("type") in ("checkbox", "radio")
            if ticked and "checked" not in a:
                return
            self.data.setdefault(name, []).append(a.get("value", "on" if ticked else ""))
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, [])
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select].append(a.get("value", ""))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.data[self._textarea] = ["".join(self._text).removeprefix("\n")]
            self._textarea = None


def form_of(client: Client, url: str) -> dict[str, Any]:
    page = client.get(url)
    assert page.status_code == 200, url
    reader = _FormReader()
    reader.feed(page.content.decode())
    assert reader.data, f"no admin form on {url}"
    return {k: v if len(v) != 1 else v[0] for k, v in reader.data.items()}


def submit(client: Client, url: str, data: dict[str, Any]) -> None:
    response = client.post(url, data)
    if response.status_code != 302:
        errors = [str(response.context["adminform"].form.errors)] if response.context else []
        for formset in (response.context or {}).get("inline_admin_formsets", []):
            errors.append(str(formset.formset.errors) + str(formset.formset.non_form_errors()))
        raise AssertionError(f"{url} answered {response.status_code}: {errors}")


@pytest.fixture
def admin_client(db: None) -> Client:
    """A Discord admin (role admin, not a superuser): what issue 14 found locked out."""
    return _client(UserFactory(username="ada", role=Role.ADMIN))


@pytest.mark.django_db
def test_an_admin_change_is_audited_old_to_new(admin_client: Client) -> None:
    event = EventFactory(name="Winter", days=False)
    url = f"/admin/events/event/{event.pk}/change/"
    data = form_of(admin_client, url)
    data["name"] = "Winter games"
    submit(admin_client, url, data)
    entry = AuditLog.objects.get(action="admin.change")
    assert (entry.actor_label, entry.target) == ("ada", f"event:{event.pk}")
    assert entry.details["changes"] == {"name": ["Winter", "Winter games"]}
    assert entry.details["model"] == "events.event"
    page = admin_client.get("/staff/audit/", {"object": f"event:{event.pk}"}).content.decode()
    assert "name: Winter → Winter games" in page


@pytest.mark.django_db
def test_inline_rows_are_audited_and_answers_stay_hidden(admin_client: Client) -> None:
    event = EventFactory(day_count=1)
    day = Day.objects.get(event=event)
    url = f"/admin/events/day/{day.pk}/change/"
    data = form_of(admin_client, url)
    data["title"] = "A new title"
    answer_fields = [k for k, v in data.items() if k.endswith("-answer") and v == "normal-1"]
    assert len(answer_fields) == 1
    data[answer_fields[0]] = "a new secret answer"
    submit(admin_client, url, data)
    assert Challenge.objects.get(day=day, tier=Tier.NORMAL).answer == "a new secret answer"
    entry = AuditLog.objects.get(action="admin.change", target=f"day:{day.pk}")
    assert entry.details["changes"]["title"] == ["Day 1 title", "A new title"]
    (inline,) = entry.details["inlines"]
    assert inline["changes"]["answer"] == ["(hidden)", "(hidden)"]
    text = str(entry.details)
    assert "normal-1" not in text and "a new secret answer" not in text
    lines = details_lines(entry.details)
    assert "title: Day 1 title → A new title" in lines
    assert any(line.startswith("inlines: changed: challenge") for line in lines)


@pytest.mark.django_db
def test_additions_and_deletions_are_audited_codes_hidden(admin_client: Client) -> None:
    event = EventFactory(day_count=1)
    prize = prize_services.prize_create(event=event, name="Keys", fulfilment=Fulfilment.CODE)
    url = f"/admin/prizes/prize/{prize.pk}/change/"
    data = form_of(admin_client, url)
    data["codes-TOTAL_FORMS"] = "1"
    data["codes-0-code"] = "SECRET-KEY-1"
    data["codes-0-prize"] = str(prize.pk)
    submit(admin_client, url, data)
    entry = AuditLog.objects.get(action="admin.change", target=f"prize:{prize.pk}")
    assert "SECRET-KEY-1" not in str(entry.details)
    assert entry.details["inlines"][0]["fields"]["code"] == "(hidden)"

    add = form_of(admin_client, "/admin/events/event/add/")
    add |= {"name": "Spring", "slug": "spring", "starts_on": "2030-03-01", "day_count": "2"}
    submit(admin_client, "/admin/events/event/add/", add)
    spring = Event.objects.get(slug="spring")
    added = AuditLog.objects.get(action="admin.add")
    assert added.target == f"event:{spring.pk}"
    assert added.details["fields"]["name"] == "Spring"
    assert added.details["fields"]["starts_on"] == "2030-03-01"

    submit(admin_client, f"/admin/events/event/{spring.pk}/delete/", {"post": "yes"})
    deleted = AuditLog.objects.get(action="admin.delete")
    assert deleted.target == f"event:{spring.pk}"
    assert deleted.details["fields"]["slug"] == "spring"
    assert deleted.actor_label == "ada"


@pytest.mark.django_db
def test_bulk_deletion_audits_each_object(admin_client: Client) -> None:
    events = [EventFactory(days=False) for _ in range(3)]
    response = admin_client.post(
        "/admin/events/event/",
        {"action": "delete_selected", "_selected_action": [e.pk for e in events], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Event.objects.filter(pk__in=[e.pk for e in events]).exists()
    assert {row.target for row in AuditLog.objects.filter(action="admin.delete")} == {
        f"event:{e.pk}" for e in events
    }


@pytest.mark.django_db
def test_a_refused_admin_write_leaves_no_audit_row() -> None:
    moderator = _client(UserFactory(role=Role.MODERATOR))
    event = EventFactory(name="Winter", days=False)
    response = moderator.post(f"/admin/events/event/{event.pk}/change/", {"name": "Hacked"})
    assert response.status_code == 403
    event.refresh_from_db()
    assert event.name == "Winter"
    assert not AuditLog.objects.exists()


@pytest.mark.django_db
def test_the_test_utilities_page_shows_the_same_readable_lines() -> None:
    entry = audit_record(
        action="testtools.clock_set",
        target="clock of the environment",
        details={"scope": "environment", "offset": "+2d", "had_override": False},
    )
    assert entry.details_lines == ["scope: environment", "offset: +2d", "had_override: no"]
    page = _client(UserFactory(role=Role.ADMIN)).get("/staff/testtools/audit/").content.decode()
    assert "scope: environment<br>offset: +2d<br>had_override: no" in page
    assert "{&#39;scope" not in page
