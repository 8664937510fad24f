"""The leaderboard pages: the page (top 100 and the viewer's own standing), its JSON for
community bots, and the profile's "how I appear" choice. Thin: the ranking and who is
listed live in :mod:`daylock.events.leaderboard`."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.cache import get_conditional_response, patch_cache_control
from django.views.decorators.http import require_POST, require_safe

from daylock import clock
from daylock.accounts.models import LeaderboardVisibility, User
from daylock.events import leaderboard, selectors

#: How long bots and caches may reuse the JSON (Advent of Code asks for 15 minutes;
#: a minute keeps a running event's board current enough).
JSON_MAX_AGE_SECONDS = 60


def _player(request: HttpRequest) -> User | None:
    user = request.user
    return user if isinstance(user, User) and user.is_authenticated else None


@require_safe
def leaderboard_page(request: HttpRequest, slug: str) -> HttpResponse:
    event = selectors.event_get(slug=slug)
    player = _player(request)
    board = leaderboard.leaderboard_get(event=event, viewer=player)
    login = f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': request.get_full_path()})}"
    context = {
        "event": event,
        "board": board,
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
        "generated_at": clock.now().isoformat(timespec="seconds"),
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
    ETag so a bot polling with ``If-None-Match`` gets a 304 while nothing changed."""
    event = selectors.event_get(slug=slug)
    board = leaderboard.leaderboard_get(event=event, viewer=None)
    payload = leaderboard_payload(board)
    # The ETag covers the standings, not the instant the document was generated.
    stable = json.dumps({k: v for k, v in payload.items() if k != "generated_at"}, sort_keys=True)
    etag = '"' + hashlib.sha256(stable.encode()).hexdigest()[:32] + '"'
    response = HttpResponse(
        json.dumps(payload, ensure_ascii=False, indent=1), content_type="application/json"
    )
    response["ETag"] = etag
    patch_cache_control(response, public=True, max_age=JSON_MAX_AGE_SECONDS)
    conditional = get_conditional_response(request, etag=etag, response=response)
    return conditional if conditional is not None else response


@require_POST
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
