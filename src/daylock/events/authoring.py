"""The staff event editor's reads and writes: an event with all its days and both
challenges per day saved at once, a prize with codes pasted in bulk, and the preview of
any day as players see it (issue 14 item 2).

The editor pages (:mod:`daylock.events.editor_views`) validate input and call these;
every rule lives here, and every write is one transaction that is audited with its
values written out (``field: old → new``; answers are never written to the log, only
that they changed).

What players have already seen is protected, the way event packs protect it
(:mod:`daylock.events.packs`), with one difference: packs refuse, the editor asks.

* A day has been **seen** once its unlock instant is past on the environment's clock
  (:func:`daylock.clock.now`), or a test utility opened it early (where the policy has
  them). Changing a seen day's title, text, prompts or answers, or moving it with a new
  start date or time zone, is refused unless the staff member ticks the explicit
  confirmation ("change days players have already seen"): fixing a typo in an open
  day's prompt is a real need, and the audit row lists the seen days that changed.
* **Removing** a seen day (lowering ``day_count`` below it) is refused outright, with
  or without confirmation: deleting a day deletes the progress of everyone who solved
  it, and the completions built on it.

Discord ids (completion roles, announcement channel, a prize's role) are checked when
they change, with ``daylock.discord.services.discord_id_check`` (Discord's own answer;
the pickers list names from :mod:`daylock.discord.directory`). An id that
did not change is not checked again, so a role deleted on Discord does not block
fixing a typo elsewhere.
"""

from __future__ import annotations

import csv
from collections.abc import Collection, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404

from daylock import clock, config
from daylock.accounts.models import User
from daylock.core.services import audit_record
from daylock.discord import directory
from daylock.discord import services as discord_services
from daylock.events import leaderboard
from daylock.events.answers import normalise_answer
from daylock.events.models import (
    Challenge,
    Day,
    DayUnlock,
    Event,
    Tier,
    unlock_instant,
)
from daylock.events.selectors import DayPage
from daylock.events.services import completion_refresh
from daylock.prizes.models import Draw, DrawStatus, Fulfilment, Prize, PrizeCode
from daylock.prizes.services import prize_codes_add, prize_create

#: Form field names of a day's two challenges, by tier.
CHALLENGE_FIELDS = {
    Tier.NORMAL: ("normal_prompt", "normal_answer"),
    Tier.VETERAN: ("veteran_prompt", "veteran_answer"),
}
#: At most this many problems of a pasted code list are listed (then "… and N more").
MAX_CODE_PROBLEMS = 20
#: The longest prize code (``PrizeCode.code``).
MAX_CODE_LENGTH = PrizeCode._meta.get_field("code").max_length or 200
#: Audit values are cut to this many characters (the log is for reading, not backup).
AUDIT_VALUE_CHARS = 120
HIDDEN_ANSWER = "changed (answers are not shown)"


def day_key(index: int, name: str) -> str:
    """The error key of a day form's field (``days.2.normal_answer``: day 3)."""
    return f"days.{index}.{name}"


# --- input ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventInput:
    """The event's own fields, as the editor's form cleaned them."""

    slug: str
    name: str
    description: str
    time_zone: str
    starts_on: date
    day_count: int
    published: bool
    completion_role_normal_id: str | None
    completion_role_veteran_id: str | None
    announce_channel_id: str | None


EVENT_INPUT_FIELDS = tuple(f.name for f in fields(EventInput))
DISCORD_EVENT_FIELDS = {
    "completion_role_normal_id": directory.Kind.ROLES,
    "completion_role_veteran_id": directory.Kind.ROLES,
    "announce_channel_id": directory.Kind.CHANNELS,
}


@dataclass(frozen=True)
class DayInput:
    """Day ``index + 1``: its content and both challenges."""

    title: str
    body_markdown: str
    normal_prompt: str
    normal_answer: str
    veteran_prompt: str
    veteran_answer: str


DAY_INPUT_FIELDS = tuple(f.name for f in fields(DayInput))


@dataclass(frozen=True)
class PrizeInput:
    name: str
    description: str
    quantity: int
    min_tier: str
    feedback_required: bool
    fulfilment: str
    discord_role_id: str
    announce_channel_id: str


