"""An outbox row as Discord would show it, for the staff outbox pages.

Pure: what a page needs from the database and Discord (the names of the users, roles
and channels a message mentions) comes in as :class:`Names`, and "now" (for relative
timestamps) as an argument, so every rendering is tested without either.

Discord's markdown, the part Daylock's messages and staff-typed names can hold: bold,
italics, underline, strikethrough, spoilers, code spans and blocks, masked and bare
links, headings, subtext, block quotes, lists, backslash escapes; mentions
(``<@id>``, ``<@&id>``, ``<#id>``) shown as ``@display name``, ``@role``, ``#channel``
(or "unknown role 123…" when the name is not known); ``<t:unix:style>`` as a date in
UTC (the server does not know the reader's time zone, Discord's client does).

Safe by construction: every piece of text is HTML-escaped as it is emitted, markup is
only what this module writes, and a link is made only of an ``http(s)`` URL (escaped
into its attribute). Nothing here trusts the message, a display name or a role name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

if TYPE_CHECKING:  # names are read by the caller; this module reads no model
    from daylock.discord.models import OutboxMessage


# --- the names a message needs --------------------------------------------------------------


@dataclass(frozen=True)
class Names:
    """What the page knows about the ids messages mention (id → name)."""

    users: Mapping[str, str] = field(default_factory=dict)
    roles: Mapping[str, str] = field(default_factory=dict)
    channels: Mapping[str, str] = field(default_factory=dict)
    #: The guild's id is also its ``@everyone`` role's.
    guild_id: str = ""

    def user(self, user_id: str) -> tuple[str, bool]:
        """``@name`` and whether it is known."""
        name = self.users.get(user_id)
        return (f"@{name}", True) if name else (f"@unknown user {user_id}", False)

    def role(self, role_id: str) -> tuple[str, bool]:
        if role_id == self.guild_id:
            return "@everyone", True
        name = self.roles.get(role_id)
        return (f"@{name}", True) if name else (f"@unknown role {role_id}", False)

    def channel(self, channel_id: str) -> tuple[str, bool]:
        name = self.channels.get(channel_id)
        return (f"#{name}", True) if name else (f"#unknown channel {channel_id}", False)


@dataclass(frozen=True)
class Mentioned:
    """Every id a set of rows mentions or targets, by kind."""

    users: frozenset[str]
    roles: frozenset[str]
    channels: frozenset[str]


_USER = re.compile(r"<@!?(\d+)>")
_ROLE = re.compile(r"<@&(\d+)>")
_CHANNEL = re.compile(r"<#(\d+)>")


def mentioned(messages: Iterable[OutboxMessage]) -> Mentioned:
    """The ids to name for ``messages``: those in their texts and their targets."""
    users: set[str] = set()
    roles: set[str] = set()
    channels: set[str] = set()
    for message in messages:
        text = "\n".join(_texts(message))
        users.update(_USER.findall(text))
        roles.update(_ROLE.findall(text))
        channels.update(_CHANNEL.findall(text))
        users.update(filter(None, [message.recipient_id]))
        roles.update(filter(None, [message.role_id]))
        channels.update(filter(None, [message.channel_id]))
    return Mentioned(frozenset(users), frozenset(roles), frozenset(channels))


def _texts(message: OutboxMessage) -> Iterable[str]:
    yield message.content
    for embed in _embeds(message):
        for key in ("title", "description"):
            yield str(embed.get(key) or "")
        for item in _fields(embed):
            yield str(item.get("name") or "")
            yield str(item.get("value") or "")


def _embeds(message: OutboxMessage) -> list[Mapping[str, Any]]:
    return [embed for embed in (message.embeds or []) if isinstance(embed, Mapping)]


def _fields(embed: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    fields = embed.get("fields")
    return (
        [item for item in fields if isinstance(item, Mapping)] if isinstance(fields, list) else []
    )


# --- timestamps -----------------------------------------------------------------------------


_STYLES: dict[str, Callable[[datetime], str]] = {
    "t": lambda at: f"{at:%H:%M} UTC",
    "T": lambda at: f"{at:%H:%M:%S} UTC",
    "d": lambda at: f"{at:%Y-%m-%d}",
    "D": lambda at: f"{at.day} {at:%B %Y}",
    "f": lambda at: f"{at.day} {at:%B %Y %H:%M} UTC",
    "F": lambda at: f"{at:%A}, {at.day} {at:%B %Y %H:%M} UTC",
}
_UNITS = (
    ("year", 365 * 86400),
    ("month", 30 * 86400),
    ("day", 86400),
    ("hour", 3600),
    ("minute", 60),
)


def _relative(instant: datetime, now: datetime) -> str:
    """Discord's ``R`` style: "in 3 days", "2 hours ago"."""
    seconds = (instant - now).total_seconds()
    span = abs(seconds)
    if span < 45:
        text = "a few seconds"
    else:
        name, size = next(((n, s) for n, s in _UNITS if span >= s), _UNITS[-1])
        count = max(1, round(span / size))
        text = f"{count} {name}{'s' if count != 1 else ''}"
    return f"in {text}" if seconds > 0 else f"{text} ago"


