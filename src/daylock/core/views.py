from __future__ import annotations

import html
import logging
import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.utils.cache import add_never_cache_headers
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import requires_csrf_token

from daylock import config
from daylock.core import availability, selectors
from daylock.core.context_processors import offline_frame

logger = logging.getLogger(__name__)


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "daylock/home.html")


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
    return defaults.server_error(request)


def unavailable(request: HttpRequest) -> HttpResponse:
    """503 "back in a moment", in the site's frame with the environment banner.

    Rendered without the request's context processors: they read the session, the
    user and the clock override, all in the database that is away. Never cached."""
    context = {**offline_frame(), "retry_after": availability.RETRY_AFTER_SECONDS}
    try:
        body = loader.get_template("503.html").render(context)
    except Exception:  # a broken template must not turn the 503 into a 500
        logger.exception("could not render 503.html")
        banner = config.policy().banner
        body = (
            "<!doctype html><title>Back in a moment</title>"
            + (f"<p><strong>{html.escape(banner)}</strong></p>" if banner else "")
            + "<h1>Back in a moment</h1>"
        )
    response = HttpResponse(body, status=503)
    response["Retry-After"] = str(availability.RETRY_AFTER_SECONDS)
    add_never_cache_headers(response)
    return response
