"""What Daylock's Discord messages say, and how Discord shows them: pure builders, tested
without a database (the callers: :mod:`daylock.discord.lifecycle` and
:mod:`daylock.prizes.services`).

Every message is a :class:`Post`: a one-line ``content`` (what a notification, a search
or the outbox list shows, and the only place a mention pings) and one embed, the card
with the details and the link. Discord formatting throughout: names in bold, instants as
``<t:unix:F>`` (every reader sees their own time zone), hashes in code spans so they copy
whole, users, roles and channels as ``<@id>``, ``<@&id>``, ``<#id>``.

Who is pinged is decided here, per message, and nowhere else: the winners of a draw (in
its announcement and in a reroll), as giveaway bots do — nobody else, never a role,
never ``@everyone`` (:attr:`Post.mention_user_ids` becomes the row's
``allowed_mentions``; a mention inside an embed never pings on Discord anyway).

Names staff typed (an event, a prize, a day's title, a reroll reason) are escaped
(:func:`escape_markdown`), so "C++ *fast*" is shown as typed, and clipped to Discord's
documented limits (:data:`LIMITS`): a long name shortens a message instead of making
Discord refuse it. Draws outside production are marked "[SIMULATED]" in the content and
in the card.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# --- Discord's documented limits (Create Message; "Embed Limits") -----------------------

CONTENT_MAX = 2000
EMBEDS_MAX = 10
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_TEXT_MAX = 2048
AUTHOR_NAME_MAX = 256
#: Across every embed of a message: titles, descriptions, field names and values,
#: footer texts and author names together.
EMBEDS_TOTAL_MAX = 6000
#: An embed's ``color`` is an RGB integer.
COLOR_MAX = 0xFFFFFF
#: How many winners a draw's announcement names (the rest are "and N more").
ANNOUNCE_MAX_NAMES = 40

# --- colours (Discord's own palette) ------------------------------------------------------

GREEN = 0x57F287
YELLOW = 0xFEE75C
BLURPLE = 0x5865F2
GOLD = 0xF1C40F
#: Every simulated draw's card is grey, whatever it announces.
GREY = 0x99AAB5

SIMULATED_TAG = "[SIMULATED] "
SIMULATED_DM_TAG = "[SIMULATED — not a real prize] "
SIMULATED_FOOTER = "Simulated draw (not production): no real prize is given"


@dataclass(frozen=True)
class Post:
    """One Discord message: the body of Create Message, minus what delivery adds
    (nonce, ``allowed_mentions`` built from :attr:`mention_user_ids`)."""

    content: str
    embeds: tuple[dict[str, Any], ...] = ()
    #: The users this message pings: mentioned in ``content`` and allowed to be.
    mention_user_ids: tuple[str, ...] = ()

    def outbox_fields(self) -> dict[str, Any]:
        """The keyword arguments of ``outbox_enqueue`` that carry this message."""
        return {
            "content": self.content,
            "embeds": [dict(embed) for embed in self.embeds],
            "mention_user_ids": list(self.mention_user_ids),
        }


@dataclass(frozen=True)
class Winner:
    """A winner as a message names them: a mention when they have a Discord account,
    else Daylock's label for them."""

    rank: int
    discord_id: str | None
    label: str

    @property
    def shown(self) -> str:
        return user_mention(self.discord_id) if self.discord_id else escape_markdown(self.label)


# --- Discord's syntax ---------------------------------------------------------------------

#: What Discord's markdown reads as formatting or as a mention inside running text.
_MARKDOWN_SPECIAL = re.compile(r"([\\*_~`|<\[\]])")