PRIZE_INPUT_FIELDS = tuple(f.name for f in fields(PrizeInput))


@dataclass(frozen=True)
class SaveResult:
    event: Event
    created: bool
    #: ``field: old → new`` lines of what changed (empty: nothing to save).
    changes: tuple[str, ...]


@dataclass(frozen=True)
class PrizeSaveResult:
    prize: Prize
    created: bool
    changes: tuple[str, ...]
    codes_added: int


# --- reads -----------------------------------------------------------------------------------


def editor_events() -> QuerySet[Event]:
    """Every event of this environment, published or not, newest first."""
    return Event.objects.order_by("-starts_on", "slug")


def editor_event_get(*, slug: str) -> Event:
    """Any event by slug (unpublished ones too), or 404."""
    try:
        return Event.objects.get(slug=slug)
    except Event.DoesNotExist:
        raise Http404("no such event") from None


def event_input_of(event: Event) -> dict[str, Any]:
    """The editor's initial event values."""
    return {name: getattr(event, name) for name in EVENT_INPUT_FIELDS}


def day_inputs_of(event: Event) -> list[dict[str, str]]:
    """The editor's initial day values, one per day up to ``day_count`` (blank for a
    day not written yet)."""
    days = {
        day.number: day for day in Day.objects.filter(event=event).prefetch_related("challenges")
    }
    found = []
    for number in range(1, event.day_count + 1):
        day = days.get(number)
        values = dict.fromkeys(DAY_INPUT_FIELDS, "")
        if day is not None:
            values["title"], values["body_markdown"] = day.title, day.body_markdown
            for challenge in day.challenges.all():
                prompt, answer = CHALLENGE_FIELDS[Tier(challenge.tier)]
                values[prompt], values[answer] = challenge.prompt, challenge.answer
        found.append(values)
    return found


def seen_day_numbers(*, event: Event, now: datetime | None = None) -> set[int]:
    """Days of ``event`` that players may have seen: their unlock instant is past on the
    environment's clock, or a test utility opened them early (for anyone)."""
    at = clock.now() if now is None else now
    days = {day.pk: day.number for day in Day.objects.filter(event=event)}
    last = max([event.day_count, *days.values()])
    seen = {n for n in range(1, last + 1) if unlock_instant(event, n) <= at}
    if config.policy().test_utilities:
        early = DayUnlock.objects.filter(day_id__in=list(days)).values_list("day_id", flat=True)
        seen |= {days[day_id] for day_id in early}
    return seen


def event_prizes(*, event: Event) -> list[tuple[Prize, int]]:
    """The event's prizes with how many codes each holds."""
    prizes = list(Prize.objects.filter(event=event).order_by("id"))
    counts: dict[int, int] = {}
    for prize_id in PrizeCode.objects.filter(prize__in=prizes).values_list("prize_id", flat=True):
        counts[prize_id] = counts.get(prize_id, 0) + 1
    return [(prize, counts.get(prize.pk, 0)) for prize in prizes]


def prize_code_count(*, prize: Prize) -> int:
    return PrizeCode.objects.filter(prize=prize).count()


def prize_input_of(prize: Prize) -> dict[str, Any]:
    return {name: getattr(prize, name) for name in PRIZE_INPUT_FIELDS}


def editor_prize_get(*, event: Event, prize_id: int) -> Prize:
    try:
        return Prize.objects.get(event=event, pk=prize_id)
    except Prize.DoesNotExist:
        raise Http404("no such prize in this event") from None


# --- Discord ids ------------------------------------------------------------------------------


def _discord_id_problem(kind: directory.Kind, snowflake: str) -> str | None:
    """Why ``snowflake`` is not a usable role/channel of this environment's server (as
    Discord answers it), or None."""
    what: Literal["role", "channel"] = "role" if kind is directory.Kind.ROLES else "channel"
    return discord_services.discord_id_check(kind=what, id=snowflake)


def _check_discord_ids(
    wanted: dict[str, tuple[directory.Kind, str | None, str | None]],
) -> dict[str, list[str]]:
    """``{field: (kind, old, new)}`` → errors of the ids that changed."""
    errors: dict[str, list[str]] = {}
    for name, (kind, old, new) in wanted.items():
        if new and new != old:
            problem = _discord_id_problem(kind, new)
            if problem is not None:
                errors[name] = [problem]
    return errors


