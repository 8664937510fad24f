"""Player pages. Thin: selectors read, services write, templates show."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from daylock.accounts.models import User
from daylock.events import schedule, selectors, services
from daylock.events.forms import AnswerForm, FeedbackForm
from daylock.events.models import Day, Event, Tier
from daylock.events.rendering import render_markdown
from daylock.prizes import entries
from daylock.prizes import selectors as prize_selectors


def _player(request: HttpRequest) -> User | None:
    user = request.user
    return user if isinstance(user, User) and user.is_authenticated else None


def _player_id(request: HttpRequest) -> int | None:
    player = _player(request)
    return player.pk if player is not None else None


def _logged_in(request: HttpRequest) -> User:
    player = _player(request)
    if player is None:  # login_required ran first; this is for the type checker
        raise Http404("log in first")
    return player


def _login_url(request: HttpRequest) -> str:
    return f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': request.get_full_path()})}"


def event_list(request: HttpRequest) -> HttpResponse:
    """Every published event: running first, then upcoming, then finished (with links
    to their prizes' results)."""
    overview = schedule.events_overview(
        events=list(selectors.events_published()), user_id=_player_id(request)
    )
    results = prize_selectors.draws_by_event(event_ids=[s.event.pk for s in overview.finished])
    return render(request, "events/list.html", {"overview": overview, "results": results})


def event_detail(request: HttpRequest, slug: str) -> HttpResponse:
    event = selectors.event_get(slug=slug)
    player = _player(request)
    context = {
        "event": event,
        "login_url": _login_url(request),
        "calendar": selectors.event_calendar(event=event, user=player),
        "completion": selectors.completion_tier(user=player, event=event) if player else None,
        "event_feedback": selectors.feedback_get(user=player, event=event, day=None)
        if player
        else None,
        "prizes": entries.event_entries(event=event, user=player),
        # For the one-line check of entrants.txt (curl needs the whole address).
        "site_url": request.build_absolute_uri("/").rstrip("/"),
    }
    return render(request, "events/event.html", context)


@dataclass(frozen=True)
class TierPanel:
    """One challenge on the day page, with its answer field (blank, or bound to what was
    just submitted, with its errors)."""

    tier: str
    label: str
    prompt: str
    solved: bool
    input_id: str
    input_html: SafeString
    errors: tuple[str, ...]


def _answer_auto_id(tier: Tier) -> str:
    return f"id_{tier.value}_%s"


@functools.cache
def _blank_answer_input(tier: Tier) -> SafeString:
    """The empty answer field's HTML: the same on every page view, so rendered once
    per process (a widget renders through Django's template engine, which cost more
    than the rest of the page)."""
    return AnswerForm(auto_id=_answer_auto_id(tier))["answer"].as_widget()


def _panel(page: selectors.DayPage, tier: Tier, bound: AnswerForm | None) -> TierPanel:
    prompt, solved = page.challenges[tier].prompt, tier in page.solved
    if bound is None:
        return TierPanel(
            tier=tier.value,
            label=str(tier.label),
            prompt=prompt,
            solved=solved,
            input_id=_answer_auto_id(tier) % "answer",
            input_html=_blank_answer_input(tier),
            errors=(),
        )
    field = bound["answer"]
    return TierPanel(
        tier=tier.value,
        label=str(tier.label),
        prompt=prompt,
        solved=solved,
        input_id=field.id_for_label,
        input_html=field.as_widget(),
        errors=tuple(str(error) for error in field.errors),
    )


def _render_day(
    request: HttpRequest,
    page: selectors.DayPage,
    *,
    bound: dict[Tier, AnswerForm] | None = None,
    status: int = 200,
    preview: dict[str, Any] | None = None,
) -> HttpResponse:
    signed_in = _player(request) is not None
    context = {
        # Staff preview (``preview_day``): what it says about the day; no answer form.
        "preview": preview,
        "event": page.event,
        "day": page.day,
        "signed_in": signed_in,
        "login_url": None if signed_in else _login_url(request),
        "body_html": render_markdown(page.day.body_markdown),
        "panels": [_panel(page, tier, (bound or {}).get(tier)) for tier in page.challenges],
        "feedback_rating": page.feedback_rating,
    }
    return render(request, "events/day.html", context, status=status)


def preview_day(request: HttpRequest, page: selectors.DayPage, **preview: Any) -> HttpResponse:
    """The day page as players see it, marked as a preview, read-only (no answer form,
    no feedback link). ``page`` must come without answers (the staff editor's
    :func:`daylock.events.authoring.day_preview`); ``preview`` is shown on the banner."""
    return _render_day(request, page, preview=preview)


def day_detail(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    page = selectors.day_page_get(slug=slug, number=number, user_id=_player_id(request))
    return _render_day(request, page)


@login_required
@require_POST
def answer(request: HttpRequest, slug: str, number: int, tier: str) -> HttpResponse:
    player = _logged_in(request)
    page = selectors.day_page_get(slug=slug, number=number, user_id=player.pk)
    event, day = page.event, page.day
    if tier not in Tier.values or Tier(tier) not in page.challenges:
        raise Http404("no such challenge")
    chosen = Tier(tier)
    form = AnswerForm(request.POST, auto_id=_answer_auto_id(chosen))
    if not form.is_valid():
        return _render_day(request, page, bound={chosen: form}, status=400)
    try:
        result = services.answer_submit(
            user=player, day=day, tier=chosen, answer=form.cleaned_data["answer"]
        )
    except ValidationError as error:
        form.add_error("answer", error)
        return _render_day(request, page, bound={chosen: form}, status=400)
    if result.outcome is services.Outcome.RATE_LIMITED:
        context = {"event": event, "day": day, "result": result}
        return render(request, "events/too_many_attempts.html", context, status=429)
    label = chosen.label.lower()
    if result.outcome is services.Outcome.CORRECT:
        messages.success(request, f"Correct! Day {day.number} is solved at {label} tier.")
    elif result.outcome is services.Outcome.ALREADY_SOLVED:
        messages.info(request, f"Already solved: day {day.number} at {label} tier counts once.")
    else:
        messages.error(request, f"Not quite — that is not the {label} answer. Try again.")
    url = reverse("events:day", kwargs={"slug": event.slug, "number": day.number})
    return redirect(f"{url}#{chosen.value}")


def _feedback(request: HttpRequest, event: Event, day: Day | None) -> HttpResponse:
    player = _logged_in(request)
    existing = selectors.feedback_get(user=player, event=event, day=day)
    status = 200
    if request.method == "POST":
        form = FeedbackForm(request.POST)
        if form.is_valid():
            try:
                services.feedback_save(
                    user=player,
                    event=event,
                    day=day,
                    rating=form.cleaned_data["rating"],
                    comment=form.cleaned_data["comment"],
                )
            except ValidationError as error:
                for field, problems in error.message_dict.items():
                    for problem in problems:
                        form.add_error(field if field in form.fields else None, problem)
            else:
                messages.success(request, "Thank you — your feedback is saved.")
                return redirect(request.path)
        status = 400
    else:
        initial = {"rating": existing.rating, "comment": existing.comment} if existing else None
        form = FeedbackForm(initial=initial)
    context = {"event": event, "day": day, "form": form, "existing": existing}
    return render(request, "events/feedback.html", context, status=status)


@login_required
def day_feedback(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    event = selectors.event_get(slug=slug)
    day = selectors.day_get_open(event=event, number=number, user_id=_logged_in(request).pk)
    return _feedback(request, event, day)


@login_required
def event_feedback(request: HttpRequest, slug: str) -> HttpResponse:
    return _feedback(request, selectors.event_get(slug=slug), None)


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    player = _logged_in(request)
    return render(
        request,
        "events/profile.html",
        {"player": player, "standings": selectors.profile_standings(user=player)},
    )
