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

from daylock.accounts.models import User
from daylock.core import kept_input
from daylock.events import ratelimit, schedule, selectors, services
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
    """One challenge on the day page, with its answer field: blank, bound to what was
    just submitted (with its errors), or holding what an expired session kept."""

    tier: str
    label: str
    prompt_html: SafeString
    solved: bool
    input_id: str
    input_html: SafeString
    #: Why the answer just sent was not accepted; shown next to the field, in an alert
    #: (``<input_id>_error``) the field is described by.
    errors: tuple[str, ...]
    #: In the same alert: how many attempts are left before the rate limit's wait.
    warning: str | None
    #: ``<input_id>_note``: what an expired session kept in (or for) this field.
    note: str | None


@dataclass(frozen=True)
class AnswerField:
    """The state of one tier's answer field, when it is not the blank one."""

    #: Bound to the POST just made, or holding a kept answer as its initial value;
    #: None for a visitor who is not logged in (no field, only the note).
    form: AnswerForm | None
    warning: str | None = None
    note: str | None = None


def _answer_auto_id(tier: Tier) -> str:
    return f"id_{tier.value}_%s"


@functools.cache
def _blank_answer_input(tier: Tier) -> SafeString:
    """The empty answer field's HTML: the same on every page view, so rendered once
    per process (a widget renders through Django's template engine, which cost more
    than the rest of the page)."""
    return AnswerForm(auto_id=_answer_auto_id(tier))["answer"].as_widget()


def _panel(page: selectors.DayPage, tier: Tier, state: AnswerField | None) -> TierPanel:
    prompt_html = render_markdown(page.challenges[tier].prompt)
    solved = tier in page.solved
    note = state.note if state is not None else None
    if state is None or state.form is None:
        return TierPanel(
            tier=tier.value,
            label=str(tier.label),
            prompt_html=prompt_html,
            solved=solved,
            input_id=_answer_auto_id(tier) % "answer",
            input_html=_blank_answer_input(tier),
            errors=(),
            warning=None,
            note=note,
        )
    field = state.form["answer"]
    errors = tuple(str(error) for error in field.errors)
    input_id = field.id_for_label
    described_by = [f"{input_id}_error"] if errors or state.warning else []
    if note:
        described_by.append(f"{input_id}_note")
    # Focus lands on this field when the page loads (no script: CSP forbids inline ones).
    attrs: dict[str, Any] = {"autofocus": True}
    if described_by:
        attrs["aria-describedby"] = " ".join(described_by)
    return TierPanel(
        tier=tier.value,
        label=str(tier.label),
        prompt_html=prompt_html,
        solved=solved,
        input_id=input_id,
        input_html=field.as_widget(attrs=attrs),  # aria-invalid when it has errors
        errors=errors,
        warning=state.warning,
        note=note,
    )


def _render_day(
    request: HttpRequest,
    page: selectors.DayPage,
    *,
    fields: dict[Tier, AnswerField] | None = None,
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
        "panels": [_panel(page, tier, (fields or {}).get(tier)) for tier in page.challenges],
        "feedback_rating": page.feedback_rating,
    }
    return render(request, "events/day.html", context, status=status)


def preview_day(request: HttpRequest, page: selectors.DayPage, **preview: Any) -> HttpResponse:
    """The day page as players see it, marked as a preview, read-only (no answer form,
    no feedback link). ``page`` must come without answers (the staff editor's
    :func:`daylock.events.authoring.day_preview`); ``preview`` is shown on the banner."""
    return _render_day(request, page, preview=preview)


