"""Daylock's Django admin site: who may enter reads the role table, and every write
made through it is audited.

* :meth:`DaylockAdminSite.has_permission` asks :func:`permissions.admin_site_allowed`
  (superusers, and roles that may view at least one model of
  :data:`permissions.ADMIN_MODELS`) instead of Django's ``is_staff``; what each model
  allows comes from the same table through
  :class:`~daylock.accounts.permissions.RolePermissionBackend`. A logged-in account
  that may not enter gets a 403 saying why, not the admin's password form.
* Every ModelAdmin registered here (``@admin.register`` uses this site: see
  :class:`daylock.accounts.admin_app.DaylockAdminConfig`) gets :class:`AuditedAdmin`
  mixed in, so additions, changes (old → new, inline rows included) and deletions go to
  the audit log through :func:`daylock.core.audit.admin_write_record`, next to Django's
  own ``LogEntry`` and in the same transaction. The app admins need not remember it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import uuid
from collections.abc import Callable, Iterable, Mapping
from functools import update_wrapper
from typing import Any, TypeVar, cast

from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model
from django.forms import BaseForm, ModelChoiceField, ModelMultipleChoiceField
from django.http import HttpRequest, HttpResponseBase

from daylock.accounts import permissions
from daylock.core import audit

_ViewType = TypeVar("_ViewType", bound=Callable[..., HttpResponseBase])

#: Where construct_change_message leaves the change for log_addition/log_change.
_PENDING = "_daylock_admin_audit"

#: Shown instead of the value of a field that holds a secret (answers, prize codes,
#: seeds, passwords): the audit log is read by moderators too.
HIDDEN = "(hidden)"
_SECRET_NAMES = frozenset({"code", "codes", "answer", "seed"})
_SECRET_PARTS = ("password", "secret", "token")

#: Longest text kept per value.
_MAX_TEXT = 300


def is_secret(name: str) -> bool:
    lowered = name.lower()
    return lowered in _SECRET_NAMES or any(part in lowered for part in _SECRET_PARTS)


def plain(value: Any) -> Any:
    """A JSON value a person can read: objects by their ``str``, times in ISO 8601."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= _MAX_TEXT else value[: _MAX_TEXT - 1] + "…"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta | decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, Iterable) and not isinstance(value, bytes | Model):
        return [plain(item) for item in value]
    return plain(str(value))


def _shown(form: BaseForm, name: str, value: Any) -> Any:
    if is_secret(name):
        return HIDDEN
    field = form.fields.get(name)
    if (
        isinstance(field, ModelChoiceField)
        and not isinstance(field, ModelMultipleChoiceField)
        and value not in (None, "")
        and not isinstance(value, Model)
    ):
        # The form's initial data holds a foreign key's id; show the object.
        with contextlib.suppress(ValidationError):
            value = field.to_python(value)
    return plain(value)


