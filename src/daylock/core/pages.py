"""Pages whose HTML is a pure function of plain values: rendered once per process for
each distinct set of values, then served from memory.

Why: the day page is requested far more than any other, and rendering it cost about
as much as everything else its request does. Its HTML depends only on values the view
has anyway — the day, the player's progress on it, the frame's banner and viewer — so
identical values give identical HTML, apart from the hidden CSRF field, which Django
masks afresh for every response.

What makes it sound (checked by ``tests/core/test_page_memo.py``):

- The key is everything the template can see: the page's own context, which must be
  plain immutable values (str, numbers, dates, None, tuples and frozen dataclasses of
  them — a model instance is refused, since its attributes would not be in the key),
  the frame's values (:func:`daylock.core.context_processors.frame`), and what
  Django's helpers read besides their arguments (URL prefix and URLconf, active time
  zone and language). Every value's type is part of the key, at every level, so
  escaped and unescaped text never share an entry.
- The template gets no ``request``: it renders from the values the key is made of.
  The CSRF field is a per-process secret placeholder, replaced in each response by a
  freshly masked field.
- A request with flash messages waiting is rendered the ordinary way (showing the
  messages consumes them).
- Where Jinja2 reloads changed templates (``DEBUG``, the development default),
  nothing is memoised, so an edited template shows at once.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
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

_memo: OrderedDict[Hashable, str] = OrderedDict()
_lock = threading.Lock()  # the development server and tests run threads


@dataclass
class _Counts:
    hits: int = 0
    misses: int = 0


_counts = _Counts()


def _frozen(name: str, value: Any) -> Hashable:
    """``value`` as part of a key: with its type at every level (a SafeString and a
    str of the same text render differently), refusing what is not plain. Values
    that are equal but print differently are told apart too: the same instant in
    two time zones, 0.0 and -0.0."""
    kind = type(value)
    if isinstance(value, datetime | time):
        return (kind, value, value.tzinfo)
    if isinstance(value, float):
        return (kind, repr(value))
    if isinstance(value, _SCALARS):
        return (kind, value)
    if kind is tuple:
        return (kind, tuple(_frozen(name, item) for item in value))
    params = getattr(kind, "__dataclass_params__", None)
    if params is not None and params.frozen:
        fields = kind.__dataclass_fields__
        return (kind, tuple(_frozen(name, getattr(value, field)) for field in fields))
    raise TypeError(
        f"memoised page context {name!r} holds a {kind.__name__}: only str, "
        "numbers, dates, None, tuples and frozen dataclasses of them can be part of the key"
    )


def render_memoised(
    request: HttpRequest, template_name: str, context: Mapping[str, Any]
) -> HttpResponse:
    """``render(request, template_name, context)``, memoised as the module says."""
    if engines["jinja2"].env.auto_reload or get_messages(request):  # type: ignore[attr-defined]
        return render(request, template_name, dict(context))
    values = {**frame(request), **context}
    key = (
        template_name,
        get_urlconf(),
        get_script_prefix(),
        timezone.get_current_timezone_name(),
        translation.get_language(),
        tuple((name, _frozen(name, value)) for name, value in sorted(values.items())),
    )
    with _lock:
        html = _memo.get(key)
        if html is not None:
            _memo.move_to_end(key)
            _counts.hits += 1
    if html is None:
        page = {"messages": (), "csrf_input": _CSRF_HOLE, **values}
        html = str(engines["jinja2"].get_template(template_name).render(page))
        with _lock:
            _counts.misses += 1
            _memo[key] = html
            if len(_memo) > MEMO_SIZE:
                _memo.popitem(last=False)
    if _CSRF_HOLE in html:
        html = html.replace(_CSRF_HOLE, csrf_input(request))
    return HttpResponse(html)


def counts() -> tuple[int, int, int]:
    """(hits, misses, pages kept) since the process started or :func:`clear`."""
    with _lock:
        return _counts.hits, _counts.misses, len(_memo)


def clear() -> None:
    """Forget every memoised page (tests that change what a template shows)."""
    with _lock:
        _memo.clear()
        _counts.hits = _counts.misses = 0
