"""The bot's side of Discord: the REST routes Daylock's worker calls with
``Authorization: Bot <token>``.

* ``GET /users/@me``: the bot the token belongs to (how Daylock proves whose bot it holds);
* ``GET /channels/{id}``: the channel, whose ``guild_id`` says which server it is in;
* ``POST /users/@me/channels``: open (or reopen) the DM channel with a user;
* ``POST /channels/{id}/messages``: post a message (content and embeds, judged by
  :mod:`.message_body` against Discord's limits; its ``mentions`` resolved under
  ``allowed_mentions``), deduplicated by ``nonce`` per sender when ``enforce_nonce``
  is set, over a window measured on the emulator's clock;
  ``DELETE /channels/{id}/messages/{message}``: delete one;
* ``PUT``/``DELETE /guilds/{guild}/members/{user}/roles/{role}``: grant or remove a role;
  ``GET /guilds/{guild}/members/{user}``: a member and their roles;
* ``GET /guilds/{guild}/channels`` and ``GET /guilds/{guild}/roles``: the guild's
  channels and roles (what the event editor offers by name).
* ``GET /guilds/{guild}/members?limit=&after=``: the member list, a page at a time.

Each route refuses the way Discord does: ids that are not snowflakes (50035), unknown
channels, guilds, roles and members (10003, 10004, 10011, 10007), a channel the bot
cannot see (50001) or post in (50013), a non-text channel (50008), a role at or above
the bot's highest role (50013), a user who does not accept DMs (50007) or shares no
server with the bot (50278), DMs opened too fast (40003), a message over Discord's
content or embed limits (50035, per field) or with nothing in it (50006). Rate limits
are enforced
(:mod:`.limits`): every answer carries Discord's rate-limit headers and a spent bucket
answers 429.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any
from urllib.parse import unquote

from daylock.testing.discord_emulator import limits, message_body
from daylock.testing.discord_emulator.config import TEXT_CHANNEL_TYPES, EmulatedBot
from daylock.testing.discord_emulator.state import EmulatorState
from daylock.testing.discord_emulator.web import (
    BadBody,
    Request,
    Response,
    check_snowflakes,
    discord_error,
    json_object,
    json_response,
    method_not_allowed,
    refusal,
)

#: Fields of a stored message that Discord's response does not have (the control API
#: shows them, so tests can see where a message went and what it allowed to ping).
_PRIVATE_MESSAGE_FIELDS = frozenset({"allowed_mentions", "dm_recipient_id", "guild_id"})
#: Discord's limit on an audit-log reason (characters, once URL-decoded).
AUDIT_REASON_MAX = 512


def route(*, state: EmulatorState, request: Request, route: str) -> Response | None:
    """Answer a bot route; None when ``route`` is not one of them.

    ``GET /users/@me`` is the bot's only when the token is a ``Bot`` token; with any
    other credential the route is left to :mod:`~daylock.testing.discord_emulator.oauth`.
    Ids in the path are matched loosely and judged by the route (50035), as Discord does.
    """
    method = request.method
    if route == "/users/@me" and _is_bot_request(request):
        return _me(state=state, request=request) if method == "GET" else method_not_allowed()
    match = re.fullmatch(r"/channels/([^/]+)", route)
    if match:
        if method != "GET":
            return method_not_allowed()
        return _get_channel(state=state, request=request, channel_id=match[1])
    if route == "/users/@me/channels":
        return _open_dm(state=state, request=request) if method == "POST" else method_not_allowed()
    match = re.fullmatch(r"/channels/([^/]+)/messages", route)
    if match:
        if method != "POST":
            return method_not_allowed()
        return _post_message(state=state, request=request, channel_id=match[1])
    match = re.fullmatch(r"/channels/([^/]+)/messages/([^/]+)", route)
    if match:
        if method != "DELETE":
            return method_not_allowed()
        return _delete_message(
            state=state, request=request, channel_id=match[1], message_id=match[2]
        )
    directory = guild_directory_route(state=state, request=request, route=route)
    if directory is not None:
        return directory
    members = guild_members_route(state=state, request=request, route=route)
    if members is not None:
        return members
    match = re.fullmatch(r"/guilds/([^/]+)/members/([^/]+)", route)
    if match and _is_bot_request(request):
        if method != "GET":
            return method_not_allowed()
        return _get_member(state=state, request=request, guild_id=match[1], user_id=match[2])
    match = re.fullmatch(r"/guilds/([^/]+)/members/([^/]+)/roles/([^/]+)", route)
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
    """The rate-limit headers of ``bucket`` for a known bot; the 401 for anyone else, or
    the 429 when the bot is over the global limit or the bucket is spent."""
    bot = bot_of(state=state, request=request)
    if bot is None:
        return discord_error(401, "401: Unauthorized", 0)
    limited = limits.take_global(state=state, bot_id=bot.id)
    if limited is not None:
        return limited
    return limits.take_bucket(state=state, bucket=bucket)


# ---------------------------------------------------------------------- routes


def _me(*, state: EmulatorState, request: Request) -> Response:
    headers = _authorized(state=state, request=request, bucket="GET /users/@me")
    if isinstance(headers, Response):
        return headers
    bot = bot_of(state=state, request=request)
    assert bot is not None  # _authorized() accepted the token
    return json_response(200, bot.user_object(), headers)


def _dm_channel(*, state: EmulatorState, channel_id: str) -> dict[str, Any] | None:
    return next((c for c in state.store.dm_channels.values() if c["id"] == channel_id), None)


def _get_channel(*, state: EmulatorState, request: Request, channel_id: str) -> Response:
    """``GET /channels/{id}``: the channel object, whose ``guild_id`` says its server."""
    headers = _authorized(state=state, request=request, bucket=f"GET /channels/{channel_id}")
    if isinstance(headers, Response):
        return headers
    check_snowflakes(channel_id=channel_id)
    with state.lock:
        dm = _dm_channel(state=state, channel_id=channel_id)
        if dm is not None:
            return json_response(200, dict(dm), headers)
        channel = state.config.channel(channel_id)
    if channel is None:
        return refusal(404, 10003, headers)
    if not channel.bot_can_view:
        return refusal(403, 50001, headers)
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
    """``POST /users/@me/channels``: the DM channel with a user (the same one each time).

    Opening a DM to someone who does not accept DMs works (the send is what fails);
    opening many *new* ones quickly answers 40003.
    """
    headers = _authorized(state=state, request=request, bucket="POST /users/@me/channels")
    if isinstance(headers, Response):
        return headers
    body = json_object(request)
    recipient = str(body.get("recipient_id", ""))
    check_snowflakes(recipient_id=recipient)
    user = state.config.user(recipient)
    if user is None:
        return refusal(400, 50033, headers)
    with state.lock:
        channel = state.store.dm_channels.get(recipient)
        if channel is None:
            if not limits.take_dm_open(state=state):
                return refusal(403, 40003, headers)
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
    check_snowflakes(channel_id=channel_id)
    with state.lock:
        dm = _dm_channel(state=state, channel_id=channel_id)
        channel = None if dm is not None else state.config.channel(channel_id)
        author = bot_of(state=state, request=request)
        recipient = state.config.user(dm["recipients"][0]["id"]) if dm is not None else None
    assert author is not None  # _authorized() accepted the token
    if dm is None and channel is None:
        return refusal(404, 10003, headers)
    if channel is not None:
        if not channel.bot_can_view:
            return refusal(403, 50001, headers)
        if channel.type not in TEXT_CHANNEL_TYPES:
            return refusal(400, 50008, headers)
        if not channel.bot_can_send:
            return refusal(403, 50013, headers)
    elif recipient is None or not recipient.in_guild:
        return refusal(403, 50278, headers)
    elif not recipient.accepts_dms:
        return refusal(403, 50007, headers)
    body = json_object(request)
    errors = message_body.body_errors(body)
    nonce = body.get("nonce")
    if nonce is not None:
        nonce = str(nonce)
        if len(nonce) > 25:
            errors |= _too_long("nonce", 25).errors
    if errors:
        raise BadBody(errors)
    content = body.get("content") or ""
    embeds = body.get("embeds") or []
    if not content and not embeds:
        return refusal(400, 50006, headers)
    shared = channel.shared_limit if channel is not None else None
    busy = limits.take_shared(state=state, channel_id=channel_id, limit=shared, headers=headers)
    if busy is not None:
        return busy
    now = state.now()
    with state.lock:
        if nonce is not None and body.get("enforce_nonce"):
            # Per sender, as Discord documents it ("created by the same author"), not
            # per channel; within the window only.
            seen = state.store.nonces.get((author.id, nonce))
            if seen is not None and now - seen[0] <= state.config.nonce_window_seconds:
                if seen[1]["id"] in state.store.deleted:
                    return refusal(404, 10008, headers)
                return json_response(200, _public_message(seen[1]), headers)
        allowed = body.get("allowed_mentions")
        pings = message_body.resolve_mentions(
            content=content,
            allowed=allowed,
            user=lambda user_id: _mentioned_user(state, user_id, in_guild=channel is not None),
            role_exists=(
                None
                if channel is None
                else lambda role_id: (
                    not state.config.guild_roles or state.config.role(role_id) is not None
                )
            ),
        )
        message = {
            "id": state.snowflake(),
            "channel_id": channel_id,
            "type": 0,
            "content": content,
            "embeds": message_body.rich(embeds),
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
            **pings,
            "pinned": False,
            # Not part of Discord's response; kept for the control API.
            "allowed_mentions": allowed,
            "dm_recipient_id": (dm["recipients"][0]["id"] if dm else None),
            "guild_id": channel.guild_id if channel is not None else None,
        }
        state.store.messages.append(message)
        earlier = state.store.nonces.get((author.id, nonce)) if nonce is not None else None
        if nonce is not None and (
            earlier is None or now - earlier[0] > state.config.nonce_window_seconds
        ):
            # The first message with a nonce is the one a repeat returns.
            state.store.nonces[(author.id, nonce)] = (now, message)
    return json_response(200, _public_message(message), headers)


def _mentioned_user(state: EmulatorState, user_id: str, *, in_guild: bool) -> dict[str, Any] | None:
    """A mentioned user as Discord lists them in ``mentions``: the user object, with
    their ``member`` (without the user) in a guild channel when they are a member."""
    user = state.config.user(user_id)
    if user is None:
        return None
    found = user.user_object()
    if in_guild and user.in_guild:
        found["member"] = {k: v for k, v in user.member_object().items() if k != "user"}
    return found


def _public_message(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k not in _PRIVATE_MESSAGE_FIELDS}


def _delete_message(
    *, state: EmulatorState, request: Request, channel_id: str, message_id: str
) -> Response:
    """``DELETE /channels/{id}/messages/{message}``: the bot deletes its own message."""
    bucket = f"DELETE /channels/{channel_id}/messages/{{id}}"
    headers = _authorized(state=state, request=request, bucket=bucket)
    if isinstance(headers, Response):
        return headers
    check_snowflakes(channel_id=channel_id, message_id=message_id)
    with state.lock:
        found = any(
            m["id"] == message_id and m["channel_id"] == channel_id for m in state.store.messages
        )
    if not found:
        return refusal(404, 10008, headers)
    state.delete_message(message_id)
    return Response(204, b"", headers)


def _get_member(*, state: EmulatorState, request: Request, guild_id: str, user_id: str) -> Response:
    """``GET /guilds/{guild}/members/{user}``: a member with their roles (the bot reads
    its own to know which roles it may grant)."""
    headers = _authorized(state=state, request=request, bucket=f"GET /guilds/{guild_id}/members")
    if isinstance(headers, Response):
        return headers
    check_snowflakes(guild_id=guild_id, user_id=user_id)
    with state.lock:
        if guild_id != state.config.guild_id:
            return refusal(404, 10004, headers)
        bot = state.config.bot_for_token(state.config.bot_token)
        if bot is not None and user_id == bot.id:
            member = {
                "user": bot.user_object(),
                "nick": None,
                "roles": list(state.config.bot_role_ids),
                "joined_at": "2024-01-01T00:00:00.000000+00:00",
                "deaf": False,
                "mute": False,
                "flags": 0,
                "pending": False,
            }
            return json_response(200, member, headers)
        user = state.config.user(user_id)
        if user is None or not user.in_guild:
            return refusal(404, 10007, headers)
        return json_response(200, user.member_object(), headers)


def _member_role(
    *, state: EmulatorState, request: Request, guild_id: str, user_id: str, role_id: str
) -> Response:
    bucket = f"{request.method} /guilds/{guild_id}/members/{{id}}/roles/{{id}}"
    headers = _authorized(state=state, request=request, bucket=bucket)
    if isinstance(headers, Response):
        return headers
    check_snowflakes(guild_id=guild_id, user_id=user_id, role_id=role_id)
    raw_reason = request.headers.get("X-Audit-Log-Reason")
    reason = unquote(raw_reason) if raw_reason is not None else None
    if reason is not None and len(reason) > AUDIT_REASON_MAX:
        raise _too_long("reason", AUDIT_REASON_MAX)
    with state.lock:
        config = state.config
        if guild_id != config.guild_id:
            return refusal(404, 10004, headers)
        role = config.role(role_id)
        if config.guild_roles and role is None:
            return refusal(404, 10011, headers)
        user = config.user(user_id)
        if user is None or not user.in_guild:
            return refusal(404, 10007, headers)
        if not config.bot_can_manage_roles:
            return refusal(403, 50013, headers)
        if role is not None and (
            role.managed or config.role_position(role_id) >= config.bot_top_position()
        ):
            # Discord: a bot may only manage roles below its own highest role.
            return refusal(403, 50013, headers)
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
                "reason": reason,
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
            # Position (its place in the list unless configured) and managed (the bot's
            # own role), as EmulatorConfig.role_position() judges grants by them.
            (role.id, role.name, state.config.role_position(role.id), role.managed)
            for role in state.config.guild_roles
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


# ---------------------------------------------------------------------- the member list


def guild_members_route(*, state: EmulatorState, request: Request, route: str) -> Response | None:
    """``GET /guilds/{guild}/members?limit=&after=``: Discord's paginated member list (what
    ``daylock discord sync-members`` reads); None for any other route."""
    match = re.fullmatch(r"/guilds/([^/]+)/members", route)
    if match is None:
        return None
    if request.method != "GET":
        return method_not_allowed()
    return _list_members(state=state, request=request, guild_id=match[1])


def _list_members(*, state: EmulatorState, request: Request, guild_id: str) -> Response:
    """The guild's members in ascending user id: those above ``after`` (default 0), at
    most ``limit`` (1 to 1000, default 1, as on Discord). Users not in the guild are not
    listed. The next page is ``after`` = the last id of this one; a shorter page is the
    last. Out-of-range or non-numeric parameters answer 50035, per field."""
    bucket = f"GET /guilds/{guild_id}/members?list"
    headers = _authorized(state=state, request=request, bucket=bucket)
    if isinstance(headers, Response):
        return headers
    limit = _member_list_number(request, "limit", default=1, high=1000)
    after = _member_list_number(request, "after", default=0, high=(1 << 64) - 1)
    with state.lock:
        if guild_id != state.config.guild_id:
            return json_response(404, {"message": "Unknown Guild", "code": 10004}, headers)
        listed = sorted(
            (user for user in state.config.users if user.in_guild and int(user.id) > after),
            key=lambda user: int(user.id),
        )[:limit]
        members = [user.member_object() for user in listed]
    return json_response(200, members, headers)


def _member_list_number(request: Request, name: str, *, default: int, high: int) -> int:
    """A query parameter of the member list as Discord reads it, or its 50035."""
    raw = request.query.get(name, str(default))
    low = 1 if name == "limit" else 0
    if not isinstance(raw, str) or not raw.isdigit():
        kind = "int" if name == "limit" else "snowflake"
        error = {"code": "NUMBER_TYPE_COERCE", "message": f'Value "{raw}" is not {kind}.'}
    elif int(raw) < low:
        error = {
            "code": "NUMBER_TYPE_MIN",
            "message": f"int value should be greater than or equal to {low}.",
        }
    elif int(raw) > high:
        error = {
            "code": "NUMBER_TYPE_MAX",
            "message": f"int value should be less than or equal to {high}.",
        }
    else:
        return int(raw)
    raise BadBody({name: {"_errors": [error]}})
