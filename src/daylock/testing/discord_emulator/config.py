"""The emulator's configuration: its Discord application, guild and users.

A plain, JSON-able dataclass so the standalone server can read it from a file
(``--config FILE.json``), tests can build it in code and the control API can replace
the users at run time (``PUT /_emulator/users``). Ids are strings, as in Discord's API.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The development defaults of :mod:`daylock.config` (the embedded emulator matches them).
DEFAULT_CLIENT_ID = "100000000000000001"
DEFAULT_CLIENT_SECRET = "emulator-client-secret"  # noqa: S105 - a public, emulator-only value
DEFAULT_BOT_TOKEN = "emulator-bot-token"  # noqa: S105 - a public, emulator-only value
DEFAULT_GUILD_ID = "100000000000000002"
DEFAULT_BOT_USER_ID = "100000000000000099"

#: Role ids of the default guild.
ADMIN_ROLE_ID = "100000000000000010"
MODERATOR_ROLE_ID = "100000000000000011"
PLAYER_ROLE_ID = "100000000000000012"
WINNER_ROLE_ID = "100000000000000013"
#: The bot's own (managed) role: it sits above Player and Event Winner, below staff.
BOT_ROLE_ID = "100000000000000014"

#: User ids of the default users.
ADMIN_USER_ID = "100000000000000101"
MODERATOR_USER_ID = "100000000000000102"
PLAYER_USER_ID = "100000000000000103"
SECOND_PLAYER_USER_ID = "100000000000000104"
OUTSIDER_USER_ID = "100000000000000105"
#: Avatar hashes of the default users (Discord's are 32 hex digits, ``a_`` if animated).
ADMIN_AVATAR = "0c8e5e6a1f2b4d3c9a7b6e5d4c3b2a19"
MODERATOR_GUILD_AVATAR = "a_5f0d1e2c3b4a59687766554433221100"


class ConfigError(ValueError):
    """The emulator configuration (file or control-API body) is not valid."""


@dataclass
class EmulatedUser:
    """One Discord user and, when ``in_guild``, their membership of the guild."""

    id: str
    username: str
    global_name: str | None = None
    avatar: str | None = None
    in_guild: bool = True
    roles: list[str] = field(default_factory=list)
    #: The server nickname and the guild avatar hash of their membership.
    nick: str | None = None
    guild_avatar: str | None = None
    joined_at: str = "2024-01-01T00:00:00.000000+00:00"
    bot: bool = False
    #: Discord's "Allow direct messages from server members" privacy setting: off, and a
    #: DM to the user answers 403 code 50007.
    accepts_dms: bool = True
    #: Not Discord's: the consent page offers this user as a one-click "Log in as …"
    #: under this heading (the seeded test accounts); empty: in the "Continue as" list.
    quick_login_group: str = ""
    #: Not Discord's: shown next to the one-click login (what the account is for).
    quick_login_note: str = ""

    def user_object(self) -> dict[str, Any]:
        """The user object of Discord's API v10 (``GET /users/@me``)."""
        return {
            "id": self.id,
            "username": self.username,
            "global_name": self.global_name,
            "avatar": self.avatar,
            "discriminator": "0",
            "public_flags": 0,
            "flags": 0,
            "bot": self.bot,
            "banner": None,
            "accent_color": None,
            "locale": "en-US",
            "mfa_enabled": False,
        }

    def member_object(self) -> dict[str, Any]:
        """The guild member object (``GET /users/@me/guilds/{guild}/member``)."""
        return {
            "user": self.user_object(),
            "nick": self.nick,
            "avatar": self.guild_avatar,
            "roles": list(self.roles),
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
        }


@dataclass
class GuildRole:
    """A role of the guild. Discord orders roles by ``position`` (``@everyone`` is 0); a
    bot may grant only roles below its own highest role. ``position`` None means "its
    place in the list" (the first role is 1)."""

    id: str
    name: str
    position: int | None = None
    #: A role Discord manages (the bot's own role): it cannot be granted to anyone.
    managed: bool = False


