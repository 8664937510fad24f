"""Who may open staff pages: one rule for the outbox, prizes and test utilities."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

View = Callable[..., HttpResponse]


def is_staff_user(user: Any) -> bool:
    """Django staff, or a Daylock moderator/admin; never a banned account."""
    return bool(
        getattr(user, "is_authenticated", False)
        and not getattr(user, "is_banned", False)
        and (getattr(user, "is_staff", False) or getattr(user, "is_moderator", False))
    )


def staff_required(area: str) -> Callable[[View], View]:
    """Anonymous visitors go to the login page; logged-in non-staff get a 403."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not is_staff_user(request.user):
                raise PermissionDenied(f"{area} is for staff only")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
