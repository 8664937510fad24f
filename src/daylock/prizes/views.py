"""Prize pages: the public draw record (anyone), my prizes (players), and staff pages.

Views are thin: they parse the request, call a selector or a service, and render.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from daylock import config
from daylock.accounts import permissions
from daylock.accounts.models import User
from daylock.discord import membership
from daylock.discord import selectors as outbox_selectors
from daylock.events.models import Event
from daylock.prizes import entries, selectors, services
from daylock.prizes.models import (
    REROLL_STATUSES,
    Draw,
    DrawStatus,
    DrawWinner,
    Fulfilment,
    Prize,
    WinnerStatus,
)

View = Callable[..., HttpResponse]


def _draw_or_404(draw_id: int) -> Draw:
    try:
        return selectors.draw_get(draw_id=draw_id)
    except Draw.DoesNotExist:
        raise Http404(f"no draw {draw_id}") from None


def _actor(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


# --- public --------------------------------------------------------------------------

VERIFY_SNIPPET = """\
import hashlib, json, urllib.request

page = "{base}"
record = json.load(urllib.request.urlopen(page + "record.json"))
entrants = urllib.request.urlopen(page + "entrants.txt").read()

assert hashlib.sha256(entrants).hexdigest() == record["entrants_hash"]
ids = [int(x) for x in entrants.split()]
assert len(ids) == record["entrant_count"]
seed = record["seed"]
assert hashlib.sha256(seed.encode()).hexdigest() == record["seed_hash"]
ranking = sorted(ids, key=lambda i: (hashlib.sha256(f"{{seed}}:{{i}}".encode()).digest(), i))
for w in record["winners"]:
    assert ranking[w["rank"] - 1] == w["user_id"], w