#: Channel types a message can be posted in (GUILD_TEXT, DM, GUILD_ANNOUNCEMENT);
#: anything else (voice 2, category 4, forum 15…) answers 50008.
TEXT_CHANNEL_TYPES = frozenset({0, 1, 5})


@dataclass
class GuildChannel:
    """A channel the emulator knows; ``guild_id`` empty means the emulated guild.

    ``bot_can_view`` off: the bot cannot see it (50001 Missing Access, as for a private
    channel the bot was not added to); ``bot_can_send`` off: it can see but not post
    (50013 Missing Permissions). ``shared_limit`` (messages per rate-limit window from
    everyone) makes a busy channel answer 429 with ``X-RateLimit-Scope: shared``.
    """

    id: str
    name: str
    guild_id: str = ""
    type: int = 0  # GUILD_TEXT
    bot_can_view: bool = True
    bot_can_send: bool = True
    shared_limit: int | None = None


@dataclass
class EmulatedBot:
    """Another bot the emulator knows by its token (besides the configured ``bot_token``).

    Discord answers ``GET /users/@me`` with ``Authorization: Bot <token>`` with the bot
    the token belongs to; tests use this to play "production's bot" or "a bot whose
    token claims another id".
    """

    token: str
    id: str
    username: str = "Another Bot"

    def user_object(self) -> dict[str, Any]:
        return EmulatedUser(self.id, self.username, bot=True).user_object()


def bot_token_for(user_id: str, secret: str = "emulator") -> str:  # noqa: S107
    """A token shaped like Discord's bot tokens: ``<base64 of the id>.<time>.<hmac>``.

    Discord's first segment is the URL-safe base64 of the bot's user id (unpadded);
    the rest is opaque. ``secret`` tells several tokens of one bot apart.
    """
    head = base64.urlsafe_b64encode(str(user_id).encode()).decode().rstrip("=")
    tail = base64.urlsafe_b64encode(secret.encode()).decode().rstrip("=") or "x"
    return f"{head}.GhT3aw.{tail}"


def bot_user_id_of(token: str) -> str | None:
    """The user id a Discord-shaped bot token names (None for other tokens)."""
    head = token.strip().split(".", 1)[0]
    try:
        text = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        return None
    return text if text.isdigit() and len(text) <= 20 else None


