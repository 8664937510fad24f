"""The client survives a Discord that fails like Discord (issue 17, items 2 and 3): each
behaviour of the client and of delivery, run against the emulator, which records every
request — so "nothing was sent" and "no avoidable 429" are read on the receiving side.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from daylock.accounts.models import GuildSync, Role, User
from daylock.config import DeliveryMode
from daylock.core.models import AuditLog
from daylock.discord import client as client_module
from daylock.discord import delivery
from daylock.discord.client import (
    DM_OPEN_BACKOFF,
    PAUSE_RETRY,
    DiscordClient,
    client_for,
)
from daylock.discord.models import OutboxMessage, OutboxStatus
from daylock.discord.services import discord_id_check, outbox_enqueue
from daylock.testing.discord_emulator import (
    GuildChannel,
    RunningEmulator,
    default_config,
)
from daylock.testing.discord_emulator.config import (
    ADMIN_ROLE_ID,
    BOT_ROLE_ID,
    DEFAULT_GUILD_ID,
    MODERATOR_ROLE_ID,
    OUTSIDER_USER_ID,
    PLAYER_USER_ID,
    SECOND_PLAYER_USER_ID,
    WINNER_ROLE_ID,
)
from tests.config_override import config_override, production

pytestmark = pytest.mark.django_db

CHANNEL = "710000000000000001"
HIDDEN = "710000000000000002"
READ_ONLY = "710000000000000003"
VOICE = "710000000000000004"
BUSY = "710000000000000005"
ELSEWHERE = "710000000000000006"


def bot_requests(emulator: RunningEmulator, path: str = r"^/api/v10/") -> list[dict[str, Any]]:
    return emulator.requests(path)


def statuses(emulator: RunningEmulator, path: str = r"^/api/v10/") -> list[int]:
    return [r["status"] for r in bot_requests(emulator, path)]


def channel_message(channel: str = CHANNEL, text: str = "hello", **kw: Any) -> OutboxMessage:
    return outbox_enqueue(kind="channel_message", content=text, channel_id=channel, **kw)


def dm(user: str = PLAYER_USER_ID, **kw: Any) -> OutboxMessage:
    return outbox_enqueue(kind="direct_message", content="You won!", recipient_id=user, **kw)


def refreshed(row: OutboxMessage) -> OutboxMessage:
    row.refresh_from_db()
    return row


@pytest.fixture
def staff(client: Client) -> Client:
    client.force_login(User.objects.create_user(username="mod", password="pw", role=Role.MODERATOR))
    return client


@pytest.fixture
def guild(daylock_discord: RunningEmulator) -> RunningEmulator:
    daylock_discord.reset(
        default_config(
            channels=[
                GuildChannel(CHANNEL, "announcements"),
                GuildChannel(HIDDEN, "staff-only", bot_can_view=False),
                GuildChannel(READ_ONLY, "rules", bot_can_send=False),
                GuildChannel(VOICE, "voice", type=2),
                GuildChannel(BUSY, "busy", shared_limit=1),
                GuildChannel(ELSEWHERE, "elsewhere", guild_id="799000000000000002"),
            ]
        )
    )
    return daylock_discord


# --- one client per process; its bucket state survives from row to row ----------------


def test_one_client_per_process_token_and_api_base() -> None:
    assert client_for() is client_for()
    with config_override(discord_bot_token="another-token"):
        other = client_for()
    assert other is not client_for()
    assert other.limits is not client_for().limits


def test_rows_share_bucket_state_so_no_429_is_avoidable(guild: RunningEmulator) -> None:
    """The audit's repro: a new client per row forgot the bucket (2 avoidable 429s in 12
    sends to one channel). The control shows the emulator would have answered them."""
    with production():
        fresh = [channel_message(text=f"control {i}") for i in range(12)]
        for row in fresh:
            assert delivery.deliver(row.pk, client=DiscordClient()).outcome == "sent"
    assert 429 in statuses(guild, "/messages$")  # a forgetful client walks into them
    guild.reset(guild.config)
    guild.clear_requests()
    with production():
        rows = [channel_message(text=f"m{i}") for i in range(12)]
        outcomes = [delivery.deliver(row.pk).outcome for row in rows]
    assert outcomes == ["sent"] * 12
    assert statuses(guild, "/messages$") == [200] * 12
    assert client_for().stats["waits"] >= 2  # it waited for the bucket instead


# --- no sleeping inside a row's transaction --------------------------------------------


class SleepsOutsideTransactions(DiscordClient):
    """Fails the test if it ever waits while a database transaction is open."""

    def __init__(self) -> None:
        super().__init__(sleep=self._sleep_checked, backoff_base=0.05)
        self.slept: list[float] = []

    def _sleep_checked(self, seconds: float) -> None:
        assert not connection.in_atomic_block, "waited for Discord inside a transaction"
        self.slept.append(seconds)
        time.sleep(seconds)


@pytest.mark.django_db(transaction=True)
def test_rate_limit_waits_happen_outside_the_rows_transaction(guild: RunningEmulator) -> None:
    client = SleepsOutsideTransactions()
    guild.add_fault("rate_limit", rf"/channels/{CHANNEL}$", method="GET", retry_after=0.3)
    guild.add_fault("error", "/messages$", status=502)
    with config_override(
        discord_delivery=DeliveryMode.ALLOWLIST, discord_allowed_channel_ids=frozenset({CHANNEL})
    ):
        rows = [channel_message(text=f"m{i}") for i in range(7)]
        outcomes = [delivery.deliver(row.pk, client=client).outcome for row in rows]
    assert outcomes == ["sent"] * 7
    # The guild lookup waited out a 429, a send backed off after a 502, and the sixth
    # message waited for the bucket: all of it with no transaction open.
    assert len(client.slept) >= 3
    assert statuses(guild, "/messages$").count(200) == 7


# --- 401: pause, alert staff, resume ---------------------------------------------------


def test_a_revoked_token_pauses_delivery_instead_of_failing_rows(
    guild: RunningEmulator, staff: Client
) -> None:
    guild.reset(default_config(bot_token="the-token-after-a-reset"))  # ours is revoked
    with production():
        rows = [channel_message(text=f"m{i}") for i in range(3)] + [dm()]
        results = [delivery.deliver(row.pk) for row in rows]
    assert [r.outcome for r in results] == ["retry"] * 4
    assert all(r.retry_after == PAUSE_RETRY for r in results)
    assert statuses(guild) == [401]  # one refusal; the other rows never asked
    for row in rows:
        row = refreshed(row)
        assert (row.status, row.attempts) == (OutboxStatus.QUEUED, 0)
        assert "delivery is paused" in row.delivery_note
    page = staff.get("/staff/outbox/").content.decode()
    assert "Delivery paused: Discord refused the bot token (401)" in page
    assert "DISCORD_BOT_TOKEN" in page
    # Staff fix the token (here: Discord knows ours again) and resume; it is audited.
    guild.reset(default_config())
    response = staff.post("/staff/outbox/resume/", follow=True)
    assert "Delivery resumed" in response.content.decode()
    assert AuditLog.objects.filter(action="outbox.resume", actor_label="mod").exists()
    assert "Delivery paused" not in staff.get("/staff/outbox/").content.decode()
    with production():
        assert [delivery.deliver(row.pk).outcome for row in rows] == ["sent"] * 4


def test_a_paused_worker_asks_discord_again_and_resumes_when_the_token_works(
    guild: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "PAUSE_PROBE_EVERY", 0.2)
    guild.reset(default_config(bot_token="rotated"))
    with production():
        row = channel_message()
        assert delivery.deliver(row.pk).outcome == "retry"
        guild.reset(default_config())  # the token is valid again
        assert delivery.deliver(row.pk).outcome == "retry"  # too early to ask
        time.sleep(0.25)
        assert delivery.deliver(row.pk).outcome == "sent"
    assert [(r["method"], r["path"]) for r in bot_requests(guild)][-2:] == [
        ("GET", "/api/v10/users/@me"),
        ("POST", f"/api/v10/channels/{CHANNEL}/messages"),
    ]


# --- a Cloudflare ban stops every send until it lifts -----------------------------------


def test_a_cloudflare_ban_stops_sending_until_it_lifts(
    guild: RunningEmulator, staff: Client
) -> None:
    guild.add_fault("ban", "/messages$", retry_after=2)
    with production():
        first, second = channel_message(text="one"), channel_message(text="two")
        banned = delivery.deliver(first.pk)
        assert (banned.outcome, banned.retry_after) == ("retry", pytest.approx(2.0))
        held = delivery.deliver(second.pk)
        assert held.outcome == "retry"
        assert 0 < (held.retry_after or 0) <= 2
        assert len(bot_requests(guild, "/messages$")) == 1  # the second was never sent
        for row in (first, second):
            row = refreshed(row)
            assert (row.status, row.attempts) == (OutboxStatus.QUEUED, 0)
            assert "Cloudflare" in row.delivery_note
        assert 'data-hold="banned"' in staff.get("/staff/outbox/").content.decode()
        time.sleep(2.05)
        assert [delivery.deliver(r.pk).outcome for r in (first, second)] == ["sent", "sent"]


# --- DMs -------------------------------------------------------------------------------


def test_40003_holds_dm_opening_for_a_long_while(guild: RunningEmulator) -> None:
    guild.reset(default_config(dm_open_limit=1))
    with production():
        first = dm(PLAYER_USER_ID)
        assert delivery.deliver(first.pk).outcome == "sent"
        too_fast = dm(SECOND_PLAYER_USER_ID)
        result = delivery.deliver(too_fast.pk)
        assert (result.outcome, result.retry_after) == ("retry", DM_OPEN_BACKOFF)
        row = refreshed(too_fast)
        assert (row.status, row.attempts) == (OutboxStatus.QUEUED, 0)
        assert "DMs are opened too fast (40003)" in row.delivery_note
        opened = len(bot_requests(guild, "/users/@me/channels$"))
        third = dm("100000000000000101")
        assert delivery.deliver(third.pk).outcome == "retry"  # not even tried
        assert len(bot_requests(guild, "/users/@me/channels$")) == opened
        again = dm(PLAYER_USER_ID)  # a DM channel already open needs no opening
        assert delivery.deliver(again.pk).outcome == "sent"
    assert statuses(guild, "/users/@me/channels$") == [200, 403]


def test_a_winner_with_dms_closed_is_shown_as_such(guild: RunningEmulator, staff: Client) -> None:
    guild.set_users(
        {
            "users": [
                {"id": SECOND_PLAYER_USER_ID, "username": "sam", "accepts_dms": False},
                {"id": OUTSIDER_USER_ID, "username": "olly", "in_guild": False},
            ]
        }
    )
    with production():
        closed = dm(SECOND_PLAYER_USER_ID, source="draw:7:rank:1")
        gone = dm(OUTSIDER_USER_ID, source="draw:7:rank:2")
        assert delivery.deliver(closed.pk).outcome == "failed"
        assert delivery.deliver(gone.pk).outcome == "failed"
    closed, gone = refreshed(closed), refreshed(gone)
    assert closed.discord_code == 50007
    assert closed.summary == "failed: winner has DMs closed (50007)"
    assert "does not accept direct messages" in closed.delivery_note
    assert gone.summary == "failed: winner shares no server with the bot (50278)"
    listing = staff.get("/staff/outbox/").content.decode()
    assert "failed: winner has DMs closed (50007)" in listing
    detail = staff.get(f"/staff/outbox/{closed.pk}/").content.decode()
    assert "tell them another way" in detail


# --- channels: staff see which channel to fix ------------------------------------------


def test_refused_channels_name_the_channel_and_the_fix(guild: RunningEmulator) -> None:
    with production():
        rows = {
            channel: channel_message(channel)
            for channel in (HIDDEN, READ_ONLY, VOICE, "710000000000000099")
        }
        assert [delivery.deliver(r.pk).outcome for r in rows.values()] == ["failed"] * 4
    expected = {
        HIDDEN: ("failed: bot cannot see the channel (50001)", "View Channel"),
        READ_ONLY: ("failed: bot may not post in the channel (50013)", "Send Messages"),
        VOICE: ("failed: not a text channel (50008)", "text channel"),
        "710000000000000099": ("failed: unknown channel (10003)", "fix the channel id"),
    }
    for channel, (summary, fix) in expected.items():
        row = refreshed(rows[channel])
        assert row.summary == summary
        assert channel in row.delivery_note
        assert fix in row.delivery_note
        assert row.attempts == 1  # refused at once, never retried


def test_a_shared_429_is_waited_out_and_is_not_an_invalid_request(guild: RunningEmulator) -> None:
    with production():
        rows = [channel_message(BUSY, text=f"m{i}") for i in range(2)]
        assert [delivery.deliver(r.pk).outcome for r in rows] == ["sent", "sent"]
    assert [r["scope"] for r in bot_requests(guild, "/messages$")] == [None, "shared", None]
    assert guild.invalid_requests()["count"] == 0
    assert client_for().stats["invalid"] == 0


# --- nonces ----------------------------------------------------------------------------


class DiesAfterTheRequest(DiscordClient):
    def create_message(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        super().create_message(*args, **kwargs)
        raise KeyboardInterrupt("worker killed mid-request")


def test_a_repeat_whose_original_was_deleted_is_delivered_not_reposted(
    guild: RunningEmulator,
) -> None:
    with production():
        row = channel_message(text="the winner is…")
        with pytest.raises(KeyboardInterrupt):
            delivery.deliver(row.pk, client=DiesAfterTheRequest())
        [message] = guild.messages(CHANNEL)
        guild.delete_message(message["id"])  # a moderator removed it meanwhile
        assert delivery.deliver(row.pk).outcome == "sent"
    row = refreshed(row)
    assert row.status == OutboxStatus.SENT
    assert "deleted in Discord since" in row.delivery_note
    assert guild.messages(CHANNEL) == []  # not posted a second time


# --- ids and audit-log reasons ---------------------------------------------------------


def test_ids_that_are_not_discord_ids_are_never_sent(guild: RunningEmulator) -> None:
    with production():
        short = dm("1000001")  # the seed's test ids can be nobody's
        assert delivery.deliver(short.pk).outcome == "failed"
    row = refreshed(short)
    assert row.summary == "failed: not a Discord id (50035)"
    assert "recipient_id '1000001' is not a Discord id: it has 7 digits" in row.delivery_note
    assert bot_requests(guild) == []
    captured = dm("1000002")  # outside production it is captured, as before
    assert delivery.deliver(captured.pk).outcome == "captured"


def test_role_changes_carry_an_audit_log_reason(guild: RunningEmulator) -> None:
    with production():
        row = outbox_enqueue(
            kind="role_grant",
            recipient_id=PLAYER_USER_ID,
            role_id=WINNER_ROLE_ID,
            source="draw:3:rank:1",
            reason="Prize 'Winter keys', draw 3 rank 1",
        )
        assert delivery.deliver(row.pk).outcome == "sent"
    [change] = guild.role_changes()
    assert change["reason"] == (
        f"Prize 'Winter keys', draw 3 rank 1 [Daylock outbox #{row.pk} (draw:3:rank:1)]"
    )


# --- channel and role ids staff enter are checked with Discord -------------------------


def test_discord_id_check_confirms_channels_and_roles_or_says_what_is_wrong(
    guild: RunningEmulator,
) -> None:
    assert discord_id_check(kind="channel", id=CHANNEL) is None
    assert discord_id_check(kind="role", id=WINNER_ROLE_ID) is None
    problems = {
        ("channel", "123"): "has 3 digits, not 17 to 20",
        ("channel", "710000000000000099"): "does not exist in Discord (10003)",
        ("channel", HIDDEN): "the bot cannot see channel",
        ("channel", VOICE): "is not a text channel",
        ("channel", ELSEWHERE): "not this environment's server",
        ("role", "799000000000000099"): "is not a role of this environment's server",
        ("role", MODERATOR_ROLE_ID): "sits at or above the bot's highest role",
        ("role", ADMIN_ROLE_ID): "drag the bot's role above it",
        ("role", BOT_ROLE_ID): "managed by an integration",
        ("role", DEFAULT_GUILD_ID): "which everyone has",
    }
    for (kind, value), expected in problems.items():
        problem = discord_id_check(kind=kind, id=value)  # type: ignore[arg-type]
        assert problem is not None, (kind, value)
        assert expected in problem, (kind, value, problem)


def test_discord_id_check_says_so_when_discord_cannot_be_asked(guild: RunningEmulator) -> None:
    guild.add_fault("error", "/roles$", status=503, count=10)
    problem = discord_id_check(kind="role", id=WINNER_ROLE_ID)
    assert problem is not None
    assert problem.startswith(f"could not check role {WINNER_ROLE_ID} with Discord")
    assert "try again" in problem


def test_the_prize_admin_form_checks_role_and_channel_ids_with_discord(
    guild: RunningEmulator,
) -> None:
    from daylock.prizes.admin import PrizeAdminForm
    from tests.events.factories import EventFactory

    event = EventFactory(day_count=1)
    data = {
        "event": event.pk,
        "name": "Champion role",
        "description": "",
        "quantity": 1,
        "min_tier": "normal",
        "fulfilment": "discord_role",
        "discord_role_id": MODERATOR_ROLE_ID,
        "announce_channel_id": HIDDEN,
    }
    form = PrizeAdminForm(data=data)
    assert not form.is_valid()
    assert "sits at or above the bot's highest role" in form.errors["discord_role_id"][0]
    assert "the bot cannot see channel" in form.errors["announce_channel_id"][0]
    fixed = PrizeAdminForm(
        data=data | {"discord_role_id": WINNER_ROLE_ID, "announce_channel_id": CHANNEL}
    )
    assert fixed.is_valid(), fixed.errors
    # An unchanged id is not asked about again (editing the name needs no Discord).
    prize = fixed.save()
    guild.clear_requests()
    renamed = PrizeAdminForm(
        data=data
        | {"name": "Renamed", "discord_role_id": WINNER_ROLE_ID, "announce_channel_id": CHANNEL},
        instance=prize,
    )
    assert renamed.is_valid(), renamed.errors
    assert bot_requests(guild) == []


# --- a prize is fulfilled only when Discord confirms the grant -------------------------


def _role_prize_winner(guild: RunningEmulator, role: str) -> tuple[Any, Any]:
    from daylock.prizes import services as prize_services
    from daylock.prizes.models import Fulfilment
    from tests.events.factories import EventFactory, UserFactory, complete

    event = EventFactory(day_count=1)
    winner = UserFactory()
    complete(winner, event, "normal")
    guild.set_users({"users": [{"id": winner.discord.discord_id, "username": winner.username}]})
    prize = prize_services.prize_create(
        event=event,
        name="Champion",
        fulfilment=Fulfilment.DISCORD_ROLE,
        quantity=1,
        discord_role_id=role,
    )
    at = timezone.now()
    GuildSync.objects.create(
        guild_id=guild.config.guild_id, trigger="test", started_at=at, finished_at=at
    )
    prize_services.draw_close_entries(prize=prize, actor=None)
    draw = prize_services.draw_run(prize=prize, actor=None, confirm=True)
    return prize, draw.winners.get()


def test_a_role_above_the_bot_ends_failed_on_the_staff_pages_not_fulfilled(
    guild: RunningEmulator, staff: Client
) -> None:
    with production():
        prize, winner = _role_prize_winner(guild, MODERATOR_ROLE_ID)
        assert winner.fulfilled_at is None  # queued is not fulfilled
        grant = OutboxMessage.objects.get(kind="role_grant")
        assert delivery.deliver(grant.pk).outcome == "failed"
        winner.refresh_from_db()
        assert winner.fulfilled_at is None
        grant = refreshed(grant)
        assert grant.summary == "failed: role above the bot (50013)"
        assert "drag the bot's role above it" in grant.delivery_note
        assert "failed: role above the bot (50013)" in staff.get("/staff/outbox/").content.decode()
        page = staff.get(f"/prizes/staff/prizes/{prize.pk}/").content.decode()
    assert "failed: role above the bot (50013)" in page
    assert "fulfilled 20" not in page


def test_a_role_grant_discord_confirms_fulfils_the_prize(
    guild: RunningEmulator, staff: Client
) -> None:
    with production():
        prize, winner = _role_prize_winner(guild, WINNER_ROLE_ID)
        assert winner.fulfilled_at is None
        assert (
            "pending: the role grant waits for Discord"
            in staff.get(f"/prizes/staff/prizes/{prize.pk}/").content.decode()
        )
        grant = OutboxMessage.objects.get(kind="role_grant")
        assert delivery.deliver(grant.pk).outcome == "sent"
        winner.refresh_from_db()
        assert winner.fulfilled_at is not None
        page = staff.get(f"/prizes/staff/prizes/{prize.pk}/").content.decode()
    assert 'data-fulfilment="fulfilled"' in page
    [change] = guild.role_changes()
    assert change["reason"].startswith("Prize 'Champion', draw ")


def test_a_remembered_dm_channel_discord_no_longer_knows_is_opened_again(
    guild: RunningEmulator,
) -> None:
    with production():
        assert delivery.deliver(dm().pk).outcome == "sent"
        guild.reset(guild.config)  # the emulator forgets its DM channels (and its record)
        assert delivery.deliver(dm().pk).outcome == "sent"
    assert [(r["path"].rsplit("/", 1)[-1], r["status"]) for r in bot_requests(guild)] == [
        ("messages", 404),
        ("channels", 200),
        ("messages", 200),
    ]
