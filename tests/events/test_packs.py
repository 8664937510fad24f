"""Event packs: export → import round trips byte for byte (hand-made and seeded events,
in-process and into a real production process), imports are idempotent, refuse to touch
an opened day or a closed prize (writing nothing), name the field of every schema
error, write nothing on a dry run, ask production's operator for the environment's
name, are audited, and the staff upload page shows the plan and applies it only when
confirmed, for authors only."""

from __future__ import annotations

import base64
import builtins
import html
import io
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from daylock import clock
from daylock.accounts.models import Role
from daylock.core.models import AuditLog
from daylock.events import packs
from daylock.events.management.commands import event as event_command
from daylock.events.models import Challenge, Day, Event, Tier
from daylock.prizes.models import Draw, DrawStatus, DrawWinner, Fulfilment, Prize, PrizeCode
from daylock.prizes.services import prize_codes_add, prize_create
from daylock.staging.seed import PAST_SLUG, RUNNING_SLUG, UPCOMING_SLUG, SeedOptions, seed_database
from daylock.testing import pytest_plugin
from tests.config_override import production
from tests.conftest import Databases, run_daylock
from tests.events.factories import EventFactory, UserFactory
from tests.staging.conftest import ANCHOR

pytestmark = pytest.mark.django_db

ROLE_ID = "710000000000000002"
CHANNEL_ID = "710000000000000001"


# --- helpers ---------------------------------------------------------------------------


def today() -> date:
    return clock.now().astimezone(UTC).date()


def handmade_event(*, starts_on: date | None = None, day_count: int = 4) -> Event:
    """An event with every kind of content a pack carries: Unicode, Markdown with
    newlines, a day with one challenge only, three kinds of prizes (one with codes)."""
    event = EventFactory(
        slug="winter-riddles",
        name="Winter Riddles — «édition» ❄",
        description='Line one.\nLine two with "quotes" and a tab\there.',
        time_zone="Europe/Berlin",
        starts_on=starts_on or today() + timedelta(days=10),
        day_count=day_count,
        published=False,
    )
    day = Day.objects.get(event=event, number=2)
    day.body_markdown = "# Day two\r\n\r\n* Straße\n* ﬁsh\n\n```\ncode\n```\n"
    day.save()
    Challenge.objects.filter(day__event=event, day__number=3, tier=Tier.VETERAN).delete()
    prize_create(
        event=event,
        name="Finisher code",
        fulfilment=Fulfilment.CODE,
        quantity=3,
        description="A game code.",
    )
    prize_codes_add(prize=Prize.objects.get(name="Finisher code"), codes=["SECRET-1", "SECRET-2"])
    prize_create(
        event=event,
        name="Veteran role",
        fulfilment=Fulfilment.DISCORD_ROLE,
        discord_role_id=ROLE_ID,
        announce_channel_id=CHANNEL_ID,
        quantity=10,
        min_tier=Tier.VETERAN,
    )
    prize_create(
        event=event,
        name="Hoodie",
        fulfilment=Fulfilment.MANUAL,
        quantity=1,
        feedback_required=True,
    )
    return event


def wipe() -> None:
    """Make this environment empty of events and prizes (what a fresh one holds)."""
    DrawWinner.objects.all().delete()
    Draw.objects.all().delete()
    PrizeCode.objects.all().delete()
    Prize.objects.all().delete()
    Event.objects.all().delete()


def import_bytes(data: bytes, *, actor: Any = None) -> packs.ImportResult:
    plan = packs.plan_import(packs.pack_parse(data=data), now=clock.now())
    assert plan.refusals == []
    return packs.pack_apply(plan=plan, actor=actor, confirmed=True)