@dataclass
class EmulatorConfig:
    """Everything the emulator pretends Discord knows.

    ``redirect_uris`` empty means any redirect URI is accepted (handy for tests);
    ``channels`` empty means any channel id is a text channel of the emulated guild
    (messages may be posted to it and ``GET /channels/{id}`` answers it); configure
    channels to get Discord's refusals for unknown (10003), hidden (50001), read-only
    (50013) and non-text (50008) channels. ``guild_roles`` empty likewise means any role
    id may be granted; with roles configured, a role at or above the bot's highest role
    (``bot_role_ids``) is refused with 50013, as Discord does. The bot is ``bot_token`` →
    ``bot_user_id``; ``bots`` adds more tokens, each with its own bot.

    Rate limits are enforced, as on Discord: every route bucket allows
    ``rate_limit_per_bucket`` requests per ``rate_limit_reset_seconds`` (then 429,
    ``X-RateLimit-Scope: user``), each bot ``global_rate_limit`` requests in any second
    (then 429, scope ``global``). 401, 403 and 429 answers (except shared-scope 429s) are
    invalid requests: ``invalid_request_limit`` of them within
    ``invalid_request_window_seconds`` ban the client for ``ban_seconds`` with
    Cloudflare's answer (a 429 whose body is not JSON).
    """

    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    bot_token: str = DEFAULT_BOT_TOKEN
    guild_id: str = DEFAULT_GUILD_ID
    guild_name: str = "Daylock Emulated Server"
    redirect_uris: list[str] = field(default_factory=list)
    guild_roles: list[GuildRole] = field(default_factory=list)
    channels: list[GuildChannel] = field(default_factory=list)
    users: list[EmulatedUser] = field(default_factory=list)
    bot_user_id: str = DEFAULT_BOT_USER_ID
    bot_username: str = "Daylock Bot"
    bots: list[EmulatedBot] = field(default_factory=list)
    #: How long an authorization code can be exchanged (Discord: a few minutes).
    code_ttl_seconds: float = 60.0
    access_token_ttl_seconds: int = 604800
    #: How long ``enforce_nonce`` deduplicates a nonce per sender. Discord says "the past
    #: few minutes"; the default is deliberately short, so a client that repeats later
    #: than that learns it here rather than in production.
    nonce_window_seconds: float = 120.0
    #: Each route bucket: this many requests per window (``X-RateLimit-Limit``).
    rate_limit_per_bucket: int = 5
    rate_limit_reset_seconds: float = 1.0
    #: Requests per second per bot, all routes together (Discord: 50).
    global_rate_limit: int = 50
    #: Invalid requests (401, 403, 429 except scope shared) before the ban (Discord:
    #: 10,000 per 10 minutes), and how long the ban lasts.
    invalid_request_limit: int = 10000
    invalid_request_window_seconds: float = 600.0
    ban_seconds: float = 3600.0
    #: The bot's roles: the highest decides which roles it may grant.
    bot_role_ids: list[str] = field(default_factory=list)
    #: The bot's Manage Roles permission (off: every role change answers 50013).
    bot_can_manage_roles: bool = True
    #: Opening more than this many *new* DM channels within the window answers 403 code
    #: 40003 ("You are opening direct messages too fast").
    dm_open_limit: int = 20
    dm_open_window_seconds: float = 10.0
    #: Seed of the random draw of faults injected with a ``probability`` (reproducible).
    fault_seed: int = 0

    def user(self, user_id: str) -> EmulatedUser | None:
        return next((user for user in self.users if user.id == user_id), None)

    def bot_for_token(self, token: str) -> EmulatedBot | None:
        """The bot a token belongs to (the configured bot first), or None."""
        if token == self.bot_token:
            return EmulatedBot(self.bot_token, self.bot_user_id, self.bot_username)
        return next((bot for bot in self.bots if bot.token == token), None)

    def role(self, role_id: str) -> GuildRole | None:
        return next((role for role in self.guild_roles if role.id == role_id), None)

    def role_position(self, role_id: str) -> int:
        """A role's position (``@everyone``, the guild's own id, and unknown roles: 0)."""
        for index, role in enumerate(self.guild_roles, start=1):
            if role.id == role_id:
                return index if role.position is None else role.position
        return 0

    def bot_top_position(self) -> int:
        """The position of the bot's highest role (0: only ``@everyone``)."""
        return max((self.role_position(role_id) for role_id in self.bot_role_ids), default=0)

    def channel(self, channel_id: str) -> GuildChannel | None:
        """A configured channel; with no channels configured, any id is the guild's."""
        if not self.channels:
            return GuildChannel(channel_id, f"channel-{channel_id}", self.guild_id)
        found = next((c for c in self.channels if c.id == channel_id), None)
        if found is not None and not found.guild_id:
            return dataclasses.replace(found, guild_id=self.guild_id)
        return found

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EmulatorConfig:
        if not isinstance(data, dict):
            raise ConfigError("the emulator configuration must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown configuration keys: {', '.join(sorted(unknown))}")
        values = dict(data)
        try:
            if "users" in values:
                values["users"] = parse_users(values["users"])
            if "guild_roles" in values:
                values["guild_roles"] = [GuildRole(**_obj(r)) for r in values["guild_roles"]]
            if "bot_role_ids" in values:
                values["bot_role_ids"] = [str(role) for role in values["bot_role_ids"]]
            if "channels" in values:
                values["channels"] = [GuildChannel(**_obj(c)) for c in values["channels"]]
            if "bots" in values:
                values["bots"] = parse_bots(values["bots"])
            for key in ("client_id", "guild_id", "bot_user_id"):
                if key in values:
                    values[key] = str(values[key])
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(f"invalid emulator configuration: {exc}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> EmulatorConfig:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read emulator configuration {path}: {exc}") from None
        return cls.from_json(data)


