"""The memoised ``{% url %}`` builtin renders exactly what Django's tag renders, under
a changed URLconf, script prefix or namespace too, and fails the same way."""

from __future__ import annotations

import pytest
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.test import override_settings
from django.urls import NoReverseMatch, clear_url_caches, path, reverse, set_script_prefix

from daylock.core import urlmemo


def render(source: str, context: dict[str, object] | None = None) -> str:
    return engines["django"].from_string(source).render(context or {})


def dummy_view(request: HttpRequest) -> HttpResponse:  # never called: only reversed
    raise AssertionError


urlpatterns = [path("elsewhere/<slug:slug>/", dummy_view, name="event")]


def test_the_builtin_is_the_memoised_tag() -> None:
    template = engines["django"].from_string("{% url 'events:list' %}")
    nodes = template.template.nodelist  # type: ignore[attr-defined]
    assert isinstance(nodes[0], urlmemo.MemoURLNode)


def test_renders_what_django_reverses() -> None:
    source = (
        "{% url 'events:list' %}|{% url 'events:day' slug 3 %}|"
        "{% url 'events:answer' slug=slug number=2 tier='normal' %}|{% url 'home' %}"
    )
    expected = "|".join(
        [
            reverse("events:list"),
            reverse("events:day", args=["demo", 3]),
            reverse("events:answer", kwargs={"slug": "demo", "number": 2, "tier": "normal"}),
            reverse("home"),
        ]
    )
    for _ in range(2):  # the second time from the memo
        assert render(source, {"slug": "demo"}) == expected


def test_arguments_are_escaped_and_keyed_apart() -> None:
    assert render("{% url 'events:event' s %}", {"s": "a-b"}) == "/events/a-b/"
    assert render("{% url 'events:event' s %}", {"s": "c-d"}) == "/events/c-d/"


def test_a_changed_urlconf_is_not_served_from_the_memo() -> None:
    assert render("{% url 'events:event' 'x' %}") == "/events/x/"
    with override_settings(ROOT_URLCONF=__name__):
        clear_url_caches()
        assert render("{% url 'event' 'x' %}") == "/elsewhere/x/"
        with pytest.raises(NoReverseMatch):
            render("{% url 'events:event' 'x' %}")
    clear_url_caches()
    assert render("{% url 'events:event' 'x' %}") == "/events/x/"


def test_the_script_prefix_is_part_of_the_key() -> None:
    assert render("{% url 'events:list' %}") == "/events/"
    set_script_prefix("/mounted/")
    try:
        assert render("{% url 'events:list' %}") == "/mounted/events/"
    finally:
        set_script_prefix("/")
    assert render("{% url 'events:list' %}") == "/events/"


def test_failures_behave_like_djangos_tag() -> None:
    with pytest.raises(NoReverseMatch):
        render("{% url 'events:no-such-view' %}")
    assert render("{% url 'events:no-such-view' as link %}[{{ link }}]") == "[]"
    assert render("{% url 'events:list' as link %}[{{ link }}]") == "[/events/]"


def test_unmemoisable_arguments_are_reversed_directly() -> None:
    class Slug:
        def __str__(self) -> str:
            return "objslug"

    assert render("{% url 'events:event' s %}", {"s": Slug()}) == "/events/objslug/"
    # True == 1 as a dict key, but Django does not reverse them alike: never conflated.
    assert render("{% url 'events:day' 'd' n %}", {"n": 1}) == "/events/d/day/1/"
    with pytest.raises(NoReverseMatch):
        reverse("events:day", args=["d", True])
    with pytest.raises(NoReverseMatch):
        render("{% url 'events:day' 'd' n %}", {"n": True})


def test_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(urlmemo, "MAX_ENTRIES", 3)
    for n in range(10):
        assert render("{% url 'events:event' s %}", {"s": f"e{n}"}) == f"/events/e{n}/"
    assert all(len(memo) <= 3 for memo in urlmemo._memos.values())