def escape_markdown(text: str) -> str:
    """``text`` shown as typed: every character Discord would read as formatting (or as
    the start of a mention or timestamp) is backslash-escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def clip(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, with "…" when shortened. Never ends on an
    escaping backslash (it would escape the ellipsis)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    trailing = len(cut) - len(cut.rstrip("\\"))
    if trailing % 2:
        cut = cut[:-1]
    return cut + "…"


def user_mention(discord_id: str) -> str:
    return f"<@{discord_id}>"


def role_mention(role_id: str) -> str:
    return f"<@&{role_id}>"


def channel_mention(channel_id: str) -> str:
    return f"<#{channel_id}>"


def timestamp(instant: datetime, style: str = "F") -> str:
    """Discord's timestamp markup: each reader sees ``instant`` in their own time zone
    (``F`` long date and time, ``R`` relative: "in 2 days")."""
    return f"<t:{int(instant.timestamp())}:{style}>"


def embeds_problem(embeds: Sequence[Mapping[str, Any]]) -> str:
    """What Discord would refuse in ``embeds`` under its documented limits, in words
    naming the embed and the field; "" when nothing. The builders clip to these limits;
    ``outbox_enqueue`` checks every caller with this, so no row Discord would refuse
    for its size is ever written."""
    if len(embeds) > EMBEDS_MAX:
        return f"{len(embeds)} embeds; Discord allows {EMBEDS_MAX} per message"
    total = 0
    for number, embed in enumerate(embeds, start=1):
        where = f"embed {number}"
        if not isinstance(embed, Mapping):
            return f"{where} is not an object"
        texts: list[tuple[str, object, int]] = [
            ("title", embed.get("title"), TITLE_MAX),
            ("description", embed.get("description"), DESCRIPTION_MAX),
        ]
        fields = embed.get("fields") or []
        if not isinstance(fields, list):
            return f"{where}'s fields are not a list"
        if len(fields) > FIELDS_MAX:
            return f"{where} has {len(fields)} fields; Discord allows {FIELDS_MAX}"
        for index, item in enumerate(fields, start=1):
            if not isinstance(item, Mapping) or not item.get("name") or not item.get("value"):
                return f"{where}'s field {index} needs a name and a value"
            texts.append((f"field {index}'s name", item["name"], FIELD_NAME_MAX))
            texts.append((f"field {index}'s value", item["value"], FIELD_VALUE_MAX))
        footer, author = embed.get("footer"), embed.get("author")
        if isinstance(footer, Mapping):
            texts.append(("footer text", footer.get("text"), FOOTER_TEXT_MAX))
        if isinstance(author, Mapping):
            texts.append(("author name", author.get("name"), AUTHOR_NAME_MAX))
        for name, text, limit in texts:
            if text is None:
                continue
            if not isinstance(text, str):
                return f"{where}'s {name} is not text"
            if len(text) > limit:
                return f"{where}'s {name} is {len(text)} characters; Discord allows {limit}"
            total += len(text)
        color = embed.get("color")
        if color is not None and (
            not isinstance(color, int) or isinstance(color, bool) or not 0 <= color <= COLOR_MAX
        ):
            return f"{where}'s color {color!r} is not an RGB number (0 to {COLOR_MAX})"
        url = embed.get("url")
        if url is not None and not (isinstance(url, str) and url.startswith(_WEB_SCHEMES)):
            return f"{where}'s url {url!r} is not an http(s) URL"
    if total > EMBEDS_TOTAL_MAX:
        return f"the embeds hold {total} characters together; Discord allows {EMBEDS_TOTAL_MAX}"
    return ""


_WEB_SCHEMES = ("http://", "https://")


def _when(instant: datetime) -> str:
    return f"{timestamp(instant, 'F')} ({timestamp(instant, 'R')})"


def _name(text: str, limit: int = 200) -> str:
    return clip(escape_markdown(text), limit)


def _count(number: int, one: str, many: str) -> str:
    return f"1 {one}" if number == 1 else f"{number} {many}"


def _embed(
    *,
    title: str,
    url: str,
    description: str,
    color: int,
    at: datetime | None = None,
    fields: Sequence[tuple[str, str, bool]] = (),
    footer: str = "",
) -> dict[str, Any]:
    """One embed, every text within its limit; ``fields`` are (name, value, inline)."""
    embed: dict[str, Any] = {
        "title": clip(title, TITLE_MAX),
        "url": url,
        "description": clip(description, DESCRIPTION_MAX),
        "color": color,
    }
    if fields:
        embed["fields"] = [
            {
                "name": clip(name, FIELD_NAME_MAX),
                "value": clip(value, FIELD_VALUE_MAX),
                "inline": inline,
            }
            for name, value, inline in fields[:FIELDS_MAX]
        ]
    if at is not None:
        embed["timestamp"] = at.isoformat()
    if footer:
        embed["footer"] = {"text": clip(footer, FOOTER_TEXT_MAX)}
    return embed


def _tag(simulated: bool) -> str:
    return SIMULATED_TAG if simulated else ""


def _draw_look(simulated: bool, color: int) -> dict[str, Any]:
    return {"color": GREY, "footer": SIMULATED_FOOTER} if simulated else {"color": color}


# --- the event life cycle -----------------------------------------------------------------


def day_open(
    *, event_name: str, number: int, day_count: int, title: str, url: str, opens_at: datetime
) -> Post:
    """ "Day N is open", with the day's title and its page. Pings nobody."""
    event = _name(event_name)
    heading = f"Day {number}: {_name(title)}" if title else f"Day {number}"
    return Post(
        content=f"🔓 **{event}** — Day {number} is open!",
        embeds=(
            _embed(
                title=heading,
                url=url,
                description=(
                    f"Day {number} of {day_count} of **{event}** opened {_when(opens_at)}. "
                    "Solve it on its page."
                ),
                color=GREEN,
                at=opens_at,
            ),
        ),
    )


