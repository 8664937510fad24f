"""Create Message's body as Discord judges it: content, embeds and ``allowed_mentions``
against Discord's documented limits, and the mentions a posted message resolves.

Limits (Discord's "Create Message" and "Embed Limits"): content 2000 characters; at
most 10 embeds; per embed a title of 256, a description of 4096, at most 25 fields
whose name is 256 and value 1024, a footer text of 2048, an author name of 256; and
6000 characters across every embed of the message (those texts together). Field names
and values are required; a colour is an RGB integer; an embed URL is http(s). Every
violation is collected into one ``errors`` tree, as Discord answers 50035 ("Invalid
Form Body"): ``{"embeds": {"0": {"title": {"_errors": [...]}}}}``; the 6000 total is
``MAX_EMBED_SIZE_EXCEEDED`` on ``embeds`` itself. A message with neither content nor
an embed is 50006, which the route answers.

Kept apart from Daylock's own checks (:mod:`daylock.discord.messages`) on purpose:
this side is Discord's, and a limit wrong in one is caught by the other.

Mentions: Discord pings from ``content`` only (a mention inside an embed is shown, never
pinged), and ``allowed_mentions`` decides which of them count: ``parse`` lists the
kinds read from the text (``users``, ``roles``, ``everyone``), ``users``/``roles`` list
ids allowed by name; without ``allowed_mentions`` everything in the text counts. The
message object's ``mentions``, ``mention_roles`` and ``mention_everyone`` hold exactly
the mentions that ping.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

CONTENT_MAX = 2000
EMBEDS_MAX = 10
EMBED_TOTAL_MAX = 6000
FIELDS_MAX = 25
ALLOWED_IDS_MAX = 100
COLOR_MAX = 0xFFFFFF
#: (key, limit) of an embed's own texts; (object, key, limit) of its nested ones.
_EMBED_TEXTS = (("title", 256), ("description", 4096))
_NESTED_TEXTS = (("footer", "text", 2048), ("author", "name", 256))
_FIELD_TEXTS = (("name", 256), ("value", 1024))
_MENTION_KINDS = ("everyone", "users", "roles")

_USER = re.compile(r"(?<!\\)<@!?(\d+)>")
_ROLE = re.compile(r"(?<!\\)<@&(\d+)>")
_EVERYONE = re.compile(r"(?<!\\)@(everyone|here)\b")


def _error(code: str, message: str) -> dict[str, Any]:
    return {"_errors": [{"code": code, "message": message}]}


def _too_long(limit: int) -> dict[str, Any]:
    return _error("BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def _required() -> dict[str, Any]:
    return _error("BASE_TYPE_REQUIRED", "This field is required")


def _not_text(value: Any) -> dict[str, Any]:
    return _error("STRING_TYPE_CONVERT", f'Could not interpret "{value}" as string.')


def body_errors(body: dict[str, Any]) -> dict[str, Any]:
    """Discord's ``errors`` tree for a Create Message body; empty when it is valid."""
    errors: dict[str, Any] = {}
    content = body.get("content")
    if content is not None:
        if not isinstance(content, str):
            errors["content"] = _not_text(content)
        elif len(content) > CONTENT_MAX:
            errors["content"] = _too_long(CONTENT_MAX)
    embeds = body.get("embeds")
    if embeds is not None:
        problem = _embeds_errors(embeds)
        if problem:
            errors["embeds"] = problem
    mentions = body.get("allowed_mentions")
    if mentions is not None:
        problem = _allowed_mentions_errors(mentions)
        if problem:
            errors["allowed_mentions"] = problem
    return errors


