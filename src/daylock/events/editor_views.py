"""The staff event editor (mounted at ``/staff/events/``; issue 14 item 2).

Daylock's own pages rather than a customised Django admin: the event, all its days
and both challenges per day are one form on one page (the admin's inlines nest one
level, so challenges inside days inside an event would be two pages per day), roles
and channels are ``<select>``s of names read from the guild, codes are pasted in bulk,
and the pages carry the site's frame, banner and CSP like every other page.

Thin: forms validate, :mod:`daylock.events.authoring` decides and writes; a
:class:`ValidationError` it raises is shown next to the field it names. Authoring
permission only (admins) for every page, the preview included.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms import BaseForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from daylock import clock
from daylock.accounts.models import User
from daylock.accounts.permissions import Perm, permission_required
from daylock.discord import directory
from daylock.events import authoring, views
from daylock.events.forms import DayEditorFormSet, EventEditorForm, PrizeEditorForm
from daylock.events.models import MAX_DAYS, Event

author_required = permission_required(Perm.AUTHOR)
#: The formset's prefix: fields are named ``days-0-title`` …
DAYS = "days"
#: A new event starts with a week of days (change "Number of days" and Update days).
NEW_EVENT_DAYS = 7


def _actor(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # permission_required let only a logged-in user in
    return user


def _add_errors(form: BaseForm, error: ValidationError, *, day_forms: list[BaseForm]) -> None:
    """Put the service's errors next to the fields they name (``days.2.title``: the
    third day form's title)."""
    for key, problems in error.message_dict.items():
        target, name = form, key
        if key.startswith(f"{DAYS}."):
            _, index, name = key.split(".", 2)
            target = day_forms[int(index)]
        for problem in problems:
            target.add_error(name if name in target.fields else None, problem)


def _directory() -> tuple[directory.Listing, directory.Listing]:
    return directory.guild_roles(), directory.guild_channels()


def _sent_days(data: Any) -> int:
    try:
        return max(0, min(int(data.get(f"{DAYS}-TOTAL_FORMS", 0)), MAX_DAYS))
    except (TypeError, ValueError):
        return 0


def _resized_days(data: Any, count: int) -> list[dict[str, str]]:
    """What was typed in the day forms, cut or extended (blank days) to ``count``."""
    sent = _sent_days(data)
    days = []
    for index in range(count):
        if index < sent:
            days.append(
                {
                    name: data.get(f"{DAYS}-{index}-{name}", "")
                    for name in authoring.DAY_INPUT_FIELDS
                }
            )
        else:
            days.append(dict.fromkeys(authoring.DAY_INPUT_FIELDS, ""))
    return days


def _editor_page(
    request: HttpRequest,
    *,
    event: Event | None,
    form: EventEditorForm,
    formset: Any,
    roles: directory.Listing,
    channels: directory.Listing,
    status: int = 200,
) -> HttpResponse:
    seen = authoring.seen_day_numbers(event=event) if event is not None else set()
    context = {
        "event": event,
        "form": form,
        "formset": formset,
        "day_forms": list(enumerate(formset.forms, start=1)),
        "seen": seen,
        "prizes": authoring.event_prizes(event=event) if event is not None else [],
        "directory_errors": [x.error for x in (roles, channels) if x.error],
        "roles": roles,
        "now": clock.now(),
    }
    return render(request, "staff/events_edit.html", context, status=status)


@author_required
@require_GET
def event_list(request: HttpRequest) -> HttpResponse:
    return render(request, "staff/events.html", {"events": authoring.editor_events()})