print("verified:", [(w["rank"], w["user_id"], w["status"]) for w in record["winners"]])
"""


def draw_detail(request: HttpRequest, draw_id: int) -> HttpResponse:
    draw = _draw_or_404(draw_id)
    record = selectors.draw_public_record(draw=draw)
    page = request.build_absolute_uri(reverse("prizes:draw_detail", args=[draw.pk]))
    return render(
        request,
        "prizes/draw_detail.html",
        {
            "draw": draw,
            "record": record,
            "snippet": VERIFY_SNIPPET.format(base=page),
            "closed": draw.status != DrawStatus.OPEN,
            "drawn": draw.status == DrawStatus.DRAWN,
        },
    )


def draw_record(request: HttpRequest, draw_id: int) -> JsonResponse:
    draw = _draw_or_404(draw_id)
    return JsonResponse(selectors.draw_public_record(draw=draw), json_dumps_params={"indent": 1})


def draw_entrants(request: HttpRequest, draw_id: int) -> StreamingHttpResponse:
    """The frozen entrant list in its canonical encoding; sha256 of it = entrants_hash."""
    draw = _draw_or_404(draw_id)
    if draw.status == DrawStatus.OPEN:
        raise Http404("entries are still open: the entrant list is not frozen yet")
    response = StreamingHttpResponse(
        selectors.entrants_text_chunks(draw=draw), content_type="text/plain; charset=us-ascii"
    )
    response["Content-Disposition"] = f'inline; filename="draw-{draw.pk}-entrants.txt"'
    return response


@login_required
def my_prizes(request: HttpRequest) -> HttpResponse:
    player = _actor(request)
    return render(
        request,
        "prizes/mine.html",
        {
            "prizes": selectors.my_prizes(user=player),
            "entries": entries.my_entries(user=player),
            "entrant_id": player.pk,
            # For the one-line check of entrants.txt (curl needs the whole address).
            "site_url": request.build_absolute_uri("/").rstrip("/"),
        },
    )


# --- staff ---------------------------------------------------------------------------


@permissions.permission_required(permissions.Perm.READ_PRIZES)
def staff_events(request: HttpRequest) -> HttpResponse:
    return render(
        request, "prizes/staff_events.html", {"events": selectors.events_with_prize_counts()}
    )


@permissions.permission_required(permissions.Perm.READ_PRIZES)
def staff_event(request: HttpRequest, slug: str) -> HttpResponse:
    event = get_object_or_404(Event, slug=slug)
    return render(
        request,
        "prizes/staff_event.html",
        {
            "event": event,
            "prizes": selectors.prizes_for_event(event=event),
        },
    )


@permissions.permission_required(permissions.Perm.READ_PRIZES)
def staff_prize(request: HttpRequest, prize_id: int) -> HttpResponse:
    prize = get_object_or_404(Prize.objects.select_related("event"), pk=prize_id)
    draw = Draw.objects.filter(prize=prize).first()
    winners = list(selectors.draw_winners(draw=draw)) if draw is not None else []
    is_open = draw is None or draw.status == DrawStatus.OPEN
    return render(
        request,
        "prizes/staff_prize.html",
        {
            "prize": prize,
            "draw": draw,
            "winners": winners,
            "blockers": selectors.close_blockers(prize=prize) if is_open else None,
            "exclusions": selectors.prize_exclusions(prize=prize) if is_open else None,
            "exclusions_shown": selectors.EXCLUSIONS_SHOWN,
            "codes": selectors.code_inventory(prize=prize),
            "reroll_statuses": [(s.value, s.label) for s in REROLL_STATUSES],
            "needs_confirmation": config.policy().draws_need_confirmation,
            "is_manual": prize.fulfilment == Fulfilment.MANUAL,
            "won": WinnerStatus.WON,
            # Role prizes: whether Discord granted the role (the outbox decides).
            "grants": outbox_selectors.role_grants(
                sources=[f"draw:{w.draw_id}:rank:{w.rank}" for w in winners]
            ),
        },
    )


def _back(prize_id: int) -> HttpResponseRedirect:
    return redirect("prizes:staff_prize", prize_id=prize_id)


@permissions.permission_required(permissions.Perm.RUN_DRAWS)
@require_POST
def staff_close(request: HttpRequest, prize_id: int) -> HttpResponse:
    prize = get_object_or_404(Prize.objects.select_related("event"), pk=prize_id)
    # The "close anyway" form carries a reason; the plain one none (None: not forced).
    reason = request.POST.get("reason")
    try:
        c = services.draw_close_entries(prize=prize, actor=_actor(request), force_reason=reason)
    except services.DrawError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, f"Entries closed: {c.entrant_count} entrant(s), hash {c.entrants_hash}"
        )
    return _back(prize.pk)


@permissions.permission_required(permissions.Perm.RUN_DRAWS)
@require_POST
def staff_sync_members(request: HttpRequest, prize_id: int) -> HttpResponse:
    """Sync guild membership now (what the worker does every few minutes), so staff who
    are about to close entries need no command line."""
    prize = get_object_or_404(Prize, pk=prize_id)
    try:
        result = membership.members_sync(trigger=f"staff:{_actor(request).get_username()}")
    except membership.MemberSyncError as exc:
        messages.error(request, f"Guild membership was not synced: {exc}")
    else:
        messages.success(request, f"Guild membership synced: {result.summary()}")
    return _back(prize.pk)


@permissions.permission_required(permissions.Perm.RUN_DRAWS)
@require_POST
def staff_run(request: HttpRequest, prize_id: int) -> HttpResponse:
    prize = get_object_or_404(Prize.objects.select_related("event"), pk=prize_id)
    try:
        draw = services.draw_run(
            prize=prize, actor=_actor(request), confirm=request.POST.get("confirm") == "yes"
        )
    except services.DrawError as exc:
        messages.error(request, str(exc))
    else:
        label = " (simulated)" if draw.simulated else ""
        messages.success(request, f"Draw {draw.pk} run{label}; seed revealed.")
    return _back(prize.pk)


@permissions.permission_required(permissions.Perm.HANDLE_REROLLS)
@require_POST
def staff_reroll(request: HttpRequest, winner_id: int) -> HttpResponse:
    winner = get_object_or_404(DrawWinner.objects.select_related("draw"), pk=winner_id)
    try:
        new = services.draw_reroll(
            winner=winner,
            reason=request.POST.get("reason", ""),
            status=request.POST.get("status", WinnerStatus.REPLACED),
            actor=_actor(request),
        )
    except (services.DrawError, ValueError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Rank {winner.rank} rerolled; rank {new.rank} now wins.")
    return _back(winner.draw.prize_id)


@permissions.permission_required(permissions.Perm.FULFIL)
@require_POST
def staff_fulfilled(request: HttpRequest, winner_id: int) -> HttpResponse:
    winner = get_object_or_404(DrawWinner.objects.select_related("draw"), pk=winner_id)
    try:
        services.winner_mark_fulfilled(winner=winner, actor=_actor(request))
    except services.DrawError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Rank {winner.rank} marked fulfilled.")
    return _back(winner.draw.prize_id)
