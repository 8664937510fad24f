"""``{% url %}`` with a per-process memo of reversed URLs (a template builtin, see
``TEMPLATES`` in settings, so every template gets it without ``{% load %}``).

Reversing walks the URL patterns and quotes the arguments every time; the ten or so
links of a page cost a fifth of its rendering. A reversed URL depends only on the
URL configuration in force, the script prefix, the language, the namespace rendered
under and the arguments, so it is memoised per URL resolver object (a changed
``ROOT_URLCONF``, a per-request urlconf or ``clear_url_caches()`` gives a new
resolver, hence a fresh memo) and keyed by the rest. Only plain ``str`` and ``int``
arguments are memoised; anything else is reversed as Django does. Behaviour —
errors, ``as var``, escaping — is Django's own tag's.
"""

from __future__ import annotations

import weakref
from typing import Any

from django import template
from django.template import defaulttags
from django.template.base import Parser, Token
from django.template.context import Context
from django.urls import NoReverseMatch, URLResolver, get_resolver, get_script_prefix, get_urlconf
from django.urls import reverse as django_reverse
from django.utils.html import conditional_escape
from django.utils.translation import get_language

register = template.Library()

#: Entries kept per resolver before the memo starts over (bounds memory).
MAX_ENTRIES = 4096
_memos: weakref.WeakKeyDictionary[URLResolver, dict[tuple[Any, ...], str]] = (
    weakref.WeakKeyDictionary()
)


def _plain(value: object) -> bool:
    return isinstance(value, str) or type(value) is int


def reverse(
    view_name: Any, args: list[Any], kwargs: dict[str, Any], current_app: str | None
) -> str:
    """``django.urls.reverse``, memoised where the arguments allow it."""
    if not (
        isinstance(view_name, str)
        and all(_plain(arg) for arg in args)
        and all(_plain(value) for value in kwargs.values())
    ):
        return django_reverse(view_name, args=args, kwargs=kwargs, current_app=current_app)
    resolver = get_resolver(get_urlconf())
    memo = _memos.get(resolver)
    if memo is None:
        memo = _memos[resolver] = {}
    key = (
        view_name,
        tuple(args),
        tuple(sorted(kwargs.items())),
        current_app,
        get_script_prefix(),
        get_language(),
    )
    url = memo.get(key)
    if url is None:
        url = django_reverse(view_name, args=args, kwargs=kwargs, current_app=current_app)
        if len(memo) >= MAX_ENTRIES:
            memo.clear()
        memo[key] = url
    return url


class MemoURLNode(defaulttags.URLNode):
    def render(self, context: Context) -> str:
        # Django's URLNode.render, calling the memoised reverse.
        args = [arg.resolve(context) for arg in self.args]
        kwargs = {k: v.resolve(context) for k, v in self.kwargs.items()}
        view_name = self.view_name.resolve(context)
        request = getattr(context, "request", None)
        try:
            current_app = request.current_app  # type: ignore[union-attr]
        except AttributeError:
            try:
                current_app = request.resolver_match.namespace  # type: ignore[union-attr]
            except AttributeError:
                current_app = None
        url = ""
        try:
            url = reverse(view_name, args, kwargs, current_app)
        except NoReverseMatch:
            if self.asvar is None:
                raise
        if self.asvar:
            context[self.asvar] = url
            return ""
        if context.autoescape:
            url = conditional_escape(url)
        return url


@register.tag
def url(parser: Parser, token: Token) -> MemoURLNode:
    """Django's ``{% url %}`` (same syntax), memoised."""
    node = defaulttags.url(parser, token)
    return MemoURLNode(node.view_name, node.args, node.kwargs, node.asvar)
