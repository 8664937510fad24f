"""Login with Discord, the OAuth2 callback, and logout. Thin: the protocol lives in
:mod:`daylock.accounts.oauth`, the writes in :mod:`daylock.accounts.services`."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from daylock.accounts import oauth, services
from daylock.core import kept_input

logger = logging.getLogger(__name__)

#: Where to go after a successful login (a local path, checked when stored and used).
_NEXT_KEY = "daylock_login_next"


def _safe_next(request: HttpRequest, candidate: str | None) -> str | None:
    """A path on this site (never another host, scheme-relative or backslashed URL);
    a form's POST-only address is replaced by the page the form is on."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return kept_input.landing(candidate)
    return None


@never_cache
@require_http_methods(["GET", "POST"])
def login_page(request: HttpRequest) -> HttpResponse:
    """GET shows the "Log in with Discord" button; POST (CSRF-checked) starts the flow."""
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if request.method == "POST":
        if next_url:
            request.session[_NEXT_KEY] = next_url
        else:
            request.session.pop(_NEXT_KEY, None)
        return oauth.start_login(request)
    return render(request, "accounts/login.html", {"next": next_url or ""})


@never_cache
@require_GET
def discord_callback(request: HttpRequest) -> HttpResponse:
    try:
        identity = oauth.finish_login(request)
        user = services.user_login_from_discord(profile=identity.profile, member=identity.member)
    except oauth.LoginFailure as failure:
        logger.info("discord login failed: %s", failure)
        return _failed(request, failure.status, failure.kind, failure.message, failure.detail)
    except services.LoginRefused as refusal:
        logger.info("discord login refused: %s", refusal.reason)
        return _failed(request, 403, refusal.reason, refusal.message)
    next_url = _safe_next(request, request.session.pop(_NEXT_KEY, None))
    login(request, user, backend="daylock.accounts.backends.DaylockBackend")
    return HttpResponseRedirect(next_url or settings.LOGIN_REDIRECT_URL)


def _failed(
    request: HttpRequest, status: int, kind: str, message: str, detail: str = ""
) -> HttpResponse:
    return render(
        request,
        "accounts/login_failed.html",
        {
            "kind": kind,
            "message": message,
            "detail": detail,
            "retry_url": reverse("accounts:login"),
        },
        status=status,
    )


@kept_input.post_only(page=lambda: reverse("accounts:login"))
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return HttpResponseRedirect(reverse("home"))
