"""Closing entries is deliberate (issue 14 items 6 and 7): refused while the event still
has locked days or guild membership is not freshly synced from Discord, unless staff
force it with a reason that is stored, audited and published; departed members are
left out and staff see who and why."""

from __future__ import annotations

import dataclasses
import datetime as dt
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from daylock.accounts.models import DiscordAccount, GuildSync, Role
from daylock.clock import ENVIRONMENT_SCOPE
from daylock.core.models import AuditLog, ClockOverride
from daylock.discord import membership
from daylock.events.models import EligibilityOverride, Tier
from daylock.events.selectors import eligible_user_ids
from daylock.prizes import selectors, services
from daylock.prizes.models import Draw, DrawStatus
from daylock.testing.discord_emulator import EmulatedUser, RunningEmulator, default_config
from tests.events.factories import EventFactory, FeedbackFactory, UserFactory, complete
from tests.prizes.conftest import make_entrants, make_prize, member_sync_done

pytestmark = pytest.mark.django_db

REASON = "the venue closes on Friday; agreed with the community in #announcements"


@pytest.fixture
def running():
    """A 3-day event that started yesterday (UTC): day 1 and 2 open, day 3 locked."""
    return EventFactory(day_count=3, starts_on=timezone.now().date() - dt.timedelta(days=1))


@pytest.fixture
def staff(db) -> Client:
    client = Client()
    client.force_login(UserFactory(username="ops-admin", role=Role.ADMIN))
    return client


# --- locked days ---------------------------------------------------------------------------


def test_closing_with_locked_days_is_refused_and_says_how_to_force(running) -> None:
    complete(UserFactory(), running, Tier.NORMAL, days=2)
    prize = make_prize(running)
    with pytest.raises(services.CloseRefused) as excinfo:
        services.draw_close_entries(prize=prize, actor=None)
    message = str(excinfo.value)
    assert "day 3 is still locked" in message
    assert f"day 3 unlocks {timezone.now().date() + dt.timedelta(days=1):%Y-%m-%d} 00:00 UTC" in (
        message
    )
    assert f'daylock draw close {prize.pk} --force "why"' in message
    assert "reason field on the staff prize page" in message
    draw = Draw.objects.get(prize=prize)
    assert draw.status == DrawStatus.OPEN
    assert not AuditLog.objects.filter(action="prizes.draw_close_entries").exists()


def test_a_forced_close_is_stored_audited_and_published(running, client: Client) -> None:
    admin = UserFactory(username="ada", role=Role.ADMIN)
    prize = make_prize(running)
    commitment = services.draw_close_entries(prize=prize, actor=admin, force_reason=f"  {REASON} ")
    draw = Draw.objects.get(pk=commitment.draw_id)
    assert draw.status == DrawStatus.CLOSED
    assert (draw.closed_early, draw.locked_days, draw.close_reason) == (True, [3], REASON)
    assert draw.membership_stale is False
    assert draw.members_synced_at is not None
    audit = AuditLog.objects.get(action="prizes.draw_close_entries")
    assert audit.actor_label == "ada"
    assert audit.details["forced"] == REASON
    assert any("day 3 is still locked" in p for p in audit.details["overridden"])

    page = client.get(f"/prizes/draws/{draw.pk}/").content.decode()
    notice = page[page.index("data-forced-close") :]
    assert f"Entries closed early</strong> on {draw.closed_at:%Y-%m-%d %H:%M} UTC" in notice
    assert "with day 3 still locked" in notice
    assert "by staff:" in notice
    assert REASON in notice
    record = client.get(f"/prizes/draws/{draw.pk}/record.json").json()
    assert record["closed_early"] is True
    assert record["locked_days"] == [3]
    assert record["close_reason"] == REASON


def test_a_blank_reason_does_not_force(running) -> None:
    prize = make_prize(running)
    with pytest.raises(services.DrawError, match="needs a reason"):
        services.draw_close_entries(prize=prize, actor=None, force_reason="   ")
    assert Draw.objects.get(prize=prize).status == DrawStatus.OPEN


def test_a_close_on_time_is_not_marked_and_ignores_a_reason(event, client: Client) -> None:
    """``event`` started long ago: every day is open, membership is fresh."""
    prize = make_prize(event)
    services.draw_close_entries(prize=prize, actor=None, force_reason="just in case")
    draw = Draw.objects.get(prize=prize)
    assert (draw.closed_early, draw.membership_stale, draw.close_reason) == (False, False, "")
    assert "forced" not in AuditLog.objects.get(action="prizes.draw_close_entries").details
    page = client.get(f"/prizes/draws/{draw.pk}/").content.decode()
    assert "data-forced-close" not in page
    assert "synced from Discord" in page


