"""Prizes, their code inventory, and verifiable draws.

The draw's rules that the database can hold are constraints here: one draw per prize
(``Draw.prize`` is one-to-one), one entrant list per draw, one winner per rank and per user.
The algorithm itself is :mod:`daylock.prizes.draw`; the transitions (close entries,
run, reroll) are :mod:`daylock.prizes.services`.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from daylock.events.models import Event, Tier


class Fulfilment(models.TextChoices):
    CODE = "code", "Code reveal"
    DISCORD_ROLE = "discord_role", "Discord role"
    MANUAL = "manual", "Manual (shipped by staff)"


def validate_snowflake(value: str) -> None:
    if value and not value.isdigit():
        raise ValidationError(
            "%(value)s is not a Discord id (digits only)", params={"value": value}, code="snowflake"
        )


class Prize(models.Model):
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="prizes")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    quantity = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    min_tier = models.CharField(
        max_length=10,
        choices=Tier.choices,
        default=Tier.NORMAL,
        help_text="normal = normal or veteran completion; veteran = veteran completion only",
    )
    feedback_required = models.BooleanField(default=False)
    fulfilment = models.CharField(max_length=20, choices=Fulfilment.choices)
    discord_role_id = models.CharField(
        max_length=32,
        blank=True,
        validators=[validate_snowflake],
        help_text="The role granted to winners (Discord role prizes only)",
    )
    announce_channel_id = models.CharField(
        max_length=32,
        blank=True,
        validators=[validate_snowflake],
        help_text="Discord channel where winners are announced (optional)",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["event", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="prize_quantity_positive"),
            models.CheckConstraint(
                condition=Q(fulfilment__in=Fulfilment.values), name="prize_fulfilment_known"
            ),
            models.CheckConstraint(condition=Q(min_tier__in=Tier.values), name="prize_tier_known"),
            models.CheckConstraint(
                condition=~Q(fulfilment=Fulfilment.DISCORD_ROLE) | ~Q(discord_role_id=""),
                name="prize_role_needs_role_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.event.slug})"

    def clean(self) -> None:
        if self.fulfilment == Fulfilment.DISCORD_ROLE and not self.discord_role_id:
            raise ValidationError({"discord_role_id": "a Discord role prize needs the role id"})


class PrizeCode(models.Model):
    """One redeemable code of a code-reveal prize.

    ``is_test`` codes are never handed out in production; in non-production no code is
    ever attached to a winner at all (they see a placeholder), whatever this flag says.
    """

    prize = models.ForeignKey(Prize, on_delete=models.CASCADE, related_name="codes")
    code = models.CharField(max_length=200)
    is_test = models.BooleanField(default=False)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["prize", "id"]
        constraints = [
            models.UniqueConstraint(fields=["prize", "code"], name="prizecode_unique_code"),
        ]

    def __str__(self) -> str:
        # Never the code itself: this string ends up in logs and the admin.
        return f"code #{self.pk} of {self.prize.name}"


class DrawStatus(models.TextChoices):
    #: Seed committed (seed_hash public); entries not yet frozen.
    OPEN = "open", "Open"
    #: Entrant list frozen and its hash published; the seed is still secret.
    CLOSED = "closed", "Entries closed"
    #: Seed revealed, winners written. Final: never re-run.
    DRAWN = "drawn", "Drawn"


class Draw(models.Model):
    prize = models.OneToOneField(Prize, on_delete=models.PROTECT, related_name="draw")
    status = models.CharField(max_length=10, choices=DrawStatus.choices, default=DrawStatus.OPEN)
    #: 64 hex digits; secret until the draw is run (read it through ``public_seed``).
    seed = models.CharField(max_length=64, editable=False)
    seed_hash = models.CharField(max_length=64, editable=False)
    entrants_hash = models.CharField(max_length=64, blank=True, editable=False)
    entrant_count = models.PositiveIntegerField(null=True, blank=True, editable=False)
    #: The prize's quantity, frozen when entries close.
    winners_wanted = models.PositiveIntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    drawn_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    drawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    #: Non-production draw: nothing real is released, everything is marked.
    simulated = models.BooleanField(editable=False)
    environment = models.CharField(max_length=20, editable=False)
    #: Entries were closed while the event still had locked days (``locked_days`` says
    #: which, by the clock at closing); only ever with ``close_reason``.
    closed_early = models.BooleanField(default=False, editable=False)
    locked_days = models.JSONField(default=list, blank=True, editable=False)
    #: The newest complete member sync when entries closed (None: never synced), and
    #: whether it was older than ``DAYLOCK_MEMBER_SYNC_MAX_AGE_MINUTES`` (then only ever
    #: with ``close_reason``): how fresh "still in the guild" was for the entrant list.
    members_synced_at = models.DateTimeField(null=True, blank=True, editable=False)
    membership_stale = models.BooleanField(default=False, editable=False)
    #: Why staff closed entries although a rule said not yet (published on the draw page).
    close_reason = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=DrawStatus.values), name="draw_status_known"
            ),
            models.CheckConstraint(
                condition=Q(status=DrawStatus.OPEN)
                | (
                    Q(closed_at__isnull=False, entrant_count__isnull=False)
                    & Q(winners_wanted__isnull=False)
                    & ~Q(entrants_hash="")
                ),
                name="draw_closed_has_commitment",
            ),
            models.CheckConstraint(
                condition=~Q(status=DrawStatus.DRAWN) | Q(drawn_at__isnull=False),
                name="draw_drawn_has_time",
            ),
            models.CheckConstraint(
                condition=Q(closed_early=False, membership_stale=False) | ~Q(close_reason=""),
                name="draw_forced_close_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"draw {self.pk} of {self.prize.name} ({self.status})"

    @property
    def public_seed(self) -> str | None:
        """The seed once revealed; None before (templates must use this, never ``seed``)."""
        return self.seed if self.status == DrawStatus.DRAWN else None


class DrawEntrantList(models.Model):
    """The frozen entrant list of a draw: one row, written once when entries close.

    ``encoded`` is the list's canonical encoding (:mod:`daylock.prizes.draw`), byte for
    byte the public ``entrants.txt``, so its sha256 is the published ``entrants_hash``.
    One row of ~7 MB per million entrants instead of a million rows: entries close with
    one write instead of a ``COPY``, a primary key build and an ``ANALYZE`` (about a
    second at a million entrants).

    The column is stored uncompressed (``STORAGE EXTERNAL``, set by the migration):
    PostgreSQL's pglz compression cost ~0.15 s per million entrants on write, and an
    uncompressed value lets ``substr()`` read a slice without reading the rest, which
    is how ``entrants.txt`` is streamed. The ids are plain integers, not foreign keys:
    the list is a published record and must not change if a user is later deleted.

    Nothing derived from the seed is stored with it: the run ranks this list with the
    seed when it runs, so the irreversible step depends only on what was committed.
    """

    draw = models.OneToOneField(Draw, primary_key=True, on_delete=models.CASCADE, related_name="+")
    encoded = models.BinaryField()

    def __str__(self) -> str:
        return f"entrant list of draw {self.draw_id}"


class WinnerStatus(models.TextChoices):
    WON = "won", "Won"
    #: The winner said no; rerolled.
    DECLINED = "declined", "Declined"
    #: Found not to be eligible after the draw (banned, left the guild…); rerolled.
    INELIGIBLE = "ineligible", "Ineligible"
    #: Rerolled for another reason (e.g. unreachable); the reason says which.
    REPLACED = "replaced", "Replaced"


#: Statuses a winner can be moved to by a reroll.
REROLL_STATUSES = (WinnerStatus.DECLINED, WinnerStatus.INELIGIBLE, WinnerStatus.REPLACED)


class DrawWinner(models.Model):
    """A pick of the draw: rank ``r`` is the r-th entrant of the ranking.

    Picks are always a prefix of the ranking (ranks 1..n): the first ``winners_wanted``
    when the draw runs, then one more per reroll.
    """

    draw = models.ForeignKey(Draw, on_delete=models.PROTECT, related_name="winners")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="prize_wins"
    )
    rank = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=WinnerStatus.choices, default=WinnerStatus.WON)
    reason = models.TextField(blank=True)
    simulated = models.BooleanField()
    code = models.OneToOneField(
        PrizeCode, null=True, blank=True, on_delete=models.PROTECT, related_name="winner"
    )
    replaces = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    fulfilled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rerolled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["draw", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["draw", "rank"], name="drawwinner_unique_rank"),
            models.UniqueConstraint(fields=["draw", "user"], name="drawwinner_unique_user"),
            models.CheckConstraint(condition=Q(rank__gte=1), name="drawwinner_rank_positive"),
            models.CheckConstraint(
                condition=Q(status__in=WinnerStatus.values), name="drawwinner_status_known"
            ),
            models.CheckConstraint(
                condition=Q(simulated=False) | Q(code__isnull=True),
                name="drawwinner_simulated_has_no_code",
            ),
        ]

    def __str__(self) -> str:
        return f"draw {self.draw_id} rank {self.rank}: user {self.user_id} ({self.status})"

    @property
    def placeholder_code(self) -> str:
        """What a simulated code winner sees instead of a code."""
        return f"SIMULATED-{self.draw_id:04d}-{self.rank:03d}"
