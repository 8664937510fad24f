from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from daylock import clock


class ClockMiddleware:
    """One consistent clock per request: the override table is read at most once."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with clock.request_scope():
            return self.get_response(request)
