"""Audit details for people: ``key: value`` lines instead of Python dicts.

Used by every page that shows the audit log (``AuditLog.details_lines``): the staff
audit page and the test utilities' recent actions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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
