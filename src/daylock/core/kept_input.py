"""Nothing a player typed is lost to an expired session (issue 16 item 4).

A form sent from a page opened long ago can fail for reasons that have nothing to do
with what was typed: the session expired (the POST arrives logged out), or the form's
CSRF token went stale (the CSRF cookie changed since — a login in another tab rotates
it — or was cleared). Both used to end on a 405 or a 403 page, with the text gone.

A view decorated with :func:`keeps_input` keeps the fields it names instead:
server-side, in the session the browser has now (a new anonymous one if the old one
expired — Django's ``login()`` keeps an anonymous session's data when it cycles the
key), under the path of the page the form is on, for :data:`KEEP_SECONDS`. The player
is sent to log in with ``next`` = that page, or straight back to it when still logged
in; the page calls :func:`take` and puts the values back in the field with a note. They
are never submitted for the player: the player checks them and submits again.

Never in a URL or a cookie: answers are secrets, and URLs end up in logs and browser
histories. Kept for the browser, not for an account (the expired session no longer
says whose it was): whoever logs in next in that browser within :data:`KEEP_SECONDS`
gets it back — no more than the tab it was typed in shows to whoever sits there.

A CSRF failure is rescued only for a request whose ``Origin`` is this site: browsers
send it with every form POST and no page elsewhere can forge it, so text that
another site's form posts is never kept (it gets the usual 403).

:func:`post_only` replaces ``require_POST``: a GET of a form's address (bookmarked,
shared, or a ``next`` from before) is sent to the page the form is on, never a 405;
:func:`landing` says where such an address leads, for code that redirects to it.
"""

from __future__ import annotations

import enum
import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.urls import Resolver404, resolve

View = TypeVar("View", bound=Callable[..., HttpResponse])

#: Session key of the kept values: ``{page path: record}``.
SESSION_KEY = "daylock_kept_input"
#: How long kept values wait for the player (a Discord login takes a minute or two).
KEEP_SECONDS = 15 * 60
#: Longest value kept per field (longer values are cut: every form using this has a
#: smaller limit, so the form's own length error still shows).
MAX_FIELD_CHARS = 4000
#: Pages with kept values per session; the oldest goes first.
MAX_PAGES = 4

_FORM_SPEC = "daylock_kept_input_form"
_GET_PAGE = "daylock_kept_input_get_page"


class Why(enum.StrEnum):
    SESSION_EXPIRED = "session-expired"
    FORM_EXPIRED = "form-expired"  # logged in, but the CSRF token was stale


@dataclass(frozen=True)
class Kept:
    """What was typed into one form of a page, and why it was not sent."""

    #: Which form of the page (the day page has one per tier).
    form: str
    fields: dict[str, str]
    why: Why
    #: What the form sends, for the note ("answer", "feedback").
    what: str

    @property
    def note(self) -> str:
        """Said next to the field the values are back in."""
        cause = "This form had expired" if self.why is Why.FORM_EXPIRED else "Your session expired"
        return f"{cause}, so your {self.what} was not sent. We kept it: check it and submit again."

    @property
    def waiting_note(self) -> str:
        """Said to a visitor who is not logged in (yet) where the form would be."""
        return (
            f"Your session expired, so your {self.what} was not sent. It is kept for a "
            f"while: log in again to get it back here."
        )


@dataclass(frozen=True)
class FormSpec:
    """How to rescue one view's form. Each callable gets the view's URL arguments."""

    page: Callable[..., str]  # the URL of the page the form is on (a fragment is allowed)
    form: Callable[..., str]
    fields: tuple[str, ...]
    what: str


def _page_path(url: str) -> str:
    return urlsplit(url).path


def _records(request: HttpRequest, now: float) -> dict[str, dict[str, Any]]:
    """The session's kept records that are still fresh."""
    stored = request.session.get(SESSION_KEY)
    if not isinstance(stored, dict):
        return {}
    return {
        page: record
        for page, record in stored.items()
        if isinstance(record, dict) and now - float(record.get("at", 0)) < KEEP_SECONDS
    }


def keep(
    request: HttpRequest,
    *,
    page: str,
    form: str,
    what: str,
    fields: Mapping[str, str],
    why: Why,
) -> None:
    """Keep ``fields`` for the page at ``page`` (replacing what was kept for it)."""
    now = time.time()
    records = _records(request, now)
    records.pop(_page_path(page), None)
    records[_page_path(page)] = {
        "at": now,
        "form": form,
        "what": what,
        "why": why.value,
        "fields": {name: value[:MAX_FIELD_CHARS] for name, value in fields.items()},
    }
    request.session[SESSION_KEY] = dict(list(records.items())[-MAX_PAGES:])