# --- saving an event with its days ------------------------------------------------------------


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    return text if len(text) <= AUDIT_VALUE_CHARS else text[: AUDIT_VALUE_CHARS - 1] + "…"


def _validation_errors(
    instance: Any, *, key: Any, exclude: Sequence[str] = (), unique: bool = False
) -> dict[str, list[str]]:
    try:
        instance.full_clean(
            exclude=list(exclude), validate_unique=unique, validate_constraints=False
        )
    except ValidationError as exc:
        return {key(name): list(messages) for name, messages in exc.message_dict.items()}
    return {}


def _merge(into: dict[str, list[str]], more: dict[str, list[str]]) -> None:
    for name, messages in more.items():
        into.setdefault(name, []).extend(messages)


def _when(at: datetime, event: Event) -> str:
    return f"{at.astimezone(event.zone):%Y-%m-%d %H:%M} {event.time_zone}"


def event_save(
    *,
    event: Event | None,
    data: EventInput,
    days: Sequence[DayInput],
    actor: User,
    confirm_seen: bool = False,
) -> SaveResult:
    """Create ``event`` (None) or update it, with exactly ``data.day_count`` days, each
    with both challenges, in one transaction, audited.

    Raises :class:`ValidationError` keyed by field (``slug``, ``days.2.normal_answer``,
    ``__all__``) with a message that says what to do; nothing is written then. Days past
    a lowered ``day_count`` are deleted (refused for seen days, see the module's doc).
    """
    errors: dict[str, list[str]] = {}
    if len(days) != data.day_count:
        raise ValidationError(
            {
                "day_count": [
                    f"the event has {data.day_count} day(s) but {len(days)} day form(s) were "
                    "sent: press “Update days” to get one form per day, then save"
                ]
            }
        )
    for index, typed in enumerate(days):
        for tier, (_, answer_field) in CHALLENGE_FIELDS.items():
            if not normalise_answer(getattr(typed, answer_field)):
                errors[day_key(index, answer_field)] = [
                    f"the {tier.label.lower()} answer is empty once normalised (only "
                    "whitespace): no player could ever solve it; write the answer"
                ]
    with transaction.atomic():
        if event is not None:
            event = Event.objects.select_for_update().get(pk=event.pk)
        created = event is None
        old_values = event_input_of(event) if event is not None else {}
        existing: dict[int, Day] = {}
        challenges: dict[tuple[int, Tier], Challenge] = {}
        seen: set[int] = set()
        if event is not None:
            existing = {
                day.number: day
                for day in Day.objects.select_for_update().filter(event=event).order_by("number")
            }
            for challenge in Challenge.objects.filter(day__event=event).select_related("day"):
                challenges[(challenge.day.number, Tier(challenge.tier))] = challenge
            seen = seen_day_numbers(event=event)
        target = event if event is not None else Event()
        schedule_before = Event(starts_on=target.starts_on, time_zone=target.time_zone)
        for name in EVENT_INPUT_FIELDS:
            setattr(target, name, getattr(data, name))
        _merge(errors, _validation_errors(target, key=lambda name: name, unique=True))
        _merge(
            errors,
            _check_discord_ids(
                {
                    name: (kind, old_values.get(name), getattr(data, name))
                    for name, kind in DISCORD_EVENT_FIELDS.items()
                }
            ),
        )
        changes: dict[str, Any] = {
            name: [_shown(old_values.get(name)), _shown(getattr(data, name))]
            for name in EVENT_INPUT_FIELDS
            if created or old_values.get(name) != getattr(data, name)
        }
        seen_changed: set[int] = set()
        removed = sorted(number for number in existing if number > data.day_count)
        for number in removed:
            if number in seen:
                errors.setdefault("day_count", []).append(
                    f"day {number} has been open to players since "
                    f"{_when(unlock_instant(schedule_before, number), target)}: it cannot be "
                    "removed (everyone's progress on it would be deleted); keep day_count at "
                    f"least {number}"
                )
        if not created:
            moved = sorted(
                number
                for number in seen
                if number <= data.day_count
                and unlock_instant(schedule_before, number) != unlock_instant(target, number)
            )
            if moved:
                seen_changed |= set(moved)
                if not confirm_seen:
                    listed = ", ".join(str(n) for n in moved)
                    for name in ("starts_on", "time_zone"):
                        if old_values.get(name) != getattr(data, name):
                            errors.setdefault(name, []).append(
                                f"this moves day(s) {listed}, which players have already "
                                "seen, to another unlock time; tick “Change days players "
                                "have already seen” to do it anyway"
                            )
        writes: list[tuple[int, DayInput, Day]] = []
        for index, spec in enumerate(days):
            number = index + 1
            day = existing.get(number) or Day(number=number)
            day.event = target
            before = {
                "title": day.title,
                "body_markdown": day.body_markdown,
                **{
                    field_name: getattr(challenges.get((number, tier)), attr, "")
                    for tier, pair in CHALLENGE_FIELDS.items()
                    for field_name, attr in zip(pair, ("prompt", "answer"), strict=True)
                },
            }
            after = {name: getattr(spec, name) for name in DAY_INPUT_FIELDS}
            differing = [name for name in DAY_INPUT_FIELDS if before[name] != after[name]]
            is_new = number not in existing
            if differing and number in seen and not is_new:
                seen_changed.add(number)
                if not confirm_seen:
                    for name in differing:
                        errors.setdefault(day_key(index, name), []).append(
                            f"day {number} has been open to players since "
                            f"{_when(unlock_instant(schedule_before, number), target)}: they "
                            "may have seen it; tick “Change days players have already seen” "
                            "to change it anyway"
                        )
            for name in differing if not is_new else DAY_INPUT_FIELDS:
                label = f"day {number} / {name.replace('_', ' ')}"
                if name.endswith("_answer"):
                    changes[label] = "set (answers are not shown)" if is_new else HIDDEN_ANSWER
                else:
                    changes[label] = [
                        _shown(before[name] if not is_new else None),
                        _shown(after[name]),
                    ]
            day.title, day.body_markdown = spec.title, spec.body_markdown
            _merge(
                errors,
                _validation_errors(
                    day, key=lambda name, i=index: day_key(i, name), exclude=["event"]
                ),
            )
            if differing or is_new:
                writes.append((index, spec, day))
        if errors:
            raise ValidationError(errors)
        for number in removed:
            changes[f"day {number}"] = ["(removed)", "—"]
        if not changes:
            assert event is not None
            return SaveResult(event=event, created=False, changes=())
        target.save()
        if removed:
            Day.objects.filter(event=target, number__in=removed).delete()
        for _, spec, day in writes:
            day.event = target
            day.save()
            for tier, (prompt_field, answer_field) in CHALLENGE_FIELDS.items():
                challenge = challenges.get((day.number, tier)) or Challenge(day=day, tier=tier)
                challenge.prompt = getattr(spec, prompt_field)
                challenge.answer = getattr(spec, answer_field)
                challenge.full_clean(validate_constraints=False)
                challenge.save()
        if not created and (removed or old_values.get("day_count") != data.day_count):
            # Which days count for completion changed: prize eligibility reads the table.
            completion_refresh(event=target)
        elif not created and any(
            old_values.get(name) != getattr(data, name) for name in ("starts_on", "time_zone")
        ):
            # Every day's unlock moved: leaderboard times are counted from it.
            leaderboard.standings_refresh(event_id=target.pk)
        details: dict[str, Any] = {"changes": changes}
        if seen_changed:
            details["seen days changed (confirmed)"] = sorted(seen_changed)
        audit_record(
            action="editor.event_create" if created else "editor.event_update",
            target=f"event:{target.slug}",
            details=details,
            actor_id=actor.pk,
            actor_label=actor.get_username(),
        )
    lines = tuple(
        f"{name}: {value[0]} → {value[1]}" if isinstance(value, list) else f"{name}: {value}"
        for name, value in changes.items()
    )
    return SaveResult(event=target, created=created, changes=lines)


