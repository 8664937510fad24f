"""Every URL the running URLconf serves, made concrete with sample objects.

Shared by the staff walk (``tests/accounts/test_staff_walk.py``: every staff URL by
every role) and the banner crawl (``tests/core/test_banner_crawl.py``). The list comes
from the URL resolver, so a URL added tomorrow is walked tomorrow; an argument the
samples cannot fill fails the test with what to add (:class:`Samples.value`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.contrib import admin
from django.contrib.admin import ModelAdmin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from daylock.accounts.models import Role, User
from daylock.discord.models import OutboxMessage
from daylock.discord.services import outbox_enqueue
from daylock.events.models import Day, Event, Feedback, Progress, Tier, WrongAnswer
from daylock.prizes import services as prize_services
from daylock.prizes.models import Draw, DrawWinner, Fulfilment, Prize
from tests.events.factories import EventFactory, UserFactory, complete
from tests.prizes.conftest import member_sync_done


@dataclass(frozen=True)
class Endpoint:
    """One concrete URL of a pattern."""

    path: str
    #: The pattern as written (``staff/outbox/<int:message_id>/``).
    route: str
    #: Namespaced URL name (``discord:outbox_detail``), or None.
    name: str | None
    callback: Callable[..., Any]
    #: The ModelAdmin whose view this is (``admin/<app>/<model>/…``), else None.
    model_admin: ModelAdmin[Any] | None

    @property
    def is_admin(self) -> bool:
        return self.route.startswith("admin/")

    @property
    def is_staff_path(self) -> bool:
        """Under ``staff/`` or ``admin/``, or with a ``staff`` segment anywhere
        (``prizes/staff/…``)."""
        return self.is_admin or "staff" in self.route.split("/")

    def __str__(self) -> str:
        return f"{self.path} ({self.name or self.route})"


class ArgumentSource(Protocol):
    """Gives the value of a URL argument: :class:`Samples` in-process, the end-to-end
    walk's own reader of a running instance's database (``tests/e2e/test_walk.py``)."""

    def value(self, name: str, model_admin: ModelAdmin[Any] | None) -> str: ...


@dataclass
class Samples:
    """The objects a walk fills URL arguments with. Built by :func:`make_samples`."""

    event: Event
    day: Day
    player: User
    prize: Prize
    draw: Draw
    winner: DrawWinner
    message: OutboxMessage
    extra: dict[str, str] = field(default_factory=dict)

    def value(self, name: str, model_admin: ModelAdmin[Any] | None) -> str:
        """The sample for URL argument ``name``."""
        if name in ("object_id", "id") and model_admin is not None:
            return str(self.object_of(model_admin.model).pk)
        by_name: dict[str, Any] = {
            "message_id": self.message.pk,
            "prize_id": self.prize.pk,
            "draw_id": self.draw.pk,
            "winner_id": self.winner.pk,
            "slug": self.event.slug,
            "event_slug": self.event.slug,
            "event_id": self.event.pk,
            "day_id": self.day.pk,
            "number": self.day.number,
            "day_number": self.day.number,
            "day": self.day.number,
            "tier": Tier.NORMAL.value,
            # Django's admin: "view on site" for a model without a page answers 404.
            "content_type_id": ContentType.objects.get_for_model(User).pk,
            "object_id": self.player.pk,
            # The admin's catch-all.
            "url": "no-such-admin-page/",
            **self.extra,
        }
        if name not in by_name:
            raise AssertionError(
                f"the URL walk has no sample for the argument {name!r}: add one to "
                "tests/core/urlwalk.py (Samples.value), so the new URL is walked"
            )
        return str(by_name[name])

    def object_of(self, model: type[models.Model]) -> models.Model:
        """An object of ``model`` for the admin's change, history and delete pages."""
        if model is User:
            return self.player  # not a superuser: admins may change players
        found = model._default_manager.order_by("pk").first()
        if found is None:
            raise AssertionError(
                f"the URL walk has no {model._meta.label} to open in the admin: create "
                "one in tests/core/urlwalk.py (make_samples)"
            )
        return found


