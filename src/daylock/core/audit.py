"""The audit log for people: the staff page's reads (filters, pages), details rendered
as lines rather than Python dicts, and the one write the Django admin makes.

Rows are written by :func:`daylock.core.services.audit_record` (every service that
acts records itself); this module adds no other way to write them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


@dataclass(frozen=True)
class AuditRow:
    entry: AuditLog
    #: The details as lines a person reads (see :func:`details_lines`).
    lines: list[str]


def audit_page(
    *, filters: AuditFilters, page: str | int | None
) -> tuple[Page[Any], list[AuditRow]]:
    """One page of :func:`audit_entries` (a page number out of range gives the last)."""
    paginator = Paginator(audit_entries(filters=filters), PAGE_SIZE)
    current = paginator.get_page(page)
    rows = [AuditRow(entry=entry, lines=details_lines(entry.details)) for entry in current]
    return current, rows


def audit_actions() -> list[str]:
    """Every action recorded, with their families (``testtools.``) for the filter."""
    actions = sorted(set(AuditLog.objects.values_list("action", flat=True).distinct()))
    families = sorted({a.split(".", 1)[0] + "." for a in actions if "." in a})
    return families + actions


def audit_actors() -> list[str]:
    return sorted(set(AuditLog.objects.values_list("actor_label", flat=True).distinct()) - {""})


# --- details for people ----------------------------------------------------------------

#: Keys whose value maps a field to ``[old, new]``: shown as ``field: old → new``.
_CHANGE_KEYS = frozenset({"changed", "changes"})
#: Keys whose mapping is shown as its own ``key: value`` lines, without a prefix.
_FLAT_KEYS = frozenset({"fields"})


def show(value: Any) -> str:
    """One value as a person reads it: lists joined, no quotes, no ``None``."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value if value else "(empty)"
    if isinstance(value, Mapping):
        return "; ".join(f"{key}: {show(item)}" for key, item in value.items()) or "(none)"
    if isinstance(value, Sequence):
        return ", ".join(show(item) for item in value) or "(none)"
    return str(value)


def _is_pair(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2


def details_lines(details: Any) -> list[str]:
    """An audit row's ``details`` as ``key: value`` lines: lists joined, changes as
    ``field: old → new``, a ``from``/``to`` pair as ``from → to``, nested mappings
    prefixed with their key (``outer / inner: value``), a list of mappings (inline rows)
    one line each."""
    if not isinstance(details, Mapping):
        return [] if details in (None, "", {}) else [show(details)]
    lines: list[str] = []
    _mapping_lines(details, "", lines)
    return lines


def _mapping_lines(details: Mapping[str, Any], prefix: str, lines: list[str]) -> None:
    if "from" in details and "to" in details:
        lines.append(f"{prefix}{show(details['from'])} → {show(details['to'])}")
    for key, value in details.items():
        if key in ("from", "to") and "from" in details and "to" in details:
            continue
        if key in _CHANGE_KEYS and isinstance(value, Mapping):
            for name, change in value.items():
                if _is_pair(change):
                    lines.append(f"{prefix}{name}: {show(change[0])} → {show(change[1])}")
                else:
                    lines.append(f"{prefix}{name}: {show(change)}")
        elif key in _FLAT_KEYS and isinstance(value, Mapping):
            _mapping_lines(value, prefix, lines)
        elif isinstance(value, Mapping):
            _mapping_lines(value, f"{prefix}{key} / ", lines)
        elif (
            isinstance(value, Sequence)
            and not isinstance(value, str)
            and any(isinstance(item, Mapping) for item in value)
        ):
            for item in value:
                if isinstance(item, Mapping):
                    lines.append(f"{prefix}{key}: " + "; ".join(details_lines(item)))
                else:
                    lines.append(f"{prefix}{key}: {show(item)}")
        else:
            lines.append(f"{prefix}{key}: {show(value)}")


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