def _timestamp(unix: str, style: str, now: datetime) -> Markup:
    try:
        instant = datetime.fromtimestamp(int(unix), UTC)
    except (OverflowError, OSError, ValueError):
        return escape(f"<t:{unix}:{style}>")  # Discord, too, shows what it cannot read
    text = _relative(instant, now) if style == "R" else _STYLES[style](instant)
    return Markup('<time class="dc-time" datetime="{}" title="{}">{}</time>').format(
        f"{instant:%Y-%m-%dT%H:%M:%S}Z", _STYLES["F"](instant), text
    )


# --- inline markdown ------------------------------------------------------------------------

Rule = Callable[["_Inline", re.Match[str]], Markup]


class _Inline:
    """Discord's inline markdown: at each position the first rule that matches wins;
    anything else is text."""

    def __init__(self, names: Names, now: datetime) -> None:
        self.names = names
        self.now = now

    def render(self, text: str) -> Markup:
        out: list[Markup] = []
        plain: list[str] = []
        position = 0
        while position < len(text):
            for pattern, rule in _RULES:
                match = pattern.match(text, position)
                if match is not None and match.end() > position:
                    if plain:
                        out.append(escape("".join(plain)))
                        plain.clear()
                    out.append(rule(self, match))
                    position = match.end()
                    break
            else:
                plain.append(text[position])
                position += 1
        if plain:
            out.append(escape("".join(plain)))
        return Markup("").join(out)

    def mention(self, label: tuple[str, bool], kind: str, snowflake: str) -> Markup:
        text, known = label
        css = f"dc-mention dc-mention-{kind}" + ("" if known else " dc-mention-unknown")
        return Markup('<span class="{}" title="{} {}">{}</span>').format(css, kind, snowflake, text)

    def link(self, url: str, inner: Markup) -> Markup:
        return Markup(
            '<a class="dc-link" href="{}" rel="noopener noreferrer nofollow">{}</a>'
        ).format(url, inner)


def _escaped(inline: _Inline, match: re.Match[str]) -> Markup:
    return escape(match[1])


def _user(inline: _Inline, match: re.Match[str]) -> Markup:
    return inline.mention(inline.names.user(match[1]), "user", match[1])


def _role(inline: _Inline, match: re.Match[str]) -> Markup:
    return inline.mention(inline.names.role(match[1]), "role", match[1])


def _channel(inline: _Inline, match: re.Match[str]) -> Markup:
    return inline.mention(inline.names.channel(match[1]), "channel", match[1])


def _time(inline: _Inline, match: re.Match[str]) -> Markup:
    return _timestamp(match[1], match[2] or "f", inline.now)


def _emoji(inline: _Inline, match: re.Match[str]) -> Markup:
    return Markup('<span class="dc-emoji" title="custom emoji {}">:{}:</span>').format(
        match[2], match[1]
    )


def _masked_link(inline: _Inline, match: re.Match[str]) -> Markup:
    return inline.link(match[2], inline.render(match[1]))


def _bare_link(inline: _Inline, match: re.Match[str]) -> Markup:
    url = match[1] or match[0]
    return inline.link(url, escape(url))


def _styled(template: Markup) -> Rule:
    """A rule wrapping what it matched (its first group that took part) in ``template``."""

    def rule(inline: _Inline, match: re.Match[str]) -> Markup:
        inner = next(group for group in match.groups() if group is not None)
        return template.format(inline.render(inner))

    return rule


def _code(inline: _Inline, match: re.Match[str]) -> Markup:
    """Inline code (one or two backticks) or a one-line code block (three)."""
    if match[1] is not None:
        return Markup('<code class="dc-code dc-code-block">{}</code>').format(match[1])
    return Markup('<code class="dc-code">{}</code>').format(match[3])


