"""Day content: Markdown rendered to HTML, then sanitised.

Markdown passes raw HTML through, so its output is never trusted: :mod:`nh3` keeps
only a fixed set of formatting tags and attributes, drops scripts, styles, event
handlers and ``javascript:`` links, and marks links ``noopener noreferrer nofollow``.

Rendering costs milliseconds (a Markdown object per call, then the sanitiser), while a
day page is otherwise a fraction of a millisecond, so results are kept in a small
per-process LRU keyed by the text itself: a changed body is a different key, so
nothing is ever stale and nothing needs invalidating.
"""

from __future__ import annotations

from functools import lru_cache

import markdown as markdown_lib
import nh3
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4",
        "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "strong", "sub", "sup",
        "table", "tbody", "td", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title"},
    "td": {"align"},
    "th": {"align"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})


#: Distinct bodies kept per process, and the longest body kept (bounds the memory:
#: at most CACHE_SIZE x CACHE_MAX_CHARS of source plus its HTML).
CACHE_SIZE = 512
CACHE_MAX_CHARS = 64 * 1024


def render_markdown(text: str) -> SafeString:
    """Sanitised HTML for ``text`` (Markdown with fenced code and tables), rendered
    once per process and distinct text."""
    html = _render_cached(text) if len(text) <= CACHE_MAX_CHARS else _render(text)
    return mark_safe(html)  # noqa: S308 - sanitised by nh3 in _render


def _render(text: str) -> str:
    html = markdown_lib.markdown(text, extensions=["fenced_code", "tables", "sane_lists"])
    cleaned = nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style"},
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
    )
    return cleaned


_render_cached = lru_cache(maxsize=CACHE_SIZE)(_render)
