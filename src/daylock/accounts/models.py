"""The user, their role and their linked Discord account."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models


class Role(models.TextChoices):
    PLAYER = "player", "Player"
    MODERATOR = "moderator", "Moderator"
    ADMIN = "admin", "Admin"


class User(AbstractUser):
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.PLAYER)
    is_banned = models.BooleanField(default=False)
    #: Created by ``daylock seed``; never a real person.
    is_test_account = models.BooleanField(default=False)

    @property
    def is_moderator(self) -> bool:
        return self.role in {Role.MODERATOR, Role.ADMIN} or self.is_superuser

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN or self.is_superuser


class DiscordAccount(models.Model):
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="discord")
    discord_id = models.CharField(max_length=32, unique=True)
    username = models.CharField(max_length=64)
    global_name = models.CharField(max_length=64, blank=True)
    avatar = models.CharField(max_length=128, blank=True)
    in_guild = models.BooleanField(default=False)
    guild_role_ids = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.username} ({self.discord_id})"
