"""Events, their time-locked days, challenges, progress, feedback, and the two
test-utility override tables (honoured only where the policy has ``test_utilities``).

Data rules that the database can enforce are constraints here (unique progress,
rating range, one feedback per scope); rules that need the clock or the policy live in
:mod:`daylock.events.timelock`, :mod:`daylock.events.services` and
:mod:`daylock.events.selectors`.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

#: Slugs that would collide with fixed URLs under ``/events/``.
RESERVED_SLUGS = frozenset({"profile"})
MAX_DAYS = 366
#: Longest answer accepted at all (longer is a form error, nothing stored).
MAX_ANSWER_LENGTH = 1000
#: How much of a wrong answer is kept (enough to see what people try, no more).
WRONG_ANSWER_STORED_LENGTH = 200
MAX_COMMENT_LENGTH = 2000


class Tier(models.TextChoices):
    NORMAL = "normal", "Normal"
    VETERAN = "veteran", "Veteran"


def validate_time_zone(value: str) -> None:
    """An IANA time zone name that :mod:`zoneinfo` knows (e.g. ``Europe/Berlin``)."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            "%(value)s is not an IANA time zone name (e.g. Europe/Berlin, UTC)",
            params={"value": value},
            code="invalid_time_zone",
        ) from None


def validate_snowflake(value: str | None) -> None:
    """A Discord id: digits only (roles and channels are picked by name in the editor,
    which stores the id)."""
    if value and not value.isdigit():
        raise ValidationError(
            "%(value)s is not a Discord id (digits only)", params={"value": value}, code="snowflake"
        )


def validate_not_reserved(value: str) -> None:
    if value in RESERVED_SLUGS:
        raise ValidationError(
            "%(value)s is reserved (it is a page under /events/)",
            params={"value": value},
            code="reserved_slug",
        )


