"""The staff outbox pages show each message as Discord would: users, roles and channels
by name (linked accounts, the guild directory read from the emulator), the card drawn,
everything escaped, the raw payload one click away; production hides the text."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from html import unescape
from pathlib import Path

import pytest
from django.test import Client

from daylock.accounts.models import Role, User
from daylock.discord import delivery, messages
from daylock.discord.client import client_for
from daylock.discord.messages import Winner
from daylock.discord.models import OutboxMessage
from daylock.discord.services import outbox_enqueue
from daylock.testing.discord_emulator import GuildChannel, RunningEmulator, default_config
from daylock.testing.discord_emulator.config import (
    PLAYER_USER_ID,
    SECOND_PLAYER_USER_ID,
    WINNER_ROLE_ID,
)
from tests.config_override import production
from tests.events.factories import UserFactory

pytestmark = pytest.mark.django_db

ANNOUNCE = "710000000000000001"
UNKNOWN_ROLE = "799000000000000077"
HOSTILE_ID = "300000000000000666"
CSS = Path(__file__).resolve().parents[2] / "src/daylock/static/daylock/discord.css"
AT = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


@pytest.fixture
def guild(daylock_discord: RunningEmulator) -> RunningEmulator:
    daylock_discord.reset(default_config(channels=[GuildChannel(ANNOUNCE, "announcements")]))
    UserFactory(discord__discord_id=PLAYER_USER_ID, discord__global_name="Pat Player")
    UserFactory(
        discord__discord_id=SECOND_PLAYER_USER_ID, discord__username="sam", discord__nick="Sammy"
    )
    UserFactory(discord__discord_id=HOSTILE_ID, discord__global_name='<script>alert("x")</script>')
    return daylock_discord


@pytest.fixture
def staff(client: Client) -> Client:
    client.force_login(User.objects.create_user(username="mod", password="pw", role=Role.MODERATOR))
    return client


def _announcement() -> OutboxMessage:
    """A draw's announcement naming three winners (one with a hostile display name)."""
    post = messages.draw_winners(
        event_name="Advent <b>2030</b>",
        prize_name="Keys",
        winners=[
            Winner(1, PLAYER_USER_ID, ""),
            Winner(2, SECOND_PLAYER_USER_ID, ""),
            Winner(3, HOSTILE_ID, ""),
        ],
        entrant_count=12,
        url="https://daylock.example/prizes/draws/7/",
        drawn_at=AT,
        simulated=True,
    )
    return outbox_enqueue(
        kind="channel_message", channel_id=ANNOUNCE, source="draw:7", **post.outbox_fields()
    )


def _rendered_message(page: str) -> str:
    """The part of the page that draws the message."""
    match = re.search(r'<article class="dc-message".*?</article>', page, re.S)
    assert match is not None, "no message drawn"
    return match[0]


def test_the_detail_page_draws_the_message_with_names_not_ids(
    guild: RunningEmulator, staff: Client
) -> None:
    row = _announcement()
    page = staff.get(f"/staff/outbox/{row.pk}/").content.decode()
    drawn = _rendered_message(page)
    text = unescape(re.sub(r"<[^>]+>", "", drawn))
    assert "Congratulations @Pat Player, @Sammy, @<script>" in text
    ranking = [
        unescape(re.sub(r"<[^>]+>", "", item)) for item in re.findall(r"<li>(.*?)</li>", drawn)
    ]
    assert ranking == ["@Pat Player", "@Sammy", '@<script>alert("x")</script>']
    assert '<ol class="dc-list" start="1">' in drawn
    assert "→ #announcements" in text
    # No raw id is shown: each stays in its mention's tooltip only.
    without_tooltips = re.sub(r'title="[^"]*"', "", drawn)
    for snowflake in (PLAYER_USER_ID, SECOND_PLAYER_USER_ID, HOSTILE_ID, ANNOUNCE):
        assert snowflake not in without_tooltips
    assert '<section class="dc-embed dc-color-99aab5"' in drawn  # the simulated grey card
    assert ">[SIMULATED] Draw: Keys</a>" in drawn
    assert 'href="https://daylock.example/prizes/draws/7/"' in drawn
    assert '<dt>Entrants</dt><dd><span class="dc-line">12</span></dd>' in drawn
    # Who is pinged, by name, in the table above.
    assert "@Pat Player, @Sammy, @&lt;script&gt;" in page
    # The guild's directory was read from Discord (the emulator) for the channel's name.
    assert guild.requests(rf"/guilds/{guild.config.guild_id}/channels$")


