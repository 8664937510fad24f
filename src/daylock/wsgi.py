"""The WSGI application for gunicorn: every guard runs before the first request.

A refusal prints ``daylock: refused: …`` and exits 2 while the application loads, so
a misconfigured server never answers a request.
"""

from __future__ import annotations

from django.core.handlers.wsgi import WSGIHandler

from daylock.guardrails import setup_guarded

setup_guarded()
application = WSGIHandler()
