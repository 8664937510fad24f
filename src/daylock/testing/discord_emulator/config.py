"""The emulator's configuration: its Discord application, guild and users.

A plain, JSON-able dataclass so the standalone server can read it from a file
(``--config FILE.json``), tests can build it in code and the control API can replace
the users at run time (``PUT /_emulator/users``). Ids are strings, as in Discord's API.
"""

from __future__ import annotations

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

#: Role ids of the default guild.
ADMIN_ROLE_ID = "100000000000000010"
MODERATOR_ROLE_ID = "100000000000000011"
PLAYER_ROLE_ID = "100000000000000012"
WINNER_ROLE_ID = "100000000000000013"

#: User ids of the default users.
ADMIN_USER_ID = "100000000000000101"
MODERATOR_USER_ID = "100000000000000102"
PLAYER_USER_ID = "100000000000000103"
SECOND_PLAYER_USER_ID = "100000000000000104"
OUTSIDER_USER_ID = "100000000000000105"


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
    nick: str | None = None
    joined_at: str = "2024-01-01T00:00:00.000000+00:00"
    bot: bool = False

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
            "avatar": None,
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
    id: str
    name: str


@dataclass
class GuildChannel:
    id: str
    name: str


@dataclass
class EmulatorConfig:
    """Everything the emulator pretends Discord knows.

    ``redirect_uris`` empty means any redirect URI is accepted (handy for tests);
    ``channels`` empty means messages may be posted to any channel id.
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
    bot_user_id: str = "100000000000000099"
    bot_username: str = "Daylock Bot"
    #: How long an authorization code can be exchanged (Discord: a few minutes).
    code_ttl_seconds: float = 60.0
    access_token_ttl_seconds: int = 604800
    #: How long ``enforce_nonce`` deduplicates a message nonce in one channel.
    nonce_window_seconds: float = 300.0
    #: The value of ``X-RateLimit-Limit`` on bot routes (faults decide 429s).
    rate_limit_per_bucket: int = 5
    rate_limit_reset_seconds: float = 1.0

    def user(self, user_id: str) -> EmulatedUser | None:
        return next((user for user in self.users if user.id == user_id), None)

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
            if "channels" in values:
                values["channels"] = [GuildChannel(**_obj(c)) for c in values["channels"]]
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
    return {k: (str(v) if k == "id" else v) for k, v in value.items()}


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
    """A guild with an admin, a moderator, two players, and one user not in the guild."""
    config = EmulatorConfig(
        guild_roles=[
            GuildRole(ADMIN_ROLE_ID, "Admin"),
            GuildRole(MODERATOR_ROLE_ID, "Moderator"),
            GuildRole(PLAYER_ROLE_ID, "Player"),
            GuildRole(WINNER_ROLE_ID, "Event Winner"),
        ],
        users=[
            EmulatedUser(ADMIN_USER_ID, "ada", "Ada Admin", roles=[ADMIN_ROLE_ID, PLAYER_ROLE_ID]),
            EmulatedUser(
                MODERATOR_USER_ID, "mo", "Mo Moderator", roles=[MODERATOR_ROLE_ID, PLAYER_ROLE_ID]
            ),
            EmulatedUser(PLAYER_USER_ID, "pat", "Pat Player", roles=[PLAYER_ROLE_ID]),
            EmulatedUser(SECOND_PLAYER_USER_ID, "sam", "Sam Second", nick="Sammy"),
            EmulatedUser(OUTSIDER_USER_ID, "olly", "Olly Outsider", in_guild=False),
        ],
    )
    return dataclasses.replace(config, **overrides)
