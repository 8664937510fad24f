"""Reads for users and their Discord accounts."""

from __future__ import annotations

from daylock.accounts.models import DiscordAccount, User


def discord_account_for(*, discord_id: str) -> DiscordAccount | None:
    return DiscordAccount.objects.select_related("user").filter(discord_id=discord_id).first()


def display_name(*, user: User) -> str:
    """The Discord global name when known, else the username."""
    account = DiscordAccount.objects.filter(user=user).only("global_name").first()
    if account is not None and account.global_name:
        return account.global_name
    return user.get_username()
