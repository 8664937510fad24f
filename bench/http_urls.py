"""Daylock's URLs plus ``/bench/plain``: a Django view returning 20 bytes (the baseline
of ``bench_http``). Only ever served by the benchmark."""

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, path

from daylock.urls import urlpatterns as daylock_urlpatterns

PLAIN_BODY = b"daylock bench plain\n"


def plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse(PLAIN_BODY, content_type="text/plain")


urlpatterns: list[URLPattern | URLResolver] = [
    path("bench/plain", plain),
    *daylock_urlpatterns,
]