def form_changes(form: BaseForm) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for every field the form changed."""
    return {
        name: [
            _shown(form, name, form.initial.get(name)),
            _shown(form, name, form.cleaned_data.get(name)),
        ]
        for name in form.changed_data
    }


def form_values(form: BaseForm) -> dict[str, Any]:
    """``{field: value}`` of a new object, leaving out empty fields."""
    return {
        name: _shown(form, name, value)
        for name, value in form.cleaned_data.items()
        if value not in (None, "", [], ()) and name in form.fields
    }


def _label(obj: Model) -> str:
    return f"{obj._meta.verbose_name} “{plain(str(obj))}”"


def inline_changes(formsets: Iterable[Any]) -> list[dict[str, Any]]:
    """What each inline formset added, changed (old → new) and deleted."""
    found: list[dict[str, Any]] = []
    for formset in formsets:
        forms = {id(form.instance): form for form in formset.forms}
        for obj in getattr(formset, "new_objects", []):
            form = forms.get(id(obj))
            values = form_values(form) if form is not None else {}
            found.append({"added": _label(obj), "fields": values})
        for obj, _names in getattr(formset, "changed_objects", []):
            form = forms.get(id(obj))
            changes = form_changes(form) if form is not None else {}
            found.append({"changed": _label(obj), "changes": changes})
        for obj in getattr(formset, "deleted_objects", []):
            found.append({"deleted": _label(obj)})
    return found


def object_values(obj: Model) -> dict[str, Any]:
    """The concrete fields of an object about to be deleted (secrets hidden)."""
    values: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if field.primary_key:
            continue
        name = field.name
        values[name] = HIDDEN if is_secret(name) else plain(getattr(obj, name, None))
    return values


class AuditedAdmin:
    """Mixed into every ModelAdmin of :class:`DaylockAdminSite`: each logged addition,
    change and deletion is also written to the audit log (no business logic here:
    :func:`daylock.core.audit.admin_write_record` writes)."""

    def construct_change_message(
        self, request: HttpRequest, form: BaseForm, formsets: Any, add: bool = False
    ) -> Any:
        message = super().construct_change_message(request, form, formsets, add)  # type: ignore[misc]
        details: dict[str, Any] = (
            {"fields": form_values(form)} if add else {"changes": form_changes(form)}
        )
        inlines = inline_changes(formsets or [])
        if inlines:
            details["inlines"] = inlines
        setattr(request, _PENDING, details)
        return message

    def _pending(self, request: HttpRequest) -> dict[str, Any]:
        details = getattr(request, _PENDING, None) or {}
        if hasattr(request, _PENDING):
            delattr(request, _PENDING)
        return dict(details)

    def log_addition(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        entry = super().log_addition(request, obj, message)  # type: ignore[misc]
        audit.admin_write_record(
            actor=request.user, verb="add", obj=obj, details=self._pending(request)
        )
        return entry

    def log_change(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        entry = super().log_change(request, obj, message)  # type: ignore[misc]
        audit.admin_write_record(
            actor=request.user, verb="change", obj=obj, details=self._pending(request)
        )
        return entry

    def log_deletions(self, request: HttpRequest, queryset: Iterable[Model]) -> Any:
        objects = list(queryset)
        entries = super().log_deletions(request, objects)  # type: ignore[misc]
        for obj in objects:
            audit.admin_write_record(
                actor=request.user,
                verb="delete",
                obj=obj,
                details={"fields": object_values(obj)},
            )
        return entries


class DaylockAdminSite(admin.AdminSite):
    site_header = "Daylock administration"
    site_title = "Daylock admin"
    index_title = "Events, prizes and what staff may read"

    def has_permission(self, request: HttpRequest) -> bool:
        return permissions.admin_site_allowed(request.user)

    def admin_view(self, view: _ViewType, cacheable: bool = False) -> _ViewType:
        """Django's, except that a logged-in account that may not enter gets a 403
        saying why (Django would show its password form again)."""
        inner = super().admin_view(view, cacheable)

        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.user.is_authenticated and not self.has_permission(request):
                role = permissions.role_of(request.user)
                raise PermissionDenied(
                    "The Django admin is for staff: admins author events and prizes, "
                    "moderators read feedback, draws and the outbox. Your account has "
                    f"{role.label.lower() + ' role' if role else 'no role'}. Ask an admin "
                    "of the Discord server for a staff role, then log out and log in again."
                )
            return inner(request, *args, **kwargs)

        return cast(_ViewType, update_wrapper(guarded, inner))

    def register(
        self,
        model_or_iterable: Any,
        admin_class: type[admin.ModelAdmin[Any]] | None = None,
        **options: Any,
    ) -> None:
        """Registers ``admin_class`` with :class:`AuditedAdmin` mixed in."""
        base = admin_class or admin.ModelAdmin
        if not issubclass(base, AuditedAdmin):
            base = type(
                base.__name__,
                (AuditedAdmin, base),
                {"__module__": base.__module__, "__qualname__": base.__qualname__},
            )
        super().register(model_or_iterable, base, **options)
