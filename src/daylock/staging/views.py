"""Staff pages of the admin-only test utilities (mounted only where the policy has
``test_utilities``; never in production). Thin: forms parse, services act."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from daylock import clock
from daylock.accounts import permissions
from daylock.staging import selectors, services
from daylock.staging.forms import ClockForm, CompleteForm, EligibilityForm, UnlockDayForm
from daylock.staging.parsing import format_offset
from daylock.staging.services import Actor, TestToolError

View = Callable[..., HttpResponse]

#: Every page here is a test utility: admins only (not moderators), never production.
testtools_required = permissions.permission_required(permissions.Perm.TEST_UTILITIES)


def _forms(data: dict[str, Form] | None = None) -> dict[str, Form]:
    forms: dict[str, Form] = {
        "unlock_form": UnlockDayForm(prefix="unlock"),
        "complete_form": CompleteForm(prefix="complete"),
        "clock_form": ClockForm(prefix="clock"),
        "eligibility_form": EligibilityForm(prefix="eligibility"),
    }
    forms.update(data or {})
    return forms


def _page(request: HttpRequest, status: int = 200, **bound: Form) -> HttpResponse:
    user_id = request.user.pk
    override = clock.active_override(user_id=user_id)
    context = {
        **_forms(bound),
        "environment_now": selectors.environment_now(),
        "your_now": clock.now(user_id=user_id),
        "override": override,
        "clock_rows": [(row, format_offset(row.offset)) for row in selectors.clock_overrides()],
        "unlocks": selectors.day_unlocks(),
        "eligibility_overrides": selectors.eligibility_overrides(),
        "events": selectors.events_all(),
        "audit": selectors.audit_log(limit=25),
    }
    return render(request, "staging/testtools.html", context, status=status)


@testtools_required
@require_http_methods(["GET"])
def index(request: HttpRequest) -> HttpResponse:
    return _page(request)


@testtools_required
@require_http_methods(["GET"])
def audit(request: HttpRequest) -> HttpResponse:
    only = request.GET.get("testtools") == "1"
    rows = selectors.audit_log(limit=500, testtools_only=only)
    return render(request, "staging/audit.html", {"rows": rows, "testtools_only": only})


def _run(request: HttpRequest, key: str, form: Form, act: Callable[[], str]) -> HttpResponse:
    if not form.is_valid():
        messages.error(request, "Not done: fix the form below.")
        return _page(request, status=400, **{key: form})
    try:
        done = act()
    except TestToolError as exc:
        form.add_error(None, str(exc))
        return _page(request, status=400, **{key: form})
    messages.success(request, done)
    return redirect("staging:index")


@testtools_required
@require_POST
def unlock_day(request: HttpRequest) -> HttpResponse:
    form = UnlockDayForm(request.POST, prefix="unlock")

    def act() -> str:
        data = form.cleaned_data
        services.day_unlock(
            actor=Actor.of(request.user),  # type: ignore[arg-type]
            event=data["event"],
            number=data["day"],
            user=data["user"],
        )
        who = data["user"].username if data["user"] else "everyone"
        return f"Unlocked {data['event'].slug} day {data['day']} for {who}."

    return _run(request, "unlock_form", form, act)


@testtools_required
@require_POST
def complete(request: HttpRequest) -> HttpResponse:
    form = CompleteForm(request.POST, prefix="complete")

    def act() -> str:
        data = form.cleaned_data
        new = services.user_mark_completed(
            actor=Actor.of(request.user),  # type: ignore[arg-type]
            user=data["user"],
            event=data["event"],
            tier=data["tier"],
        )
        return (
            f"{data['user'].username} completed {data['event'].slug} at {data['tier']} tier "
            f"({new} new progress rows)."
        )

    return _run(request, "complete_form", form, act)


@testtools_required
@require_POST
def clock_move(request: HttpRequest) -> HttpResponse:
    form = ClockForm(request.POST, prefix="clock")

    def act() -> str:
        data = form.cleaned_data
        actor = Actor.of(request.user)  # type: ignore[arg-type]
        user = data["user"]
        who = f"user {user.username}" if user else "the environment"
        if data["action"] == "reset":
            had = services.clock_reset(actor=actor, user=user)
            return f"Clock of {who} " + ("back to wall time." if had else "was not moved.")
        override = services.clock_set(
            actor=actor, to=form.instant, forward=form.duration, user=user
        )
        # Not clock.now(): this request's clock was memoised before the move.
        moved = timezone.now() + override.offset
        return f"Clock of {who} moved to {moved:%Y-%m-%d %H:%M} UTC."

    return _run(request, "clock_form", form, act)


@testtools_required
@require_POST
def eligibility(request: HttpRequest) -> HttpResponse:
    form = EligibilityForm(request.POST, prefix="eligibility")

    def act() -> str:
        data = form.cleaned_data
        actor = Actor.of(request.user)  # type: ignore[arg-type]
        if data["verdict"] == "clear":
            had = services.eligibility_clear(actor=actor, user=data["user"], event=data["event"])
            return "Override cleared." if had else "There was no override."
        services.eligibility_set(
            actor=actor,
            user=data["user"],
            event=data["event"],
            eligible=data["verdict"] == "eligible",
            reason=data["reason"],
        )
        return f"{data['user'].username} forced {data['verdict']} for {data['event'].slug}."

    return _run(request, "eligibility_form", form, act)