def make_samples(capture_on_commit: Callable[..., Any]) -> Samples:
    """One of everything a staff page or the admin shows: an event with days and
    challenges, progress, a wrong answer, feedback, a code prize with a code, a drawn
    prize with winners, an outbox message (and, on PostgreSQL, its delivery job)."""
    Group.objects.create(name="walk-group")  # Django's groups (unused by Daylock)
    event = EventFactory(slug="walk-event", day_count=2)
    day = event.days.get(number=1)
    player = UserFactory(username="walk-player")
    entrants = [player, *(UserFactory() for _ in range(3))]
    for user in entrants:
        complete(user, event, Tier.NORMAL)
    WrongAnswer.objects.create(
        user=player, day=day, tier=Tier.NORMAL, answer="nope", created_at=timezone.now()
    )
    Feedback.objects.create(user=player, event=event, day=day, rating=4, comment="fun")
    assert Progress.objects.exists()
    code_prize = prize_services.prize_create(
        event=event, name="Walk code", fulfilment=Fulfilment.CODE, quantity=1
    )
    prize_services.prize_codes_add(prize=code_prize, codes=["WALK-CODE-1"], is_test=True)
    prize = prize_services.prize_create(
        event=event,
        name="Walk poster",
        fulfilment=Fulfilment.MANUAL,
        quantity=2,
        announce_channel_id="710000000000000001",
    )
    member_sync_done()  # closing entries needs fresh guild membership
    with capture_on_commit(execute=True):
        prize_services.draw_close_entries(prize=prize, actor=None)
        draw = prize_services.draw_run(prize=prize, actor=None, confirm=True)
        message = outbox_enqueue(
            kind="channel_message", content="walk", channel_id="710000000000000001"
        )
    winner = DrawWinner.objects.filter(draw=draw).order_by("rank").first()
    assert winner is not None
    return Samples(
        event=event,
        day=day,
        player=player,
        prize=prize,
        draw=draw,
        winner=winner,
        message=message,
    )


def staff_users() -> dict[str, User | None]:
    """The roles of the walk: who logs in (None: nobody)."""
    return {
        "anonymous": None,
        "player": UserFactory(username="walk-role-player"),
        "moderator": UserFactory(username="walk-role-moderator", role=Role.MODERATOR),
        "admin": UserFactory(username="walk-role-admin", role=Role.ADMIN),
        "banned admin": UserFactory(username="walk-role-banned", role=Role.ADMIN, is_banned=True),
    }


# --- the resolver ------------------------------------------------------------------------

_ROUTE_ARG = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>\w+)>")
_REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<body>[^()]*)\)")


@dataclass(frozen=True)
class _Pattern:
    parts: tuple[tuple[bool, str], ...]  # (is_regex, text) per level
    name: str | None
    callback: Callable[..., Any]


def _patterns(
    entries: list[URLPattern | URLResolver],
    parts: tuple[tuple[bool, str], ...] = (),
    namespace: str | None = None,
) -> Iterator[_Pattern]:
    for entry in entries:
        is_regex = type(entry.pattern).__name__ == "RegexPattern"
        here = (*parts, (is_regex, str(entry.pattern)))
        if isinstance(entry, URLResolver):
            inner = entry.namespace
            space = ":".join(p for p in (namespace, inner) if p) or None
            yield from _patterns(entry.url_patterns, here, space)
        else:
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield _Pattern(parts=here, name=name, callback=entry.callback)


def _concrete(is_regex: bool, text: str, fill: Callable[[str], str]) -> list[str]:
    """Every concrete text of one pattern level (a regex alternation of names, like
    the admin's app labels, gives one per name)."""
    if not is_regex:
        return [_ROUTE_ARG.sub(lambda m: fill(m["name"]), text)]
    text = text.removeprefix("^").removesuffix("$").removesuffix(r"\Z")
    choices: list[list[str]] = []
    pieces: list[str] = []
    last = 0
    for match in _REGEX_GROUP.finditer(text):
        pieces.append(text[last : match.start()])
        body = match["body"]
        if "|" in body and re.fullmatch(r"[\w|]+", body):
            choices.append(body.split("|"))
        else:
            choices.append([fill(match["name"])])
        last = match.end()
    tail = text[last:]
    found = []
    for combo in itertools.product(*choices):
        out = "".join(piece + value for piece, value in zip(pieces, combo, strict=True))
        found.append((out + tail).replace("\\", ""))
    return found


def endpoints(
    samples: ArgumentSource,
    urlconf: str | None = None,
    where: Callable[[str], bool] = lambda route: True,
) -> list[Endpoint]:
    """Every URL of the resolver whose route (``staff/outbox/<int:message_id>/``)
    passes ``where``, with arguments from ``samples``."""
    found: list[Endpoint] = []
    by_route = {
        f"{model._meta.app_label}/{model._meta.model_name}/": model_admin
        for model, model_admin in admin.site._registry.items()
    }
    for pattern in _patterns(get_resolver(urlconf).url_patterns):
        # admin/<app>/<model>/…: that model's admin (its views, and its extra ones).
        route = "".join(text for _, text in pattern.parts)
        if not where(route):
            continue
        in_admin = len(pattern.parts) > 2 and pattern.parts[0][1] == "admin/"
        model_admin = by_route.get(pattern.parts[1][1]) if in_admin else None

        def fill(name: str, model_admin: ModelAdmin[Any] | None = model_admin) -> str:
            return samples.value(name, model_admin)

        levels = [_concrete(is_regex, text, fill) for is_regex, text in pattern.parts]
        for combo in itertools.product(*levels):
            found.append(
                Endpoint(
                    path="/" + "".join(combo),
                    route=route,
                    name=pattern.name,
                    callback=pattern.callback,
                    model_admin=model_admin,
                )
            )
    return found
