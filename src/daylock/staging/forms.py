"""Forms of the staff test-utility pages. They only parse and validate input; the
services do the work (and re-check the policy)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django import forms

from daylock.accounts.models import User
from daylock.events.models import Event, Tier
from daylock.staging.parsing import parse_duration, parse_instant


class _UserField(forms.CharField):
    def clean(self, value: Any) -> User | None:
        text = super().clean(value)
        if not text:
            return None
        try:
            return User.objects.get(username=text.strip())
        except User.DoesNotExist:
            raise forms.ValidationError(f"no user named {text!r}") from None


def _event_field() -> forms.ModelChoiceField[Event]:
    return forms.ModelChoiceField(
        queryset=Event.objects.order_by("-starts_on", "slug"), to_field_name="slug"
    )


class UnlockDayForm(forms.Form):
    event = _event_field()
    day = forms.IntegerField(min_value=1)
    user = _UserField(required=False, help_text="empty: for everyone")


class CompleteForm(forms.Form):
    user = _UserField()
    event = _event_field()
    tier = forms.ChoiceField(choices=Tier.choices)


class ClockForm(forms.Form):
    ACTIONS = (("set", "move to"), ("forward", "move forward by"), ("reset", "back to wall time"))
    action = forms.ChoiceField(choices=ACTIONS)
    to = forms.CharField(required=False, help_text="ISO 8601, e.g. 2025-12-03T00:00Z (UTC)")
    forward = forms.CharField(required=False, help_text="e.g. 1d2h, 90m, -3d")
    user = _UserField(required=False, help_text="empty: the whole environment")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        action = data.get("action")
        try:
            if action == "set":
                if not data.get("to"):
                    raise forms.ValidationError("give the instant to move the clock to")
                data["instant"] = parse_instant(data["to"])
            elif action == "forward":
                if not data.get("forward"):
                    raise forms.ValidationError("give a duration, e.g. 1d2h")
                data["duration"] = parse_duration(data["forward"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data

    @property
    def instant(self) -> datetime | None:
        value: datetime | None = self.cleaned_data.get("instant")
        return value

    @property
    def duration(self) -> timedelta | None:
        value: timedelta | None = self.cleaned_data.get("duration")
        return value


class EligibilityForm(forms.Form):
    VERDICTS = (("eligible", "force eligible"), ("ineligible", "force ineligible"),
                ("clear", "clear the override"))  # fmt: skip
    user = _UserField()
    event = _event_field()
    verdict = forms.ChoiceField(choices=VERDICTS)
    reason = forms.CharField(required=False, max_length=200)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (
            data.get("verdict") in {"eligible", "ineligible"}
            and not (data.get("reason") or "").strip()
        ):
            raise forms.ValidationError("give a reason (shown on My prizes and in the audit log)")
        return data
