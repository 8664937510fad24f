"""How Daylock shows a person: by the name and the avatar Discord itself shows in the
configured guild. The one place that decides, for every page, the leaderboard's own SQL
reads, staff pages, the Django admin and messages.

* **Name** (:func:`name_shown`): the server nickname, else the display name Discord
  calls ``global_name``, else the username — Discord's own precedence in a guild.
* **Avatar** (:func:`cdn_avatar_url`): the member's guild avatar, else the user's
  avatar, else Discord's default avatar, all on Discord's CDN
  (``config.current().discord_cdn``: the emulator outside production).

No model is imported at run time, so the package can re-export :func:`display_name`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from daylock import config

if TYPE_CHECKING:
    from daylock.accounts.models import DiscordAccount, User

#: Pixels asked of the CDN (``?size=``, a power of two from 16 to 4096): pages show
#: avatars at most 48 CSS pixels wide, so 64 is sharp enough and small.
AVATAR_SIZE = 64
#: Discord's default avatars, ``embed/avatars/0.png`` to ``5.png``.
DEFAULT_AVATARS = 6


def name_shown(*, nick: str | None, global_name: str | None, username: str) -> str:
    """The first of the server nickname, the display name and the username that is
    set (Discord sends ``null`` or leaves a field out when it is not)."""
    return nick or global_name or username


def display_name(account: DiscordAccount) -> str:
    """The name Discord shows for this account in the configured guild."""
    return name_shown(nick=account.nick, global_name=account.global_name, username=account.username)


def linked_account(user: User) -> DiscordAccount | None:
    """The user's Discord account, or None (operators made with ``createsuperuser``)."""
    account: DiscordAccount | None = getattr(user, "discord", None)
    return account


def user_display_name(user: User) -> str:
    """The user's Discord name (:func:`display_name`); Daylock's username for a user
    without a Discord account."""
    account = linked_account(user)
    name = display_name(account) if account is not None else ""
    return name or user.get_username()


def default_avatar_index(discord_id: str) -> int:
    """Which of Discord's default avatars a user without one gets: ``(id >> 22) % 6``
    for accounts on Discord's unique usernames (every user since 2023; Daylock stores
    no legacy discriminator)."""
    try:
        return (int(discord_id) >> 22) % DEFAULT_AVATARS
    except ValueError:
        return 0


def cdn_avatar_url(
    *, discord_id: str, avatar: str | None, guild_avatar: str | None, size: int = AVATAR_SIZE
) -> str:
    """The avatar Discord shows for this member of the configured guild, on its CDN."""
    current = config.current()
    base = current.discord_cdn
    user_id = quote(discord_id, safe="")
    if guild_avatar:
        guild_id = quote(current.discord_guild_id, safe="")
        path = f"guilds/{guild_id}/users/{user_id}/avatars/{quote(guild_avatar, safe='')}.png"
    elif avatar:
        path = f"avatars/{user_id}/{quote(avatar, safe='')}.png"
    else:
        # The default avatars come in one size only; Discord ignores ``size`` there.
        return f"{base}/embed/avatars/{default_avatar_index(discord_id)}.png"
    return f"{base}/{path}?size={size}"


def avatar_url(account: DiscordAccount) -> str:
    return cdn_avatar_url(
        discord_id=account.discord_id, avatar=account.avatar, guild_avatar=account.guild_avatar
    )


def user_avatar_url(user: User) -> str:
    """The user's Discord avatar; empty for a user without a Discord account."""
    account = linked_account(user)
    return avatar_url(account) if account is not None else ""
