"""The environment stamp, the clock override and the audit log."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from daylock.core import readable
from daylock.stamps import STAMP_TABLE


class EnvironmentStamp(models.Model):
    """Which environment owns this database. One row, written by the first migration.

    ``singleton`` is unique and always True, so a second row cannot be inserted.
    """

    singleton = models.BooleanField(default=True, unique=True, editable=False)
    environment = models.CharField(max_length=20)
    instance_id = models.UUIDField(default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = STAMP_TABLE
        # Created by migration 0001, then unmanaged so that flush never removes it.
        managed = False

    def __str__(self) -> str:
        return f"{self.environment} ({self.instance_id})"


class ClockOverride(models.Model):
    """A moved clock: for the whole environment (``user`` null) or for one user.

    Stored in the database so that the web server, the worker and every CLI command
    agree. Only honoured where the policy allows ``clock_override`` (never production).
    """

    scope = models.CharField(max_length=40, unique=True)  # "environment" or "user:<id>"
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    offset = models.DurationField()
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    set_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.scope}: {self.offset}"


class AuditLog(models.Model):
    """Every admin action and every test-utility use."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    environment = models.CharField(max_length=20)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)  # survives user deletion; "cli"
    action = models.CharField(max_length=80, db_index=True)
    target = models.CharField(max_length=200, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.target}"

    @property
    def details_lines(self) -> list[str]:
        """``details`` as lines a person reads, for every page that shows the log."""
        return readable.details_lines(self.details)
