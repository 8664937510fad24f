"""The bot's side of Discord: the REST routes Daylock's worker calls with
``Authorization: Bot <token>``.

* ``GET /users/@me``: the bot the token belongs to (how Daylock proves whose bot it holds);
* ``GET /channels/{id}``: the channel, whose ``guild_id`` says which server it is in;
* ``POST /users/@me/channels``: open (or reopen) the DM channel with a user;
* ``POST /channels/{id}/messages``: post a message, deduplicated by ``nonce`` when
  ``enforce_nonce`` is set, over a window measured on the emulator's clock;
* ``PUT``/``DELETE /guilds/{guild}/members/{user}/roles/{role}``: grant or remove a role;
* ``GET /guilds/{guild}/channels`` and ``GET /guilds/{guild}/roles``: the guild's
  channels and roles (what the event editor offers by name).

Every answer carries Discord's rate-limit headers, so the client's bucket handling runs
against something realistic; the 429s themselves come from injected faults.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

from daylock.testing.discord_emulator.config import EmulatedBot
from daylock.testing.discord_emulator.state import EmulatorState
from daylock.testing.discord_emulator.web import (
    BadBody,
    Request,
    Response,
    discord_error,
    json_object,
    json_response,
    method_not_allowed,
)

#: Fields of a stored message that Discord's response does not have (the control API
#: shows them, so tests can see where a message went and what it allowed to ping).
_PRIVATE_MESSAGE_FIELDS = frozenset({"allowed_mentions", "dm_recipient_id", "guild_id"})


def route(*, state: EmulatorState, request: Request, route: str) -> Response | None:
    """Answer a bot route; None when ``route`` is not one of them.

    ``GET /users/@me`` is the bot's only when the token is a ``Bot`` token; with any
    other credential the route is left to :mod:`~daylock.testing.discord_emulator.oauth`.
    """
    method = request.method
    if route == "/users/@me" and _is_bot_request(request):
        return _me(state=state, request=request) if method == "GET" else method_not_allowed()
    match = re.fullmatch(r"/channels/(\d+)", route)
    if match:
        if method != "GET":
            return method_not_allowed()
        return _get_channel(state=state, request=request, channel_id=match[1])
    if route == "/users/@me/channels":
        return _open_dm(state=state, request=request) if method == "POST" else method_not_allowed()
    match = re.fullmatch(r"/channels/(\d+)/messages", route)
    if match:
        if method != "POST":
            return method_not_allowed()
        return _post_message(state=state, request=request, channel_id=match[1])
    directory = guild_directory_route(state=state, request=request, route=route)
    if directory is not None:
        return directory
    match = re.fullmatch(r"/guilds/(\d+)/members/(\d+)/roles/(\d+)", route)
    if match:
        if method not in {"PUT", "DELETE"}:
            return method_not_allowed()
        return _member_role(
            state=state, request=request, guild_id=match[1], user_id=match[2], role_id=match[3]
        )
    return None


# ---------------------------------------------------------------------- authentication


def _is_bot_request(request: Request) -> bool:
    return request.headers.get("Authorization", "").startswith("Bot ")


def bot_of(*, state: EmulatorState, request: Request) -> EmulatedBot | None:
    """The bot whose token the request carries (``Authorization: Bot <token>``)."""
    header = request.headers.get("Authorization", "").encode()
    with state.lock:
        tokens = [state.config.bot_token] + [bot.token for bot in state.config.bots]
        for token in tokens:
            if secrets.compare_digest(header, f"Bot {token}".encode()):
                return state.config.bot_for_token(token)
    return None


def _authorized(
    *, state: EmulatorState, request: Request, bucket: str
) -> list[tuple[str, str]] | Response:
    """The rate-limit headers of ``bucket`` for a known bot, or the 401 for anyone else."""
    if bot_of(state=state, request=request) is None:
        return discord_error(401, "401: Unauthorized", 0)
    return rate_headers(state=state, bucket=bucket)


def rate_headers(*, state: EmulatorState, bucket: str) -> list[tuple[str, str]]:
    """Count one request against ``bucket`` and describe it as Discord's headers do."""
    limit = state.config.rate_limit_per_bucket
    window = state.config.rate_limit_reset_seconds
    now = state.now()
    with state.lock:
        reset_at, used = state.store.buckets.get(bucket, (now + window, 0))
        if now >= reset_at:
            reset_at, used = now + window, 0
        used += 1
        state.store.buckets[bucket] = (reset_at, used)
    bucket_id = hashlib.sha1(bucket.encode(), usedforsecurity=False).hexdigest()[:16]
    return [
        ("X-RateLimit-Limit", str(limit)),
        ("X-RateLimit-Remaining", str(max(limit - used, 0))),
        ("X-RateLimit-Reset", f"{reset_at:.3f}"),
        ("X-RateLimit-Reset-After", f"{max(reset_at - now, 0):.3f}"),
        ("X-RateLimit-Bucket", bucket_id),
    ]


