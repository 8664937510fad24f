"""What Discord's refusals mean for staff: a short name for the list ("winner has DMs
closed (50007)", "role above the bot (50013)") and what to fix, per kind of message.

Discord answers a refused request with a JSON code; the same code means different
things for a DM, a channel post and a role grant (50013 is "the bot may not post
there" for one and "the role sits above the bot" for another). Staff cannot act on
"HTTP 403 code 50013", so the outbox shows this instead, next to Discord's own words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the model reads this module for its summary; no import cycle at run time
    from daylock.discord.models import OutboxMessage

#: A field of a message's body in Discord's 50035 ``errors`` (as the client flattens
#: them into the error text: ``embeds.0.title: Must be 256 or fewer in length.``).
_BODY_FIELD = re.compile(r"\b((?:content|embeds|allowed_mentions|nonce)(?:\.[\w.]+)?): ([^;)]+)")
#: The outbox kinds, by value (see ``daylock.discord.models.OutboxKind``).
_DM = "direct_message"
_ROLE_KINDS = frozenset({"role_grant", "role_remove"})


@dataclass(frozen=True)
class Explained:
    #: A few words for lists and the prize page, e.g. "role above the bot (50013)".
    short: str
    #: What happened and what to do, for the detail page.
    fix: str


def explain(message: OutboxMessage, *, code: int | None, status: int | None = None) -> Explained:
    """Staff's reading of Discord refusing ``message`` with ``code`` (and ``status``)."""
    kind = message.kind
    channel = message.channel_id or message.delivered_channel_id
    user = message.recipient_id
    role = message.role_id
    is_role = kind in _ROLE_KINDS
    if code == 50035 and not is_role:
        refused = [
            f"{field}: {why.strip()}" for field, why in _BODY_FIELD.findall(message.last_error)
        ]
        if refused:
            return Explained(
                "message body invalid (50035)",
                f"Discord refused the message itself ({'; '.join(refused)}). Daylock keeps its "
                "messages within Discord's documented limits, so a limit changed or this is a "
                "bug: report it with the raw payload shown on this page. Retrying sends the "
                "same body, which Discord refuses again",
            )
    if code == 50035:
        return Explained(
            "not a Discord id (50035)",
            "an id of this message is not a Discord id (17 to 20 digits); fix it where it "
            "was entered (the prize or the event) and create the message again",
        )
    if kind == _DM:
        who = "winner" if message.source.startswith("draw:") else "user"
        if code == 50007:
            return Explained(
                f"{who} has DMs closed (50007)",
                f"user {user} does not accept direct messages from this server's members "
                "(their Discord privacy setting); nothing to retry: tell them another way — "
                "their prize page shows what they won",
            )
        if code == 50278:
            return Explained(
                f"{who} shares no server with the bot (50278)",
                f"user {user} is no longer in a server with the bot, so Discord refuses the "
                "DM; if they left, reroll the prize; if they rejoin, retry",
            )
    if is_role:
        if code == 50013:
            return Explained(
                "role above the bot (50013)",
                f"Discord refused to change role {role} for user {user}: the role sits at or "
                "above the bot's highest role (or the bot lacks Manage Roles). In Server "
                "Settings → Roles, drag the bot's role above it and give it Manage Roles, "
                "then retry",
            )
        if code == 10011:
            return Explained(
                "unknown role (10011)",
                f"role {role} does not exist in the server (deleted, or a wrong id): fix the "
                "prize's role, then create the grant again",
            )
        if code == 10007:
            return Explained(
                "user not in the server (10007)",
                f"user {user} is not a member of the server any more: reroll the prize or "
                "hand it over another way",
            )
        if code == 10004:
            return Explained(
                "unknown server (10004)",
                f"the bot is not in server {message.guild_id}: check DISCORD_GUILD_ID and "
                "that the bot was invited",
            )
    if code == 10003:
        return Explained(
            "unknown channel (10003)",
            f"channel {channel} does not exist (deleted, or a wrong id): fix the channel id "
            "where it was set (the prize's or the event's announcement channel)",
        )
    if code == 50001:
        return Explained(
            "bot cannot see the channel (50001)",
            f"the bot has no access to channel {channel}: give the bot's role View Channel "
            "there (the channel → Edit Channel → Permissions), then retry",
        )
    if code == 50013:
        return Explained(
            "bot may not post in the channel (50013)",
            f"the bot may not send messages in channel {channel}: give the bot's role Send "
            "Messages there (the channel → Edit Channel → Permissions), then retry",
        )
    if code == 50008:
        return Explained(
            "not a text channel (50008)",
            f"channel {channel} is a voice channel or a category: choose a text channel",
        )
    parts = (f"HTTP {status}" if status else "", f"code {code}" if code else "")
    label = " ".join(part for part in parts if part)
    return Explained(f"refused by Discord ({label or 'no code'})", "see Discord's answer below")


def summary(message: OutboxMessage) -> str:
    """The status as staff read it in lists: ``failed: role above the bot (50013)``."""
    if message.status == "failed" and message.discord_code is not None:
        return f"failed: {explain(message, code=message.discord_code).short}"
    return str(message.status)
