"""Daylock's URLs plus bench-only views, only ever served by the benchmark (each answers
20 bytes):

- ``/bench/plain``: nothing else (for scale: what Django itself costs here);
- ``/bench/whoami``: the logged-in player's name after reading the session and
  ``request.user`` the usual Django way — the bare logged-in baseline of the day page;
- ``/bench/insert`` (POST, CSRF-checked like any form): the same, plus one INSERT (a
  wrong answer, as the storm's wrong POST writes) — with ``whoami``, the bare request
  mix the unlock storm is compared with.

:class:`EchoPlayer` (first in ``MIDDLEWARE``, see ``http_settings``) copies the
``X-Bench-Player`` request header into the response, so wrk's Lua script knows whose
answer it reads and sends each player's next request only after the previous answer.
"""

import os
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, path
from django.utils import timezone

from daylock.events.models import Tier, WrongAnswer
from daylock.urls import urlpatterns as daylock_urlpatterns

PLAIN_BODY = b"daylock bench plain\n"
INSERTED_BODY = b"daylock bench insert"
#: The day the storm plays (set by bench_http for the server).
DAY_ID = int(os.environ.get("DAYLOCK_BENCH_DAY_ID", "0"))


class EchoPlayer:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        player = request.headers.get("X-Bench-Player")
        if player is not None:
            response["X-Bench-Player"] = player
        return response


def plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse(PLAIN_BODY, content_type="text/plain")


def whoami(request: HttpRequest) -> HttpResponse:
    name = request.user.get_username().encode()
    return HttpResponse(name[:20].ljust(20), content_type="text/plain")


def insert(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponse(status=405)
    if not request.user.is_authenticated:
        return HttpResponse(status=401)
    WrongAnswer.objects.create(
        user_id=request.user.pk,
        day_id=DAY_ID,
        tier=Tier.NORMAL,
        answer="bench",
        created_at=timezone.now(),
    )
    return HttpResponse(INSERTED_BODY, content_type="text/plain")


urlpatterns: list[URLPattern | URLResolver] = [
    path("bench/plain", plain),
    path("bench/whoami", whoami),
    path("bench/insert", insert),
    *daylock_urlpatterns,
]