def last_day_reminder(
    *,
    event_name: str,
    number: int,
    opens_at: datetime,
    url: str,
    completion_roles: Sequence[tuple[str, str]] = (),
) -> Post:
    """The reminder before the last day: when it opens, the event's page, and the
    completion roles to earn (``completion_roles``: (tier label, role id); shown, not
    pinged)."""
    event = _name(event_name)
    fields = [("Complete every day to earn", _roles_earned(completion_roles), False)]
    return Post(
        content=(f"⏰ **{event}** — the last day (Day {number}) opens {timestamp(opens_at, 'R')}."),
        embeds=(
            _embed(
                title=f"The last day of {event}",
                url=url,
                description=(
                    f"Day {number} opens {_when(opens_at)}. "
                    "Catch up on the days you missed before it ends."
                ),
                color=YELLOW,
                at=opens_at,
                fields=fields if completion_roles else (),
            ),
        ),
    )


def _roles_earned(roles: Sequence[tuple[str, str]]) -> str:
    return "\n".join(f"{role_mention(role)} ({label.lower()})" for label, role in roles)


def entries_closed(
    *,
    event_name: str,
    prize_name: str,
    seed_hash: str,
    entrants_hash: str,
    entrant_count: int,
    url: str,
    closed_at: datetime,
    simulated: bool,
) -> Post:
    """The draw's commitment, published when entries close and before the seed is
    revealed: anyone can later check that the draw ranked exactly this list with the
    seed whose hash was published."""
    tag = _tag(simulated)
    prize, event = _name(prize_name), _name(event_name)
    entrants = _count(entrant_count, "entrant", "entrants")
    return Post(
        content=f"{tag}🔒 Entries closed for **{prize}** ({event}): {entrants}.",
        embeds=(
            _embed(
                title=f"{tag}Commitment: {prize}",
                url=url,
                description=(
                    "The draw will rank exactly these entrants with the seed whose hash is "
                    "below; the seed stays secret until the draw runs. Find your entry and "
                    "verify the draw on its page."
                ),
                at=closed_at,
                fields=(
                    ("Entrants", str(entrant_count), True),
                    ("Seed hash (SHA-256)", f"`{seed_hash}`", False),
                    ("Entrants hash (SHA-256)", f"`{entrants_hash}`", False),
                ),
                **_draw_look(simulated, BLURPLE),
            ),
        ),
    )


def results(
    *,
    event_name: str,
    prize_name: str,
    winner_count: int,
    url: str,
    drawn_at: datetime,
    simulated: bool,
    winners_channel_id: str | None = None,
) -> Post:
    """The draw was run: where to see the winners and check the ranking (and the
    channel that announces the winners by name, when the prize has one)."""
    tag = _tag(simulated)
    prize, event = _name(prize_name), _name(event_name)
    winners = "no winner" if winner_count == 0 else _count(winner_count, "winner", "winners")
    where = (
        f"\nThe winners are announced in {channel_mention(winners_channel_id)}."
        if winners_channel_id
        else ""
    )
    return Post(
        content=f"{tag}🏆 **{prize}** ({event}) was drawn: {winners}.",
        embeds=(
            _embed(
                title=f"{tag}Results: {prize}",
                url=url,
                description=(
                    "The seed is revealed: anyone can recompute the ranking from the "
                    f"committed entrant list and check the winners.{where}"
                ),
                at=drawn_at,
                fields=(("Winners", str(winner_count), True),),
                **_draw_look(simulated, GOLD),
            ),
        ),
    )


