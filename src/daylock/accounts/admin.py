"""Django admin for users and their Discord accounts.

Who may open it comes from the role table (``accounts.user`` in
:data:`daylock.accounts.permissions.ADMIN_MODELS`: admins may ban, unban and change a
role; users come from Discord, so nobody adds or deletes them here). Every change is
audited by the admin site (:mod:`daylock.accounts.admin_site`), old → new. Only a
superuser (an operator) may touch a superuser's account, a password, or the Django
flags that lead to one: otherwise an admin could make themselves an operator.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from daylock.accounts import services
from daylock.accounts.models import DiscordAccount, User
from daylock.accounts.names import display_name, linked_account

#: Shown but not editable unless the viewer is a superuser.
_OPERATOR_FIELDS = ("is_superuser", "is_staff", "last_login", "date_joined")
#: Not shown at all unless the viewer is a superuser (a password hash; Django's own
#: permissions, which Daylock does not use: the role table decides).
_OPERATOR_ONLY_FIELDS = frozenset({"password", "groups", "user_permissions"})


class DiscordAccountInline(admin.StackedInline[DiscordAccount, User]):
    model = DiscordAccount
    can_delete = False
    extra = 0
    readonly_fields = (
        "discord_id",
        "username",
        "global_name",
        "nick",
        "avatar",
        "guild_avatar",
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
    #: The Discord column, without a query per row.
    list_select_related = ("discord",)
    list_filter = ("role", "is_banned", "is_test_account", "is_staff", "discord__in_guild")
    search_fields = (
        "username",
        "first_name",
        "discord__discord_id",
        "discord__username",
        "discord__global_name",
        "discord__nick",
    )
    inlines = (DiscordAccountInline,)
    actions = ("ban_users", "unban_users")
    fieldsets = (
        *(DjangoUserAdmin.fieldsets or ()),
        ("Daylock", {"fields": ("role", "is_banned", "is_test_account")}),
    )
    readonly_fields = ("is_test_account",)

    @admin.display(description="Discord", ordering="discord__username")
    def discord_name(self, obj: User) -> str:
        """As Discord shows them, with the username and id staff look people up by."""
        account = linked_account(obj)
        if account is None:
            return "—"
        return f"{display_name(account)} (@{account.username}, {account.discord_id})"

    @admin.action(description="Ban selected users", permissions=["change"])
    def ban_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_banned(request, queryset, banned=True)

    @admin.action(description="Unban selected users", permissions=["change"])
    def unban_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_banned(request, queryset, banned=False)

    def _set_banned(self, request: HttpRequest, queryset: QuerySet[User], *, banned: bool) -> None:
        actor = request.user if isinstance(request.user, User) else None
        if actor is None or not actor.is_superuser:
            operators = queryset.filter(is_superuser=True)
            if operators.exists():
                self.message_user(
                    request,
                    f"Skipped {operators.count()} operator account(s): only a superuser may "
                    "ban or unban one.",
                    messages.WARNING,
                )
            queryset = queryset.exclude(is_superuser=True)
        count = 0
        for user in queryset:
            services.user_set_banned(actor=actor, user=user, banned=banned, reason="admin action")
            count += 1
        verb = "Banned" if banned else "Unbanned"
        self.message_user(request, f"{verb} {count} user(s).", messages.SUCCESS)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if getattr(request.user, "is_superuser", False):
            return fieldsets
        return [
            (
                name,
                {
                    **options,
                    "fields": [f for f in options["fields"] if f not in _OPERATOR_ONLY_FIELDS],
                },
            )
            for name, options in fieldsets
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))
        if getattr(request.user, "is_superuser", False):
            return fields
        return fields + tuple(name for name in _OPERATOR_FIELDS if name not in fields)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        """Setting a password makes an account usable without Discord: operators only."""
        if not request.user.is_superuser:
            raise PermissionDenied(
                "Only an operator (a superuser) may set a password: Daylock accounts log "
                "in with Discord. Ask the operators if an account needs one."
            )
        return super().user_change_password(request, id, form_url)