def peek(request: HttpRequest, *, path: str) -> Kept | None:
    """What is kept for the page at ``path``, left in place. Reads the session only
    (no query when it is already loaded, none without a session cookie)."""
    record = _records(request, time.time()).get(path)
    if record is None:
        return None
    return Kept(
        form=str(record["form"]),
        fields={str(k): str(v) for k, v in record["fields"].items()},
        why=Why(record["why"]),
        what=str(record["what"]),
    )


def take(request: HttpRequest, *, path: str) -> Kept | None:
    """What is kept for the page at ``path``, removed (shown once)."""
    kept = peek(request, path=path)
    if kept is not None:
        records = _records(request, time.time())
        records.pop(path, None)
        if records:
            request.session[SESSION_KEY] = records
        else:
            del request.session[SESSION_KEY]
    return kept


def login_url(next_url: str) -> str:
    return f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': next_url})}"


def _rescue(request: HttpRequest, spec: FormSpec, arguments: dict[str, Any]) -> HttpResponse:
    """Keep what the POST carries for ``spec``'s fields; send the player to log in, or
    back to the page when the session is still theirs."""
    # Without its fragment: a URL fragment naming an element cancels ``autofocus`` (the
    # HTML standard's rules), and the field with the kept text is to have the focus.
    page = spec.page(**arguments).partition("#")[0]
    signed_in = request.user.is_authenticated
    values = {name: request.POST.get(name, "") for name in spec.fields}
    typed = any(values.values())
    if typed:
        keep(
            request,
            page=page,
            form=spec.form(**arguments),
            what=spec.what,
            fields=values,
            why=Why.FORM_EXPIRED if signed_in else Why.SESSION_EXPIRED,
        )
    if signed_in:
        if not typed:
            messages.info(request, f"This form had expired, so your {spec.what} was not sent.")
        return HttpResponseRedirect(page)
    if typed:
        messages.info(
            request,
            f"Your session expired, so your {spec.what} was not sent. Log in again: it is "
            f"kept, and back in its field when you return.",
        )
    else:
        messages.info(request, "Your session expired: log in again.")
    return HttpResponseRedirect(login_url(page))


def keeps_input(
    *,
    page: Callable[..., str],
    fields: tuple[str, ...],
    what: str,
    form: Callable[..., str] = lambda **_: "form",
) -> Callable[[View], View]:
    """Rescue the view's form when it arrives logged out (here) or with a stale CSRF
    token (:func:`rescue_csrf_failure`). Logged-in POSTs and other methods go to the
    view (put ``login_required`` inside this, for its GET)."""
    spec = FormSpec(page=page, form=form, fields=fields, what=what)

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def rescuing(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method == "POST" and not request.user.is_authenticated:
                return _rescue(request, spec, kwargs)
            return view(request, *args, **kwargs)

        # functools.wraps copies __dict__, so outer decorators carry the spec up to the
        # callback the resolver returns.
        rescuing.__dict__[_FORM_SPEC] = spec
        return rescuing  # type: ignore[return-value]

    return decorate


def post_only(page: Callable[..., str]) -> Callable[[View], View]:
    """Like ``require_POST``, but a GET or HEAD is redirected to ``page`` (given the
    view's URL arguments): the page the form is on."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def posting(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method in ("GET", "HEAD"):
                return HttpResponseRedirect(page(**kwargs))
            if request.method != "POST":
                return HttpResponseNotAllowed(["POST"])
            return view(request, *args, **kwargs)

        posting.__dict__[_GET_PAGE] = page
        return posting  # type: ignore[return-value]

    return decorate


def landing(url: str) -> str:
    """``url``, or the page it redirects a GET to when it is a :func:`post_only` form
    address (so a ``next`` never names one). ``url`` must already be a local one."""
    try:
        match = resolve(_page_path(url))
    except Resolver404:
        return url
    page = getattr(match.func, _GET_PAGE, None)
    return page(**match.kwargs) if callable(page) else url


def _from_this_site(request: HttpRequest) -> bool:
    origin = request.META.get("HTTP_ORIGIN")
    if not origin:
        return False
    scheme = "https" if request.is_secure() else "http"
    return origin == f"{scheme}://{request.get_host()}" or origin in settings.CSRF_TRUSTED_ORIGINS


def rescue_csrf_failure(request: HttpRequest) -> HttpResponse | None:
    """For ``CSRF_FAILURE_VIEW``: the rescue of a :func:`keeps_input` form sent from
    this site with a stale or missing token; None for anything else (the 403 page)."""
    if request.method != "POST" or not _from_this_site(request):
        return None
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return None
    spec = getattr(match.func, _FORM_SPEC, None)
    if not isinstance(spec, FormSpec):
        return None
    return _rescue(request, spec, match.kwargs)
