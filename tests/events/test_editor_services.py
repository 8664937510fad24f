"""The event editor's services (``daylock.events.authoring``): an event with all its
days and both challenges saved at once, what players have seen protected, prize codes
pasted in bulk with line-numbered refusals, Discord ids checked against the guild's
directory, and the preview of a locked day. Every write audited, readably, without
answers."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.http import Http404

from daylock import clock
from daylock.accounts.models import Role, User
from daylock.core.models import AuditLog
from daylock.discord import directory
from daylock.events import authoring
from daylock.events.authoring import (
    CodesInvalid,
    DayInput,
    EventInput,
    PrizeInput,
    codes_parse,
    event_save,
    prize_save,
)
from daylock.events.models import Challenge, Day, Event, EventCompletion, Tier
from daylock.prizes.models import Fulfilment, Prize, PrizeCode
from daylock.prizes.services import draw_close_entries, prize_codes_add, prize_create
from daylock.testing.discord_emulator import GuildChannel, RunningEmulator, default_config
from daylock.testing.discord_emulator.config import DEFAULT_GUILD_ID, WINNER_ROLE_ID
from tests.events.factories import EventFactory, UserFactory, complete
from tests.prizes.conftest import member_sync_done

pytestmark = pytest.mark.django_db

UNKNOWN_ROLE = "123456789012345678"
CHANNEL_ID = "710000000000000001"


@pytest.fixture
def admin() -> User:
    return UserFactory(username="editor-admin", role=Role.ADMIN)


def event_input(**changes: Any) -> EventInput:
    values: dict[str, Any] = {
        "slug": "winter-riddles",
        "name": "Winter riddles",
        "description": "Seven riddles.",
        "time_zone": "Europe/Berlin",
        "starts_on": clock.now().date() + dt.timedelta(days=10),
        "day_count": 7,
        "published": True,
        "completion_role_normal_id": None,
        "completion_role_veteran_id": None,
        "announce_channel_id": None,
    }
    return EventInput(**(values | changes))


def day_input(number: int, **changes: str) -> DayInput:
    values = {
        "title": f"Riddle {number}",
        "body_markdown": f"Body of riddle **{number}**.",
        "normal_prompt": f"Normal prompt {number}",
        "normal_answer": f"normal-{number}",
        "veteran_prompt": f"Veteran prompt {number}",
        "veteran_answer": f"veteran-{number}",
    }
    return DayInput(**(values | changes))


def days(count: int, **by_number: dict[str, str]) -> list[DayInput]:
    return [day_input(n, **by_number.get(f"d{n}", {})) for n in range(1, count + 1)]


def errors_of(excinfo: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return excinfo.value.message_dict


def audit_rows(action: str) -> list[AuditLog]:
    return list(AuditLog.objects.filter(action=action).order_by("id"))


# --- creating and updating ---------------------------------------------------------------


def test_create_writes_the_event_every_day_and_both_challenges_audited(admin: User) -> None:
    result = event_save(event=None, data=event_input(), days=days(7), actor=admin)
    assert result.created
    event = Event.objects.get(slug="winter-riddles")
    assert event.day_count == 7 and event.time_zone == "Europe/Berlin"
    assert list(Day.objects.filter(event=event).values_list("number", flat=True)) == list(
        range(1, 8)
    )
    challenges = Challenge.objects.filter(day__event=event)
    assert challenges.count() == 14
    seventh = {c.tier: c for c in challenges.filter(day__number=7)}
    assert seventh[Tier.VETERAN].prompt == "Veteran prompt 7"
    assert seventh[Tier.VETERAN].answer == "veteran-7"
    (row,) = audit_rows("editor.event_create")
    assert row.actor_id == admin.pk and row.target == "event:winter-riddles"
    lines = row.details_lines
    assert "name: (none) → Winter riddles" in lines
    assert "day 3 / title: (none) → Riddle 3" in lines
    assert "day 3 / normal answer: set (answers are not shown)" in lines
    # Answers never reach the audit log (moderators read it).
    assert "normal-3" not in json.dumps(row.details)
    assert "veteran-3" not in json.dumps(row.details)


def test_update_of_a_locked_day_saves_only_what_changed(admin: User) -> None:
    event = event_save(event=None, data=event_input(), days=days(7), actor=admin).event
    changed = days(7, d4={"normal_prompt": "A better prompt", "veteran_answer": "new answer"})
    result = event_save(
        event=event, data=event_input(name="Winter riddles II"), days=changed, actor=admin
    )
    assert not result.created
    assert Challenge.objects.get(day__event=event, day__number=4, tier=Tier.NORMAL).prompt == (
        "A better prompt"
    )
    assert Challenge.objects.get(day__event=event, day__number=4, tier=Tier.VETERAN).answer == (
        "new answer"
    )
    (row,) = audit_rows("editor.event_update")
    assert sorted(row.details_lines) == [
        "day 4 / normal prompt: Normal prompt 4 → A better prompt",
        "day 4 / veteran answer: changed (answers are not shown)",
        "name: Winter riddles → Winter riddles II",
    ]
    assert "new answer" not in json.dumps(row.details)


def test_saving_without_a_change_writes_nothing(admin: User) -> None:
    event = event_save(event=None, data=event_input(), days=days(7), actor=admin).event
    result = event_save(event=event, data=event_input(), days=days(7), actor=admin)
    assert result.changes == ()
    assert not audit_rows("editor.event_update")


def test_day_forms_must_match_day_count(admin: User) -> None:
    with pytest.raises(ValidationError) as excinfo:
        event_save(event=None, data=event_input(day_count=7), days=days(6), actor=admin)
    assert "Update days" in errors_of(excinfo)["day_count"][0]
    assert not Event.objects.exists()


def test_an_answer_that_is_only_whitespace_is_refused_next_to_its_field(admin: User) -> None:
    with pytest.raises(ValidationError) as excinfo:
        event_save(
            event=None,
            data=event_input(),
            days=days(7, d3={"veteran_answer": " \u00a0 "}),
            actor=admin,
        )
    (message,) = errors_of(excinfo)["days.2.veteran_answer"]
    assert "no player could ever solve it" in message
    assert not Event.objects.exists()


def test_model_rules_are_keyed_by_field(admin: User) -> None:
    EventFactory(slug="taken")
    with pytest.raises(ValidationError) as excinfo:
        event_save(
            event=None,
            data=event_input(slug="taken", time_zone="Mars/Olympus"),
            days=days(7, d2={"title": "x" * 201}),
            actor=admin,
        )
    errors = errors_of(excinfo)
    assert "already exists" in errors["slug"][0]
    assert "IANA time zone" in errors["time_zone"][0]
    assert "at most 200 characters" in errors["days.1.title"][0]
    assert Event.objects.filter(slug="winter-riddles").count() == 0


# --- what players have seen ------------------------------------------------------------------


@pytest.fixture
def running(admin: User) -> Event:
    """An event whose days 1-3 of 7 are open (it started two days ago)."""
    starts = clock.now().astimezone(dt.UTC).date() - dt.timedelta(days=2)
    return event_save(
        event=None, data=event_input(starts_on=starts, time_zone="UTC"), days=days(7), actor=admin
    ).event


def test_seen_days_are_those_past_their_unlock(running: Event) -> None:
    assert authoring.seen_day_numbers(event=running) == {1, 2, 3}


def test_changing_a_seen_day_needs_the_confirmation(admin: User, running: Event) -> None:
    data = event_input(starts_on=running.starts_on, time_zone="UTC")
    typo_fixed = days(7, d2={"normal_prompt": "Fixed typo", "normal_answer": "normal-2b"})
    with pytest.raises(ValidationError) as excinfo:
        event_save(event=running, data=data, days=typo_fixed, actor=admin)
    errors = errors_of(excinfo)
    assert set(errors) == {"days.1.normal_prompt", "days.1.normal_answer"}
    assert "day 2 has been open to players since" in errors["days.1.normal_prompt"][0]
    assert "tick “Change days players have already seen”" in errors["days.1.normal_prompt"][0]
    assert Challenge.objects.get(day__event=running, day__number=2, tier="normal").answer == (
        "normal-2"
    )
    # A locked day (5) changes without any confirmation, in the same save.
    event_save(
        event=running,
        data=data,
        days=days(7, d5={"title": "Later"}),
        actor=admin,
    )
    # Confirmed: saved, and the audit row says which seen days changed.
    event_save(event=running, data=data, days=typo_fixed, actor=admin, confirm_seen=True)
    assert Challenge.objects.get(day__event=running, day__number=2, tier="normal").answer == (
        "normal-2b"
    )
    row = audit_rows("editor.event_update")[-1]
    assert row.details["seen days changed (confirmed)"] == [2]


def test_moving_seen_days_needs_the_confirmation(admin: User, running: Event) -> None:
    later = event_input(starts_on=running.starts_on + dt.timedelta(days=1), time_zone="UTC")
    with pytest.raises(ValidationError) as excinfo:
        event_save(event=running, data=later, days=days(7), actor=admin)
    assert "moves day(s) 1, 2, 3" in errors_of(excinfo)["starts_on"][0]
    result = event_save(event=running, data=later, days=days(7), actor=admin, confirm_seen=True)
    assert result.event.starts_on == later.starts_on


def test_removing_a_seen_day_is_refused_even_confirmed(admin: User, running: Event) -> None:
    shorter = event_input(starts_on=running.starts_on, time_zone="UTC", day_count=2)
    with pytest.raises(ValidationError) as excinfo:
        event_save(event=running, data=shorter, days=days(2), actor=admin, confirm_seen=True)
    (message,) = errors_of(excinfo)["day_count"]
    assert "day 3 has been open to players" in message
    assert "keep day_count at least 3" in message
    assert Day.objects.filter(event=running).count() == 7


def test_removing_locked_days_deletes_them_and_recounts_completions(
    admin: User, running: Event
) -> None:
    player = UserFactory()
    for number in range(1, 4):
        complete_day(player, running, number)
    assert not EventCompletion.objects.filter(user=player).exists()
    shorter = event_input(starts_on=running.starts_on, time_zone="UTC", day_count=3)
    event_save(event=running, data=shorter, days=days(3), actor=admin)
    assert list(Day.objects.filter(event=running).values_list("number", flat=True)) == [1, 2, 3]
    # Three days solved out of three: the completion table follows day_count.
    assert EventCompletion.objects.filter(user=player, event=running, tier="normal").exists()
    assert "day 7: (removed) → —" in audit_rows("editor.event_update")[-1].details_lines


def complete_day(user: User, event: Event, number: int) -> None:
    from daylock.events.models import Progress

    Progress.objects.create(
        user=user,
        day=Day.objects.get(event=event, number=number),
        tier="normal",
        solved_at=clock.now(),
    )


def test_a_test_utility_unlock_counts_as_seen(admin: User, set_clock: Callable[..., None]) -> None:
    from daylock.events.models import DayUnlock

    event = event_save(event=None, data=event_input(), days=days(7), actor=admin).event
    assert authoring.seen_day_numbers(event=event) == set()
    DayUnlock.objects.create(day=Day.objects.get(event=event, number=4))
    assert authoring.seen_day_numbers(event=event) == {4}


# --- Discord ids ---------------------------------------------------------------------------


def test_a_role_of_the_guild_is_accepted_by_id(
    admin: User, daylock_discord: RunningEmulator
) -> None:
    result = event_save(
        event=None,
        data=event_input(completion_role_normal_id=WINNER_ROLE_ID),
        days=days(7),
        actor=admin,
    )
    assert result.event.completion_role_normal_id == WINNER_ROLE_ID


def test_an_id_that_is_not_the_guilds_is_refused(
    admin: User, daylock_discord: RunningEmulator
) -> None:
    with pytest.raises(ValidationError) as excinfo:
        event_save(
            event=None,
            data=event_input(
                completion_role_veteran_id=UNKNOWN_ROLE, announce_channel_id=CHANNEL_ID
            ),
            days=days(7),
            actor=admin,
        )
    errors = errors_of(excinfo)
    assert (
        f"role {UNKNOWN_ROLE} is not a role of this environment's server"
        in (errors["completion_role_veteran_id"][0])
    )
    # With no channel configured the emulator takes any valid id as a text channel
    # (its documented rule); an unknown one is refused once channels are listed.
    assert "announce_channel_id" not in errors
    daylock_discord.reset(
        default_config(
            **_emulator_ids(daylock_discord), channels=[GuildChannel(CHANNEL_ID, "announcements")]
        )
    )
    directory.directory_refresh()
    saved = event_save(
        event=None, data=event_input(announce_channel_id=CHANNEL_ID), days=days(7), actor=admin
    )
    assert saved.event.announce_channel_id == CHANNEL_ID


def _emulator_ids(emulator: RunningEmulator) -> dict[str, Any]:
    config = emulator.config
    return {
        "client_id": config.client_id,
        "client_secret": config.client_secret,
        "bot_token": config.bot_token,
        "guild_id": config.guild_id,
    }


def test_an_unchanged_id_is_not_checked_again(admin: User) -> None:
    """A role deleted on Discord (or Discord unreachable: the tests' default API base
    answers nothing) does not block saving the rest."""
    event = EventFactory(slug="winter-riddles", completion_role_normal_id=UNKNOWN_ROLE)
    data = event_input(
        starts_on=event.starts_on,
        time_zone="UTC",
        day_count=3,
        completion_role_normal_id=UNKNOWN_ROLE,
    )
    result = event_save(event=event, data=data, days=days(3), actor=admin, confirm_seen=True)
    assert result.event.completion_role_normal_id == UNKNOWN_ROLE


def test_an_unreadable_directory_refuses_a_new_id_and_says_so(admin: User) -> None:
    with pytest.raises(ValidationError) as excinfo:
        event_save(
            event=None,
            data=event_input(completion_role_normal_id=WINNER_ROLE_ID),
            days=days(7),
            actor=admin,
        )
    (message,) = errors_of(excinfo)["completion_role_normal_id"]
    assert f"could not check role {WINNER_ROLE_ID} with Discord" in message
    assert "try again in a moment" in message


# --- the directory -------------------------------------------------------------------------


def test_the_directory_is_read_once_then_cached_until_refreshed(
    daylock_discord: RunningEmulator,
) -> None:
    path = f"/api/v10/guilds/{DEFAULT_GUILD_ID}/roles"
    first = directory.guild_roles()
    assert [entry.name for entry in first.entries] == [
        "Admin",
        "Event Winner",
        "Moderator",
        "Player",
    ], "sorted by name, without @everyone"
    assert first.name_of(WINNER_ROLE_ID) == "Event Winner"
    again = directory.guild_roles()
    assert again.entries == first.entries
    assert len(daylock_discord.requests(path)) == 1
    directory.directory_refresh()
    directory.guild_roles()
    assert len(daylock_discord.requests(path)) == 2


def test_a_failed_read_is_reported_and_not_cached(daylock_discord: RunningEmulator) -> None:
    daylock_discord.add_fault("error", path="/guilds/.*/channels", status=500)
    failed = directory.guild_channels()
    assert failed.entries == () and failed.error is not None
    assert "could not read the server's channels" in failed.error
    daylock_discord.reset(
        default_config(
            **_emulator_ids(daylock_discord),
            channels=[
                GuildChannel(CHANNEL_ID, "announcements"),
                GuildChannel("710000000000000009", "voice", type=2),
            ],
        )
    )
    read = directory.guild_channels()
    assert read.error is None
    assert [(e.id, e.name) for e in read.entries] == [(CHANNEL_ID, "announcements")]


# --- codes pasted in bulk ------------------------------------------------------------------


def test_codes_one_per_line_blank_lines_ignored() -> None:
    assert codes_parse(text="A-1\n\n  B-2  \r\n\t\nC-3\n") == ["A-1", "B-2", "C-3"]
    assert codes_parse(text="") == []


def test_codes_as_csv_with_a_code_header() -> None:
    text = "note,Code\nfirst,A-1\n\nsecond, B-2\n"
    assert codes_parse(text=text) == ["A-1", "B-2"]
    assert codes_parse(text="code\nX\nY") == ["X", "Y"]


def test_duplicates_are_refused_with_their_line_numbers() -> None:
    with pytest.raises(CodesInvalid) as excinfo:
        codes_parse(text="A-1\nB-2\n\nA-1\nOLD\n", existing={"OLD"})
    assert excinfo.value.problems == (
        "line 4: “A-1” is also on line 1; keep one",
        "line 5: “OLD” is already a code of this prize; remove the line",
    )


def test_csv_line_numbers_count_every_line_and_empty_cells_are_refused() -> None:
    with pytest.raises(CodesInvalid) as excinfo:
        codes_parse(text="id,code\n1,A\n\n2,\n3,A\n4\n")
    assert excinfo.value.problems == (
        "line 4: the code column is empty; fill it in or remove the row",
        "line 5: “A” is also on line 2; keep one",
        "line 6: the code column is empty; fill it in or remove the row",
    )


def test_an_overlong_code_and_a_long_problem_list() -> None:
    with pytest.raises(CodesInvalid) as excinfo:
        codes_parse(text="x" * 201)
    assert excinfo.value.problems == (
        "line 1: the code has 201 characters, more than 200; is it one code per line?",
    )
    with pytest.raises(CodesInvalid) as excinfo:
        codes_parse(text="\n".join(["SAME"] * 30))
    assert len(excinfo.value.problems) == 21
    assert excinfo.value.problems[-1] == "… and 9 more problem(s)"


# --- prizes --------------------------------------------------------------------------------


def prize_input(**changes: Any) -> PrizeInput:
    values: dict[str, Any] = {
        "name": "Finisher code",
        "description": "",
        "quantity": 3,
        "min_tier": "normal",
        "feedback_required": False,
        "fulfilment": Fulfilment.CODE.value,
        "discord_role_id": "",
        "announce_channel_id": "",
    }
    return PrizeInput(**(values | changes))


def twenty_codes() -> str:
    return "\n".join(f"WINTER-{n:02d}" for n in range(1, 21)) + "\n"


def test_a_code_prize_with_twenty_codes_in_one_save(admin: User) -> None:
    event = EventFactory()
    result = prize_save(
        event=event, prize=None, data=prize_input(), codes_text=twenty_codes(), actor=admin
    )
    assert result.created and result.codes_added == 20
    codes = PrizeCode.objects.filter(prize=result.prize)
    assert codes.count() == 20
    # Outside production pasted codes are test codes (policy: simulated prizes).
    assert set(codes.values_list("is_test", flat=True)) == {True}
    assert audit_rows("prizes.prize_create") and audit_rows("prizes.codes_add")
    assert "WINTER-01" not in json.dumps([row.details for row in AuditLog.objects.all()])


def test_a_second_paste_with_an_existing_code_adds_nothing(admin: User) -> None:
    event = EventFactory()
    prize = prize_save(
        event=event, prize=None, data=prize_input(), codes_text=twenty_codes(), actor=admin
    ).prize
    with pytest.raises(ValidationError) as excinfo:
        prize_save(
            event=event,
            prize=prize,
            data=prize_input(),
            codes_text="NEW-1\nWINTER-07\nNEW-2\nNEW-1\n",
            actor=admin,
        )
    assert errors_of(excinfo)["codes"] == [
        "line 2: “WINTER-07” is already a code of this prize; remove the line",
        "line 4: “NEW-1” is also on line 1; keep one",
    ]
    assert PrizeCode.objects.filter(prize=prize).count() == 20


def test_prize_refusals_are_keyed_by_field(admin: User) -> None:
    event = EventFactory()
    prize_create(event=event, name="Taken", fulfilment=Fulfilment.MANUAL)
    with pytest.raises(ValidationError) as excinfo:
        prize_save(
            event=event,
            prize=None,
            data=prize_input(name="Taken", fulfilment=Fulfilment.DISCORD_ROLE.value),
            codes_text="A\n",
            actor=admin,
        )
    errors = errors_of(excinfo)
    assert "already has a prize named “Taken”" in errors["name"][0]
    assert errors["discord_role_id"] == ["a Discord role prize grants a role: pick the role"]
    assert "codes are for “Code reveal” prizes" in errors["codes"][0]
    assert Prize.objects.filter(event=event).count() == 1


def test_a_role_prize_picks_a_role_of_the_guild(
    admin: User, daylock_discord: RunningEmulator
) -> None:
    event = EventFactory()
    data = prize_input(fulfilment=Fulfilment.DISCORD_ROLE.value, discord_role_id=WINNER_ROLE_ID)
    prize = prize_save(event=event, prize=None, data=data, codes_text="", actor=admin).prize
    assert prize.discord_role_id == WINNER_ROLE_ID
    with pytest.raises(ValidationError) as excinfo:
        prize_save(
            event=event,
            prize=prize,
            data=prize_input(fulfilment="discord_role", discord_role_id=UNKNOWN_ROLE),
            codes_text="",
            actor=admin,
        )
    assert (
        "is not a role of this environment's server" in (errors_of(excinfo)["discord_role_id"][0])
    )


def test_updating_a_prize_is_audited_field_by_field(admin: User) -> None:
    event = EventFactory()
    prize = prize_save(
        event=event, prize=None, data=prize_input(), codes_text="", actor=admin
    ).prize
    prize_save(
        event=event,
        prize=prize,
        data=prize_input(quantity=5, min_tier="veteran"),
        codes_text="",
        actor=admin,
    )
    prize.refresh_from_db()
    assert (prize.quantity, prize.min_tier) == (5, "veteran")
    (row,) = audit_rows("editor.prize_update")
    # (PostgreSQL's jsonb keeps keys in its own order.)
    assert sorted(row.details_lines) == [
        f"event: {event.slug}",
        "min_tier: normal → veteran",
        "quantity: 3 → 5",
    ]


def test_a_closed_prize_keeps_its_rules_but_takes_codes(
    admin: User, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    event = EventFactory()
    complete(UserFactory(), event, Tier.NORMAL)
    prize = prize_save(
        event=event, prize=None, data=prize_input(), codes_text="", actor=admin
    ).prize
    member_sync_done()  # closing entries needs fresh guild membership
    with django_capture_on_commit_callbacks(execute=True):
        draw_close_entries(prize=prize, actor=None)
    with pytest.raises(ValidationError) as excinfo:
        prize_save(
            event=event, prize=prize, data=prize_input(quantity=9), codes_text="", actor=admin
        )
    assert "a closed prize's rules never change" in errors_of(excinfo)["__all__"][0]
    added = prize_save(
        event=event, prize=prize, data=prize_input(), codes_text="LATE-1\n", actor=admin
    )
    assert added.codes_added == 1
    prize_codes_add(prize=prize, codes=["LATE-2"])
    assert PrizeCode.objects.filter(prize=prize).count() == 2


# --- preview -----------------------------------------------------------------------------


def test_preview_of_a_locked_day_has_no_answers_and_is_audited(admin: User) -> None:
    event = event_save(event=None, data=event_input(), days=days(7), actor=admin).event
    preview = authoring.day_preview(event=event, number=6, actor=admin)
    assert preview.locked
    assert preview.page.day.title == "Riddle 6"
    assert [c.prompt for c in preview.page.challenges.values()] == [
        "Normal prompt 6",
        "Veteran prompt 6",
    ]
    for challenge in preview.page.challenges.values():
        assert "answer" in challenge.get_deferred_fields(), "the answer is not even loaded"
    (row,) = audit_rows("editor.day_preview")
    assert row.details == {"day": 6, "locked": True}
    assert row.actor_id == admin.pk


def test_preview_of_a_day_not_written_is_a_404(admin: User) -> None:
    event = EventFactory(day_count=3)
    Day.objects.filter(event=event, number=3).delete()
    with pytest.raises(Http404):
        authoring.day_preview(event=event, number=3, actor=admin)
    with pytest.raises(Http404):
        authoring.day_preview(event=event, number=4, actor=admin)
    assert not audit_rows("editor.day_preview")
