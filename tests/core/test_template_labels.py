"""Every form control written out in a template has a label (issue 16 item 5: an
unlabelled select went unnoticed on a staff page). Controls rendered by Django forms
(``{{ form.field }}``) get theirs from the form and are checked in the browser by
axe-core (``tests/e2e/test_walk_phone_and_keyboard.py``)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from daylock.config import BASE_DIR

TEMPLATE_DIRS = (BASE_DIR / "jinja2", BASE_DIR / "templates")
#: Input types that are not filled in by a person or carry their own text.
UNLABELLED_TYPES = frozenset({"hidden", "submit", "button", "reset", "image"})


class Controls(HTMLParser):
    """Controls that no ``<label>`` names: not inside one, no ``<label for>`` of the
    template points at their id, no ``aria-label``/``aria-labelledby``. Jinja2 syntax
    is text to it, so ``id="reroll-{{ w.pk }}"`` matches ``for="reroll-{{ w.pk }}"``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.label_depth = 0
        self.label_for: set[str] = set()
        self.controls: list[tuple[int, str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "label":
            self.label_depth += 1
            if found.get("for"):
                self.label_for.add(str(found["for"]))
        elif tag in ("input", "select", "textarea"):
            if tag == "input" and (found.get("type") or "text").lower() in UNLABELLED_TYPES:
                return
            if self.label_depth or "aria-label" in found or "aria-labelledby" in found:
                return
            self.controls.append((self.getpos()[0], tag, found))

    def handle_endtag(self, tag: str) -> None:
        if tag == "label" and self.label_depth:
            self.label_depth -= 1

    def unlabelled(self) -> list[str]:
        return [
            f"line {line}: <{tag} name={attrs.get('name')!r}>"
            for line, tag, attrs in self.controls
            if not attrs.get("id") or attrs["id"] not in self.label_for
        ]


def unlabelled(html: str) -> list[str]:
    parser = Controls()
    parser.feed(html)
    parser.close()
    return parser.unlabelled()


def test_every_control_in_a_template_has_a_label() -> None:
    templates = sorted(path for folder in TEMPLATE_DIRS for path in folder.rglob("*.html"))
    assert len(templates) > 20, templates
    found = {str(path.relative_to(BASE_DIR)): unlabelled(path.read_text()) for path in templates}
    assert {name: problems for name, problems in found.items() if problems} == {}


@pytest.mark.parametrize(
    "bad",
    [
        '<select name="status"><option>x</option></select>',
        '<input type="text" name="reason" placeholder="reason (published)">',
        "<input name=answer>",
        '<textarea name="comment"></textarea>',
        '<label for="other">Other</label><input id="mine" name="x">',
        '<label>Before</label><input name="after">',
    ],
)
def test_the_scan_finds_an_unlabelled_control(bad: str) -> None:
    assert unlabelled(f"<form>{bad}</form>") != []


@pytest.mark.parametrize(
    "fine",
    [
        '<label for="r-{{ w.pk }}">Reason</label><input id="r-{{ w.pk }}" name="reason">',
        '<label><input type="checkbox" name="confirm"> I confirm</label>',
        '<input type="hidden" name="next" value="/">',
        '<button type="submit">Go</button><input type="submit" value="Go">',
        '<input name="q" aria-label="Search">',
        '<span id="l">Pick</span><select name="s" aria-labelledby="l"></select>',
    ],
)
def test_the_scan_accepts_a_labelled_control(fine: str) -> None:
    assert unlabelled(f"<form>{fine}</form>") == []
