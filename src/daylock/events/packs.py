"""Event packs: one event, its days, challenges and prizes as a versioned JSON file,
exported from one environment and imported into another.

This is how staging validates the most common change an event platform sees: the
organisers author an event in staging, play it there with the test utilities, export
it (``daylock event export``), and an operator imports the very same file into
production (``daylock event import``, or the staff upload page). A pack holds no
users, progress, feedback, prize codes, draws or seeds: those belong to each
environment (codes are entered where they are used, draws are committed where they run).

The format is documented by ``pack.schema.json`` next to this module, and validated
against it on import (with :mod:`jsonschema`, so the documentation and the check are
the same file); what a schema cannot say (unique day numbers, a day past
``day_count``, a known time zone, an answer that normalises to nothing) is checked
here, and the models' own validation runs last. Every problem names its field as a
JSON path (``$.days[2].challenges.veteran.answer``).

An import is a *plan* first (:func:`plan_import`: what would be created, updated,
deleted or left unchanged, field by field, and what is refused), then an *apply*
(:func:`pack_apply`) that recomputes the plan under row locks and writes only if it is
still the plan that was reviewed. Two rules protect what players have seen or entered:

* a day that has unlocked (``clock.now()`` past its instant, in the event's zone)
  never changes, is never deleted and never moves; a new day may be added to an
  existing event only while its instant is still ahead;
* a prize whose entries are closed (its draw is no longer open) never changes.

Import is idempotent: a second import of the same pack plans everything "unchanged"
and writes nothing. Exports are canonical (stable key order, 2-space indent, UTF-8,
trailing newline), so export → import into an empty environment → export gives the
same bytes.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Model
from jsonschema import Draft202012Validator

from daylock import clock, config
from daylock.accounts.models import User
from daylock.core.services import audit_record
from daylock.events.answers import normalise_answer
from daylock.events.models import Challenge, Day, Event, Tier, unlock_instant
from daylock.events.services import completion_refresh
from daylock.prizes.models import Draw, DrawStatus, Prize
from daylock.prizes.services import prize_create

FORMAT = "daylock-event-pack"
FORMAT_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("pack.schema.json")
#: Larger than any real event (366 long days fit); stops a wrong file early.
MAX_PACK_BYTES = 2 * 1024 * 1024
#: A badly broken file would list thousands; the first ones say what is wrong.
MAX_PROBLEMS = 50
#: Field values are shown up to this many characters in a plan.
SHOW_CHARS = 72

EVENT_FIELDS = (
    "slug",
    "name",
    "description",
    "time_zone",
    "starts_on",
    "day_count",
    "published",
    "completion_role_normal_id",
    "completion_role_veteran_id",
    "announce_channel_id",
)
PRIZE_FIELDS = (
    "name",
    "description",
    "quantity",
    "min_tier",
    "feedback_required",
    "fulfilment",
    "discord_role_id",
    "announce_channel_id",
)
TIERS = (Tier.NORMAL, Tier.VETERAN)


class PackInvalid(Exception):
    """The file is not a valid pack; ``problems`` lists each, with its field path."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


class ImportRefused(Exception):
    """The import would change what players have seen or entered; nothing was written."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


class PlanStale(Exception):
    """The environment changed between the plan and the apply; nothing was written."""


class ConfirmationRequired(Exception):
    """This environment's policy asks for explicit confirmation of imports."""


# --- the pack as data ------------------------------------------------------------------


@dataclass(frozen=True)
class ChallengeSpec:
    prompt: str
    answer: str


@dataclass(frozen=True)
class DaySpec:
    number: int
    title: str
    body_markdown: str
    challenges: tuple[tuple[Tier, ChallengeSpec], ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "title": self.title,
            "body_markdown": self.body_markdown,
            "challenges": {
                tier.value: {"prompt": c.prompt, "answer": c.answer} for tier, c in self.challenges
            },
        }


