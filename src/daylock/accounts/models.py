"""The user, their role and their linked Discord account."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models

from daylock.accounts import names


class Role(models.TextChoices):
    PLAYER = "player", "Player"
    MODERATOR = "moderator", "Moderator"
    ADMIN = "admin", "Admin"


class LeaderboardVisibility(models.TextChoices):
    """How a player appears on event leaderboards (chosen on their profile)."""

    NAME = "name", "By my Discord display name"
    ANONYMOUS = "anonymous", "Anonymously, as “anonymous #n”"
    HIDDEN = "hidden", "Not at all"


class User(AbstractUser):
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.PLAYER)
    is_banned = models.BooleanField(default=False)
    #: Created by ``daylock seed``; never a real person.
    is_test_account = models.BooleanField(default=False)
    #: Anonymous by default: a player's Discord name is published only once they choose
    #: so, and hiding everyone by default would leave leaderboards empty.
    leaderboard_visibility = models.CharField(
        max_length=10,
        choices=LeaderboardVisibility.choices,
        default=LeaderboardVisibility.ANONYMOUS,
        # Also in the database: bulk loads and raw inserts that do not name it.
        db_default=LeaderboardVisibility.ANONYMOUS,
    )

    class Meta:
        # AbstractUser's own options, which a Meta of the subclass replaces.
        verbose_name = "user"
        verbose_name_plural = "users"
        indexes = [
            # The few players a leaderboard leaves out, read whole when it ranks an
            # event (a partial index: the query repeats its condition word for word).
            models.Index(
                fields=["id"],
                name="user_unlisted",
                condition=models.Q(is_banned=True)
                | models.Q(leaderboard_visibility=LeaderboardVisibility.HIDDEN),
            ),
        ]

    @property
    def is_moderator(self) -> bool:
        return self.role in {Role.MODERATOR, Role.ADMIN} or self.is_superuser

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN or self.is_superuser

    @property
    def display_name(self) -> str:
        """As Discord shows them (:func:`daylock.accounts.names.user_display_name`)."""
        return names.user_display_name(self)

    @property
    def avatar_url(self) -> str:
        """Empty without a Discord account (:func:`daylock.accounts.names.user_avatar_url`)."""
        return names.user_avatar_url(self)


class DiscordAccount(models.Model):
    """The Discord side of a user, as Discord last told it: at login and at every member
    sync. How it is shown is decided in :mod:`daylock.accounts.names`."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="discord")
    discord_id = models.CharField(max_length=32, unique=True)
    username = models.CharField(max_length=64)
    #: The user's display name on Discord (``global_name``); empty when they set none.
    global_name = models.CharField(max_length=64, blank=True)
    #: The user's avatar hash (empty: Discord's default avatar).
    avatar = models.CharField(max_length=128, blank=True)
    #: Their nickname on the configured guild (the member's ``nick``); empty when none.
    #: ``db_default`` too: the seed's bulk load and raw inserts need not name it.
    nick = models.CharField(max_length=64, blank=True, default="", db_default="")
    #: Their avatar on the configured guild (the member's ``avatar`` hash); empty when
    #: none, and the user's avatar shows.
    guild_avatar = models.CharField(max_length=128, blank=True, default="", db_default="")
    in_guild = models.BooleanField(default=False)
    guild_role_ids = models.JSONField(default=list, blank=True)
    #: When Daylock noticed the member had left the guild (a member sync or a refused
    #: login; wall time); None while in the guild. Shown to staff next to prizes.
    left_guild_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.username} ({self.discord_id})"

    @property
    def display_name(self) -> str:
        return names.display_name(self)

    @property
    def avatar_url(self) -> str:
        return names.avatar_url(self)


class GuildSync(models.Model):
    """One run of ``daylock discord sync-members`` (the command, the worker or staff).

    ``finished_at`` is set only when the whole member list was read and applied: a run
    that failed half-way leaves it empty (with ``error``) and never counts as fresh.
    Closing a prize's entries reads the newest finished run of the configured guild
    (:func:`daylock.discord.membership.last_complete_sync`).
    """

    guild_id = models.CharField(max_length=32)
    trigger = models.CharField(max_length=160)  # "cli", "worker", "staff:<username>"
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True, db_index=True)
    pages = models.PositiveIntegerField(default=0)
    members_listed = models.PositiveIntegerField(default=0)
    accounts_present = models.PositiveIntegerField(default=0)
    departed = models.PositiveIntegerField(default=0)
    rejoined = models.PositiveIntegerField(default=0)
    roles_changed = models.PositiveIntegerField(default=0)
    #: Accounts whose username, display name, avatar, nickname or guild avatar changed.
    names_changed = models.PositiveIntegerField(default=0, db_default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        state = f"finished {self.finished_at:%Y-%m-%d %H:%M}" if self.finished_at else "unfinished"
        return f"guild sync {self.pk} of {self.guild_id} ({state})"
