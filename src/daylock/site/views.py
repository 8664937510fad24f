"""Core pages: home, health, the staff audit log, and the error pages (400, 403,
404, 500, the CSRF failure and the 503 of a reset), all in the site's frame with the
environment banner."""

from __future__ import annotations

import html
import logging
import sys
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.utils.cache import add_never_cache_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import requires_csrf_token
from django.views.decorators.http import require_GET

from daylock import config
from daylock.accounts.permissions import Perm, permission_required
from daylock.core import audit, availability, kept_input, selectors
from daylock.events import schedule
from daylock.events import selectors as event_selectors
from daylock.prizes import selectors as prize_selectors
from daylock.site.context_processors import offline_frame

logger = logging.getLogger(__name__)


#: Finished events on the home page (the event list has them all).
HOME_FINISHED_SHOWN = 5


def home(request: HttpRequest) -> HttpResponse:
    """Running events first, today's day of each as the main link, with the countdown
    to the next unlock; then upcoming and recently finished events."""
    user = request.user
    user_id = user.pk if user.is_authenticated else None
    overview = schedule.events_overview(
        events=list(event_selectors.events_published()), user_id=user_id
    )
    finished = overview.finished[:HOME_FINISHED_SHOWN]
    return render(
        request,
        "daylock/home.html",
        {
            "overview": overview,
            "finished": finished,
            "more_finished": len(overview.finished) > len(finished),
            "results": prize_selectors.draws_by_event(event_ids=[s.event.pk for s in finished]),
        },
    )


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Environment and the state of its stateful resources; never a secret or a URL.
    Never cached: a 503 from a moment ago says nothing about now."""
    report = selectors.health_report()
    response = JsonResponse(report, status=200 if report["ok"] else 503)
    if not report["ok"]:
        response["Retry-After"] = str(availability.RETRY_AFTER_SECONDS)
    return response


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: Django calls it for every exception a view or a middleware lets
    through (outside ``DEBUG``), with the exception still being handled.

    A database error while the database is away — ``daylock reset`` replacing it —
    answers 503 with ``Retry-After`` (:func:`unavailable`); anything else, including a
    database error on a healthy database, is Django's usual 500. Django logs either
    with its traceback (``django.request``) before calling this."""
    try:
        away = availability.database_unavailable(sys.exc_info()[1])
    except Exception:  # the error page must not fail in turn: a 500 then, as before
        logger.exception("could not tell whether the database is away")
        away = False
    if away:
        return unavailable(request)
    # Rendered without the request's context processors, as Django does: whatever
    # failed may fail again while reading the session, the user or the clock.
    return _offline_page("500.html", status=500, title="Server error")


def unavailable(request: HttpRequest) -> HttpResponse:
    """503 "back in a moment", in the site's frame with the environment banner.

    Rendered without the request's context processors: they read the session, the
    user and the clock override, all in the database that is away. Never cached."""
    response = _offline_page(
        "503.html",
        status=503,
        title="Back in a moment",
        context={"retry_after": availability.RETRY_AFTER_SECONDS},
    )
    response["Retry-After"] = str(availability.RETRY_AFTER_SECONDS)
    add_never_cache_headers(response)
    return response


def _bare_page(title: str) -> str:
    """The last resort when even the template fails: still says which environment."""
    banner = config.policy().banner
    return (
        f"<!doctype html><title>{html.escape(title)}</title>"
        + (f'<p class="env-banner"><strong>{html.escape(banner)}</strong></p>' if banner else "")
        + f"<h1>{html.escape(title)}</h1>"
    )


def _offline_page(
    template_name: str, *, status: int, title: str, context: dict[str, Any] | None = None
) -> HttpResponse:
    """A page in the frame without the request's context processors (banner, nobody
    signed in, no moved clock)."""
    try:
        body = loader.get_template(template_name).render({**offline_frame(), **(context or {})})
    except Exception:  # a broken template must not turn an error page into a 500
        logger.exception("could not render %s", template_name)
        body = _bare_page(title)
    return HttpResponse(body, status=status)


def _error_page(
    request: HttpRequest,
    template_name: str,
    *,
    status: int,
    title: str,
    context: dict[str, Any] | None = None,
) -> HttpResponse:
    """An error page in the site's frame, with the request's context (who is signed
    in, a moved clock); if that fails, the frame without it."""
    try:
        body = loader.render_to_string(template_name, context or {}, request=request)
    except Exception:
        logger.exception("could not render %s with the request's context", template_name)
        return _offline_page(template_name, status=status, title=title, context=context)
    return HttpResponse(body, status=status)


@requires_csrf_token
def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler400``: a malformed request (a Host not served here, too many fields…).
    Never reads ``request.get_host()``: it may be what was wrong."""
    return _error_page(request, "400.html", status=400, title="Bad request")


@requires_csrf_token
def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler403``: shows the refusal's message (which role a page needs)."""
    return _error_page(
        request, "403.html", status=403, title="Not allowed", context={"exception": str(exception)}
    )


@requires_csrf_token
def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler404``."""
    return _error_page(request, "404.html", status=404, title="Not found")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """``CSRF_FAILURE_VIEW``: a form sent without a valid CSRF token. A player's form
    sent from this site with a stale token goes back to its page with what was typed
    (:func:`daylock.core.kept_input.rescue_csrf_failure`)."""
    rescued = kept_input.rescue_csrf_failure(request)
    if rescued is not None:
        return rescued
    return _error_page(
        request, "403_csrf.html", status=403, title="Form expired", context={"reason": reason}
    )


# --- the audit log ---------------------------------------------------------------------


@permission_required(Perm.READ_AUDIT)
@require_GET
def audit_list(request: HttpRequest) -> HttpResponse:
    """The audit log, in every environment (production included), read-only."""
    filters = audit.AuditFilters(
        actor=request.GET.get("actor", "").strip(),
        action=request.GET.get("action", "").strip(),
        target=request.GET.get("object", "").strip(),
    )
    page = audit.audit_page(filters=filters, page=request.GET.get("page"))
    kept = {
        key: value
        for key, value in (
            ("actor", filters.actor),
            ("action", filters.action),
            ("object", filters.target),
        )
        if value
    }

    def page_query(number: int) -> str:
        return urlencode({**kept, "page": number})

    return render(
        request,
        "staff/audit.html",
        {
            "filters": filters,
            "page": page,
            "page_query": page_query,
            "actions": audit.audit_actions(),
            "actors": audit.audit_actors(),
        },
    )
