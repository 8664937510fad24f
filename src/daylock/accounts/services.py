"""Writes for users and their Discord accounts.

A Discord login is the only way a player gets a Daylock account: the Discord profile and
guild membership are copied in one transaction, and the role follows the guild roles the
environment's configuration names (``DISCORD_ADMIN_ROLE_IDS`` /
``DISCORD_MODERATOR_ROLE_IDS``). Discord is the source of truth for roles: a demotion on
the server is a demotion here at the next login. Superusers keep staff access.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from daylock import config
from daylock.accounts.models import DiscordAccount, Role, User
from daylock.accounts.permissions import ROLE_PERMISSIONS
from daylock.core.services import audit_record


class LoginRefused(Exception):
    """A Discord user who may not log in (not in the guild, banned, disabled)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


#: The Discord account's fields that a login and a member sync copy from Discord, in the
#: order of :func:`discord_names`.
DISCORD_NAME_FIELDS = ("username", "global_name", "avatar", "nick", "guild_avatar")


def discord_names(
    *, user: Mapping[str, Any], member: Mapping[str, Any]
) -> tuple[str, str, str, str, str]:
    """The names and avatars of a Discord user object and their guild member object, as
    Daylock stores them (:data:`DISCORD_NAME_FIELDS`): ``null`` and absent fields are
    empty, values cut to the columns. One rule for login and the member sync."""
    return (
        str(user.get("username") or f"discord-{user['id']}")[:64],
        str(user.get("global_name") or "")[:64],
        str(user.get("avatar") or "")[:128],
        str(member.get("nick") or "")[:64],
        str(member.get("avatar") or "")[:128],
    )


def role_for_guild_roles(role_ids: Iterable[str]) -> Role:
    """The Daylock role that the configured Discord role ids give (highest wins)."""
    current = config.current()
    held = {str(role_id) for role_id in role_ids}
    if held & current.discord_admin_role_ids:
        return Role.ADMIN
    if held & current.discord_moderator_role_ids:
        return Role.MODERATOR
    return Role.PLAYER


def user_login_from_discord(
    *, profile: Mapping[str, Any], member: Mapping[str, Any] | None
) -> User:
    """Create or update the user behind a Discord profile and return them, ready to log in.

    The profile and the member object are copied as Discord sends them at every login:
    username, display name and avatar, the server nickname and guild avatar (what
    :mod:`daylock.accounts.names` shows), and the guild roles.

    ``member`` is the guild member object, or None when the user is not in the guild: then
    nothing is created, an existing account is marked as having left the guild (so it is
    no longer eligible for prizes), and :class:`LoginRefused` is raised. Banned or
    disabled users are refused as well (their profile is still refreshed).
    """
    discord_id = str(profile["id"])
    if member is None:
        with transaction.atomic():
            accounts = DiscordAccount.objects.filter(discord_id=discord_id)
            accounts.filter(left_guild_at=None).update(left_guild_at=timezone.now())
            accounts.update(in_guild=False, guild_role_ids=[])
        raise LoginRefused(
            "not_in_guild",
            "You are not a member of the Discord server. Join the server first, then log in.",
        )
    try:
        user = _upsert(discord_id=discord_id, profile=profile, member=member)
    except IntegrityError:
        # Two first logins of the same Discord user raced; the other one created the rows.
        user = _upsert(discord_id=discord_id, profile=profile, member=member)
    if user.is_banned:
        raise LoginRefused("banned", "This account is banned from Daylock.")
    if not user.is_active:
        raise LoginRefused("inactive", "This account is disabled.")
    return user


def user_role_from_guild(
    *, user: User, role_ids: Iterable[str], discord_id: str, actor_label: str = "discord"
) -> bool:
    """Give ``user`` the role their guild roles name, and Django's staff flag with it (a
    role with any staff permission); True when an existing user's role changed, which is
    audited. Saves only the audit row: the caller saves the user in its own transaction.

    One rule for every path that learns a member's roles from Discord (login, the member
    sync of :mod:`daylock.discord.membership`), so a demotion on the server is a demotion
    here whichever path sees it first. Superusers keep staff access.
    """
    role = role_for_guild_roles(role_ids)
    previous = user.role if user.pk is not None else None
    user.role = role
    user.is_staff = bool(ROLE_PERMISSIONS[role]) or user.is_superuser
    if previous is None or previous == role:
        return False
    audit_record(
        actor_label=actor_label,
        action="accounts.role_synced",
        target=f"user {user.get_username()}",
        details={"discord_id": discord_id, "from": previous, "to": role.value},
    )
    return True


def _upsert(*, discord_id: str, profile: Mapping[str, Any], member: Mapping[str, Any]) -> User:
    role_ids = [str(role_id) for role_id in member.get("roles") or []]
    username = str(profile.get("username") or f"discord-{discord_id}")
    global_name = str(profile.get("global_name") or "")
    with transaction.atomic():
        account = (
            DiscordAccount.objects.select_for_update()
            .select_related("user")
            .filter(discord_id=discord_id)
            .first()
        )
        if account is None:
            user = User(username=_free_username(username, exclude_pk=None))
            user.set_unusable_password()
            account = DiscordAccount(user=user, discord_id=discord_id)
        else:
            user = account.user
            if user.username != username and not user.is_test_account:
                user.username = _free_username(username, exclude_pk=user.pk)
        user.first_name = global_name[:150]
        user_role_from_guild(user=user, role_ids=role_ids, discord_id=discord_id)
        user.save()
        account.user = user
        for field, value in zip(
            DISCORD_NAME_FIELDS, discord_names(user=profile, member=member), strict=True
        ):
            setattr(account, field, value)
        account.in_guild = True
        account.left_guild_at = None
        account.guild_role_ids = role_ids
        account.save()
    return user


def _free_username(wanted: str, *, exclude_pk: int | None) -> str:
    """``wanted`` if no other user has it, else ``wanted-2``, ``wanted-3``, …"""
    base = wanted[:140]
    candidate, n = base, 1
    others = User.objects.exclude(pk=exclude_pk) if exclude_pk is not None else User.objects.all()
    while others.filter(username=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def user_set_banned(*, actor: User | None, user: User, banned: bool, reason: str = "") -> User:
    """Ban or unban a user (admin action, audited).

    A banned user's open sessions stop working at their next request: the
    authentication backend (:mod:`daylock.accounts.backends`) no longer returns them.
    """
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if user.is_banned == banned:
            return user
        user.is_banned = banned
        user.save(update_fields=["is_banned"])
        audit_record(
            actor_id=actor.pk if actor is not None else None,
            actor_label=actor.get_username() if actor is not None else "cli",
            action="accounts.ban" if banned else "accounts.unban",
            target=f"user {user.get_username()}",
            details={"reason": reason},
        )
    return user
