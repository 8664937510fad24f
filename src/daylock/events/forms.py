"""Input forms. Limits come from the models; the services re-check them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms

from daylock.discord.directory import Kind, Listing
from daylock.events.models import (
    MAX_ANSWER_LENGTH,
    MAX_COMMENT_LENGTH,
    MAX_DAYS,
    validate_time_zone,
)
from daylock.prizes.models import Fulfilment


class AnswerForm(forms.Form):
    answer = forms.CharField(
        max_length=MAX_ANSWER_LENGTH,
        strip=False,  # normalisation decides what whitespace means
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "none"}),
        error_messages={
            "required": "Type an answer first.",
            "max_length": "Answers are at most %(limit_value)d characters "
            "(this one has %(show_value)d). Nothing was stored.",
        },
    )


RATING_CHOICES = [(n, f"{n} / 5") for n in range(1, 6)]


class FeedbackForm(forms.Form):
    rating = forms.TypedChoiceField(
        choices=RATING_CHOICES,
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose a rating from 1 to 5.",
            "invalid_choice": "The rating is a whole number from 1 to 5 (got %(value)s).",
        },
    )
    comment = forms.CharField(
        required=False,
        max_length=MAX_COMMENT_LENGTH,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        error_messages={
            "max_length": "Comments are at most %(limit_value)d characters "
            "(this one has %(show_value)d)."
        },
    )


# --- the staff event editor (issue 14 item 2) --------------------------------------------
#
# Validation only: the rules (seen days, Discord ids, duplicate codes) are in
# :mod:`daylock.events.authoring`, which the editor's views call with the cleaned data.


def _choices(
    listing: Listing, current: str | None, *, what: str, blank: str
) -> list[tuple[str, str]]:
    """``(id, name)`` choices of a role or channel picker: the directory's entries, and
    the current id if the directory does not have it (deleted on Discord, or the
    directory could not be read), so saving other fields keeps it."""
    prefix = "#" if listing.kind is Kind.CHANNELS else ""
    choices = [("", blank)] + [(e.id, f"{prefix}{e.name}") for e in listing.entries]
    if current and current not in listing.ids:
        choices.append((current, f"{what} {current} (not in the server's list)"))
    return choices


class EventEditorForm(forms.Form):
    slug = forms.SlugField(
        max_length=80,
        help_text="In the address: /events/<slug>/. Letters, digits, - and _.",
    )
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    time_zone = forms.CharField(
        max_length=64,
        initial="UTC",
        validators=[validate_time_zone],
        help_text="IANA name (Europe/Berlin, UTC): days unlock at 00:00 there.",
    )
    starts_on = forms.DateField(
        label="First day", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    day_count = forms.IntegerField(
        label="Number of days",
        min_value=1,
        max_value=MAX_DAYS,
        help_text="Changed it? Press “Update days” to get one form per day.",
    )
    published = forms.BooleanField(required=False, help_text="Players see published events.")
    completion_role_normal_id = forms.ChoiceField(
        label="Role for a normal completion", required=False
    )
    completion_role_veteran_id = forms.ChoiceField(
        label="Role for a veteran completion", required=False
    )
    announce_channel_id = forms.ChoiceField(label="Announcement channel", required=False)
    confirm_seen = forms.BooleanField(
        label="Change days players have already seen",
        required=False,
        help_text="Needed to change the text, prompts or answers of a day that has opened, "
        "or to move it. Players may have read or solved it.",
    )

    def __init__(
        self,
        *args: Any,
        roles: Listing,
        channels: Listing,
        current: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        now = current or {}
        for name in ("completion_role_normal_id", "completion_role_veteran_id"):
            field = self.fields[name]
            assert isinstance(field, forms.ChoiceField)
            field.choices = _choices(roles, now.get(name), what="role", blank="(no role)")
        channel = self.fields["announce_channel_id"]
        assert isinstance(channel, forms.ChoiceField)
        channel.choices = _choices(
            channels, now.get("announce_channel_id"), what="channel", blank="(no channel)"
        )

    def clean_completion_role_normal_id(self) -> str | None:
        return self.cleaned_data["completion_role_normal_id"] or None

    def clean_completion_role_veteran_id(self) -> str | None:
        return self.cleaned_data["completion_role_veteran_id"] or None

    def clean_announce_channel_id(self) -> str | None:
        return self.cleaned_data["announce_channel_id"] or None


#: Prompts render like the day's text (:mod:`daylock.events.rendering`).
PROMPT_HELP = "Markdown: **bold**, `code`, [links](https://…); players see it formatted."


class DayEditorForm(forms.Form):
    """One day: its content and both challenges (the formset numbers the days)."""

    title = forms.CharField(max_length=200)
    body_markdown = forms.CharField(
        label="Text (Markdown)", required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    normal_prompt = forms.CharField(
        label="Normal challenge",
        help_text=PROMPT_HELP,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    normal_answer = forms.CharField(
        label="Normal answer",
        max_length=MAX_ANSWER_LENGTH,
        strip=False,  # "only whitespace" gets its own message from the editor's service
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    veteran_prompt = forms.CharField(
        label="Veteran challenge",
        help_text=PROMPT_HELP,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    veteran_answer = forms.CharField(
        label="Veteran answer",
        max_length=MAX_ANSWER_LENGTH,
        strip=False,  # "only whitespace" gets its own message from the editor's service
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


DayEditorFormSet = forms.formset_factory(
    DayEditorForm, extra=0, max_num=MAX_DAYS, absolute_max=MAX_DAYS, validate_max=True
)


class PrizeEditorForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    quantity = forms.IntegerField(min_value=1, initial=1, help_text="How many winners.")
    min_tier = forms.ChoiceField(
        label="Rule",
        choices=[
            ("normal", "Normal completion or better"),
            ("veteran", "Veteran completion only"),
        ],
    )
    feedback_required = forms.BooleanField(
        required=False, label="Feedback required", help_text="Entrants must have left feedback."
    )
    fulfilment = forms.ChoiceField(label="Fulfilment", choices=Fulfilment.choices)
    discord_role_id = forms.ChoiceField(
        label="Discord role granted", required=False, help_text="For Discord role prizes."
    )
    announce_channel_id = forms.ChoiceField(
        label="Channel for the winners' announcement", required=False
    )
    codes = forms.CharField(
        label="Add codes",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text="For code reveal prizes: one code per line, or CSV with a header “code”. "
        "Blank lines are ignored; a duplicate is refused with its line number.",
    )

    def __init__(
        self,
        *args: Any,
        roles: Listing,
        channels: Listing,
        current: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        now = current or {}
        role = self.fields["discord_role_id"]
        assert isinstance(role, forms.ChoiceField)
        role.choices = _choices(roles, now.get("discord_role_id"), what="role", blank="(no role)")
        channel = self.fields["announce_channel_id"]
        assert isinstance(channel, forms.ChoiceField)
        channel.choices = _choices(
            channels, now.get("announce_channel_id"), what="channel", blank="(no channel)"
        )