def edited(data: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    loaded = json.loads(data)
    change(loaded)
    return json.dumps(loaded, indent=2).encode()


def state_of(event_slug: str) -> tuple[Any, ...]:
    """Everything an import could write, to compare before and after."""
    return (
        packs.pack_export(event=Event.objects.get(slug=event_slug)),
        list(Day.objects.order_by("pk").values_list("pk", "number", "title", "body_markdown")),
        list(Challenge.objects.order_by("pk").values_list("pk", "tier", "prompt", "answer")),
        list(Prize.objects.order_by("pk").values()),
        AuditLog.objects.count(),
    )


def close_entries(prize: Prize, at: datetime) -> Draw:
    """Entries closed (the state the import reads), without the closing rules of the
    prizes app (member sync, early close), which are not under test here."""
    Draw.objects.filter(prize=prize).update(
        status=DrawStatus.CLOSED,
        closed_at=at,
        entrant_count=0,
        winners_wanted=prize.quantity,
        entrants_hash="0" * 64,
    )
    return Draw.objects.get(prize=prize)


def running_event() -> Event:
    """A UTC event whose days 1-2 opened (yesterday and today), days 3-5 still locked."""
    return EventFactory(
        slug="running", time_zone="UTC", starts_on=today() - timedelta(days=1), day_count=5
    )


def writes_in(queries: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().split()[0].upper() in {"INSERT", "UPDATE", "DELETE"}
    ]


# --- format and round trip ------------------------------------------------------------------


def test_export_is_canonical_json_in_schema_order() -> None:
    data = packs.pack_export(event=handmade_event())
    text = data.decode("utf-8")
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert "Winter Riddles — «édition» ❄" in text  # UTF-8, not \u escapes
    assert '\n  "event": {\n    "slug"' in text  # 2-space indent
    loaded = json.loads(data)
    assert list(loaded) == ["format", "version", "event", "days", "prizes"]
    assert list(loaded["event"]) == list(packs.EVENT_FIELDS)
    assert list(loaded["prizes"][0]) == list(packs.PRIZE_FIELDS)
    assert [d["number"] for d in loaded["days"]] == [1, 2, 3, 4]
    assert loaded["days"][2]["challenges"] == {
        "normal": {"prompt": "Normal prompt 3", "answer": "normal-3"}
    }
    assert [p["name"] for p in loaded["prizes"]] == ["Finisher code", "Veteran role", "Hoodie"]
    # No users, codes, draws or seeds.
    assert "SECRET-1" not in text and "seed" not in text and "player" not in text
    assert json.dumps(loaded, indent=2, ensure_ascii=False).encode() + b"\n" == data


def test_handmade_event_round_trips_byte_for_byte_through_an_empty_environment() -> None:
    first = packs.pack_export(event=handmade_event())
    wipe()
    result = import_bytes(first)
    assert result.written and result.event.slug == "winter-riddles"
    second = packs.pack_export(event=Event.objects.get(slug="winter-riddles"))
    assert second == first
    # The prizes got fresh draws of this environment, and no codes came along.
    assert Draw.objects.filter(prize__event=result.event, status=DrawStatus.OPEN).count() == 3
    assert not PrizeCode.objects.exists()


def test_every_seeded_event_round_trips_byte_for_byte() -> None:
    seed_database(SeedOptions(users=12), anchor=ANCHOR)
    slugs = [RUNNING_SLUG, PAST_SLUG, UPCOMING_SLUG]
    exported = {slug: packs.pack_export(event=Event.objects.get(slug=slug)) for slug in slugs}
    assert json.loads(exported[PAST_SLUG])["prizes"], "the finished event's prizes travel too"
    wipe()
    for slug in slugs:
        import_bytes(exported[slug])
    for slug in slugs:
        assert packs.pack_export(event=Event.objects.get(slug=slug)) == exported[slug], slug


def test_a_second_import_plans_everything_unchanged_and_writes_nothing() -> None:
    data = packs.pack_export(event=handmade_event())
    wipe()
    import_bytes(data)
    audits = AuditLog.objects.count()
    plan = packs.plan_import(packs.pack_parse(data=data), now=clock.now())
    assert not plan.writes
    assert {item.action for item in plan.items} == {packs.Action.UNCHANGED}
    assert plan.summary() == "0 to create, 0 to update, 0 to delete, 8 unchanged"
    with CaptureQueriesContext(connection) as queries:
        result = packs.pack_apply(plan=plan, actor=None, confirmed=True)
    assert not result.written and result.audit_id is None
    assert writes_in(queries) == []
    assert AuditLog.objects.count() == audits


def test_the_plan_lists_changes_field_by_field_and_hides_answers() -> None:
    event = handmade_event()
    data = packs.pack_export(event=event)

    def change(pack: dict[str, Any]) -> None:
        pack["event"]["name"] = "Winter Riddles 2"
        pack["days"][0]["title"] = "A new first day"
        pack["days"][0]["challenges"]["veteran"]["answer"] = "a new secret"
        pack["days"].pop()  # day 4 is deleted
        pack["prizes"][2]["quantity"] = 2
        pack["prizes"].append({**pack["prizes"][2], "name": "Mug", "quantity": 5})

    plan = packs.plan_import(packs.pack_parse(data=edited(data, change)), now=clock.now())
    text = "\n".join(plan.lines())
    renamed = '  name: "Winter Riddles — «édition» ❄" → "Winter Riddles 2"'
    assert f'event "winter-riddles": update\n{renamed}' in text
    assert 'day 1: update\n  title: "Day 1 title" → "A new first day"' in text
    assert "  challenges.veteran.answer: changed (answers are not shown)" in text
    assert "a new secret" not in text and "veteran-1" not in text
    assert "day 4: delete" in text
    assert 'prize "Hoodie": update\n  quantity: 1 → 2' in text
    assert 'prize "Mug": create\n  name: "Mug"' in text
    assert "day 2: unchanged" in text
    assert plan.summary() == "1 to create, 3 to update, 1 to delete, 4 unchanged"
    result = packs.pack_apply(plan=plan, actor=None, confirmed=True)
    assert result.written
    assert not Day.objects.filter(event=event, number=4).exists()
    assert Challenge.objects.get(day__event=event, day__number=1, tier=Tier.VETERAN).answer == (
        "a new secret"
    )
    assert Prize.objects.get(event=event, name="Hoodie").quantity == 2
    row = AuditLog.objects.get(pk=result.audit_id)
    assert row.action == "events.pack_import" and row.target == "event:winter-riddles"
    assert row.actor_label == "cli"
    assert row.details["deleted"] == ["day 4"]
    assert 'prize "Mug"' in row.details["created"]
    assert "day 1: title, challenges.veteran.answer" in row.details["updated"]
    assert "a new secret" not in json.dumps(row.details)


def test_prizes_missing_from_the_pack_are_kept() -> None:
    event = handmade_event()
    data = edited(packs.pack_export(event=event), lambda p: p["prizes"].pop(0))
    plan = packs.plan_import(packs.pack_parse(data=data), now=clock.now())
    assert 'prize "Finisher code": kept (not in the pack; import never deletes' in "\n".join(
        plan.lines()
    )
    assert not plan.writes


# --- the time lock and closed prizes ----------------------------------------------------------


def test_a_change_to_an_opened_day_is_refused_and_nothing_is_written() -> None:
    event = running_event()
    data = packs.pack_export(event=event)

    def change(pack: dict[str, Any]) -> None:
        pack["days"][1]["title"] = "Rewritten after opening"  # day 2: opened today
        pack["days"][3]["title"] = "Fine: still locked"  # day 4
        pack["event"]["name"] = "Renamed"

    before = state_of("running")
    plan = packs.plan_import(packs.pack_parse(data=edited(data, change)), now=clock.now())
    opened = f"{today():%Y-%m-%d} 00:00 UTC (00:00 UTC on {today():%Y-%m-%d})"
    assert plan.refusals == [
        f"day 2: it opened at {opened}; an opened day never changes, moves or disappears: "
        "undo this change in the pack (`daylock event export` shows this environment's "
        "version) and import again"
    ]
    with pytest.raises(packs.ImportRefused, match="day 2: it opened at"):
        packs.pack_apply(plan=plan, actor=None, confirmed=True)
    assert state_of("running") == before


def test_opened_days_cannot_be_deleted_or_moved_but_locked_ones_can() -> None:
    event = running_event()
    data = packs.pack_export(event=event)
    now = clock.now()
    fewer = edited(data, lambda p: p["days"].pop(1))
    plan = packs.plan_import(packs.pack_parse(data=fewer), now=now)
    assert [r.split(":")[0] for r in plan.refusals] == ["day 2"]
    assert "the pack deletes it" in plan.refusals[0]
    later = edited(data, lambda p: p["event"].update(starts_on=str(today() + timedelta(days=3))))
    plan = packs.plan_import(packs.pack_parse(data=later), now=now)
    assert [r.split(":")[0] for r in plan.refusals] == ["day 1", "day 2"]
    assert "  unlocks_at: " in "\n".join(plan.lines())
    # Dropping the two locked days at the end is fine.
    shorter = edited(
        data, lambda p: (p["event"].update(day_count=3), p["days"].pop(), p["days"].pop())
    )
    result = import_bytes(shorter)
    assert sorted(Day.objects.filter(event=event).values_list("number", flat=True)) == [1, 2, 3]
    assert result.event.day_count == 3


def test_new_days_may_join_a_running_event_only_while_locked() -> None:
    event = running_event()
    data = packs.pack_export(event=event)

    def add_day(number: int) -> Callable[[dict[str, Any]], None]:
        def change(pack: dict[str, Any]) -> None:
            pack["event"]["day_count"] = max(pack["event"]["day_count"], number)
            pack["days"] = [d for d in pack["days"] if d["number"] != number]
            pack["days"].append({**pack["days"][0], "number": number, "title": f"New {number}"})

        return change

    Day.objects.filter(event=event, number=2).delete()  # a hole where an opened day is
    plan = packs.plan_import(packs.pack_parse(data=edited(data, add_day(2))), now=clock.now())
    assert len(plan.refusals) == 1
    assert plan.refusals[0].startswith("day 2: a new day of an existing event must still be locked")
    assert "which is past: players would find it already open" in plan.refusals[0]
    result = import_bytes(edited(packs.pack_export(event=event), add_day(7)))
    assert result.written
    assert Day.objects.get(event=event, number=7).title == "New 7"
    assert Event.objects.get(pk=event.pk).day_count == 7


def test_a_change_to_a_prize_whose_entries_closed_is_refused() -> None:
    event = EventFactory(slug="finished", starts_on=date(2024, 1, 1), day_count=2)
    prize = prize_create(event=event, name="Mug", fulfilment=Fulfilment.MANUAL, quantity=2)
    draw = close_entries(prize, datetime(2024, 1, 5, 12, 30, tzinfo=UTC))
    data = packs.pack_export(event=event)
    # Unchanged, a closed prize imports fine (idempotent).
    assert not packs.plan_import(packs.pack_parse(data=data), now=clock.now()).writes
    changed = edited(data, lambda p: p["prizes"][0].update(quantity=3))
    before = state_of("finished")
    plan = packs.plan_import(packs.pack_parse(data=changed), now=clock.now())
    assert plan.refusals == [
        f'prize "Mug": its entries closed at 2024-01-05 12:30 UTC (draw {draw.pk} is closed): '
        "a closed prize never changes; undo the change in the pack, or leave the prize out "
        "(prizes missing from a pack are kept as they are)"
    ]
    with pytest.raises(packs.ImportRefused):
        packs.pack_apply(plan=plan, actor=None, confirmed=True)
    assert state_of("finished") == before
    # A new prize may still join the finished event.
    added = edited(data, lambda p: p["prizes"].append({**p["prizes"][0], "name": "Cap"}))
    assert import_bytes(added).written
    assert Prize.objects.filter(event=event).count() == 2


def test_apply_replans_and_refuses_a_plan_that_went_stale() -> None:
    event = EventFactory(slug="finished", starts_on=date(2024, 1, 1), day_count=2)
    prize = prize_create(event=event, name="Mug", fulfilment=Fulfilment.MANUAL, quantity=2)
    data = edited(packs.pack_export(event=event), lambda p: p["prizes"][0].update(quantity=3))
    plan = packs.plan_import(packs.pack_parse(data=data), now=clock.now())
    assert plan.refusals == []
    close_entries(prize, clock.now())  # entries close between plan and apply
    with pytest.raises(packs.ImportRefused, match='prize "Mug": its entries closed'):
        packs.pack_apply(plan=plan, actor=None, confirmed=True)
    Event.objects.filter(pk=event.pk).update(name="Edited meanwhile")
    other = edited(data, lambda p: p["prizes"].pop())
    plan = packs.plan_import(packs.pack_parse(data=other), now=clock.now())
    Event.objects.filter(pk=event.pk).update(name="Edited again")
    with pytest.raises(packs.PlanStale, match="changed in staging since the plan was made"):
        packs.pack_apply(plan=plan, actor=None, confirmed=True)
    assert Event.objects.get(pk=event.pk).name == "Edited again"


def test_two_prizes_of_one_name_make_the_match_ambiguous() -> None:
    event = EventFactory(slug="twins", starts_on=today() + timedelta(days=5))
    for _ in range(2):
        prize_create(event=event, name="Mug", fulfilment=Fulfilment.MANUAL)
    data = edited(packs.pack_export(event=event), lambda p: p["prizes"].pop())
    plan = packs.plan_import(packs.pack_parse(data=data), now=clock.now())
    assert len(plan.refusals) == 1
    assert "2 prizes of that name" in plan.refusals[0] and "rename all but one" in plan.refusals[0]


# --- validation ----------------------------------------------------------------------------


@pytest.fixture
def good() -> bytes:
    return packs.pack_export(event=handmade_event())


def problems_of(data: bytes) -> tuple[str, ...]:
    with pytest.raises(packs.PackInvalid) as caught:
        packs.pack_parse(data=data)
    return caught.value.problems


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda p: p["days"][1].pop("title"), "$.days[1]: 'title' is a required property"),
        (
            lambda p: p["event"].update(day_count="4"),
            "$.event.day_count: '4' is not of type 'integer'",
        ),
        (lambda p: p["days"][0].update(titel="x"), "$.days[0]: Additional properties"),
        (
            lambda p: p["event"].update(starts_on="2026-02-30"),
            "$.event.starts_on: '2026-02-30' is not a 'date'",
        ),
        (
            lambda p: p["days"][2]["challenges"]["normal"].update(answer=""),
            "$.days[2].challenges.normal.answer: '' should be non-empty",
        ),
        (
            lambda p: p["days"][2]["challenges"].update(expert={"prompt": "?", "answer": "!"}),
            "$.days[2].challenges: Additional properties are not allowed ('expert' was unexpected)",
        ),
        (
            lambda p: p["prizes"][0].update(min_tier="gold"),
            "$.prizes[0].min_tier: 'gold' is not one of",
        ),
        (
            lambda p: p["prizes"][1].update(discord_role_id=""),
            "$.prizes[1].discord_role_id: a discord_role prize needs the id of the role it grants",
        ),
        (
            lambda p: p["prizes"][1].update(announce_channel_id="#general"),
            "$.prizes[1].announce_channel_id: '#general' does not match",
        ),
        (lambda p: p.update(version=0), "$.version: 1 was expected"),
        (
            lambda p: p["event"].update(time_zone="Mars/Olympus"),
            "$.event.time_zone: Mars/Olympus is not an IANA time zone name",
        ),
        (lambda p: p["event"].update(slug="profile"), "$.event.slug: profile is reserved"),
        (
            lambda p: p["days"][3].update(number=2),
            "$.days[3].number: day 2 appears twice (also $.days[1]); keep one",
        ),
        (
            lambda p: p["days"][3].update(number=9),
            "$.days[3].number: day 9 is past the event's day_count (4)",
        ),
        (
            lambda p: p["prizes"][2].update(name="Finisher code"),
            "$.prizes[2].name: 'Finisher code' appears twice (also $.prizes[0])",
        ),
        (
            lambda p: p["days"][0]["challenges"]["normal"].update(answer=" \t\u00a0"),
            "$.days[0].challenges.normal.answer: empty once normalised",
        ),
    ],
)
def test_every_problem_names_its_field(
    good: bytes, change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    problems = problems_of(edited(good, change))
    assert any(p.startswith(expected) for p in problems), problems


def test_all_schema_problems_are_listed_at_once(good: bytes) -> None:
    def change(pack: dict[str, Any]) -> None:
        pack["days"][0].pop("title")
        pack["prizes"][2]["quantity"] = 0

    problems = problems_of(edited(good, change))
    assert problems == (
        "$.days[0]: 'title' is a required property",
        "$.prizes[2].quantity: 0 is less than the minimum of 1",
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b'{\n  "format": "daylock-event-pack",\n  "version": 1,\n}',
            "line 4, column 1: not valid JSON",
        ),
        (b"[]", "$: a pack is a JSON object"),
        (b'{"format": "something-else"}', "$.format: 'something-else' is not 'daylock-event-pack'"),
        (b'{"format": "daylock-event-pack", "version": 2}', "$.version: format version 2 is newer"),
        (b'{"format": "daylock-event-pack", "format": "x"}', "key 'format' appears twice"),
        (b'{"format": "\xff"}', "byte 12: not UTF-8"),
    ],
)
def test_files_that_are_not_packs_say_where(data: bytes, expected: str) -> None:
    assert problems_of(data)[0].startswith(expected)