@dataclass(frozen=True)
class EventSpec:
    slug: str
    name: str
    description: str
    time_zone: str
    starts_on: date
    day_count: int
    published: bool
    #: Discord ids of the exporting environment's server, or None.
    completion_role_normal_id: str | None
    completion_role_veteran_id: str | None
    announce_channel_id: str | None

    def as_json(self) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in EVENT_FIELDS}
        values["starts_on"] = self.starts_on.isoformat()
        return values

    def schedule(self) -> Event:
        """An unsaved event with this schedule, to compute unlock instants with."""
        return Event(slug=self.slug, starts_on=self.starts_on, time_zone=self.time_zone)


@dataclass(frozen=True)
class PrizeSpec:
    name: str
    description: str
    quantity: int
    min_tier: str
    feedback_required: bool
    fulfilment: str
    discord_role_id: str
    announce_channel_id: str

    def as_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in PRIZE_FIELDS}


@dataclass(frozen=True)
class Pack:
    """A validated pack. Days are in ascending order; prizes in the file's order."""

    event: EventSpec
    days: tuple[DaySpec, ...]
    prizes: tuple[PrizeSpec, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "event": self.event.as_json(),
            "days": [day.as_json() for day in self.days],
            "prizes": [prize.as_json() for prize in self.prizes],
        }

    def dumps(self) -> bytes:
        """The canonical file: keys in the schema's order, 2-space indent, UTF-8 (not
        escaped), trailing newline. Byte-identical for equal packs."""
        text = json.dumps(self.as_json(), indent=2, ensure_ascii=False) + "\n"
        return text.encode("utf-8")

    @property
    def digest(self) -> str:
        """sha256 of the canonical file: the same for a file and its re-export."""
        return hashlib.sha256(self.dumps()).hexdigest()


# --- reading a file ----------------------------------------------------------------------


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema() -> dict[str, Any]:
    """The JSON Schema of the current format version (``pack.schema.json``)."""
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