def day_detail(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    player_id = _player_id(request)
    page = selectors.day_page_get(slug=slug, number=number, user_id=player_id)
    return _render_day(request, page, fields=_kept_answer(request, page, player_id))


def _kept_answer(
    request: HttpRequest, page: selectors.DayPage, player_id: int | None
) -> dict[Tier, AnswerField] | None:
    """The answer an expired session kept for this page (:mod:`daylock.core.kept_input`):
    back in its field for the player, once; a note for a visitor not logged in yet,
    who keeps it until they are. Reads the session only (no query)."""
    if player_id is None:
        kept = kept_input.peek(request, path=request.path)
    else:
        kept = kept_input.take(request, path=request.path)
    if kept is None or kept.form not in Tier.values or Tier(kept.form) not in page.challenges:
        return None
    tier = Tier(kept.form)
    if player_id is None:
        return {tier: AnswerField(form=None, note=kept.waiting_note)}
    form = AnswerForm(
        initial={"answer": kept.fields.get("answer", "")}, auto_id=_answer_auto_id(tier)
    )
    return {tier: AnswerField(form=form, note=kept.note)}


def _answer_page(*, slug: str, number: int, tier: str) -> str:
    """The day page at the answer form's challenge: where a GET of the form's address
    goes, and where an answer from an expired session comes back to."""
    day = reverse("events:day", kwargs={"slug": slug, "number": number})
    return f"{day}#{tier}" if tier in Tier.values else day


def _answer_form_name(*, tier: str, **_: Any) -> str:
    return tier


def _attempts_warning(result: services.SubmitResult) -> str | None:
    """Said after a wrong answer that leaves few attempts before the rate limit's wait
    (its numbers from :mod:`daylock.events.ratelimit`)."""
    left = result.attempts_left
    if left is None or left > ratelimit.WARN_AT_ATTEMPTS_LEFT:
        return None
    minutes = result.retry_after_minutes
    limit = (
        f"at most {ratelimit.MAX_ATTEMPTS} attempts per {ratelimit.WINDOW_SECONDS // 60} minutes"
    )
    span = f"{minutes} minute{'s' if minutes != 1 else ''}"
    if left == 0:
        return f"That was your last attempt for the next {span} ({limit})."
    return f"{left} attempt{'s' if left != 1 else ''} left in the next {span} ({limit})."


@kept_input.post_only(page=_answer_page)
@kept_input.keeps_input(
    page=_answer_page, form=_answer_form_name, fields=("answer",), what="answer"
)
def answer(request: HttpRequest, slug: str, number: int, tier: str) -> HttpResponse:
    """A wrong answer, a refused one and a rate-limited one show the day page again
    with the answer still in its field and the reason next to it; a correct one
    redirects (post/redirect/get)."""
    player = _logged_in(request)
    page = selectors.day_page_get(slug=slug, number=number, user_id=player.pk)
    event, day = page.event, page.day
    if tier not in Tier.values or Tier(tier) not in page.challenges:
        raise Http404("no such challenge")
    chosen = Tier(tier)
    form = AnswerForm(request.POST, auto_id=_answer_auto_id(chosen))
    if not form.is_valid():
        return _render_day(request, page, fields={chosen: AnswerField(form)}, status=400)
    try:
        result = services.answer_submit(
            user=player, day=day, tier=chosen, answer=form.cleaned_data["answer"]
        )
    except ValidationError as error:
        form.add_error("answer", error)
        return _render_day(request, page, fields={chosen: AnswerField(form)}, status=400)
    label = chosen.label.lower()
    if result.outcome is services.Outcome.RATE_LIMITED:
        minutes = result.retry_after_minutes
        form.add_error(
            "answer",
            f"Too many attempts at the {label} challenge of day {day.number}: try again in "
            f"{minutes} minute{'s' if minutes != 1 else ''}. Your answer stays in the field.",
        )
        return _render_day(request, page, fields={chosen: AnswerField(form)}, status=429)
    if result.outcome is services.Outcome.WRONG:
        form.add_error("answer", f"Not quite — that is not the {label} answer. Try again.")
        state = AnswerField(form, warning=_attempts_warning(result))
        return _render_day(request, page, fields={chosen: state})
    if result.outcome is services.Outcome.CORRECT:
        messages.success(request, f"Correct! Day {day.number} is solved at {label} tier.")
    else:
        messages.info(request, f"Already solved: day {day.number} at {label} tier counts once.")
    url = reverse("events:day", kwargs={"slug": event.slug, "number": day.number})
    return redirect(f"{url}#{chosen.value}")


#: What an expired session keeps of a feedback form.
_FEEDBACK_FIELDS = ("rating", "comment")
_KEPT_NOTE_ID = "kept-note"


def _feedback(request: HttpRequest, event: Event, day: Day | None) -> HttpResponse:
    player = _logged_in(request)
    existing = selectors.feedback_get(user=player, event=event, day=day)
    status = 200
    kept_note = None
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
        kept = kept_input.take(request, path=request.path)
        if kept is not None:
            form = FeedbackForm(initial=kept.fields)
            kept_note = kept.note
            comment = form.fields["comment"].widget
            comment.attrs.update({"autofocus": True, "aria-describedby": _KEPT_NOTE_ID})
        else:
            initial = {"rating": existing.rating, "comment": existing.comment} if existing else None
            form = FeedbackForm(initial=initial)
    context = {
        "event": event,
        "day": day,
        "form": form,
        "existing": existing,
        "kept_note": kept_note,
        "kept_note_id": _KEPT_NOTE_ID,
    }
    return render(request, "events/feedback.html", context, status=status)


def _day_feedback_page(*, slug: str, number: int) -> str:
    return reverse("events:day_feedback", kwargs={"slug": slug, "number": number})


def _event_feedback_page(*, slug: str) -> str:
    return reverse("events:event_feedback", kwargs={"slug": slug})


@kept_input.keeps_input(page=_day_feedback_page, fields=_FEEDBACK_FIELDS, what="feedback")
@login_required
def day_feedback(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    event = selectors.event_get(slug=slug)
    day = selectors.day_get_open(event=event, number=number, user_id=_logged_in(request).pk)
    return _feedback(request, event, day)


@kept_input.keeps_input(page=_event_feedback_page, fields=_FEEDBACK_FIELDS, what="feedback")
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