def _embeds_errors(embeds: Any) -> dict[str, Any]:
    if not isinstance(embeds, list):
        return _error("LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
    if len(embeds) > EMBEDS_MAX:
        return _too_long(EMBEDS_MAX)
    errors: dict[str, Any] = {}
    total = 0
    for index, embed in enumerate(embeds):
        if not isinstance(embed, dict):
            errors[str(index)] = _error(
                "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType"
            )
            continue
        found, size = _embed_errors(embed)
        total += size
        if found:
            errors[str(index)] = found
    if not errors and total > EMBED_TOTAL_MAX:
        return _error(
            "MAX_EMBED_SIZE_EXCEEDED", f"Embed size exceeds maximum size of {EMBED_TOTAL_MAX}"
        )
    return errors


def _text_error(value: Any, limit: int, *, required: bool = False) -> tuple[Any, int]:
    """The error of one text field (None when fine) and the characters it counts."""
    if value is None or value == "":
        return (_required() if required else None), 0
    if not isinstance(value, str):
        return _not_text(value), 0
    if len(value) > limit:
        return _too_long(limit), len(value)
    return None, len(value)


def _embed_errors(embed: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """One embed's errors and its size (the characters Discord counts towards 6000)."""
    errors: dict[str, Any] = {}
    size = 0
    for key, limit in _EMBED_TEXTS:
        problem, counted = _text_error(embed.get(key), limit)
        size += counted
        if problem:
            errors[key] = problem
    for outer, key, limit in _NESTED_TEXTS:
        nested = embed.get(outer)
        if nested is None:
            continue
        if not isinstance(nested, dict):
            errors[outer] = _error(
                "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType"
            )
            continue
        problem, counted = _text_error(nested.get(key), limit, required=True)
        size += counted
        if problem:
            errors[outer] = {key: problem}
    fields = embed.get("fields")
    if fields is not None:
        problem, counted = _fields_errors(fields)
        size += counted
        if problem:
            errors["fields"] = problem
    color = embed.get("color")
    if color is not None:
        if not isinstance(color, int) or isinstance(color, bool):
            errors["color"] = _error("NUMBER_TYPE_COERCE", f'Value "{color}" is not int.')
        elif color < 0:
            errors["color"] = _error(
                "NUMBER_TYPE_MIN", "int value should be greater than or equal to 0."
            )
        elif color > COLOR_MAX:
            errors["color"] = _error(
                "NUMBER_TYPE_MAX", f"int value should be less than or equal to {COLOR_MAX}."
            )
    url = embed.get("url")
    if url is not None:
        scheme = str(url).split(":", 1)[0] if ":" in str(url) else ""
        if scheme not in {"http", "https"}:
            errors["url"] = _error(
                "URL_TYPE_INVALID_SCHEME",
                f"Scheme \"{scheme}\" is not supported. Scheme must be one of ('http', 'https').",
            )
    return errors, size


def _fields_errors(fields: Any) -> tuple[dict[str, Any], int]:
    if not isinstance(fields, list):
        return _error("LIST_TYPE_CONVERT", "Only iterables may be used in a ListType"), 0
    if len(fields) > FIELDS_MAX:
        return _too_long(FIELDS_MAX), 0
    errors: dict[str, Any] = {}
    size = 0
    for index, item in enumerate(fields):
        if not isinstance(item, dict):
            errors[str(index)] = _error(
                "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType"
            )
            continue
        found: dict[str, Any] = {}
        for key, limit in _FIELD_TEXTS:
            problem, counted = _text_error(item.get(key), limit, required=True)
            size += counted
            if problem:
                found[key] = problem
        if found:
            errors[str(index)] = found
    return errors, size


def _allowed_mentions_errors(allowed: Any) -> dict[str, Any]:
    if not isinstance(allowed, dict):
        return _error("DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
    parse = allowed.get("parse") or []
    if not isinstance(parse, list):
        return {"parse": _error("LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")}
    choices = {
        str(index): _error(
            "BASE_TYPE_CHOICES", "Value must be one of {'everyone', 'users', 'roles'}."
        )
        for index, kind in enumerate(parse)
        if kind not in _MENTION_KINDS
    }
    if choices:
        return {"parse": choices}
    for kind in ("users", "roles"):
        listed = allowed.get(kind) or []
        if not isinstance(listed, list):
            return {kind: _error("LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")}
        if len(listed) > ALLOWED_IDS_MAX:
            return {kind: _too_long(ALLOWED_IDS_MAX)}
        if listed and kind in parse:
            # Discord: a kind is read from the text or listed by id, never both.
            return _error(
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
            )
    return {}


def rich(embeds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The embeds as Discord returns them: each with its ``type`` (``rich`` for a bot's)."""
    return [{"type": "rich", **embed} for embed in embeds]


def resolve_mentions(
    *,
    content: str,
    allowed: Any,
    user: Callable[[str], dict[str, Any] | None],
    role_exists: Callable[[str], bool] | None,
) -> dict[str, Any]:
    """``mentions`` (user objects), ``mention_roles`` (ids) and ``mention_everyone`` of
    a message: the mentions in ``content`` that ping under ``allowed``. ``user`` gives
    a known user's object (unknown users are nobody); ``role_exists`` is None outside a
    guild (a DM mentions no role)."""
    if isinstance(allowed, dict):
        parse = set(allowed.get("parse") or [])
        users_by_id = {str(u) for u in allowed.get("users") or []}
        roles_by_id = {str(r) for r in allowed.get("roles") or []}
    else:  # not given: everything in the text counts
        parse, users_by_id, roles_by_id = set(_MENTION_KINDS), set(), set()
    mentions: list[dict[str, Any]] = []
    for user_id in dict.fromkeys(_USER.findall(content)):
        if "users" not in parse and user_id not in users_by_id:
            continue
        found = user(user_id)
        if found is not None:
            mentions.append(found)
    roles = [
        role_id
        for role_id in dict.fromkeys(_ROLE.findall(content))
        if role_exists is not None
        and role_exists(role_id)
        and ("roles" in parse or role_id in roles_by_id)
    ]
    everyone = "everyone" in parse and _EVERYONE.search(content) is not None
    return {"mentions": mentions, "mention_roles": roles, "mention_everyone": everyone}