def _obj(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"expected a JSON object, got {value!r}")
    return {k: (str(v) if k in {"id", "guild_id"} else v) for k, v in value.items()}


def parse_bots(raw: Any) -> list[EmulatedBot]:
    if not isinstance(raw, list):
        raise ConfigError("bots must be a list of {token, id, username} objects")
    bots = []
    for item in raw:
        try:
            bots.append(EmulatedBot(**_obj(item)))
        except TypeError as exc:
            raise ConfigError(f"invalid bot: {exc}") from None
    tokens = [bot.token for bot in bots]
    if len(set(tokens)) != len(tokens):
        raise ConfigError("bot tokens must be unique")
    return bots


def parse_users(raw: Any) -> list[EmulatedUser]:
    if not isinstance(raw, list):
        raise ConfigError("users must be a list of user objects")
    users = []
    for item in raw:
        data = _obj(item)
        data["roles"] = [str(role) for role in data.get("roles", [])]
        try:
            users.append(EmulatedUser(**data))
        except TypeError as exc:
            raise ConfigError(f"invalid user {item!r}: {exc}") from None
    ids = [user.id for user in users]
    if len(set(ids)) != len(ids):
        raise ConfigError("user ids must be unique")
    return users


def default_config(**overrides: Any) -> EmulatorConfig:
    """A guild with an admin, a moderator, two players, and one user not in the guild.

    Their names and avatars cover what Daylock shows (:mod:`daylock.accounts.names`):
    Ada has an avatar, Mo a server nickname and a guild avatar, Sam a nickname only,
    Pat neither (their display name and Discord's default avatar).

    Roles, lowest first: Player (1), Event Winner (2), the bot's own role (3), Moderator
    (4), Admin (5): the bot may grant Player and Event Winner, not the staff roles.

    A ``bot_token`` shaped like Discord's names its bot: unless ``bot_user_id`` is given
    too, the emulated bot is the one the token names (as on Discord).
    """
    if "bot_token" in overrides and "bot_user_id" not in overrides:
        named = bot_user_id_of(str(overrides["bot_token"]))
        if named is not None:
            overrides["bot_user_id"] = named
    config = EmulatorConfig(
        guild_roles=[
            GuildRole(ADMIN_ROLE_ID, "Admin", position=5),
            GuildRole(MODERATOR_ROLE_ID, "Moderator", position=4),
            GuildRole(PLAYER_ROLE_ID, "Player", position=1),
            GuildRole(WINNER_ROLE_ID, "Event Winner", position=2),
            GuildRole(BOT_ROLE_ID, "Daylock Bot", position=3, managed=True),
        ],
        bot_role_ids=[BOT_ROLE_ID],
        users=[
            EmulatedUser(
                ADMIN_USER_ID,
                "ada",
                "Ada Admin",
                avatar=ADMIN_AVATAR,
                roles=[ADMIN_ROLE_ID, PLAYER_ROLE_ID],
            ),
            EmulatedUser(
                MODERATOR_USER_ID,
                "mo",
                "Mo Moderator",
                nick="Mo (mod team)",
                guild_avatar=MODERATOR_GUILD_AVATAR,
                roles=[MODERATOR_ROLE_ID, PLAYER_ROLE_ID],
            ),
            EmulatedUser(PLAYER_USER_ID, "pat", "Pat Player", roles=[PLAYER_ROLE_ID]),
            EmulatedUser(SECOND_PLAYER_USER_ID, "sam", "Sam Second", nick="Sammy"),
            EmulatedUser(OUTSIDER_USER_ID, "olly", "Olly Outsider", in_guild=False),
        ],
    )
    return dataclasses.replace(config, **overrides)
