"""Input forms. Limits come from the models; the services re-check them."""

from __future__ import annotations

from django import forms

from daylock.events.models import MAX_ANSWER_LENGTH, MAX_COMMENT_LENGTH


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
