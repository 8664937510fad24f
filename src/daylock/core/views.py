from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from daylock.core import selectors


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "daylock/home.html")


def healthz(request: HttpRequest) -> JsonResponse:
    """Environment and the state of its stateful resources; never a secret or a URL."""
    report = selectors.health_report()
    return JsonResponse(report, status=200 if report["ok"] else 503)
