"""Django admin for staff: events with their days inline, challenges, progress and
feedback. The test-utility tables (early unlocks, eligibility overrides) have their own
staff pages under the test-tools prefix, not here."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from daylock.events.models import Challenge, Day, Event, Feedback, Progress, WrongAnswer


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


@admin.register(Day)
class DayAdmin(admin.ModelAdmin[Day]):
    list_display = ("event", "number", "title")
    list_filter = ("event",)
    list_select_related = ("event",)
    inlines = [ChallengeInline]


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