def test_the_moved_clock_decides_which_days_are_locked(running) -> None:
    """Staging plays a whole event in minutes: once its clock is past the last unlock,
    entries close without forcing."""
    prize = make_prize(running)
    assert [d.number for d in selectors.close_blockers(prize=prize).locked] == [3]
    ClockOverride.objects.create(scope=ENVIRONMENT_SCOPE, offset=timedelta(days=2))
    assert selectors.close_blockers(prize=prize).locked == []
    services.draw_close_entries(prize=prize, actor=None)
    assert Draw.objects.get(prize=prize).closed_early is False


# --- membership freshness ---------------------------------------------------------------


def test_closing_without_a_member_sync_is_refused_and_says_how_to_sync(event) -> None:
    GuildSync.objects.all().delete()
    prize = make_prize(event)
    with pytest.raises(services.CloseRefused) as excinfo:
        services.draw_close_entries(prize=prize, actor=None)
    message = str(excinfo.value)
    assert "guild membership has never been synced from Discord" in message
    assert "run `daylock discord sync-members`" in message
    assert "--force" in message
    assert Draw.objects.get(prize=prize).status == DrawStatus.OPEN


def test_a_stale_sync_is_refused_and_the_max_age_is_configurable(event, settings) -> None:
    GuildSync.objects.all().delete()
    member_sync_done(minutes_ago=75)
    prize = make_prize(event)
    with pytest.raises(services.CloseRefused, match="75 minutes ago"):
        services.draw_close_entries(prize=prize, actor=None)
    settings.DAYLOCK = dataclasses.replace(settings.DAYLOCK, member_sync_max_age_minutes=90)
    services.draw_close_entries(prize=prize, actor=None)
    assert Draw.objects.get(prize=prize).membership_stale is False


def test_forcing_past_a_stale_sync_is_published(event, client: Client) -> None:
    GuildSync.objects.all().delete()
    old = member_sync_done(minutes_ago=300)
    prize = make_prize(event)
    services.draw_close_entries(prize=prize, actor=None, force_reason="Discord is down today")
    draw = Draw.objects.get(prize=prize)
    assert (draw.membership_stale, draw.closed_early) == (True, False)
    assert draw.members_synced_at == old.finished_at
    assert AuditLog.objects.get(action="prizes.draw_close_entries").actor_label == "cli"
    page = client.get(f"/prizes/draws/{draw.pk}/").content.decode()
    notice = page[page.index("data-forced-close") :]
    assert "<strong>Entries closed</strong>" in notice
    assert f"last synced from Discord {old.finished_at:%Y-%m-%d %H:%M} UTC (not recently)" in notice
    assert "Discord is down today" in notice
    assert client.get(f"/prizes/draws/{draw.pk}/record.json").json()["membership_stale"] is True


def test_departed_members_do_not_enter_once_a_sync_saw_them_leave(
    event, daylock_discord: RunningEmulator
) -> None:
    """The whole path: the guild no longer lists a finisher, the sync marks them
    departed, and closing entries leaves them out."""
    GuildSync.objects.all().delete()
    stays, leaves = make_entrants(event, 2)
    ids = {u.pk: DiscordAccount.objects.get(user=u).discord_id for u in (stays, leaves)}
    daylock_discord.reset(default_config(users=[EmulatedUser(ids[stays.pk], "stays")]))
    prize = make_prize(event)
    before = eligible_user_ids(event=event, min_tier=Tier.NORMAL, feedback_required=False)
    assert sorted(before) == sorted(ids)  # as far as Daylock knew, both still members
    membership.members_sync(trigger="test")
    commitment = services.draw_close_entries(prize=prize, actor=None)
    assert commitment.entrant_count == 1
    assert selectors.entrant_ids(Draw.objects.get(prize=prize)) == [stays.pk]


# --- the staff page ---------------------------------------------------------------------