_URL = r"https?://[^\s<>\"']+[^\s<>\"'.,:;!?)\]]"
_RULES: list[tuple[re.Pattern[str], Rule]] = [
    (re.compile(r"\\([^0-9A-Za-z\s])"), _escaped),
    (re.compile(r"```(?:[\w+-]*\n)?([\s\S]+?)```|(``?)([^`]+?)\2(?!`)"), _code),
    (re.compile(r"<@!?(\d+)>"), _user),
    (re.compile(r"<@&(\d+)>"), _role),
    (re.compile(r"<#(\d+)>"), _channel),
    (re.compile(r"<t:(-?\d{1,13})(?::([tTdDfFR]))?>"), _time),
    (re.compile(r"<a?:(\w{2,32}):(\d+)>"), _emoji),
    (re.compile(r"\[((?:\\.|[^\[\]\\])+)\]\(\s*<?(https?://[^\s)<>]+)>?\s*\)"), _masked_link),
    (re.compile(rf"<({_URL})>|{_URL}"), _bare_link),
    (
        re.compile(r"\*\*([\s\S]+?)\*\*(?!\*)"),
        _styled(Markup('<strong class="dc-bold">{}</strong>')),
    ),
    (re.compile(r"__([\s\S]+?)__(?!_)"), _styled(Markup('<span class="dc-underline">{}</span>'))),
    (
        re.compile(
            r"\b_((?:__|\\[\s\S]|[^\\_])+?)_\b"
            r"|\*(?=\S)((?:\*\*|\\[\s\S]|\s+(?:\\[\s\S]|[^\s*\\]|\*\*)|[^\s*\\])+?)\*(?!\*)"
        ),
        _styled(Markup('<em class="dc-italic">{}</em>')),
    ),
    (re.compile(r"~~([\s\S]+?)~~"), _styled(Markup('<s class="dc-strike">{}</s>'))),
    (re.compile(r"\|\|([\s\S]+?)\|\|"), _styled(Markup('<span class="dc-spoiler">{}</span>'))),
]


# --- blocks ---------------------------------------------------------------------------------

_FENCE = re.compile(r"```(?:([\w+-]+)\n|\n)?([\s\S]*?)```")
_HEADING = re.compile(r"(#{1,3}) (.+)")
_SUBTEXT = re.compile(r"-# (.+)")
_QUOTE = re.compile(r"> ?(.*)")
_BULLET = re.compile(r"\s*[-*] (.+)")
_NUMBERED = re.compile(r"\s*(\d{1,9})\. (.+)")


def render_markdown(text: str, names: Names, *, now: datetime) -> Markup:
    """Discord's markdown of a message's content, an embed's description or a field's
    value, as HTML (every piece of text escaped)."""
    inline = _Inline(names, now)
    out: list[Markup] = []
    position = 0
    for fence in _FENCE.finditer(text):
        # The line breaks around a fence belong to it, as in Discord.
        out.append(_lines(text[position : fence.start()].removesuffix("\n"), inline))
        out.append(
            Markup('<pre class="dc-codeblock"><code>{}</code></pre>').format(fence[2].strip("\n"))
        )
        position = fence.end() + (text[fence.end() : fence.end() + 1] == "\n")
    out.append(_lines(text[position:], inline))
    return Markup("").join(out)


def render_inline(text: str, names: Names, *, now: datetime) -> Markup:
    """Inline markdown only: an embed's title, a field's name."""
    return _Inline(names, now).render(text)


def _lines(text: str, inline: _Inline) -> Markup:
    """Line by line: headings, subtext, quotes and lists as blocks; consecutive lines of
    text separated by line breaks."""
    if not text:
        return Markup("")
    parts: list[tuple[Markup, bool]] = []  # (markup, is a block)
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith(">>> "):
            rest = "\n".join([line[4:], *lines[index + 1 :]])
            quoted = Markup('<blockquote class="dc-quote">{}</blockquote>')
            parts.append((quoted.format(_lines(rest, inline)), True))
            break
        block, used = _list(lines, index, inline)
        if block is not None:
            parts.append((block, True))
            index += used
            continue
        parts.append(_line(line, inline))
        index += 1
    out: list[Markup] = []
    for number, (markup, is_block) in enumerate(parts):
        if number and not is_block and not parts[number - 1][1]:
            out.append(Markup("<br>"))
        out.append(markup)
    return Markup("").join(out)


def _line(line: str, inline: _Inline) -> tuple[Markup, bool]:
    heading = _HEADING.fullmatch(line)
    if heading:
        level = len(heading[1])
        return Markup('<div class="dc-h dc-h{}">{}</div>').format(
            level, inline.render(heading[2])
        ), True
    subtext = _SUBTEXT.fullmatch(line)
    if subtext:
        return Markup('<div class="dc-subtext">{}</div>').format(inline.render(subtext[1])), True
    quote = _QUOTE.fullmatch(line) if line.startswith(">") else None
    if quote:
        return Markup('<blockquote class="dc-quote">{}</blockquote>').format(
            inline.render(quote[1])
        ), True
    return Markup('<span class="dc-line">{}</span>').format(inline.render(line)), False


