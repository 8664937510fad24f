"""The Jinja2 environment of Daylock's pages.

Pages are Jinja2 templates (``src/daylock/jinja2/``), as in Zulip: Jinja2 compiles a
template to Python once, and rendering the day page — the most requested page —
took a seventh of the time Django's template language took for the same markup.
Django's own templates (the admin, form widgets) stay on Django's engine.

The helpers are Django's own, so a page formats dates, URLs and static files exactly
as Django would: ``url()`` is :func:`django.urls.reverse`, the filters are Django's
``date``, ``linebreaksbr``, ``pluralize``, ``yesno``, ``truncatechars`` and
``timezone``. Django's context processors run for every page (see ``TEMPLATES``), and
``csrf_input`` is the hidden CSRF field.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.template import defaultfilters
from django.templatetags.static import static
from django.templatetags.tz import do_timezone
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from jinja2 import Environment


def url(name: str, *args: Any) -> str:
    """``{{ url("events:day", slug, number) }}`` — Django's ``{% url %}``: :func:`reverse`."""
    return reverse(name, args=args or None)


def format_date(value: date | datetime | None, fmt: str) -> str:
    """Django's ``date`` filter, after the conversion to the current time zone that
    Django's engine applies to datetimes first — except to a value the ``timezone``
    filter already converted to the zone it should be shown in."""
    if value is None:
        return ""
    if (
        isinstance(value, datetime)
        and timezone.is_aware(value)
        and getattr(value, "convert_to_local_time", True)
    ):
        value = timezone.localtime(value)
    return str(defaultfilters.date(value, fmt))


def linebreaksbr(value: Any) -> SafeString:
    return defaultfilters.linebreaksbr(value, autoescape=True)


def environment(**options: Any) -> Environment:
    env = Environment(**options)  # noqa: S701 - the backend passes autoescape=True
    env.globals.update({"url": url, "static": static})
    env.filters.update(
        {
            "date": format_date,
            "linebreaksbr": linebreaksbr,
            "pluralize": defaultfilters.pluralize,
            "yesno": defaultfilters.yesno,
            "truncatechars": defaultfilters.truncatechars,
            "timezone": do_timezone,
        }
    )
    return env
