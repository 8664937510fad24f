"""Every kind of Discord message Daylock writes, end to end: the real writer (the life
cycle's tick, a draw, a reroll, a completion) puts it in the outbox, delivery sends it
in production's live mode, and the emulator — Discord's stand-in, over HTTP — holds the
embed and resolves the mentions. What the emulator received is exactly what the row
stores (``delivery.request_of``, the outbox page's raw payload), and exactly the
intended users are pinged."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from daylock.accounts.models import Role, User
from daylock.config import DeliveryMode
from daylock.discord import delivery, lifecycle
from daylock.discord.models import OutboxMessage, OutboxStatus
from daylock.discord.services import outbox_enqueue
from daylock.events.models import Event, Progress, Tier
from daylock.events.services import completion_refresh
from daylock.prizes import services as prizes
from daylock.prizes.models import DrawWinner, Fulfilment
from daylock.testing.discord_emulator import GuildChannel, RunningEmulator, default_config
from daylock.testing.discord_emulator.config import (
    MODERATOR_USER_ID,
    PLAYER_USER_ID,
    SECOND_PLAYER_USER_ID,
    WINNER_ROLE_ID,
)
from tests.config_override import config_override, production
from tests.events.factories import EventFactory, UserFactory, complete
from tests.prizes.conftest import member_sync_done

pytestmark = pytest.mark.django_db

ANNOUNCE = "710000000000000001"
WINNERS = "710000000000000002"


def deliver(rows: Any) -> None:
    for row in rows:
        result = delivery.deliver(row.pk)
        assert result.outcome == "sent", (row.pk, result)


def received(emulator: RunningEmulator, row: OutboxMessage, *, pings: list[str]) -> dict[str, Any]:
    """The message Discord (the emulator) holds for ``row``, after checking that the
    request carried exactly the stored payload and pinged exactly ``pings``."""
    row.refresh_from_db()
    assert row.status == OutboxStatus.SENT, row.delivery_note
    [request] = [
        r
        for r in emulator.requests(r"/messages$")
        if r["method"] == "POST" and (r["body"] or {}).get("nonce") == row.nonce
    ]
    assert request["body"] == delivery.request_of(row)["json"]  # what is stored is sent
    assert request["body"]["embeds"] == row.embeds and row.embeds
    assert request["body"]["content"] == row.content
    assert request["body"]["allowed_mentions"] == {
        "parse": [],
        "users": pings,
        "roles": [],
        "replied_user": False,
    }
    [message] = [m for m in emulator.messages() if m["nonce"] == row.nonce]
    assert message["id"] == row.discord_message_id
    assert message["embeds"] == [{"type": "rich", **embed} for embed in row.embeds]
    assert [user["id"] for user in message["mentions"]] == pings
    assert (message["mention_roles"], message["mention_everyone"]) == ([], False)
    return message


def test_day_open_and_the_reminder_reach_discord_as_cards_that_ping_nobody(
    daylock_discord: RunningEmulator,
) -> None:
    starts = (timezone.now() - timedelta(days=1)).date()
    event: Event = EventFactory(
        day_count=2,
        starts_on=starts,
        announce_channel_id=ANNOUNCE,
        completion_role_normal_id=WINNER_ROLE_ID,
    )
    with production():
        assert lifecycle.lifecycle_tick() == 3  # day 1, the reminder, day 2
        rows = list(OutboxMessage.objects.filter(source__startswith=f"event:{event.pk}:"))
        deliver(rows)
    by_key = {row.dedup_key: row for row in rows}
    day2 = received(
        daylock_discord, by_key[lifecycle.day_open_key(event_id=event.pk, number=2)], pings=[]
    )
    assert day2["channel_id"] == ANNOUNCE
    assert day2["content"] == f"🔓 **{event.name}** — Day 2 is open!"
    assert day2["embeds"][0]["title"] == "Day 2: Day 2 title"
    assert day2["embeds"][0]["url"] == f"http://testserver/events/{event.slug}/day/2/"
    reminder = received(
        daylock_discord, by_key[lifecycle.reminder_key(event_id=event.pk)], pings=[]
    )
    # The role to earn is named in the card: shown, not pinged (mention_roles is empty).
    assert reminder["embeds"][0]["fields"][0]["value"] == f"<@&{WINNER_ROLE_ID}> (normal)"


def _three_entrants(event: Event) -> list[User]:
    """Entrants who are the emulator's users, so their DMs can be delivered."""
    players: list[User] = [
        UserFactory(discord__discord_id=discord_id)
        for discord_id in (PLAYER_USER_ID, SECOND_PLAYER_USER_ID, MODERATOR_USER_ID)
    ]
    for player in players:
        complete(player, event, Tier.NORMAL)
    return players


