"""The audit log for people: the staff page's reads (filters, pages) and the one write
the Django admin makes. Details read as lines (:mod:`daylock.core.readable`).

Rows are written by :func:`daylock.core.services.audit_record` (every service that
acts records itself); this module adds no other way to write them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Model, Q, QuerySet

from daylock.core.models import AuditLog
from daylock.core.services import audit_record

PAGE_SIZE = 50

# --- reads -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilters:
    """What the staff page filters by; an empty string filters nothing.

    * ``actor``: the actor's label (``cli``, ``discord`` or a username), exactly.
    * ``action``: an action exactly (``prizes.draw_run``), or a family ending in a dot
      (``testtools.``, ``admin.``).
    * ``target``: an object as targets name it (``prize:3``, ``draw:12``, ``user pat``):
      that object and anything under it (``draw:12:rank:1``), not ``draw:120``.
    """

    actor: str = ""
    action: str = ""
    target: str = ""

    @property
    def active(self) -> bool:
        return bool(self.actor or self.action or self.target)


def audit_entries(*, filters: AuditFilters) -> QuerySet[AuditLog]:
    """Newest first."""
    rows = AuditLog.objects.select_related("actor").order_by("-created_at", "-id")
    if filters.actor:
        rows = rows.filter(actor_label__iexact=filters.actor)
    if filters.action:
        if filters.action.endswith("."):
            rows = rows.filter(action__istartswith=filters.action)
        else:
            rows = rows.filter(action__iexact=filters.action)
    if filters.target:
        target = filters.target
        rows = rows.filter(
            Q(target__iexact=target)
            | Q(target__istartswith=f"{target}:")
            | Q(target__istartswith=f"{target} ")
        )
    return rows


def audit_page(*, filters: AuditFilters, page: str | int | None) -> Page[AuditLog]:
    """One page of :func:`audit_entries` (a page number out of range gives the last).
    Each row's details read as lines: ``AuditLog.details_lines``."""
    return Paginator(audit_entries(filters=filters), PAGE_SIZE).get_page(page)


def audit_actions() -> list[str]:
    """Every action recorded, with their families (``testtools.``) for the filter."""
    actions = sorted(set(AuditLog.objects.values_list("action", flat=True).distinct()))
    families = sorted({a.split(".", 1)[0] + "." for a in actions if "." in a})
    return families + actions


def audit_actors() -> list[str]:
    return sorted(set(AuditLog.objects.values_list("actor_label", flat=True).distinct()) - {""})


# --- the Django admin's write ----------------------------------------------------------


def admin_write_record(*, actor: Any, verb: str, obj: Model, details: dict[str, Any]) -> AuditLog:
    """Audit one addition, change or deletion made through the Django admin.

    Called by the admin site (:class:`daylock.accounts.admin_site.AuditedAdmin`) inside
    the admin's transaction. The target names the object the way the services do
    (``prize:3``), so the page's object filter finds both."""
    signed_in = bool(getattr(actor, "is_authenticated", False))
    opts = obj._meta
    return audit_record(
        actor_id=actor.pk if signed_in else None,
        actor_label=actor.get_username() if signed_in else "admin",
        action=f"admin.{verb}",
        target=f"{opts.model_name}:{obj.pk}",
        details={"model": opts.label_lower, "object": str(obj)[:200], **details},
    )
