"""The leaderboard pages: the page (top 100 and the viewer's own standing), its JSON for
community bots, and the profile's "how I appear" choice. Thin: the ranking and who is
listed live in :mod:`daylock.events.leaderboard`."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.template.loader import get_template
from django.urls import reverse
from django.utils.cache import get_conditional_response, patch_cache_control
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_safe

from daylock.accounts.models import LeaderboardVisibility, User
from daylock.core import kept_input
from daylock.events import leaderboard

#: How long bots and caches may reuse the JSON (Advent of Code asks for 15 minutes;
#: a minute keeps a running event's board current enough).
JSON_MAX_AGE_SECONDS = 60


#: Rendered top-100 tables and JSON documents, by (event, exact rows shown): most
#: viewers rank below the top 100 and see the same table, 100 rows cost more to render
#: than the rest of the page, and bots poll the same document. The key is everything
#: the rows show (labels read live included), so a hit is what a render would give.
_RENDERED: OrderedDict[tuple[str, int, tuple[leaderboard.Row, ...]], str] = OrderedDict()
_RENDERED_MAX = 256
_RENDERED_LOCK = threading.Lock()


def _rendered(
    kind: str, event_id: int, rows: list[leaderboard.Row], make: Callable[[], str]
) -> str:
    key = (kind, event_id, tuple(rows))
    with _RENDERED_LOCK:
        found = _RENDERED.get(key)
        if found is not None:
            _RENDERED.move_to_end(key)
            return found
    made = make()
    with _RENDERED_LOCK:
        _RENDERED[key] = made
        while len(_RENDERED) > _RENDERED_MAX:
            _RENDERED.popitem(last=False)
    return made


def _table_html(event_id: int, rows: list[leaderboard.Row]) -> SafeString:
    def render() -> str:
        return get_template("events/_leaderboard_table.html").render({"rows": rows})

    return mark_safe(_rendered("table", event_id, rows, render))  # noqa: S308 - Jinja2 escaped it


def _player(request: HttpRequest) -> User | None:
    user = request.user
    return user if isinstance(user, User) and user.is_authenticated else None


@require_safe
def leaderboard_page(request: HttpRequest, slug: str) -> HttpResponse:
    board = leaderboard.leaderboard_get(slug=slug, viewer=_player(request))
    event = board.event
    login = f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': request.get_full_path()})}"
    context = {
        "event": event,
        "board": board,
        "table_html": _table_html(event.pk, board.rows),
        "top": leaderboard.TOP,
        "login_url": login,
        "visibility_label": {v.value: v.label for v in LeaderboardVisibility},
    }
    return render(request, "events/leaderboard.html", context)


def leaderboard_payload(board: leaderboard.Leaderboard) -> dict[str, Any]:
    """The JSON document: ranks, labels, stars, total seconds and the tiers solved per
    day. No user id or anything else internal."""
    event = board.event
    days = leaderboard.days_solved(event=event, user_ids=[row.user_id for row in board.rows])
    return {
        "event": {"slug": event.slug, "name": event.name, "day_count": event.day_count},
        "players": board.players,
        "ranking": (
            "stars (one per solved tier per day), then least total_seconds (from each "
            "day's unlock to each solve), then the earlier last solve"
        ),
        "entries": [
            {
                "rank": row.rank,
                "name": row.label,
                "anonymous": row.anonymous,
                "stars": row.stars,
                "total_seconds": row.total_seconds,
                "days": {
                    str(number): tiers
                    for number, tiers in sorted(days.get(row.user_id, {}).items())
                },
            }
            for row in board.rows
        ],
    }


@require_safe
def leaderboard_json(request: HttpRequest, slug: str) -> HttpResponse:
    """For community bots: public, cacheable for :data:`JSON_MAX_AGE_SECONDS`, with an
    ETag so a bot polling with ``If-None-Match`` gets a 304 while nothing changed (the
    document holds no time of its own: the response's ``Date`` says when it was made)."""
    board = leaderboard.leaderboard_get(slug=slug, viewer=None)
    event = board.event

    def dump() -> str:
        return json.dumps(leaderboard_payload(board), ensure_ascii=False, separators=(",", ":"))

    body = _rendered("json", event.pk, board.rows, dump)
    etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'
    response = HttpResponse(body, content_type="application/json")
    response["ETag"] = etag
    patch_cache_control(response, public=True, max_age=JSON_MAX_AGE_SECONDS)
    conditional = get_conditional_response(request, etag=etag, response=response)
    return conditional if conditional is not None else response


@kept_input.post_only(page=lambda: reverse("events:profile") + "#leaderboard")
def visibility_update(request: HttpRequest) -> HttpResponse:
    """The profile's choice of how the player appears on leaderboards."""
    profile = reverse("events:profile")
    player = _player(request)
    if player is None:
        # Back to the profile after logging in (never to this POST-only URL).
        return redirect(f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': profile})}")
    choice = request.POST.get("visibility", "")
    if choice not in LeaderboardVisibility.values:
        options = ", ".join(LeaderboardVisibility.values)
        messages.error(
            request,
            f"Nothing changed: choose how you appear on leaderboards ({options}) and save again.",
        )
        return redirect(f"{profile}#leaderboard")
    leaderboard.visibility_set(user=player, visibility=choice)
    label = LeaderboardVisibility(choice).label
    messages.success(request, f"Saved. On leaderboards: {label[0].lower()}{label[1:]}.")
    return redirect(f"{profile}#leaderboard")