# ---------------------------------------------------------------------- routes


def _me(*, state: EmulatorState, request: Request) -> Response:
    bot = bot_of(state=state, request=request)
    if bot is None:
        return discord_error(401, "401: Unauthorized", 0)
    headers = rate_headers(state=state, bucket="GET /users/@me")
    return json_response(200, bot.user_object(), headers)


def _dm_channel(*, state: EmulatorState, channel_id: str) -> dict[str, Any] | None:
    return next((c for c in state.store.dm_channels.values() if c["id"] == channel_id), None)


def _get_channel(*, state: EmulatorState, request: Request, channel_id: str) -> Response:
    """``GET /channels/{id}``: the channel object, whose ``guild_id`` says its server."""
    headers = _authorized(state=state, request=request, bucket=f"GET /channels/{channel_id}")
    if isinstance(headers, Response):
        return headers
    with state.lock:
        dm = _dm_channel(state=state, channel_id=channel_id)
        if dm is not None:
            return json_response(200, dict(dm), headers)
        channel = state.config.channel(channel_id)
    if channel is None:
        return json_response(404, {"message": "Unknown Channel", "code": 10003}, headers)
    body = {
        "id": channel.id,
        "guild_id": channel.guild_id,
        "name": channel.name,
        "type": channel.type,
    }
    return json_response(200, body, headers)


def _dm_channel_id(recipient_id: str) -> str:
    """A stable, snowflake-sized id per recipient, so reopening a DM gives the same one."""
    digest = hashlib.sha256(f"dm:{recipient_id}".encode()).hexdigest()
    return str(300000000000000000 + int(digest[:14], 16) % 100000000000000000)


def _open_dm(*, state: EmulatorState, request: Request) -> Response:
    headers = _authorized(state=state, request=request, bucket="POST /users/@me/channels")
    if isinstance(headers, Response):
        return headers
    body = json_object(request)
    recipient = str(body.get("recipient_id", ""))
    user = state.config.user(recipient)
    if user is None:
        return json_response(400, {"message": "Invalid Recipient(s)", "code": 50033}, headers)
    with state.lock:
        channel = state.store.dm_channels.get(recipient)
        if channel is None:
            channel = {
                "id": _dm_channel_id(recipient),
                "type": 1,
                "last_message_id": None,
                "flags": 0,
                "recipients": [user.user_object()],
            }
            state.store.dm_channels[recipient] = channel
    return json_response(200, channel, headers)


def _too_long(field_name: str, limit: int) -> BadBody:
    return BadBody(
        {
            field_name: {
                "_errors": [
                    {
                        "code": "BASE_TYPE_MAX_LENGTH",
                        "message": f"Must be {limit} or fewer in length.",
                    }
                ]
            }
        }
    )


def _post_message(*, state: EmulatorState, request: Request, channel_id: str) -> Response:
    bucket = f"POST /channels/{channel_id}/messages"
    headers = _authorized(state=state, request=request, bucket=bucket)
    if isinstance(headers, Response):
        return headers
    with state.lock:
        dm = _dm_channel(state=state, channel_id=channel_id)
        channel = None if dm is not None else state.config.channel(channel_id)
        author = bot_of(state=state, request=request)
    if dm is None and channel is None:
        return json_response(404, {"message": "Unknown Channel", "code": 10003}, headers)
    assert author is not None  # _authorized() accepted the token
    body = json_object(request)
    content = body.get("content") or ""
    embeds = body.get("embeds") or []
    if not isinstance(content, str) or len(content) > 2000:
        raise _too_long("content", 2000)
    if not content and not embeds:
        return json_response(
            400, {"message": "Cannot send an empty message", "code": 50006}, headers
        )
    nonce = body.get("nonce")
    if nonce is not None:
        nonce = str(nonce)
        if len(nonce) > 25:
            raise _too_long("nonce", 25)
    now = state.now()
    with state.lock:
        if nonce is not None and body.get("enforce_nonce"):
            seen = state.store.nonces.get((channel_id, nonce))
            if seen is not None and now - seen[0] <= state.config.nonce_window_seconds:
                return json_response(200, _public_message(seen[1]), headers)
        message = {
            "id": state.snowflake(),
            "channel_id": channel_id,
            "type": 0,
            "content": content,
            "embeds": embeds,
            "tts": bool(body.get("tts", False)),
            "nonce": nonce,
            "author": {
                "id": author.id,
                "username": author.username,
                "global_name": None,
                "avatar": None,
                "discriminator": "0",
                "bot": True,
            },
            "timestamp": state.timestamp(at=now),
            "mentions": [],
            "mention_roles": [],
            "pinned": False,
            # Not part of Discord's response; kept for the control API.
            "allowed_mentions": body.get("allowed_mentions"),
            "dm_recipient_id": (dm["recipients"][0]["id"] if dm else None),
            "guild_id": channel.guild_id if channel is not None else None,
        }
        state.store.messages.append(message)
        if nonce is not None:
            state.store.nonces[(channel_id, nonce)] = (now, message)
    return json_response(200, _public_message(message), headers)