def test_nothing_from_a_message_or_a_name_becomes_markup(
    guild: RunningEmulator, staff: Client
) -> None:
    row = outbox_enqueue(
        kind="channel_message",
        channel_id=ANNOUNCE,
        content=f'<script>alert(1)</script> <@{HOSTILE_ID}> "><img src=x onerror=alert(2)>',
        embeds=[{"title": "<script>t</script>", "description": "<iframe>", "url": "https://x/"}],
    )
    for url in (f"/staff/outbox/{row.pk}/", "/staff/outbox/"):
        page = staff.get(url).content.decode()
        assert "<script>alert" not in page and "<script>t" not in page
        assert "<img src=x" not in page and "<iframe>" not in page
        assert " style=" not in page  # the CSP forbids inline styles
    detail = staff.get(f"/staff/outbox/{row.pk}/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail
    assert "@&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in detail
    assert "&lt;iframe&gt;" in detail


def test_unknown_roles_and_channels_are_labelled_with_their_id(
    guild: RunningEmulator, staff: Client
) -> None:
    row = outbox_enqueue(
        kind="channel_message",
        channel_id="710000000000000555",  # not in the server's directory
        content=f"Earn <@&{WINNER_ROLE_ID}> or <@&{UNKNOWN_ROLE}> in <#{ANNOUNCE}>",
    )
    drawn = _rendered_message(staff.get(f"/staff/outbox/{row.pk}/").content.decode())
    assert ">@Event Winner</span>" in drawn
    assert f">@unknown role {UNKNOWN_ROLE}</span>" in drawn
    assert ">#announcements</span>" in drawn
    assert "→ #unknown channel 710000000000000555" in drawn


def test_the_raw_payload_is_the_request_delivery_sends(
    guild: RunningEmulator, staff: Client
) -> None:
    row = _announcement()
    page = staff.get(f"/staff/outbox/{row.pk}/").content.decode()
    match = re.search(
        r'<details class="dc-raw">\s*<summary>Raw payload[^<]*</summary>\s*'
        r'<pre class="dc-raw-json">(.*?)</pre>',
        page,
        re.S,
    )
    assert match is not None
    shown = json.loads(unescape(match[1]))
    assert shown == json.loads(json.dumps(delivery.request_of(row)))
    assert shown["json"]["nonce"] == row.nonce
    assert shown["json"]["embeds"] == row.embeds
    assert shown["json"]["allowed_mentions"]["users"] == [
        PLAYER_USER_ID,
        SECOND_PLAYER_USER_ID,
        HOSTILE_ID,
    ]
    grant = outbox_enqueue(
        kind="role_grant", recipient_id=PLAYER_USER_ID, role_id=WINNER_ROLE_ID, reason="prize"
    )
    page = staff.get(f"/staff/outbox/{grant.pk}/").content.decode()
    assert "@Pat Player gets @Event Winner" in page
    assert "&#34;method&#34;: &#34;PUT&#34;" in page
    assert "prize [Daylock outbox #" in page


def test_the_list_names_targets_and_mentions(guild: RunningEmulator, staff: Client) -> None:
    row = _announcement()
    dm = outbox_enqueue(kind="direct_message", recipient_id=PLAYER_USER_ID, content="You won")
    page = staff.get("/staff/outbox/").content.decode()
    listed = re.search(rf'<tr data-outbox-id="{row.pk}".*?</tr>', page, re.S)
    assert listed is not None
    assert ">#announcements</span>" in listed[0]
    assert "[SIMULATED] 🎉 Congratulations @Pat Player, @Sammy, @&lt;script&gt;" in listed[0]
    assert "+ 1 embed" in listed[0]
    assert 'data-label="preview"' in listed[0]  # each cell names itself on a phone
    dm_row = re.search(rf'<tr data-outbox-id="{dm.pk}".*?</tr>', page, re.S)
    assert dm_row is not None and ">DM to @Pat Player</span>" in dm_row[0]
    assert f'<code class="outbox-id">user:{PLAYER_USER_ID}</code>' in dm_row[0]  # to search by
    assert "discord.css" in page


def test_production_shows_a_preview_only(guild: RunningEmulator, staff: Client) -> None:
    with production():
        row = _announcement()
        page = staff.get(f"/staff/outbox/{row.pk}/").content.decode()
    assert 'class="dc-message"' not in page
    assert "dc-raw" not in page and row.nonce in page  # the nonce row, not the payload
    assert "The full text is not shown in this environment." in page


def test_while_discord_holds_the_bot_the_page_asks_it_nothing(
    guild: RunningEmulator, staff: Client
) -> None:
    row = _announcement()
    client_for().limits.pause(detail="HTTP 401")
    page = staff.get(f"/staff/outbox/{row.pk}/").content.decode()
    assert guild.requests(r"/guilds/") == []
    assert "Some names are shown as ids: role and channel names were not read" in page
    assert "→ #unknown channel 710000000000000001" in page
    assert "@Pat Player" in page  # users come from Daylock's own accounts


def test_the_stylesheet_wraps_everything_long() -> None:
    """Hashes, URLs and ids wrap inside the message, the cards, code and the payload (the
    browser check of a 390 px page is ``test_outbox_browser.py``)."""
    css = CSS.read_text()
    for selector in (".dc-message", ".dc-code", ".dc-codeblock", ".dc-raw-json", "table.outbox td"):
        rule = re.search(rf"{re.escape(selector)} \{{([^}}]*)\}}", css)
        assert rule is not None and "overflow-wrap:anywhere" in rule[1], selector