def test_oversized_files_and_long_problem_lists_are_cut_short(
    good: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    def break_every_title(pack: dict[str, Any]) -> None:
        pack["days"] = [{**pack["days"][0], "number": n, "title": ""} for n in range(1, 61)]
        pack["event"]["day_count"] = 60

    problems = problems_of(edited(good, break_every_title))
    assert len(problems) == packs.MAX_PROBLEMS + 1
    assert problems[-1] == "… and 10 more problem(s)"
    monkeypatch.setattr(packs, "MAX_PACK_BYTES", 100)
    assert problems_of(good)[0].startswith(f"the file has {len(good)} bytes, more than the 100")


def test_the_schema_file_is_a_valid_schema_that_documents_every_field() -> None:
    schema = packs.schema()
    packs._validator.cache_clear()
    packs._validator()  # check_schema raises on an invalid schema
    assert schema["$defs"]["event"]["required"] == list(packs.EVENT_FIELDS)
    assert schema["$defs"]["prize"]["required"] == list(packs.PRIZE_FIELDS)
    assert schema["properties"]["version"]["const"] == packs.FORMAT_VERSION


# --- the command ---------------------------------------------------------------------------


def run_event(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("event", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_export_command_writes_the_file_or_stdout(tmp_path: Path) -> None:
    event = handmade_event()
    target = tmp_path / "pack.json"
    _, err = run_event("export", event.slug, "-o", str(target))
    assert target.read_bytes() == packs.pack_export(event=event)
    assert f"wrote {target}: event winter-riddles, sha256 " in err
    out, _ = run_event("export", event.slug)
    assert out.encode() == target.read_bytes()
    with pytest.raises(CommandError, match="no event with slug 'nope' in staging") as caught:
        run_event("export", "nope")
    assert caught.value.returncode == 1


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "pack.json"
    target.write_bytes(packs.pack_export(event=handmade_event()))
    wipe()
    audits = AuditLog.objects.count()
    out, _ = run_event("import", str(target), "--dry-run")
    assert 'event "winter-riddles": create' in out
    assert "dry run: nothing was written" in out
    assert not Event.objects.exists() and AuditLog.objects.count() == audits
    with production():
        out, _ = run_event("import", str(target), "--dry-run")
    assert "into production" in out and "dry run: nothing was written" in out
    assert not Event.objects.exists() and AuditLog.objects.count() == audits


def test_import_command_reports_invalid_packs_and_refusals(tmp_path: Path) -> None:
    event = running_event()
    data = packs.pack_export(event=event)
    bad = tmp_path / "bad.json"
    bad.write_bytes(edited(data, lambda p: p["days"][0].pop("title")))
    with pytest.raises(CommandError, match="is not a valid event pack") as caught:
        call_command(
            "event", "import", str(bad), stdout=io.StringIO(), stderr=(err := io.StringIO())
        )
    assert caught.value.returncode == 1
    assert f"{bad}: $.days[0]: 'title' is a required property" in err.getvalue()
    refused = tmp_path / "refused.json"
    refused.write_bytes(edited(data, lambda p: p["days"][0].update(title="changed")))
    before = state_of("running")
    with pytest.raises(CommandError, match="import refused") as caught:
        call_command("event", "import", str(refused), stdout=(out := io.StringIO()))
    assert caught.value.returncode == 1
    assert "REFUSED day 1: it opened at" in out.getvalue()
    assert state_of("running") == before


def test_import_command_says_when_the_file_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"cannot read .*missing\.json: No such file") as caught:
        run_event("import", str(tmp_path / "missing.json"))
    assert caught.value.returncode == 1


def test_staging_imports_without_asking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "pack.json"
    target.write_bytes(packs.pack_export(event=handmade_event()))
    wipe()
    monkeypatch.setattr(builtins, "input", lambda: pytest.fail("staging must not ask"))
    out, _ = run_event("import", str(target))
    assert "imported winter-riddles into staging: 8 to create" in out
    out, _ = run_event("import", str(target))
    assert "nothing to import: everything is unchanged; nothing was written" in out


@pytest.fixture
def pack_file(tmp_path: Path) -> Path:
    target = tmp_path / "pack.json"
    target.write_bytes(packs.pack_export(event=handmade_event()))
    wipe()
    return target


def test_production_refuses_without_a_terminal_or_yes(
    pack_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(event_command, "stdin_is_interactive", lambda: False)
    with production(), pytest.raises(CommandError, match="no terminal to ask at") as caught:
        run_event("import", str(pack_file))
    assert caught.value.returncode == 2
    assert "re-run with --yes" in str(caught.value)
    assert not Event.objects.exists()
    with production():
        out, _ = run_event("import", str(pack_file), "--yes")
    assert "imported winter-riddles into production" in out
    row = AuditLog.objects.get(action="events.pack_import")
    assert row.environment == "production" and row.actor_label == "cli"
    assert row.details["pack_sha256"] == packs.pack_parse(data=pack_file.read_bytes()).digest


@pytest.mark.parametrize(("answer", "imported"), [("prod", False), ("production", True)])
def test_production_asks_for_the_environment_name(
    pack_file: Path, monkeypatch: pytest.MonkeyPatch, answer: str, imported: bool
) -> None:
    monkeypatch.setattr(event_command, "stdin_is_interactive", lambda: True)
    monkeypatch.setattr(builtins, "input", lambda: answer)
    out = io.StringIO()
    with production():
        if imported:
            call_command("event", "import", str(pack_file), stdout=out)
        else:
            with pytest.raises(CommandError, match="aborted: nothing was imported") as caught:
                call_command("event", "import", str(pack_file), stdout=out)
            assert caught.value.returncode == 1
    assert (
        "Type the environment's name (production) to import this pack into it: " in out.getvalue()
    )
    assert Event.objects.filter(slug="winter-riddles").exists() is imported
    assert AuditLog.objects.filter(action="events.pack_import").count() == int(imported)


def test_the_service_itself_needs_confirmation_in_production(pack_file: Path) -> None:
    plan = packs.plan_import(packs.pack_parse(data=pack_file.read_bytes()), now=clock.now())
    with (
        production(),
        pytest.raises(packs.ConfirmationRequired, match="type the environment's name"),
    ):
        packs.pack_apply(plan=plan, actor=None)
    assert not Event.objects.exists()
    assert packs.pack_apply(plan=plan, actor=None).written  # staging: no confirmation


# --- a real production process ---------------------------------------------------------------


@pytest.fixture
def production_env() -> Iterator[dict[str, str]]:
    dbs = Databases()
    url = pytest_plugin.redis_url(3)
    redis.Redis.from_url(url).flushdb()
    env = pytest_plugin.production_environ() | {
        "DATABASE_URL": dbs.create("packs"),
        "REDIS_URL": url,
    }
    try:
        migrated = run_daylock("migrate", "--no-input", env=env, timeout=180)
        assert migrated.returncode == 0, migrated.stderr
        yield env
    finally:
        dbs.drop_all()
        redis.Redis.from_url(url).flushdb()


def test_seeded_events_travel_to_a_production_process_unchanged(
    tmp_path: Path, production_env: dict[str, str]
) -> None:
    seed_database(SeedOptions(users=12), anchor=ANCHOR)
    slugs = [RUNNING_SLUG, PAST_SLUG, UPCOMING_SLUG]
    files = {}
    for slug in slugs:
        files[slug] = tmp_path / f"{slug}.json"
        files[slug].write_bytes(packs.pack_export(event=Event.objects.get(slug=slug)))

    def count(sql: str) -> int:
        with psycopg.connect(production_env["DATABASE_URL"]) as conn:
            row = conn.execute(sql).fetchone()
        assert row is not None
        return int(row[0])

    dry = run_daylock("event", "import", str(files[RUNNING_SLUG]), "--dry-run", env=production_env)
    assert dry.returncode == 0, dry.stderr
    assert "dry run: nothing was written" in dry.stdout
    refused = run_daylock("event", "import", str(files[RUNNING_SLUG]), env=production_env, input="")
    assert refused.returncode == 2, refused.stderr
    assert "no terminal to ask at" in refused.stderr
    assert count("SELECT count(*) FROM events_event") == 0
    for slug in slugs:
        done = run_daylock("event", "import", str(files[slug]), "--yes", env=production_env)
        assert done.returncode == 0, done.stderr
        assert f"imported {slug} into production" in done.stdout
        again = run_daylock("event", "import", str(files[slug]), "--yes", env=production_env)
        assert "nothing to import: everything is unchanged" in again.stdout, again.stderr
        out = tmp_path / f"{slug}.production.json"
        exported = run_daylock("event", "export", slug, "-o", str(out), env=production_env)
        assert exported.returncode == 0, exported.stderr
        assert out.read_bytes() == files[slug].read_bytes(), slug
    assert count("SELECT count(*) FROM core_auditlog WHERE action = 'events.pack_import'") == 3
    assert count("SELECT count(*) FROM prizes_draw WHERE simulated OR status <> 'open'") == 0
    assert count("SELECT count(*) FROM prizes_prizecode") == 0


# --- the staff upload page ---------------------------------------------------------------------


def client_as(role: Role | None) -> Client:
    client = Client()
    if role is not None:
        client.force_login(UserFactory(role=role))
    return client


def upload(client: Client, data: bytes) -> Any:
    return client.post(
        "/staff/packs/",
        {"file": SimpleUploadedFile("pack.json", data, content_type="application/json")},
    )


def form_fields(body: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="(pack|plan_digest)" value="([^"]*)"', body))


def test_staff_upload_shows_the_plan_and_applies_it_only_when_confirmed(pack_file: Path) -> None:
    admin = client_as(Role.ADMIN)
    page = admin.get("/staff/packs/")
    assert page.status_code == 200
    shown = upload(admin, pack_file.read_bytes())
    assert shown.status_code == 200
    body = shown.content.decode()
    assert 'data-key="winter-riddles" data-action="create"' in body
    assert "8 to create, 0 to update" in body
    assert "normal-1" not in body  # answers are not shown
    assert not Event.objects.exists(), "showing the plan writes nothing"
    fields = form_fields(body)
    assert base64.b64decode(fields["pack"]) == pack_file.read_bytes()
    unconfirmed = admin.post("/staff/packs/apply/", fields)
    assert unconfirmed.status_code == 400
    assert "Tick the box" in unconfirmed.content.decode()
    assert not Event.objects.exists()
    assert admin.get("/staff/packs/apply/").status_code == 405
    done = admin.post("/staff/packs/apply/", fields | {"confirm": "yes"})
    assert done.status_code == 302 and done["Location"] == "/staff/packs/"
    assert Event.objects.filter(slug="winter-riddles").exists()
    row = AuditLog.objects.get(action="events.pack_import")
    assert row.actor_label.startswith("player")
    assert "Imported winter-riddles" in admin.get("/staff/packs/").content.decode()
    # Re-applying the same (now stale) plan writes nothing and says so.
    stale = admin.post("/staff/packs/apply/", fields | {"confirm": "yes"})
    assert stale.status_code == 409
    assert "The plan changed since you reviewed it" in stale.content.decode()
    assert AuditLog.objects.filter(action="events.pack_import").count() == 1


def test_staff_upload_lists_problems_and_refusals(pack_file: Path) -> None:
    admin = client_as(Role.ADMIN)
    broken = edited(pack_file.read_bytes(), lambda p: p["days"][0].pop("title"))
    page = upload(admin, broken)
    assert page.status_code == 400
    assert "$.days[0]: 'title' is a required property" in html.unescape(page.content.decode())
    event = running_event()
    changed = edited(packs.pack_export(event=event), lambda p: p["days"][0].update(title="x"))
    page = upload(admin, changed)
    body = page.content.decode()
    assert "Refused: it opened at" in body
    assert 'action="/staff/packs/apply/"' not in body


def test_staff_upload_refuses_oversized_files_and_forged_apply_forms(
    pack_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = client_as(Role.ADMIN)
    monkeypatch.setattr(packs, "MAX_PACK_BYTES", 100)
    page = upload(admin, pack_file.read_bytes())
    assert page.status_code == 400
    assert "more than a pack may (100)" in page.content.decode()
    monkeypatch.undo()
    forged = admin.post("/staff/packs/apply/", {"pack": "not base64!", "confirm": "yes"})
    assert forged.status_code == 302
    follow = admin.get(forged["Location"]).content.decode()
    assert "The form did not carry a valid pack: upload the file again." in follow
    assert not Event.objects.exists()


def test_staff_upload_in_production_needs_the_environment_name(pack_file: Path) -> None:
    admin = client_as(Role.ADMIN)
    with production():
        body = upload(admin, pack_file.read_bytes()).content.decode()
        assert 'name="environment"' in body
        fields = form_fields(body)
        ticked = admin.post("/staff/packs/apply/", fields | {"confirm": "yes"})
        assert ticked.status_code == 400
        assert "Type the environment's name (production)" in html.unescape(ticked.content.decode())
        assert not Event.objects.exists()
        done = admin.post("/staff/packs/apply/", fields | {"environment": "production"})
    assert done.status_code == 302
    assert AuditLog.objects.get(action="events.pack_import").environment == "production"


def test_staff_download_is_the_exported_file() -> None:
    event = handmade_event()
    response = client_as(Role.ADMIN).get(f"/staff/packs/export/{event.slug}.json")
    assert response.status_code == 200
    assert response.content == packs.pack_export(event=event)
    assert (
        response["Content-Disposition"] == 'attachment; filename="winter-riddles.daylock-pack.json"'
    )
    assert client_as(Role.ADMIN).get("/staff/packs/export/nope.json").status_code == 404


@pytest.mark.parametrize(
    ("role", "status"), [(None, 302), (Role.PLAYER, 403), (Role.MODERATOR, 403)]
)
def test_only_authors_may_use_the_pack_pages(
    pack_file: Path, role: Role | None, status: int
) -> None:
    client = client_as(role)
    data = pack_file.read_bytes()
    fields = {"pack": base64.b64encode(data).decode(), "plan_digest": "x", "confirm": "yes"}
    responses = [
        client.get("/staff/packs/"),
        upload(client, data),
        client.post("/staff/packs/apply/", fields),
        client.get("/staff/packs/export/winter-riddles.json"),
    ]
    assert [r.status_code for r in responses] == [status] * 4
    if status == 302:
        assert responses[0]["Location"].startswith("/auth/")
    assert not Event.objects.exists()
