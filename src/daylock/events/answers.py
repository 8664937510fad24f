"""How submitted answers are compared with a challenge's answer."""

from __future__ import annotations

import hmac
import unicodedata


def normalise_answer(text: str) -> str:
    """The form in which answers are compared, so that trivial differences never
    decide whether a player solved a day.

    In order:

    1. Unicode NFKC normalisation — compatibility forms become their plain equivalents
       (full-width letters → ASCII, the ``fi`` ligature → ``fi``, non-breaking space →
       space, composed and decomposed accents are equal);
    2. case folding (:meth:`str.casefold`: ``Straße`` equals ``STRASSE``);
    3. leading and trailing whitespace removed;
    4. every inner run of whitespace (spaces, tabs, newlines) collapsed to one space.

    Punctuation and inner spaces are kept: ``4 2`` and ``42`` are different answers.
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.split())


def answers_match(submitted: str, expected: str) -> bool:
    """Equal after :func:`normalise_answer` (compared in constant time)."""
    return hmac.compare_digest(
        normalise_answer(submitted).encode(), normalise_answer(expected).encode()
    )