def test_a_draw_reaches_discord_pinging_exactly_its_winners(
    daylock_discord: RunningEmulator,
) -> None:
    event: Event = EventFactory(day_count=2, announce_channel_id=ANNOUNCE)
    _three_entrants(event)
    with production():
        prize = prizes.prize_create(
            event=event,
            name="Keys",
            fulfilment=Fulfilment.MANUAL,
            quantity=2,
            announce_channel_id=WINNERS,
        )
        member_sync_done()
        prizes.draw_close_entries(prize=prize, actor=None)
        draw = prizes.draw_run(prize=prize, actor=None, confirm=True)
        ranked = list(DrawWinner.objects.filter(draw=draw).order_by("rank"))
        replacement = prizes.draw_reroll(
            winner=ranked[0], reason="did not answer in 7 days", actor=None, status="declined"
        )
        rows = list(OutboxMessage.objects.filter(kind__in=["channel_message", "direct_message"]))
        deliver(rows)
    discord_of = {u.pk: u.discord.discord_id for u in User.objects.select_related("discord")}
    winners = [discord_of[w.user_id] for w in ranked]
    by_source = {row.source: row for row in rows}

    closed = received(daylock_discord, by_source[f"draw:{draw.pk}:entries-closed"], pings=[])
    assert closed["channel_id"] == ANNOUNCE
    fields = {f["name"]: f["value"] for f in closed["embeds"][0]["fields"]}
    assert fields["Seed hash (SHA-256)"] == f"`{draw.seed_hash}`"
    assert "SIMULATED" not in closed["content"]  # production's draws are real

    results = received(daylock_discord, by_source[f"draw:{draw.pk}:results"], pings=[])
    assert f"<#{WINNERS}>" in results["embeds"][0]["description"]

    announced = received(daylock_discord, by_source[f"draw:{draw.pk}"], pings=winners)
    assert announced["channel_id"] == WINNERS
    assert announced["embeds"][0]["url"] == f"http://testserver/prizes/draws/{draw.pk}/"

    for rank, winner in enumerate(winners, start=1):
        dm = received(daylock_discord, by_source[f"draw:{draw.pk}:rank:{rank}"], pings=[])
        assert dm["content"] == f"🎉 You won **Keys** in {event.name}!"
        assert dm["dm_recipient_id"] == winner
    assert {m["dm_recipient_id"] for m in daylock_discord.messages() if m["dm_recipient_id"]} == {
        *winners,
        discord_of[replacement.user_id],
    }

    reroll = received(
        daylock_discord,
        by_source[f"draw:{draw.pk}:reroll:3"],
        pings=[discord_of[replacement.user_id]],
    )
    assert "rank 1 (declined: did not answer in 7 days)" in reroll["content"]


def test_a_completion_role_is_granted_then_revoked_with_a_delete(
    daylock_discord: RunningEmulator,
) -> None:
    event: Event = EventFactory(day_count=2, completion_role_normal_id=WINNER_ROLE_ID)
    player: User = UserFactory(discord__discord_id=PLAYER_USER_ID)
    with production():
        complete(player, event, Tier.NORMAL)
        Progress.objects.filter(user=player, day__event=event, day__number=2).delete()
        completion_refresh(event=event, user_ids=[player.pk])  # an admin's correction
        rows = list(
            OutboxMessage.objects.filter(kind__in=["role_grant", "role_remove"]).order_by("id")
        )
        assert [row.kind for row in rows] == ["role_grant", "role_remove"]
        deliver(rows)
    role_path = rf"/members/{PLAYER_USER_ID}/roles/{WINNER_ROLE_ID}$"
    assert [(r["method"], r["status"]) for r in daylock_discord.requests(role_path)] == [
        ("PUT", 204),
        ("DELETE", 204),
    ]
    changes = daylock_discord.role_changes()
    assert [c["action"] for c in changes] == ["add", "remove"]
    assert "removed" in changes[1]["reason"]
    member = daylock_discord.config.user(PLAYER_USER_ID)
    assert member is not None and WINNER_ROLE_ID not in member.roles
    # The request the outbox page shows for the revoke is the one Discord received.
    shown = delivery.request_of(rows[1])
    assert (shown["method"], shown["path"]) == (
        "DELETE",
        f"/guilds/{daylock_discord.config.guild_id}/members/{PLAYER_USER_ID}/roles/{WINNER_ROLE_ID}",
    )


def test_staging_allowlist_sends_the_card_to_the_test_server_and_blocks_the_dm(
    daylock_discord: RunningEmulator,
) -> None:
    """The allow list judges rows as before; a card goes with the message it is part of."""
    daylock_discord.reset(default_config(channels=[GuildChannel(ANNOUNCE, "announcements")]))
    card = {"title": "Day 1", "url": "https://daylock.example/d/1/"}
    with config_override(
        discord_delivery=DeliveryMode.ALLOWLIST, discord_allowed_channel_ids=frozenset({ANNOUNCE})
    ):
        post = outbox_enqueue(kind="channel_message", channel_id=ANNOUNCE, embeds=[card])
        dm = outbox_enqueue(kind="direct_message", recipient_id=PLAYER_USER_ID, embeds=[card])
        assert delivery.deliver(post.pk).outcome == "sent"
        assert delivery.deliver(dm.pk).outcome == "blocked"
    received(daylock_discord, post, pings=[])
    assert len(daylock_discord.messages()) == 1


@pytest.fixture
def staff(client: Client) -> Client:
    client.force_login(User.objects.create_user(username="mod", password="pw", role=Role.MODERATOR))
    return client


def test_a_message_discord_refuses_as_invalid_tells_staff_which_field(
    daylock_discord: RunningEmulator, staff: Client
) -> None:
    """A row over a limit Discord enforces (written by code that skipped the builders'
    clipping; or a limit Discord lowered) fails with Discord's field named, once."""
    with production():
        row = outbox_enqueue(kind="channel_message", channel_id=ANNOUNCE, content="Day 1")
        OutboxMessage.objects.filter(pk=row.pk).update(embeds=[{"title": "x" * 300}])
        assert delivery.deliver(row.pk).outcome == "failed"
        row.refresh_from_db()
        assert (row.status, row.discord_code) == (OutboxStatus.FAILED, 50035)
        assert row.summary == "failed: message body invalid (50035)"
        assert "embeds.0.title: Must be 256 or fewer in length." in row.delivery_note
        assert "report it with the raw payload" in row.delivery_note
        page = staff.get(f"/staff/outbox/{row.pk}/").content.decode()
    assert "failed: message body invalid (50035)" in page
    assert "embeds.0.title: Must be 256 or fewer in length." in page
    assert [r["status"] for r in daylock_discord.requests(r"/messages$")] == [400]  # no retry
    assert daylock_discord.messages() == []