def _event_form(request: HttpRequest, event: Event | None) -> HttpResponse:
    """GET: the editor (blank for a new event). POST: "Update days" re-renders with one
    day form per day (nothing saved); "Save" validates and saves through
    :func:`authoring.event_save`."""
    roles, channels = _directory()
    current = authoring.event_input_of(event) if event is not None else None
    options: dict[str, Any] = {"roles": roles, "channels": channels, "current": current}
    if request.method != "POST":
        initial_days = (
            authoring.day_inputs_of(event)
            if event is not None
            else _resized_days({}, NEW_EVENT_DAYS)
        )
        initial = current or {"time_zone": "UTC", "day_count": NEW_EVENT_DAYS}
        form = EventEditorForm(initial=initial, **options)
        formset = DayEditorFormSet(initial=initial_days, prefix=DAYS)
        return _editor_page(
            request, event=event, form=form, formset=formset, roles=roles, channels=channels
        )
    form = EventEditorForm(request.POST, **options)
    if "update_days" in request.POST:
        # Only the number of days is read: the rest is kept as typed, unchecked.
        count_field = EventEditorForm.base_fields["day_count"]
        try:
            count = int(count_field.clean(request.POST.get("day_count")))
        except ValidationError as error:
            form = EventEditorForm(initial=request.POST.dict(), **options)
            formset = DayEditorFormSet(
                initial=_resized_days(request.POST, _sent_days(request.POST)), prefix=DAYS
            )
            messages.error(request, f"Number of days: {' '.join(error.messages)}")
            return _editor_page(
                request,
                event=event,
                form=form,
                formset=formset,
                roles=roles,
                channels=channels,
                status=400,
            )
        form = EventEditorForm(initial=request.POST.dict(), **options)
        formset = DayEditorFormSet(initial=_resized_days(request.POST, count), prefix=DAYS)
        messages.info(request, f"The event has {count} day form(s) now: fill them in and save.")
        return _editor_page(
            request, event=event, form=form, formset=formset, roles=roles, channels=channels
        )
    formset = DayEditorFormSet(request.POST, prefix=DAYS)
    forms_valid = form.is_valid()
    days_valid = formset.is_valid()
    if forms_valid and days_valid:
        data = authoring.EventInput(
            **{name: form.cleaned_data[name] for name in authoring.EVENT_INPUT_FIELDS}
        )
        days = [
            authoring.DayInput(
                **{name: day.cleaned_data[name] for name in authoring.DAY_INPUT_FIELDS}
            )
            for day in formset.forms
        ]
        try:
            result = authoring.event_save(
                event=event,
                data=data,
                days=days,
                actor=_actor(request),
                confirm_seen=form.cleaned_data["confirm_seen"],
            )
        except ValidationError as error:
            _add_errors(form, error, day_forms=list(formset.forms))
        else:
            saved = result.event
            if result.created:
                messages.success(
                    request, f"Event “{saved.name}” created with {saved.day_count} days."
                )
            elif result.changes:
                messages.success(request, f"Saved: {len(result.changes)} change(s).")
            else:
                messages.info(request, "Nothing changed.")
            return redirect("editor:edit", slug=saved.slug)
    messages.error(request, "Nothing was saved: see the fields marked below.")
    return _editor_page(
        request,
        event=event,
        form=form,
        formset=formset,
        roles=roles,
        channels=channels,
        status=400,
    )


@author_required
@require_http_methods(["GET", "POST"])
def event_new(request: HttpRequest) -> HttpResponse:
    return _event_form(request, None)


@author_required
@require_http_methods(["GET", "POST"])
def event_edit(request: HttpRequest, slug: str) -> HttpResponse:
    return _event_form(request, authoring.editor_event_get(slug=slug))


def _prize_form(request: HttpRequest, event: Event, prize_id: int | None) -> HttpResponse:
    prize = authoring.editor_prize_get(event=event, prize_id=prize_id) if prize_id else None
    roles, channels = _directory()
    current = authoring.prize_input_of(prize) if prize is not None else None
    options: dict[str, Any] = {"roles": roles, "channels": channels, "current": current}
    status = 200
    if request.method == "POST":
        form = PrizeEditorForm(request.POST, **options)
        if form.is_valid():
            data = authoring.PrizeInput(
                **{name: form.cleaned_data[name] for name in authoring.PRIZE_INPUT_FIELDS}
            )
            try:
                result = authoring.prize_save(
                    event=event,
                    prize=prize,
                    data=data,
                    codes_text=form.cleaned_data["codes"],
                    actor=_actor(request),
                )
            except ValidationError as error:
                _add_errors(form, error, day_forms=[])
            else:
                verb = "created" if result.created else "saved"
                added = f", {result.codes_added} code(s) added" if result.codes_added else ""
                messages.success(request, f"Prize “{result.prize.name}” {verb}{added}.")
                return redirect("editor:edit", slug=event.slug)
        messages.error(request, "Nothing was saved: see the fields marked below.")
        status = 400
    else:
        form = PrizeEditorForm(initial=current or {"quantity": 1}, **options)
    context = {
        "event": event,
        "prize": prize,
        "form": form,
        "code_count": authoring.prize_code_count(prize=prize) if prize is not None else 0,
        "directory_errors": [x.error for x in (roles, channels) if x.error],
    }
    return render(request, "staff/events_prize.html", context, status=status)


@author_required
@require_http_methods(["GET", "POST"])
def prize_new(request: HttpRequest, slug: str) -> HttpResponse:
    return _prize_form(request, authoring.editor_event_get(slug=slug), None)


@author_required
@require_http_methods(["GET", "POST"])
def prize_edit(request: HttpRequest, slug: str, prize_id: int) -> HttpResponse:
    return _prize_form(request, authoring.editor_event_get(slug=slug), prize_id)


@author_required
@require_GET
def day_preview(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """Day ``number`` as players see it, locked or not, in every environment;
    read-only and audited (:func:`authoring.day_preview`)."""
    event = authoring.editor_event_get(slug=slug)
    preview = authoring.day_preview(event=event, number=number, actor=_actor(request))
    return views.preview_day(
        request,
        preview.page,
        locked=preview.locked,
        unlocks_at_local=f"{preview.unlocks_at.astimezone(event.zone):%Y-%m-%d %H:%M} "
        f"{event.time_zone}",
        back_url=reverse("editor:edit", kwargs={"slug": event.slug}),
    )


@author_required
@require_POST
def directory_refresh(request: HttpRequest) -> HttpResponse:
    """Forget the cached roles and channels (a role created a minute ago), then back to
    the page the button was on."""
    directory.directory_refresh()
    messages.info(request, "The server's roles and channels will be read again from Discord.")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = reverse("editor:list")
    return redirect(back)
