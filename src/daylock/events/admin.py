"""Django admin for staff: events with their days inline, challenges, progress and
feedback. The test-utility tables (early unlocks, eligibility overrides) have their own
staff pages under the test-tools prefix, not here.

Every admin write that can change who completed an event (progress saved or deleted, a
day renumbered or deleted, ``day_count`` changed) refreshes the completion table
(:func:`daylock.events.services.completion_refresh`) in the same transaction: prize
eligibility reads that table. The completion table itself is not editable here.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from daylock.events.models import Challenge, Day, Event, Feedback, Progress, WrongAnswer
from daylock.events.services import completion_refresh, completions_refresh_for


class DayInline(admin.TabularInline[Day, Event]):
    model = Day
    extra = 0
    fields = ("number", "title", "body_markdown")
    show_change_link = True


class ChallengeInline(admin.StackedInline[Challenge, Day]):
    model = Challenge
    extra = 0
    max_num = 2


@admin.register(Event)
class EventAdmin(admin.ModelAdmin[Event]):
    list_display = ("name", "slug", "starts_on", "day_count", "time_zone", "published")
    list_filter = ("published",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [DayInline]

    def save_related(
        self, request: HttpRequest, form: ModelForm[Event], formsets: Any, change: bool
    ) -> None:
        # After the inline days are saved too: day_count and the days both count.
        super().save_related(request, form, formsets, change)
        completion_refresh(event=form.instance)


@admin.register(Day)
class DayAdmin(admin.ModelAdmin[Day]):
    list_display = ("event", "number", "title")
    list_filter = ("event",)
    list_select_related = ("event",)
    inlines = [ChallengeInline]

    def save_model(
        self, request: HttpRequest, obj: Day, form: ModelForm[Day], change: bool
    ) -> None:
        # A renumbered day may move in or out of day_count; a moved day changes two events.
        event_ids = {obj.event_id}
        if change:
            event_ids |= set(Day.objects.filter(pk=obj.pk).values_list("event_id", flat=True))
        super().save_model(request, obj, form, change)
        for event in Event.objects.filter(pk__in=event_ids):
            completion_refresh(event=event)

    def delete_model(self, request: HttpRequest, obj: Day) -> None:
        event = obj.event
        super().delete_model(request, obj)
        completion_refresh(event=event)

    @transaction.atomic  # the bulk delete action is not in a transaction by itself
    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Day]) -> None:
        events = list(Event.objects.filter(pk__in=queryset.values("event_id")))
        super().delete_queryset(request, queryset)
        for event in events:
            completion_refresh(event=event)


@admin.register(Challenge)
class ChallengeAdmin(admin.ModelAdmin[Challenge]):
    list_display = ("day", "tier", "prompt")
    list_filter = ("tier", "day__event")
    list_select_related = ("day__event",)


@admin.register(Progress)
class ProgressAdmin(admin.ModelAdmin[Progress]):
    list_display = ("user", "day", "tier", "solved_at")
    list_filter = ("tier", "day__event")
    list_select_related = ("user", "day__event")
    search_fields = ("user__username",)
    raw_id_fields = ("user", "day")

    def save_model(
        self, request: HttpRequest, obj: Progress, form: ModelForm[Progress], change: bool
    ) -> None:
        # The row may have moved to another user or day: refresh where it was too.
        before = list(Progress.objects.filter(pk=obj.pk).values_list("user_id", "day__event_id"))
        super().save_model(request, obj, form, change)
        completions_refresh_for(pairs=[*before, (obj.user_id, obj.day.event_id)])

    def delete_model(self, request: HttpRequest, obj: Progress) -> None:
        pairs = [(obj.user_id, obj.day.event_id)]
        super().delete_model(request, obj)
        completions_refresh_for(pairs=pairs)

    @transaction.atomic  # the bulk delete action is not in a transaction by itself
    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Progress]) -> None:
        pairs = list(queryset.values_list("user_id", "day__event_id").distinct())
        super().delete_queryset(request, queryset)
        completions_refresh_for(pairs=pairs)


@admin.register(WrongAnswer)
class WrongAnswerAdmin(admin.ModelAdmin[WrongAnswer]):
    list_display = ("user", "day", "tier", "answer", "created_at")
    list_filter = ("tier", "day__event")
    list_select_related = ("user", "day__event")
    raw_id_fields = ("user", "day")


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin[Feedback]):
    """Staff read feedback; it belongs to its author, so it is not edited here."""

    list_display = ("user", "event", "day", "rating", "comment", "updated_at")
    list_filter = ("rating", "event")
    list_select_related = ("user", "event", "day")
    search_fields = ("user__username", "comment")
    readonly_fields = ("user", "event", "day", "rating", "comment", "created_at", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
