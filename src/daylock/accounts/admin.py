"""Django admin for users and their Discord accounts. Every change an admin makes to a
user's access (role, staff, superuser, ban) is written to the audit log."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from daylock.accounts import services
from daylock.accounts.models import DiscordAccount, User
from daylock.core.services import audit_record

#: Fields whose change through the admin is audited.
_AUDITED = ("role", "is_banned", "is_staff", "is_superuser", "is_active")


class DiscordAccountInline(admin.StackedInline[DiscordAccount, User]):
    model = DiscordAccount
    can_delete = False
    extra = 0
    readonly_fields = (
        "discord_id",
        "username",
        "global_name",
        "avatar",
        "in_guild",
        "guild_role_ids",
        "updated_at",
    )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(User)
class UserAdmin(DjangoUserAdmin[User]):
    list_display = (
        "username",
        "discord_name",
        "role",
        "is_banned",
        "is_test_account",
        "is_staff",
        "last_login",
    )
    list_filter = ("role", "is_banned", "is_test_account", "is_staff", "discord__in_guild")
    search_fields = ("username", "first_name", "discord__discord_id", "discord__username")
    inlines = (DiscordAccountInline,)
    actions = ("ban_users", "unban_users")
    fieldsets = (
        *(DjangoUserAdmin.fieldsets or ()),
        ("Daylock", {"fields": ("role", "is_banned", "is_test_account")}),
    )
    readonly_fields = ("is_test_account",)

    @admin.display(description="Discord")
    def discord_name(self, obj: User) -> str:
        account = getattr(obj, "discord", None)
        return f"{account.username} ({account.discord_id})" if account is not None else "—"

    @admin.action(description="Ban selected users")
    def ban_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_banned(request, queryset, banned=True)

    @admin.action(description="Unban selected users")
    def unban_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_banned(request, queryset, banned=False)

    def _set_banned(self, request: HttpRequest, queryset: QuerySet[User], *, banned: bool) -> None:
        actor = request.user if isinstance(request.user, User) else None
        for user in queryset:
            services.user_set_banned(actor=actor, user=user, banned=banned, reason="admin action")
        verb = "Banned" if banned else "Unbanned"
        self.message_user(request, f"{verb} {queryset.count()} user(s).", messages.SUCCESS)

    def save_model(
        self, request: HttpRequest, obj: User, form: ModelForm[User], change: bool
    ) -> None:
        before = {}
        if change and obj.pk is not None:
            old = User.objects.filter(pk=obj.pk).values(*_AUDITED).first() or {}
            before = {key: old.get(key) for key in _AUDITED}
        super().save_model(request, obj, form, change)
        after = {key: getattr(obj, key) for key in _AUDITED}
        changed = {
            k: [before.get(k), v] for k, v in after.items() if not change or before.get(k) != v
        }
        if changed:
            actor = request.user if isinstance(request.user, User) else None
            audit_record(
                actor_id=actor.pk if actor is not None else None,
                actor_label=actor.get_username() if actor is not None else "",
                action="accounts.admin_change" if change else "accounts.admin_create",
                target=f"user {obj.get_username()}",
                details={"changed": changed},
            )
