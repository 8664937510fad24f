"""Django admin for prizes and their code inventory.

Draws and winners are read-only here: every transition goes through the services (the
staff prize pages or ``daylock draw``), so it is locked, audited and announced.
Codes are visible here to admin users, who manage the inventory; winners outside
production never see one (the services never attach a code to a simulated win).
"""

from __future__ import annotations

from typing import Any, Literal

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from daylock.discord.services import discord_id_check
from daylock.prizes import services
from daylock.prizes.models import Draw, DrawWinner, Prize, PrizeCode


class PrizeCodeInline(admin.TabularInline[PrizeCode, Prize]):
    model = PrizeCode
    extra = 0
    fields = ("code", "is_test", "assigned_to", "assigned_at")
    readonly_fields = ("assigned_to", "assigned_at")


class PrizeAdminForm(forms.ModelForm[Prize]):
    """The prize form, with the Discord ids staff type checked with Discord on save: a
    role the bot cannot grant (unknown, managed, above the bot's highest role) or a
    channel it cannot post to would only fail later, when the draw runs."""

    class Meta:
        model = Prize
        # Every field, as the admin shows them (it picks its own fieldsets).
        fields = "__all__"  # noqa: DJ007

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        checks: tuple[tuple[str, Literal["role", "channel"]], ...] = (
            ("discord_role_id", "role"),
            ("announce_channel_id", "channel"),
        )
        for field, kind in checks:
            value = str(cleaned.get(field) or "").strip()
            if value and field in self.changed_data:
                problem = discord_id_check(kind=kind, id=value)
                if problem:
                    self.add_error(field, problem)
        return cleaned


@admin.register(Prize)
class PrizeAdmin(admin.ModelAdmin[Prize]):
    form = PrizeAdminForm
    list_display = ("name", "event", "quantity", "min_tier", "feedback_required", "fulfilment")
    list_filter = ("fulfilment", "min_tier", "event")
    list_select_related = ("event",)
    search_fields = ("name",)
    inlines = [PrizeCodeInline]

    def save_model(self, request: HttpRequest, obj: Prize, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            # Commit to a seed now: its hash is public before anyone can know the entrants.
            services.draw_ensure(prize=obj)


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Draw)
class DrawAdmin(ReadOnlyAdmin):
    list_display = ("id", "prize", "status", "entrant_count", "simulated", "environment")
    list_filter = ("status", "simulated")
    list_select_related = ("prize__event",)
    exclude = ("seed",)  # secret until drawn; the public page shows it afterwards


@admin.register(DrawWinner)
class DrawWinnerAdmin(ReadOnlyAdmin):
    list_display = ("draw", "rank", "user", "status", "simulated", "fulfilled_at")
    list_filter = ("status", "simulated")
    list_select_related = ("draw__prize", "user")
    exclude = ("code",)
