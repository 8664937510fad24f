"""Daylock's URLs plus two bench-only views, only ever served by the benchmark:
``/bench/plain`` returns 20 bytes (the baseline of ``bench_http``), ``/bench/whoami``
returns 20 bytes after logging the session's user in the usual way (session from
Redis, the user's row from PostgreSQL, no page of its own)."""

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, path

from daylock.urls import urlpatterns as daylock_urlpatterns

PLAIN_BODY = b"daylock bench plain\n"


def plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse(PLAIN_BODY, content_type="text/plain")


def whoami(request: HttpRequest) -> HttpResponse:
    name = request.user.get_username().encode()
    return HttpResponse(name[:20].ljust(20), content_type="text/plain")


urlpatterns: list[URLPattern | URLResolver] = [
    path("bench/plain", plain),
    path("bench/whoami", whoami),
    *daylock_urlpatterns,
]