# --- prizes ---------------------------------------------------------------------------------


def draw_winners(
    *,
    event_name: str,
    prize_name: str,
    winners: Sequence[Winner],
    entrant_count: int,
    url: str,
    drawn_at: datetime,
    simulated: bool,
) -> Post:
    """The prize's announcement: congratulates (and pings) the first
    :data:`ANNOUNCE_MAX_NAMES` winners, lists them by rank, links the draw page."""
    tag = _tag(simulated)
    prize, event = _name(prize_name), _name(event_name)
    shown = winners[:ANNOUNCE_MAX_NAMES]
    more = len(winners) - len(shown)
    more_text = f" and {more} more" if more else ""
    if winners:
        names = ", ".join(winner.shown for winner in shown)
        content = f"{tag}🎉 Congratulations {names}{more_text}! You won **{prize}** ({event})."
        ranking = "\n".join(f"{winner.rank}. {winner.shown}" for winner in shown)
        description = ranking + (f"\n… and {more} more on the draw page." if more else "")
    else:
        content = f"{tag}Draw for **{prize}** ({event}): no eligible entrants, no winner."
        description = "No eligible entrants: nobody won."
    return Post(
        content=clip(content, CONTENT_MAX),
        embeds=(
            _embed(
                title=f"{tag}Draw: {prize}",
                url=url,
                description=description,
                at=drawn_at,
                fields=(
                    ("Winners", str(len(winners)), True),
                    ("Entrants", str(entrant_count), True),
                    (
                        "Verify it yourself",
                        f"[The draw page]({url}) recomputes the ranking.",
                        False,
                    ),
                ),
                **_draw_look(simulated, GOLD),
            ),
        ),
        mention_user_ids=tuple(w.discord_id for w in shown if w.discord_id),
    )


def winner_dm(
    *, event_name: str, prize_name: str, prizes_url: str, draw_url: str, simulated: bool
) -> Post:
    """The direct message to a winner: what they won and where to see it (a prize code
    is never in Discord, only on their page)."""
    tag = SIMULATED_DM_TAG if simulated else ""
    prize, event = _name(prize_name), _name(event_name)
    return Post(
        content=f"{tag}🎉 You won **{prize}** in {event}!",
        embeds=(
            _embed(
                title=f"{_tag(simulated)}You won {prize}",
                url=prizes_url,
                description=(
                    f"See your prize on [your prizes page]({prizes_url}).\n"
                    f"[The draw]({draw_url}) shows how the winners were picked."
                ),
                **_draw_look(simulated, GOLD),
            ),
        ),
    )


def reroll(
    *,
    prize_name: str,
    replaced_rank: int,
    status_label: str,
    reason: str,
    new_winner: Winner,
    url: str,
    rerolled_at: datetime,
    simulated: bool,
) -> Post:
    """A winner replaced by the next rank, publicly, with the reason; pings the new
    winner."""
    tag = _tag(simulated)
    prize = _name(prize_name)
    why = f"{status_label.lower()}: {_name(reason, 1000)}"
    return Post(
        content=clip(
            f"{tag}🔁 Reroll for **{prize}**: rank {replaced_rank} ({why}) is replaced by "
            f"rank {new_winner.rank}, {new_winner.shown}.",
            CONTENT_MAX,
        ),
        embeds=(
            _embed(
                title=f"{tag}Reroll: {prize}",
                url=url,
                description=f"Rank {replaced_rank} is replaced by the next entrant of the ranking.",
                at=rerolled_at,
                fields=(
                    ("Replaced", f"Rank {replaced_rank} ({status_label.lower()})", True),
                    ("New winner", f"Rank {new_winner.rank}: {new_winner.shown}", True),
                    ("Reason", _name(reason, FIELD_VALUE_MAX), False),
                ),
                **_draw_look(simulated, GOLD),
            ),
        ),
        mention_user_ids=(new_winner.discord_id,) if new_winner.discord_id else (),
    )
