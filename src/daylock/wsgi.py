"""The WSGI application for gunicorn: every guard runs before the first request.

A refusal prints ``daylock: refused: …`` and exits 2 while the application loads, so
a misconfigured server never answers a request.
"""

from __future__ import annotations

import gc

from django.core.handlers.wsgi import WSGIHandler
from django.urls import get_resolver

from daylock.guardrails import setup_guarded

setup_guarded()
application = WSGIHandler()

# Load every view module and URL pattern now, then move everything the start created
# to the collector's permanent generation (``gc.freeze``): those objects live as long
# as the process, and without this every full collection walks all of them again —
# the longest pauses a page view could otherwise hit.
get_resolver().url_patterns  # noqa: B018 - imports the URLconf and its views
gc.freeze()
