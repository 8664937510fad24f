"""Pages whose HTML is a pure function of plain values: rendered once per process for
each distinct set of values, then served from memory.

Why: the day page is requested far more than any other, and rendering it cost about
as much as everything else its request does. Its HTML depends only on values the view
has anyway — the day, the player's progress on it, the frame's banner and viewer — so
identical values give identical HTML, apart from the hidden CSRF field, which Django
masks afresh for every response.

What makes it sound (checked by ``tests/core/test_pages.py``):

- The key is everything the template can see: the page's own context, which must be
  plain immutable values (str, numbers, dates, None, tuples and frozen dataclasses of
  them — a model instance is refused, since its attributes would not be in the key),
  the frame's values (:func:`daylock.core.context_processors.frame`), and what
  Django's helpers read besides their arguments (URL prefix and URLconf, active time
  zone and language). A str's type is part of the key, so escaped and unescaped text
  never share an entry.
- The template gets no ``request``: it renders from the key alone. The CSRF field is
  a per-process secret placeholder, replaced in each response by a freshly masked
  field.
- A request with flash messages waiting is rendered the ordinary way (showing the
  messages consumes them).
- Where Jinja2 reloads changed templates (``DEBUG``, the development default),
  nothing is memoised, so an edited template shows at once.
"""

from __future__ import annotations

import dataclasses
import functools
import secrets
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.messages import get_messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import engines
from django.template.backends.utils import csrf_input
from django.urls import get_script_prefix, get_urlconf
from django.utils import timezone, translation
from django.utils.safestring import mark_safe

from daylock.core.context_processors import frame

#: Distinct pages kept per process (a day page is ~6 KB: a few MB at most).
MEMO_SIZE = 512

_SCALARS = (str, int, float, bool, type(None), date, datetime, time, timedelta)

#: Stands for the CSRF field in memoised HTML; secret, so page content cannot forge it.
_CSRF_HOLE = mark_safe(f"<!--csrf-{secrets.token_hex(16)}-->")  # noqa: S308 - our constant


def _check_plain(name: str, value: Any) -> None:
    if isinstance(value, _SCALARS):
        return
    if isinstance(value, tuple):
        for item in value:
            _check_plain(name, item)
        return
    params = getattr(type(value), "__dataclass_params__", None)
    if params is not None and params.frozen:
        for field in dataclasses.fields(value):
            _check_plain(name, getattr(value, field.name))
        return
    raise TypeError(
        f"memoised page context {name!r} holds a {type(value).__name__}: only str, "
        "numbers, dates, None, tuples and frozen dataclasses of them can be part of the key"
    )


def render_memoised(
    request: HttpRequest, template_name: str, context: Mapping[str, Any]
) -> HttpResponse:
    """``render(request, template_name, context)``, memoised as the module says."""
    if engines["jinja2"].env.auto_reload or get_messages(request):  # type: ignore[attr-defined]
        return render(request, template_name, dict(context))
    values = {**frame(request), **context}
    key = tuple((name, type(value), value) for name, value in sorted(values.items()))
    environment = (
        get_urlconf(),
        get_script_prefix(),
        timezone.get_current_timezone_name(),
        translation.get_language(),
    )
    try:
        html = _render(template_name, key, environment)
    except TypeError:  # an unhashable value: say which, and what is allowed
        for name, value in values.items():
            _check_plain(name, value)
        raise
    if _CSRF_HOLE in html:
        html = html.replace(_CSRF_HOLE, csrf_input(request))
    return HttpResponse(html)


@functools.lru_cache(maxsize=MEMO_SIZE)
def _render(
    template_name: str,
    key: tuple[tuple[str, type, Any], ...],
    environment: tuple[str | None, str, str, str | None],
) -> str:
    """The HTML for one key (``environment`` is in the key; the helpers read it from the
    request's state, which is the same as when it was computed)."""
    context: dict[str, Any] = {"messages": (), "csrf_input": _CSRF_HOLE}
    for name, _, value in key:
        _check_plain(name, value)
        context[name] = value
    return str(engines["jinja2"].get_template(template_name).render(context))


def clear() -> None:
    """Forget every memoised page (tests that change what a template shows)."""
    _render.cache_clear()
