"""Read-only Django admin for the outbox (changes go through services, audited)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from daylock.discord.models import OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin[OutboxMessage]):
    list_display = ("id", "created_at", "kind", "target", "status", "attempts", "source")
    list_filter = ("status", "kind", "environment")
    search_fields = ("content", "source", "channel_id", "recipient_id", "nonce")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