def _public_message(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k not in _PRIVATE_MESSAGE_FIELDS}


def _member_role(
    *, state: EmulatorState, request: Request, guild_id: str, user_id: str, role_id: str
) -> Response:
    bucket = f"{request.method} /guilds/{guild_id}/members/roles"
    headers = _authorized(state=state, request=request, bucket=bucket)
    if isinstance(headers, Response):
        return headers
    if guild_id != state.config.guild_id:
        return json_response(404, {"message": "Unknown Guild", "code": 10004}, headers)
    roles = state.config.guild_roles
    if roles and not any(r.id == role_id for r in roles):
        return json_response(404, {"message": "Unknown Role", "code": 10011}, headers)
    with state.lock:
        user = state.config.user(user_id)
        if user is None or not user.in_guild:
            return json_response(404, {"message": "Unknown Member", "code": 10007}, headers)
        if request.method == "PUT" and role_id not in user.roles:
            user.roles.append(role_id)
        elif request.method == "DELETE" and role_id in user.roles:
            user.roles.remove(role_id)
        state.store.role_changes.append(
            {
                "action": "add" if request.method == "PUT" else "remove",
                "guild_id": guild_id,
                "user_id": user_id,
                "role_id": role_id,
                "reason": request.headers.get("X-Audit-Log-Reason"),
                "time": state.timestamp(),
            }
        )
    return Response(204, b"", headers)


# ---------------------------------------------------------------------- the guild's directory


def guild_directory_route(*, state: EmulatorState, request: Request, route: str) -> Response | None:
    """``GET /guilds/{guild}/channels`` and ``GET /guilds/{guild}/roles``; None for any
    other route."""
    match = re.fullmatch(r"/guilds/(\d+)/(channels|roles)", route)
    if match is None:
        return None
    if request.method != "GET":
        return method_not_allowed()
    if match[2] == "channels":
        return _guild_channels(state=state, request=request, guild_id=match[1])
    return _guild_roles(state=state, request=request, guild_id=match[1])


def _guild_channels(*, state: EmulatorState, request: Request, guild_id: str) -> Response:
    """The configured channels of the guild, as Discord's channel objects. With no
    channels configured (any id then counts as a text channel of the guild) the list is
    empty: the emulator knows no channel by name."""
    headers = _authorized(state=state, request=request, bucket=f"GET /guilds/{guild_id}/channels")
    if isinstance(headers, Response):
        return headers
    with state.lock:
        if guild_id != state.config.guild_id:
            return json_response(404, {"message": "Unknown Guild", "code": 10004}, headers)
        channels = [
            {
                "id": channel.id,
                "type": channel.type,
                "guild_id": guild_id,
                "name": channel.name,
                "position": position,
                "parent_id": None,
            }
            for position, channel in enumerate(state.config.channels)
            if channel.guild_id in ("", guild_id)
        ]
    return json_response(200, channels, headers)


def _guild_roles(*, state: EmulatorState, request: Request, guild_id: str) -> Response:
    """The guild's roles as Discord's role objects, ``@everyone`` (whose id is the
    guild's) first, as Discord lists it."""
    headers = _authorized(state=state, request=request, bucket=f"GET /guilds/{guild_id}/roles")
    if isinstance(headers, Response):
        return headers
    with state.lock:
        if guild_id != state.config.guild_id:
            return json_response(404, {"message": "Unknown Guild", "code": 10004}, headers)
        named = [
            # Position and managed (a bot's own role) where the configuration has them.
            (role.id, role.name, getattr(role, "position", index), getattr(role, "managed", False))
            for index, role in enumerate(state.config.guild_roles, start=1)
        ]
    roles = [
        {
            "id": role_id,
            "name": name,
            "color": 0,
            "hoist": False,
            "position": position,
            "permissions": "0",
            "managed": bool(managed),
            "mentionable": False,
        }
        for role_id, name, position, managed in [(guild_id, "@everyone", 0, False), *named]
    ]
    return json_response(200, roles, headers)