class Event(models.Model):
    slug = models.SlugField(max_length=80, unique=True, validators=[validate_not_reserved])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="IANA name; days unlock at 00:00 in this zone",
    )
    starts_on = models.DateField(help_text="Event-local date on which day 1 unlocks")
    day_count = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(MAX_DAYS)]
    )
    published = models.BooleanField(default=False)
    #: Discord roles granted for a normal / veteran completion, and the channel where
    #: the event is announced: ids of this environment's server. NULL is "not set" (the
    #: pack format writes ``null``); a check constraint keeps ``""`` out, so "not set"
    #: has one spelling.
    completion_role_normal_id = models.CharField(  # noqa: DJ001 - NULL is "not set"
        max_length=32, null=True, blank=True, validators=[validate_snowflake]
    )
    completion_role_veteran_id = models.CharField(  # noqa: DJ001 - NULL is "not set"
        max_length=32, null=True, blank=True, validators=[validate_snowflake]
    )
    announce_channel_id = models.CharField(  # noqa: DJ001 - NULL is "not set"
        max_length=32, null=True, blank=True, validators=[validate_snowflake]
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_on", "slug"]
        constraints = [
            models.CheckConstraint(
                condition=Q(day_count__gte=1, day_count__lte=MAX_DAYS),
                name="event_day_count_range",
            ),
            models.CheckConstraint(
                condition=~Q(completion_role_normal_id="")
                & ~Q(completion_role_veteran_id="")
                & ~Q(announce_channel_id=""),
                name="event_discord_ids_null_not_blank",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


def unlock_instant(event: Event, number: int) -> datetime:
    """The UTC instant at which day ``number`` of ``event`` opens: 00:00 event-local
    time on ``starts_on + (number - 1)`` days (the time lock's one rule; see
    :mod:`daylock.events.timelock` for who may see a day when)."""
    local_date = event.starts_on + timedelta(days=number - 1)
    local_midnight = datetime.combine(local_date, time(0, 0), tzinfo=event.zone)
    return local_midnight.astimezone(UTC)


class Day(models.Model):
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="days")
    number = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(MAX_DAYS)]
    )
    title = models.CharField(max_length=200)
    body_markdown = models.TextField(blank=True)

    class Meta:
        ordering = ["event", "number"]
        constraints = [
            models.UniqueConstraint(fields=["event", "number"], name="day_unique_number"),
            models.CheckConstraint(condition=Q(number__gte=1), name="day_number_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.event.slug} day {self.number}: {self.title}"

    def clean(self) -> None:
        if self.event_id is not None and self.number and self.number > self.event.day_count:
            raise ValidationError(
                {"number": f"the event has {self.event.day_count} days; {self.number} is past it"}
            )

    @property
    def unlocks_at(self) -> datetime:
        """The UTC instant this day opens (see :func:`unlock_instant`)."""
        return unlock_instant(self.event, self.number)


class Challenge(models.Model):
    day = models.ForeignKey(Day, on_delete=models.CASCADE, related_name="challenges")
    tier = models.CharField(max_length=10, choices=Tier.choices)
    prompt = models.TextField()
    answer = models.CharField(
        max_length=MAX_ANSWER_LENGTH,
        help_text="Compared after normalisation (see events.answers)",
    )

    class Meta:
        ordering = ["day", "tier"]
        constraints = [
            models.UniqueConstraint(fields=["day", "tier"], name="challenge_unique_tier"),
        ]

    def __str__(self) -> str:
        return f"{self.day} [{self.tier}]"


class Progress(models.Model):
    """A solved challenge. Exactly one row per (user, day, tier), whatever the races."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="progress"
    )
    day = models.ForeignKey(Day, on_delete=models.CASCADE, related_name="progress")
    tier = models.CharField(max_length=10, choices=Tier.choices)
    solved_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "progress"
        ordering = ["-solved_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "day", "tier"], name="progress_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} solved {self.day_id} [{self.tier}]"


class EventCompletion(models.Model):
    """A completed tier of an event: every day up to ``day_count`` solved at ``tier``.

    Denormalised from :class:`Progress` so that prize eligibility is an indexed join
    instead of an aggregate over the event's whole progress table (a million users
    solving seven days are seven million rows to group). Tiers are independent (see
    :func:`daylock.events.selectors.completion_tier`): a user who solved every day at
    both tiers has two rows. Only
    :func:`daylock.events.services.completion_refresh` writes it, called by every path
    that writes progress or changes which days count.
    """

    # No single-column indexes: the unique constraint leads with user, the
    # (event, tier, user) index with event.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="completions",
        db_index=False,
    )
    event = models.ForeignKey(
        Event, on_delete=models.CASCADE, related_name="completions", db_index=False
    )
    tier = models.CharField(max_length=10, choices=Tier.choices)
    #: When the last day needed was solved (the latest ``solved_at`` of those days).
    completed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "event", "tier"], name="eventcompletion_unique"
            ),
        ]
        indexes = [
            # Eligibility reads one event's completers by tier, joined to users by id.
            models.Index(fields=["event", "tier", "user"], name="eventcompletion_event_tier"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} completed {self.event_id} [{self.tier}]"


class LeaderboardEntry(models.Model):
    """One player's standing on an event's leaderboard: stars (one per solved tier per
    day up to ``day_count``) and the total time from each day's unlock to each solve.

    Denormalised from :class:`Progress` so that the leaderboard reads one row per
    player instead of grouping the event's progress (a hundred thousand players are a
    million rows). Only :mod:`daylock.events.leaderboard` writes it, called by
    :func:`daylock.events.services.completion_refresh` and ``answer_submit`` (so by
    every path that keeps :class:`EventCompletion` true) and by the seed's bulk load.
    A player whose progress was all taken away keeps a row with 0 stars, so their
    ``anonymous_number`` stays theirs.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="leaderboard_entries",
        db_index=False,  # the unique constraint leads with user
    )
    event = models.ForeignKey(
        Event,
        on_delete=models.CASCADE,
        related_name="leaderboard_entries",
        db_index=False,  # the (event, anonymous_number) constraint leads with event
    )
    stars = models.PositiveSmallIntegerField()
    #: Sum over the stars of whole seconds from the day's unlock to the solve (a solve
    #: before the unlock, possible only through a test utility, counts 0).
    total_seconds = models.BigIntegerField()
    #: The latest ``solved_at`` among the stars (the first tie-break); None at 0 stars.
    last_solved_at = models.DateTimeField(null=True, blank=True)
    #: Shown as "anonymous #n": numbered per event in order of first solve, so it says
    #: nothing about the user id and never changes.
    anonymous_number = models.PositiveIntegerField()

    class Meta:
        verbose_name_plural = "leaderboard entries"
        constraints = [
            models.UniqueConstraint(fields=["user", "event"], name="leaderboardentry_unique"),
            models.UniqueConstraint(
                fields=["event", "anonymous_number"], name="leaderboardentry_anonymous_number"
            ),
            models.CheckConstraint(
                condition=Q(total_seconds__gte=0), name="leaderboardentry_total_seconds_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.event_id}: {self.stars} stars, {self.total_seconds} s"


class WrongAnswer(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="wrong_answers"
    )
    day = models.ForeignKey(Day, on_delete=models.CASCADE, related_name="wrong_answers")
    tier = models.CharField(max_length=10, choices=Tier.choices)
    answer = models.CharField(max_length=WRONG_ANSWER_STORED_LENGTH)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.user_id} wrong on {self.day_id} [{self.tier}]"


class Feedback(models.Model):
    """One rating per user per event (``day`` null) and per user per day."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="feedback"
    )
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="feedback")
    day = models.ForeignKey(
        Day, null=True, blank=True, on_delete=models.CASCADE, related_name="feedback"
    )
    rating = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    #: Stored exactly as typed; escaped when shown.
    comment = models.CharField(max_length=MAX_COMMENT_LENGTH, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "feedback"
        ordering = ["-updated_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(rating__gte=1, rating__lte=5), name="feedback_rating_1_5"
            ),
            models.UniqueConstraint(
                fields=["user", "event", "day"],
                condition=Q(day__isnull=False),
                name="feedback_one_per_day",
            ),
            models.UniqueConstraint(
                fields=["user", "event"],
                condition=Q(day__isnull=True),
                name="feedback_one_per_event",
            ),
        ]

    def __str__(self) -> str:
        scope = f"day {self.day.number}" if self.day else "event"
        return f"{self.user_id} on {self.event.slug} {scope}: {self.rating}/5"


class DayUnlock(models.Model):
    """Test utility: a day opened before its instant, for everyone (``user`` null) or
    one user. Ignored wherever the policy has no ``test_utilities`` (production)."""

    day = models.ForeignKey(Day, on_delete=models.CASCADE, related_name="unlocks")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="day_unlocks",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "user"], condition=Q(user__isnull=False), name="dayunlock_one_user"
            ),
            models.UniqueConstraint(
                fields=["day"], condition=Q(user__isnull=True), name="dayunlock_one_everyone"
            ),
        ]

    def __str__(self) -> str:
        who = f"user {self.user_id}" if self.user_id else "everyone"
        return f"{self.day} unlocked for {who}"


class EligibilityOverride(models.Model):
    """Test utility: force a user in (``eligible``) or out of every prize of an event.
    Ignored wherever the policy has no ``test_utilities`` (production)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="eligibility_overrides"
    )
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="eligibility_overrides")
    eligible = models.BooleanField()
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "event"], name="eligibilityoverride_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} forced {'in' if self.eligible else 'out'} of {self.event.slug}"