def _list(lines: Sequence[str], start: int, inline: _Inline) -> tuple[Markup | None, int]:
    """A run of bullet or numbered lines from ``start`` as one list, and how many lines."""
    for pattern, tag in ((_BULLET, "ul"), (_NUMBERED, "ol")):
        items: list[re.Match[str]] = []
        while start + len(items) < len(lines):
            match = pattern.fullmatch(lines[start + len(items)])
            if match is None:
                break
            items.append(match)
        if not items:
            continue
        body = Markup("").join(
            Markup("<li>{}</li>").format(inline.render(item[item.lastindex or 1])) for item in items
        )
        if tag == "ol":
            return Markup('<ol class="dc-list" start="{}">{}</ol>').format(
                int(items[0][1]), body
            ), len(items)
        return Markup('<ul class="dc-list">{}</ul>').format(body), len(items)
    return None, 0


# --- a whole message ------------------------------------------------------------------------

#: The embed colours Daylock uses get their own stripe (no inline styles: the CSP); any
#: other colour is shown as Discord's default grey.
KNOWN_COLORS = frozenset({"57f287", "fee75c", "5865f2", "f1c40f", "99aab5"})


@dataclass(frozen=True)
class Field:
    name: Markup
    value: Markup
    inline: bool


@dataclass(frozen=True)
class Embed:
    title: Markup
    url: str
    description: Markup
    fields: tuple[Field, ...]
    footer: str
    author: str
    #: When the embed says it happened, in UTC ("" without one).
    timestamp: str
    #: ``57f287`` (a known colour: its stripe) or "" (Discord's default).
    color: str
    #: The colour as sent, for its title ("#57f287", or "" without one).
    color_text: str


@dataclass(frozen=True)
class Rendered:
    """A row as Discord shows it, and what was sent, for a page."""

    content: Markup
    embeds: tuple[Embed, ...]
    #: Where it goes, named: "#announcements", "@Pat" (a DM), or the role change.
    target: str
    #: The request delivery makes, pretty-printed JSON (see ``delivery.request_of``).
    payload: str


def _url(value: Any) -> str:
    text = str(value or "")
    return text if text.startswith(("http://", "https://")) else ""


def _footer_time(value: Any) -> str:
    try:
        instant = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value or "")
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return _STYLES["f"](instant.astimezone(UTC))


def render_embed(embed: Mapping[str, Any], names: Names, *, now: datetime) -> Embed:
    """One embed as Discord draws it (the footer and author are plain text there)."""
    color = embed.get("color")
    hex_color = f"{color:06x}" if isinstance(color, int) and not isinstance(color, bool) else ""
    footer = embed.get("footer")
    author = embed.get("author")
    return Embed(
        title=render_inline(str(embed.get("title") or ""), names, now=now),
        url=_url(embed.get("url")),
        description=render_markdown(str(embed.get("description") or ""), names, now=now),
        fields=tuple(
            Field(
                name=render_inline(str(item.get("name") or ""), names, now=now),
                value=render_markdown(str(item.get("value") or ""), names, now=now),
                inline=bool(item.get("inline")),
            )
            for item in _fields(embed)
        ),
        footer=str(footer.get("text") or "") if isinstance(footer, Mapping) else "",
        author=str(author.get("name") or "") if isinstance(author, Mapping) else "",
        timestamp=_footer_time(embed["timestamp"]) if embed.get("timestamp") else "",
        color=hex_color if hex_color in KNOWN_COLORS else "",
        color_text=f"#{hex_color}" if hex_color else "",
    )


def target_text(message: OutboxMessage, names: Names) -> str:
    """Where the row goes, by name: "#general", "DM to @Pat", "@Pat gets @Winner"."""
    if message.kind == "channel_message":
        return names.channel(message.channel_id)[0]
    user = names.user(message.recipient_id)[0]
    if message.kind == "direct_message":
        return f"DM to {user}"
    role = names.role(message.role_id)[0]
    verb = "gets" if message.kind == "role_grant" else "loses"
    return f"{user} {verb} {role}"


def render(
    message: OutboxMessage, names: Names, *, now: datetime, request: Mapping[str, Any]
) -> Rendered:
    """The row for a page: its content and embeds drawn, its target named, and the
    request delivery makes for it (``request``) as indented JSON."""
    return Rendered(
        content=render_markdown(message.content, names, now=now),
        embeds=tuple(render_embed(embed, names, now=now) for embed in _embeds(message)),
        target=target_text(message, names),
        payload=json.dumps(request, indent=2, ensure_ascii=False),
    )


def preview(message: OutboxMessage, names: Names, *, limit: int = 100) -> str:
    """One line for lists: the row's preview text with its mentions named."""
    text = " ".join((message.content or "").split()) or message.preview
    text = _USER.sub(lambda m: names.user(m[1])[0], text)
    text = _ROLE.sub(lambda m: names.role(m[1])[0], text)
    text = _CHANNEL.sub(lambda m: names.channel(m[1])[0], text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