def test_staff_page_offers_a_forced_close_with_a_required_reason(running, staff: Client) -> None:
    prize = make_prize(running)
    url = f"/prizes/staff/prizes/{prize.pk}/"
    page = staff.get(url).content.decode()
    assert "data-close-blockers" in page
    assert "day 3 is still locked" in page
    assert '<textarea id="close-reason" name="reason" rows="2" cols="60" required>' in page
    assert "Close entries anyway" in page
    assert ">Close entries</button>" not in page  # no plain close while something blocks
    refused = staff.post(f"{url}close/", follow=True).content.decode()
    assert "were not closed" in refused
    assert Draw.objects.get(prize=prize).status == DrawStatus.OPEN
    empty = staff.post(f"{url}close/", {"reason": ""}, follow=True).content.decode()
    assert "needs a reason" in empty
    done = staff.post(f"{url}close/", {"reason": REASON}, follow=True).content.decode()
    assert "Entries closed:" in done
    draw = Draw.objects.get(prize=prize)
    assert draw.close_reason == REASON
    assert AuditLog.objects.get(action="prizes.draw_close_entries").actor_label == "ops-admin"


def test_staff_page_without_blockers_offers_the_plain_close(event, staff: Client) -> None:
    prize = make_prize(event)
    page = staff.get(f"/prizes/staff/prizes/{prize.pk}/").content.decode()
    assert "data-close-blockers" not in page
    assert ">Close entries</button>" in page
    assert "last synced from Discord" in page


def test_staff_page_lists_who_is_left_out_and_why(event, staff: Client) -> None:
    entrant, departed, banned, quiet = make_entrants(event, 4)
    left_at = timezone.now() - timedelta(hours=5)
    DiscordAccount.objects.filter(user=departed).update(in_guild=False, left_guild_at=left_at)
    banned.is_banned = True
    banned.save()
    never_linked = UserFactory(discord=None)
    complete(never_linked, event, Tier.NORMAL)
    halfway = UserFactory()
    complete(halfway, event, Tier.NORMAL, days=1)
    forced_out = make_entrants(event, 1)[0]
    EligibilityOverride.objects.create(
        user=forced_out, event=event, eligible=False, reason="staff test"
    )
    FeedbackFactory(user=entrant, event=event)
    prize = make_prize(event, feedback_required=True)

    page = staff.get(f"/prizes/staff/prizes/{prize.pk}/").content.decode()

    def row(user) -> str:
        start = page.index(f'data-excluded="{user.pk}"')
        return page[start : page.index("</tr>", start)]

    assert f"left the guild at {left_at:%Y-%m-%d %H:%M} UTC" in row(departed)
    assert "banned" in row(banned)
    assert "no Discord account linked" in row(never_linked)
    assert "no feedback on the event" in row(quiet)
    assert "excluded by a staff override (test utility): staff test" in row(forced_out)
    assert f'data-excluded="{entrant.pk}"' not in page
    assert 'data-exclusions="5"' in page
    assert 'data-not-completed="1"' in page  # halfway
    services.draw_close_entries(prize=prize, actor=None)
    assert selectors.entrant_ids(Draw.objects.get(prize=prize)) == [entrant.pk]


def test_staff_can_sync_members_from_the_prize_page(
    event, staff: Client, daylock_discord: RunningEmulator
) -> None:
    GuildSync.objects.all().delete()
    prize = make_prize(event)
    page = staff.get(f"/prizes/staff/prizes/{prize.pk}/").content.decode()
    assert "never synced from Discord" in page
    assert "Sync members now" in page
    done = staff.post(f"/prizes/staff/prizes/{prize.pk}/sync-members/", follow=True)
    assert "Guild membership synced:" in done.content.decode()
    assert GuildSync.objects.get().trigger == "staff:ops-admin"
    assert (
        "data-close-blockers" not in staff.get(f"/prizes/staff/prizes/{prize.pk}/").content.decode()
    )


def test_a_failed_staff_sync_says_so(
    event, staff: Client, daylock_discord: RunningEmulator
) -> None:
    daylock_discord.add_fault("error", "/members$", status=403, code=50001, count=1)
    prize = make_prize(event)
    done = staff.post(f"/prizes/staff/prizes/{prize.pk}/sync-members/", follow=True)
    assert "Guild membership was not synced" in done.content.decode()
    assert "Server Members intent" in done.content.decode()


def test_moderators_may_not_close_or_sync(event) -> None:
    client = Client()
    client.force_login(UserFactory(role=Role.MODERATOR))
    prize = make_prize(event)
    assert (
        client.post(f"/prizes/staff/prizes/{prize.pk}/close/", {"reason": "x"}).status_code == 403
    )
    assert client.post(f"/prizes/staff/prizes/{prize.pk}/sync-members/").status_code == 403
    assert Draw.objects.get(prize=prize).status == DrawStatus.OPEN