def _path(parts: Iterable[str | int]) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _decode(data: bytes) -> Any:
    if len(data) > MAX_PACK_BYTES:
        raise PackInvalid(
            [
                f"the file has {len(data)} bytes, more than the {MAX_PACK_BYTES} a pack may "
                "have: is it an event pack? (`daylock event export` writes one)"
            ]
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PackInvalid(
            [f"byte {exc.start}: not UTF-8 ({exc.reason}); save the file as UTF-8"]
        ) from None
    duplicates: list[str] = []

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                duplicates.append(key)
            seen[key] = value
        return seen

    try:
        loaded = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as exc:
        raise PackInvalid(
            [f"line {exc.lineno}, column {exc.colno}: not valid JSON: {exc.msg}"]
        ) from None
    if duplicates:
        raise PackInvalid(
            [
                f"key {key!r} appears twice in one object; keep one (JSON readers disagree "
                "on which one wins)"
                for key in dict.fromkeys(duplicates)
            ]
        )
    return loaded


def _check_header(loaded: Any) -> None:
    """Say "not a pack" or "a newer version" before a page of schema errors."""
    if not isinstance(loaded, dict):
        raise PackInvalid(["$: a pack is a JSON object ({...}); this file holds something else"])
    if loaded.get("format") != FORMAT:
        raise PackInvalid(
            [
                f"$.format: {loaded.get('format')!r} is not {FORMAT!r}: this file is not a "
                "Daylock event pack (`daylock event export SLUG -o FILE` writes one)"
            ]
        )
    version = loaded.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise PackInvalid(
            [
                f"$.version: format version {version} is newer than this Daylock reads "
                f"({FORMAT_VERSION}); upgrade this environment's Daylock before importing"
            ]
        )


def _schema_problems(loaded: Any) -> list[str]:
    errors = sorted(
        _validator().iter_errors(loaded),
        key=lambda e: ([(isinstance(p, str), p) for p in e.absolute_path], e.message),
    )
    problems = []
    for error in errors:
        message = error.message
        if error.validator == "minLength" and list(error.absolute_path)[-1:] == ["discord_role_id"]:
            message = "a discord_role prize needs the id of the role it grants"
        problems.append(f"{_path(error.absolute_path)}: {message}")
    return problems


def _model_problems(instance: Model, path: str, exclude: list[str]) -> list[str]:
    """The model's own validation (validators, ``clean()``) as a last line of defence:
    whatever the schema lets through, the database would still accept."""
    try:
        instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        return [
            f"{path}.{name}: {message}" if name != "__all__" else f"{path}: {message}"
            for name, messages in exc.message_dict.items()
            for message in messages
        ]
    return []


def _build(loaded: dict[str, Any]) -> Pack:
    raw_event = loaded["event"]
    event = EventSpec(
        slug=raw_event["slug"],
        name=raw_event["name"],
        description=raw_event["description"],
        time_zone=raw_event["time_zone"],
        starts_on=date.fromisoformat(raw_event["starts_on"]),
        day_count=raw_event["day_count"],
        published=raw_event["published"],
        completion_role_normal_id=raw_event["completion_role_normal_id"],
        completion_role_veteran_id=raw_event["completion_role_veteran_id"],
        announce_channel_id=raw_event["announce_channel_id"],
    )
    days = sorted(
        (
            DaySpec(
                number=raw["number"],
                title=raw["title"],
                body_markdown=raw["body_markdown"],
                challenges=tuple(
                    (tier, ChallengeSpec(**raw["challenges"][tier.value]))
                    for tier in TIERS
                    if tier.value in raw["challenges"]
                ),
            )
            for raw in loaded["days"]
        ),
        key=lambda day: day.number,
    )
    prizes = tuple(
        PrizeSpec(**{name: raw[name] for name in PRIZE_FIELDS}) for raw in loaded["prizes"]
    )
    return Pack(event=event, days=tuple(days), prizes=prizes)


def _semantic_problems(loaded: dict[str, Any], pack: Pack) -> list[str]:
    problems: list[str] = []
    spec = pack.event
    event = Event(**{name: getattr(spec, name) for name in EVENT_FIELDS})
    problems += _model_problems(event, "$.event", exclude=[])
    first_seen: dict[int, int] = {}
    for index, raw in enumerate(loaded["days"]):
        path = f"$.days[{index}]"
        number = raw["number"]
        if number in first_seen:
            problems.append(
                f"{path}.number: day {number} appears twice (also $.days[{first_seen[number]}]); "
                "keep one"
            )
        first_seen.setdefault(number, index)
        if number > spec.day_count:
            problems.append(
                f"{path}.number: day {number} is past the event's day_count ({spec.day_count}); "
                "raise $.event.day_count or remove the day"
            )
        day = Day(number=number, title=raw["title"], body_markdown=raw["body_markdown"])
        problems += _model_problems(day, path, exclude=["event"])
        for tier in TIERS:
            raw_challenge = raw["challenges"].get(tier.value)
            if raw_challenge is None:
                continue
            where = f"{path}.challenges.{tier.value}"
            if not normalise_answer(raw_challenge["answer"]):
                problems.append(
                    f"{where}.answer: empty once normalised (only whitespace): no player could "
                    "ever solve it; write the answer"
                )
            challenge = Challenge(tier=tier, **raw_challenge)
            problems += _model_problems(challenge, where, exclude=["day"])
    names: dict[str, int] = {}
    for index, raw in enumerate(loaded["prizes"]):
        path = f"$.prizes[{index}]"
        if raw["name"] in names:
            problems.append(
                f"{path}.name: {raw['name']!r} appears twice "
                f"(also $.prizes[{names[raw['name']]}]); "
                "prizes are matched by name, so names must differ within an event"
            )
        names.setdefault(raw["name"], index)
        prize = Prize(**{name: raw[name] for name in PRIZE_FIELDS})
        problems += _model_problems(prize, path, exclude=["event"])
    return problems


def _invalid(problems: list[str]) -> PackInvalid:
    if len(problems) <= MAX_PROBLEMS:
        return PackInvalid(problems)
    more = len(problems) - MAX_PROBLEMS
    return PackInvalid([*problems[:MAX_PROBLEMS], f"… and {more} more problem(s)"])


def pack_parse(*, data: bytes) -> Pack:
    """Read and validate a pack file: JSON, the schema, then the rules a schema cannot
    say. Raises :class:`PackInvalid` listing every problem found with its field path."""
    loaded = _decode(data)
    _check_header(loaded)
    problems = _schema_problems(loaded)
    if problems:
        raise _invalid(problems)
    pack = _build(loaded)
    problems = _semantic_problems(loaded, pack)
    if problems:
        raise _invalid(problems)
    return pack


# --- an environment's current state ---------------------------------------------------------


@dataclass(frozen=True)
class _ExistingDay:
    day: Day
    spec: DaySpec
    challenges: Mapping[Tier, Challenge]


@dataclass(frozen=True)
class _ExistingPrize:
    prize: Prize
    spec: PrizeSpec
    draw: Draw | None


@dataclass(frozen=True)
class _State:
    event: Event | None
    spec: EventSpec | None
    days: Mapping[int, _ExistingDay]
    prizes: Mapping[str, tuple[_ExistingPrize, ...]]


def _event_spec(event: Event) -> EventSpec:
    return EventSpec(**{name: getattr(event, name) for name in EVENT_FIELDS})


def _prize_spec(prize: Prize) -> PrizeSpec:
    return PrizeSpec(**{name: getattr(prize, name) for name in PRIZE_FIELDS})


def _read_state(slug: str, *, lock: bool) -> _State:
    """The event of this slug as the environment holds it. With ``lock``, its row, its
    prizes and their draws are locked until the transaction ends (prize before draw,
    the order closing entries takes them), so nothing this import checks can change
    before it writes."""
    events = Event.objects.filter(slug=slug)
    event = (events.select_for_update() if lock else events).first()
    if event is None:
        return _State(event=None, spec=None, days={}, prizes={})
    days: dict[int, _ExistingDay] = {}
    day_rows = Day.objects.filter(event=event).order_by("number").prefetch_related("challenges")
    for day in day_rows.select_for_update() if lock else day_rows:
        challenges = {Tier(c.tier): c for c in day.challenges.all()}
        spec = DaySpec(
            number=day.number,
            title=day.title,
            body_markdown=day.body_markdown,
            challenges=tuple(
                (
                    tier,
                    ChallengeSpec(prompt=challenges[tier].prompt, answer=challenges[tier].answer),
                )
                for tier in TIERS
                if tier in challenges
            ),
        )
        days[day.number] = _ExistingDay(day=day, spec=spec, challenges=challenges)
    prize_rows = Prize.objects.filter(event=event).order_by("id")
    prize_list = list(prize_rows.select_for_update() if lock else prize_rows)
    draw_rows = Draw.objects.filter(prize__in=prize_list)
    draws = {d.prize_id: d for d in (draw_rows.select_for_update() if lock else draw_rows)}
    prizes: dict[str, tuple[_ExistingPrize, ...]] = {}
    for prize in prize_list:
        found = _ExistingPrize(prize=prize, spec=_prize_spec(prize), draw=draws.get(prize.pk))
        prizes[prize.name] = (*prizes.get(prize.name, ()), found)
    return _State(event=event, spec=_event_spec(event), days=days, prizes=prizes)


def pack_from_event(*, event: Event) -> Pack:
    """What a pack of ``event`` holds, read from this environment."""
    state = _read_state(event.slug, lock=False)
    assert state.spec is not None
    return Pack(
        event=state.spec,
        days=tuple(existing.spec for existing in state.days.values()),
        prizes=tuple(found.spec for group in state.prizes.values() for found in group),
    )


def exportable_events() -> list[Event]:
    """Every event of this environment, newest first (the upload page's download list)."""
    return list(Event.objects.order_by("-starts_on", "slug"))


def pack_export(*, event: Event) -> bytes:
    """The canonical pack file of ``event`` (see :meth:`Pack.dumps`)."""
    return pack_from_event(event=event).dumps()


# --- the plan ------------------------------------------------------------------------------


class Action(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    UNCHANGED = "unchanged"
    #: A prize of the environment that the pack does not name: left as it is.
    KEEP = "kept"


WRITES = frozenset({Action.CREATE, Action.UPDATE, Action.DELETE})


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, datetime):
        return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        shown = json.dumps(value, ensure_ascii=False)
        return shown if len(shown) <= SHOW_CHARS else shown[: SHOW_CHARS - 1] + "…"
    return str(value)


@dataclass(frozen=True)
class Change:
    """One field of one object: ``old`` is None for a new object or field."""

    field: str
    old: Any
    new: Any

    @property
    def secret(self) -> bool:
        """Answers are never printed: plans land in terminals, logs and the audit log."""
        return self.field.endswith(".answer")

    def line(self, action: Action) -> str:
        if self.secret:
            if action == Action.CREATE or self.old is None:
                return f"{self.field}: set (answers are not shown)"
            if self.new is None:
                return f"{self.field}: removed"
            return f"{self.field}: changed (answers are not shown)"
        if action == Action.CREATE:
            return f"{self.field}: {_show(self.new)}"
        return f"{self.field}: {_show(self.old)} → {_show(self.new)}"


@dataclass(frozen=True)
class PlanItem:
    kind: Literal["event", "day", "prize"]
    key: str
    action: Action
    changes: tuple[Change, ...] = ()
    #: Why this item cannot be imported (it then blocks the whole import).
    refusal: str | None = None
    note: str | None = None

    @property
    def label(self) -> str:
        return f"day {self.key}" if self.kind == "day" else f'{self.kind} "{self.key}"'

    def lines(self) -> list[str]:
        head = f"{self.label}: {self.action.value}"
        if self.note:
            head += f" ({self.note})"
        return [head, *(f"  {change.line(self.action)}" for change in self.changes)]


@dataclass(frozen=True)
class ImportPlan:
    pack: Pack
    now: datetime
    environment: str
    items: tuple[PlanItem, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def refusals(self) -> list[str]:
        return [f"{item.label}: {item.refusal}" for item in self.items if item.refusal]

    @property
    def writes(self) -> bool:
        return any(item.action in WRITES for item in self.items)

    def count(self, action: Action) -> int:
        return sum(1 for item in self.items if item.action == action)

    @property
    def digest(self) -> str:
        """What was reviewed: the pack and every planned change (not the instant the
        plan was made). An apply writes only if its own plan has the same digest."""
        h = hashlib.sha256(self.pack.digest.encode())
        for item in self.items:
            for line in item.lines():
                h.update(b"\n" + line.encode())
            h.update(f"\nrefused={bool(item.refusal)}".encode())
        return h.hexdigest()

    def summary(self) -> str:
        counts = ", ".join(
            f"{self.count(action)} to {action.value}"
            for action in (Action.CREATE, Action.UPDATE, Action.DELETE)
        )
        line = f"{counts}, {self.count(Action.UNCHANGED)} unchanged"
        if self.count(Action.KEEP):
            line += f", {self.count(Action.KEEP)} kept"
        if self.refusals:
            line += f"; {len(self.refusals)} refused"
        return line

    def lines(self) -> list[str]:
        """The plan as an operator reads it, one item after the other."""
        out = [
            f"pack {self.pack.event.slug} (sha256 {self.pack.digest[:16]}…) into "
            f"{self.environment}, planned at {_show(self.now)}"
        ]
        for item in self.items:
            out += item.lines()
        out += [f"note: {note}" for note in self.notes]
        out += [f"REFUSED {refusal}" for refusal in self.refusals]
        out.append(f"plan: {self.summary()}")
        return out


def _flat(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, Mapping):
            flat |= _flat(item, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = item
    return flat


def _diff(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> tuple[Change, ...]:
    before = _flat(old) if old is not None else {}
    after = _flat(new)
    keys = list(after) + [key for key in before if key not in after]
    return tuple(
        Change(field=key, old=before.get(key), new=after.get(key))
        for key in keys
        if before.get(key) != after.get(key) or old is None
    )


def _day_fields(spec: DaySpec) -> dict[str, Any]:
    values = spec.as_json()
    del values["number"]
    return values


def _when(event: Event, number: int) -> str:
    """``2026-12-03 23:00 UTC (00:00 Europe/Berlin on 2026-12-04)``."""
    at = unlock_instant(event, number)
    local = at.astimezone(event.zone)
    return f"{_show(at)} (00:00 {event.time_zone} on {local:%Y-%m-%d})"


def _plan_days(pack: Pack, state: _State, now: datetime) -> list[PlanItem]:
    new_schedule = pack.event.schedule()
    wanted = {day.number: day for day in pack.days}
    items: list[PlanItem] = []
    if state.event is None:
        for new_day in pack.days:
            note = f"opens {_when(new_schedule, new_day.number)}"
            if unlock_instant(new_schedule, new_day.number) <= now:
                note += ", already past: open at once"
            items.append(
                PlanItem(
                    "day",
                    str(new_day.number),
                    Action.CREATE,
                    _diff(None, _day_fields(new_day)),
                    note=note,
                )
            )
        return items
    old_schedule = state.event
    undo = (
        "an opened day never changes, moves or disappears: undo this change in the pack "
        "(`daylock event export` shows this environment's version) and import again"
    )
    for number in sorted(set(wanted) | set(state.days)):
        existing, spec = state.days.get(number), wanted.get(number)
        old_at = unlock_instant(old_schedule, number)
        new_at = unlock_instant(new_schedule, number)
        if spec is None:
            assert existing is not None
            refusal = None
            if old_at <= now:
                refusal = f"it opened at {_when(old_schedule, number)}; the pack deletes it; {undo}"
            items.append(PlanItem("day", str(number), Action.DELETE, refusal=refusal))
            continue
        if existing is None:
            refusal = None
            if new_at <= now:
                refusal = (
                    f"a new day of an existing event must still be locked, but it would open "
                    f"{_when(new_schedule, number)}, which is past: players would find it "
                    "already open; add it before it opens, or give it a later number"
                )
            items.append(
                PlanItem(
                    "day",
                    str(number),
                    Action.CREATE,
                    _diff(None, _day_fields(spec)),
                    refusal=refusal,
                    note=f"opens {_when(new_schedule, number)}",
                )
            )
            continue
        changes = _diff(_day_fields(existing.spec), _day_fields(spec))
        if old_at != new_at:
            changes += (Change(field="unlocks_at", old=old_at, new=new_at),)
        refusal = None
        if changes and old_at <= now:
            refusal = f"it opened at {_when(old_schedule, number)}; {undo}"
        elif changes and new_at <= now:
            refusal = (
                f"the new schedule opens it {_when(new_schedule, number)}, which is past: it "
                "would open at once; keep the event's start and time zone, or import before"
            )
        action = Action.UPDATE if changes else Action.UNCHANGED
        items.append(PlanItem("day", str(number), action, changes, refusal=refusal))
    return items


def _plan_prizes(pack: Pack, state: _State) -> list[PlanItem]:
    items: list[PlanItem] = []
    for spec in pack.prizes:
        found = state.prizes.get(spec.name, ())
        if len(found) > 1:
            ids = ", ".join(str(f.prize.pk) for f in found)
            items.append(
                PlanItem(
                    "prize",
                    spec.name,
                    Action.UPDATE,
                    refusal=f"this environment has {len(found)} prizes of that name (ids {ids}) "
                    "in the event; prizes are matched by name: rename all but one (admin) first",
                )
            )
            continue
        note = None
        if spec.discord_role_id or spec.announce_channel_id:
            note = "Discord ids: check they exist in this environment's server"
        if not found:
            items.append(
                PlanItem("prize", spec.name, Action.CREATE, _diff(None, spec.as_json()), note=note)
            )
            continue
        existing = found[0]
        changes = _diff(existing.spec.as_json(), spec.as_json())
        refusal = None
        draw = existing.draw
        if changes and draw is not None and draw.status != DrawStatus.OPEN:
            since = _show(draw.closed_at) if draw.closed_at else "an unknown time"
            refusal = (
                f"its entries closed at {since} (draw {draw.pk} is {draw.status}): a closed "
                "prize never changes; undo the change in the pack, or leave the prize out "
                "(prizes missing from a pack are kept as they are)"
            )
        action = Action.UPDATE if changes else Action.UNCHANGED
        items.append(
            PlanItem(
                "prize", spec.name, action, changes, refusal=refusal, note=note if changes else None
            )
        )
    named = {spec.name for spec in pack.prizes}
    for name in state.prizes:
        if name not in named:
            items.append(
                PlanItem(
                    "prize",
                    name,
                    Action.KEEP,
                    note="not in the pack; import never deletes a prize (use the admin)",
                )
            )
    return items


def _plan(pack: Pack, state: _State, now: datetime) -> ImportPlan:
    if state.spec is None:
        event_item = PlanItem(
            "event", pack.event.slug, Action.CREATE, _diff(None, pack.event.as_json())
        )
    else:
        changes = _diff(state.spec.as_json(), pack.event.as_json())
        event_item = PlanItem(
            "event", pack.event.slug, Action.UPDATE if changes else Action.UNCHANGED, changes
        )
    items = [event_item, *_plan_days(pack, state, now), *_plan_prizes(pack, state)]
    notes = []
    if state.event is None and any(
        unlock_instant(pack.event.schedule(), day.number) <= now for day in pack.days
    ):
        notes.append(
            "the new event's first days have unlock times in the past: players see them "
            + (
                "at once (the event is published)"
                if pack.event.published
                else "once it is published"
            )
        )
    return ImportPlan(
        pack=pack,
        now=now,
        environment=config.current().app_env.value,
        items=tuple(items),
        notes=tuple(notes),
    )


def plan_import(pack: Pack, *, now: datetime) -> ImportPlan:
    """What importing ``pack`` at ``now`` would do, field by field, and what it refuses.
    Reads the environment, writes nothing."""
    return _plan(pack, _read_state(pack.event.slug, lock=False), now)


# --- applying a plan --------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    event: Event
    plan: ImportPlan
    written: bool
    audit_id: int | None


def _write_event(spec: EventSpec, event: Event | None) -> Event:
    if event is None:
        event = Event()
    for name in EVENT_FIELDS:
        setattr(event, name, getattr(spec, name))
    event.full_clean()
    event.save()
    return event


def _write_day(event: Event, spec: DaySpec, existing: _ExistingDay | None) -> None:
    day = existing.day if existing is not None else Day(event=event, number=spec.number)
    day.title, day.body_markdown = spec.title, spec.body_markdown
    day.full_clean()
    day.save()
    wanted = dict(spec.challenges)
    current = dict(existing.challenges) if existing is not None else {}
    for tier in TIERS:
        challenge, target = current.get(tier), wanted.get(tier)
        if target is None:
            if challenge is not None:
                challenge.delete()
            continue
        challenge = challenge or Challenge(day=day, tier=tier)
        if challenge.pk is None or (challenge.prompt, challenge.answer) != (
            target.prompt,
            target.answer,
        ):
            challenge.prompt, challenge.answer = target.prompt, target.answer
            challenge.full_clean()
            challenge.save()


def _write(plan: ImportPlan, state: _State, actor: User | None) -> Event:
    pack = plan.pack
    by_kind: dict[str, dict[str, PlanItem]] = {"event": {}, "day": {}, "prize": {}}
    for item in plan.items:
        by_kind[item.kind][item.key] = item
    event = state.event
    if by_kind["event"][pack.event.slug].action in WRITES or event is None:
        event = _write_event(pack.event, event)
    for key, item in by_kind["day"].items():
        if item.action == Action.DELETE:
            state.days[int(key)].day.delete()
    for spec in pack.days:
        if by_kind["day"][str(spec.number)].action in WRITES:
            _write_day(event, spec, state.days.get(spec.number))
    for prize_spec in pack.prizes:
        item = by_kind["prize"][prize_spec.name]
        if item.action == Action.CREATE:
            prize_create(event=event, actor=actor, **prize_spec.as_json())
        elif item.action == Action.UPDATE:
            prize = state.prizes[prize_spec.name][0].prize
            for name in PRIZE_FIELDS:
                setattr(prize, name, getattr(prize_spec, name))
            prize.full_clean()
            prize.save(update_fields=list(PRIZE_FIELDS))
    days_moved = any(
        item.action in {Action.CREATE, Action.DELETE} for item in by_kind["day"].values()
    )
    assert state.spec is not None or state.event is None
    recount = state.spec is not None and state.spec.day_count != pack.event.day_count
    if state.event is not None and (days_moved or recount):
        # Which days count for completion may have changed (day_count, days added or
        # removed): prize eligibility reads the completion table.
        completion_refresh(event=event)
    return event


def _audit_details(plan: ImportPlan) -> dict[str, Any]:
    """Readable, and without answers (the audit log is for moderators too)."""

    def listed(action: Action) -> list[str]:
        return [
            item.label
            + (f": {', '.join(c.field for c in item.changes)}" if action == Action.UPDATE else "")
            for item in plan.items
            if item.action == action
        ]

    return {
        "pack_sha256": plan.pack.digest,
        "created": listed(Action.CREATE),
        "updated": listed(Action.UPDATE),
        "deleted": listed(Action.DELETE),
        "unchanged": plan.count(Action.UNCHANGED),
    }


def pack_apply(*, plan: ImportPlan, actor: User | None, confirmed: bool = False) -> ImportResult:
    """Apply a reviewed plan, all or nothing, and audit it.

    The plan is made again inside the transaction, with the event, its prizes and
    their draws locked and at the current ``clock.now()``: if it differs from the one
    reviewed (someone edited the event, entries closed, a day opened meanwhile),
    :class:`PlanStale` is raised and nothing is written; a plan with refusals raises
    :class:`ImportRefused`. A plan with nothing to do writes nothing, not even an audit
    row. Where the policy says ``imports_need_confirmation`` (production) the caller
    must pass ``confirmed=True``: the operator typed the environment's name or
    ``--yes``.
    """
    policy = config.policy()
    if policy.imports_need_confirmation and not confirmed:
        raise ConfirmationRequired(
            f"importing an event pack into {policy.name} needs explicit confirmation: "
            "type the environment's name when asked, or pass --yes after reading the plan"
        )
    if plan.refusals:
        raise ImportRefused(plan.refusals)
    try:
        with transaction.atomic():
            state = _read_state(plan.pack.event.slug, lock=True)
            fresh = _plan(plan.pack, state, clock.now())
            if fresh.refusals:
                raise ImportRefused(fresh.refusals)
            if fresh.digest != plan.digest:
                raise PlanStale(
                    f"event {plan.pack.event.slug!r} changed in {fresh.environment} since the "
                    "plan was made (an edit, a closed prize, another import); nothing was "
                    "written: review the new plan and import again"
                )
            if not fresh.writes:
                assert state.event is not None
                return ImportResult(event=state.event, plan=fresh, written=False, audit_id=None)
            event = _write(fresh, state, actor)
            row = audit_record(
                action="events.pack_import",
                target=f"event:{event.slug}",
                details=_audit_details(fresh),
                actor_id=actor.pk if actor is not None else None,
                actor_label=actor.get_username() if actor is not None else "cli",
            )
    except IntegrityError as exc:
        raise PlanStale(
            f"the database refused the import ({exc}); nothing was written: another import "
            "of the same event probably ran at the same time; review the new plan and "
            "import again"
        ) from exc
    return ImportResult(event=event, plan=fresh, written=True, audit_id=row.pk)