# --- prize codes pasted in bulk ----------------------------------------------------------------


class CodesInvalid(ValueError):
    """The pasted codes cannot be added; ``problems`` name their line numbers."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


def _csv_column(first_line: str) -> int | None:
    """The index of the ``code`` column if ``first_line`` is a CSV header naming it."""
    header = next(csv.reader([first_line]))
    names = [name.strip().casefold() for name in header]
    return names.index("code") if "code" in names else None


def codes_parse(*, text: str, existing: Collection[str] = ()) -> list[str]:
    """The codes of a paste: one per line, or CSV whose header has a ``code`` column.

    Blank lines are ignored and each code is stripped. Refused (:class:`CodesInvalid`,
    every problem with its line number, counting from 1 as an editor does): a code
    twice in the paste, a code the prize already holds (``existing``), an empty ``code``
    cell, a code longer than :data:`MAX_CODE_LENGTH`.
    """
    lines = text.splitlines()
    numbered = [(number, line) for number, line in enumerate(lines, start=1) if line.strip()]
    column = _csv_column(numbered[0][1]) if numbered else None
    if column is not None:
        header_number = numbered[0][0]
        rows = list(csv.reader(lines))
        cells = []
        for number, row in enumerate(rows, start=1):
            if number <= header_number or not any(cell.strip() for cell in row):
                continue
            cells.append((number, row[column].strip() if column < len(row) else ""))
    else:
        cells = [(number, line.strip()) for number, line in numbered]
    problems: list[str] = []
    first_line: dict[str, int] = {}
    have = set(existing)
    codes: list[str] = []
    for number, code in cells:
        if not code:
            problems.append(
                f"line {number}: the code column is empty; fill it in or remove the row"
            )
        elif len(code) > MAX_CODE_LENGTH:
            problems.append(
                f"line {number}: the code has {len(code)} characters, more than "
                f"{MAX_CODE_LENGTH}; is it one code per line?"
            )
        elif code in first_line:
            problems.append(f"line {number}: “{code}” is also on line {first_line[code]}; keep one")
        elif code in have:
            problems.append(
                f"line {number}: “{code}” is already a code of this prize; remove the line"
            )
        else:
            first_line[code] = number
            codes.append(code)
    if problems:
        if len(problems) > MAX_CODE_PROBLEMS:
            more = len(problems) - MAX_CODE_PROBLEMS
            problems = [*problems[:MAX_CODE_PROBLEMS], f"… and {more} more problem(s)"]
        raise CodesInvalid(problems)
    return codes


# --- saving a prize ------------------------------------------------------------------------


def prize_save(
    *,
    event: Event,
    prize: Prize | None,
    data: PrizeInput,
    codes_text: str,
    actor: User,
) -> PrizeSaveResult:
    """Create a prize of ``event`` (``prize`` None) or update it, and add the pasted
    codes, in one transaction, audited.

    Refused with :class:`ValidationError` keyed by field (``codes`` for the paste, with
    line numbers): a name another prize of the event has (packs match prizes by name),
    a Discord role prize without a role, a role or channel that is not the server's,
    codes for a prize that is not fulfilled by codes, and a changed rule of a prize
    whose entries are closed (codes may still be added to it).
    """
    errors: dict[str, list[str]] = {}
    if data.fulfilment == Fulfilment.DISCORD_ROLE and not data.discord_role_id:
        errors["discord_role_id"] = ["a Discord role prize grants a role: pick the role"]
    if codes_text.strip() and data.fulfilment != Fulfilment.CODE:
        errors["codes"] = [
            "codes are for “Code reveal” prizes: choose that fulfilment, or clear the codes"
        ]
    with transaction.atomic():
        if prize is not None:
            prize = Prize.objects.select_for_update().get(pk=prize.pk, event=event)
        old_values = prize_input_of(prize) if prize is not None else {}
        clash = Prize.objects.filter(event=event, name=data.name)
        if prize is not None:
            clash = clash.exclude(pk=prize.pk)
        if clash.exists():
            errors.setdefault("name", []).append(
                f"the event already has a prize named “{data.name}”; names tell prizes apart "
                "(event packs match them by name): choose another"
            )
        _merge(
            errors,
            _check_discord_ids(
                {
                    "discord_role_id": (
                        directory.Kind.ROLES,
                        old_values.get("discord_role_id"),
                        data.discord_role_id,
                    ),
                    "announce_channel_id": (
                        directory.Kind.CHANNELS,
                        old_values.get("announce_channel_id"),
                        data.announce_channel_id,
                    ),
                }
            ),
        )
        changes = {
            name: [_shown(old_values.get(name)), _shown(getattr(data, name))]
            for name in PRIZE_INPUT_FIELDS
            if prize is None or old_values.get(name) != getattr(data, name)
        }
        if prize is not None and changes:
            draw = Draw.objects.filter(prize=prize).first()
            if draw is not None and draw.status != DrawStatus.OPEN:
                since = _when(draw.closed_at, event) if draw.closed_at else "an unknown time"
                errors.setdefault("__all__", []).append(
                    f"its entries closed at {since} (draw {draw.pk} is {draw.status}): a closed "
                    "prize's rules never change; undo the changes (codes may still be added)"
                )
        existing_codes = (
            set(PrizeCode.objects.filter(prize=prize).values_list("code", flat=True))
            if prize is not None
            else set()
        )
        codes: list[str] = []
        if "codes" not in errors:
            try:
                codes = codes_parse(text=codes_text, existing=existing_codes)
            except CodesInvalid as exc:
                errors["codes"] = list(exc.problems)
        if prize is not None:
            candidate = prize
            for name in PRIZE_INPUT_FIELDS:
                setattr(candidate, name, getattr(data, name))
        else:
            candidate = Prize(event=event, **{n: getattr(data, n) for n in PRIZE_INPUT_FIELDS})
        # The model's own messages only where this function has not said it better.
        model_errors = _validation_errors(candidate, key=lambda name: name, exclude=["event"])
        _merge(errors, {k: v for k, v in model_errors.items() if k not in errors})
        if errors:
            raise ValidationError(errors)
        created = prize is None
        if prize is None:
            prize = prize_create(
                event=event, actor=actor, **{n: getattr(data, n) for n in PRIZE_INPUT_FIELDS}
            )
        elif changes:
            prize.save(update_fields=list(PRIZE_INPUT_FIELDS))
            audit_record(
                action="editor.prize_update",
                target=f"prize:{prize.pk}",
                details={"event": event.slug, "changes": changes},
                actor_id=actor.pk,
                actor_label=actor.get_username(),
            )
        added = 0
        if codes:
            added = prize_codes_add(
                prize=prize, codes=codes, is_test=config.policy().simulated_prizes, actor=actor
            )
    lines = tuple(f"{name}: {old} → {new}" for name, (old, new) in changes.items())
    return PrizeSaveResult(prize=prize, created=created, changes=lines, codes_added=added)


# --- preview ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    page: DayPage
    #: Whether players cannot see the day yet (its unlock instant is ahead).
    locked: bool
    unlocks_at: datetime


def day_preview(*, event: Event, number: int, actor: User) -> Preview:
    """Day ``number`` as players see it, locked or not, for staff: the same
    :class:`DayPage` the day page renders, with no answers loaded, no progress and no
    rating. Audited (``editor.day_preview``): a preview shows locked content.
    404 for a day that is not written (or past ``day_count``)."""
    if not 1 <= number <= event.day_count:
        raise Http404("no such day")
    day = Day.objects.select_related("event").filter(event=event, number=number).first()
    if day is None:
        raise Http404("this day has no content yet: write it in the editor first")
    rows = Challenge.objects.filter(day=day).only("id", "day_id", "tier", "prompt")
    by_tier = {Tier(challenge.tier): challenge for challenge in rows}
    for challenge in by_tier.values():
        challenge.day = day
    unlocks_at = unlock_instant(event, number)
    locked = clock.now() < unlocks_at
    audit_record(
        action="editor.day_preview",
        target=f"event:{event.slug}",
        details={"day": number, "locked": locked},
        actor_id=actor.pk,
        actor_label=actor.get_username(),
    )
    page = DayPage(
        event=day.event,
        day=day,
        challenges={tier: by_tier[tier] for tier in Tier if tier in by_tier},
        solved=frozenset(),
        feedback_rating=None,
    )
    return Preview(page=page, locked=locked, unlocks_at=unlocks_at)
