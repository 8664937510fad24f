"""What the browser tests share: logging in through staging's Discord, screenshots, and
the page checks every page must pass (issue 16 item 5) — no horizontal overflow,
no critical or serious axe-core violation, a visible keyboard focus ring.

axe-core is injected into the page by the test, so a context that runs it is opened
with ``bypass_csp=True`` (the pages' own CSP is checked by ``tests/core/test_csp.py``
and by the browser tests that do not bypass it).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.harness import Instance

#: Loaded once: axe-playwright-python reads its 500 kB script at every ``Axe()``.
_AXE = Axe()
#: WCAG 2.2, 1.4.11 (non-text contrast): a focus indicator needs 3:1 against what is
#: next to it.
FOCUS_RING_CONTRAST = 3.0


def shot(page: Page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def save_failure(artifacts: Path, *contexts: BrowserContext) -> None:
    """Screenshot and HTML of every open page, to see what the browser saw."""
    for c, context in enumerate(contexts):
        for p, open_page in enumerate(context.pages):
            stem = artifacts / f"FAILED-context{c}-page{p}"
            with contextlib.suppress(Exception):
                open_page.screenshot(path=f"{stem}.png", full_page=True)
                Path(f"{stem}.html").write_text(open_page.content())


def assert_staging_banner(page: Page) -> None:
    banner = page.locator(".env-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("STAGING")


def discord_login(page: Page, staging: Instance, user_id: str, next_path: str) -> None:
    """Log in through staging's own Discord (its emulator's consent page)."""
    page.goto(f"/auth/login/?next={next_path}")
    assert_staging_banner(page)
    page.get_by_role("button", name="Log in with Discord").click()
    page.wait_for_url(f"{staging.emulator_url}/**")
    page.check(f"input[name=user_id][value='{user_id}']")
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{staging.public_url}/**")
    assert_staging_banner(page)


def challenge_answer(staging: Instance, slug: str, number: int, tier: str) -> str:
    """What a tester with database access knows: the seeded answer."""
    with psycopg.connect(staging.database_url) as conn:
        row = conn.execute(
            "SELECT c.answer FROM events_challenge c JOIN events_day d ON d.id = c.day_id "
            "JOIN events_event e ON e.id = d.event_id "
            "WHERE e.slug = %s AND d.number = %s AND c.tier = %s",
            (slug, number, tier),
        ).fetchone()
    assert row is not None, f"no {tier} challenge on {slug} day {number}"
    return str(row[0])


# --- page checks ---------------------------------------------------------------------------


def horizontal_overflow(page: Page) -> int:
    """How many pixels the page is wider than the viewport (0: no horizontal scroll)."""
    overflow: int = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return max(overflow, 0)


def no_horizontal_overflow(page: Page) -> None:
    overflow = horizontal_overflow(page)
    assert overflow <= 0, f"{page.url}: {overflow}px of horizontal overflow"


def axe_serious(page: Page) -> list[str]:
    """Every critical or serious axe-core violation, with the elements it found."""
    results = _AXE.run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(
            f"{n['target']}: {' '.join(n.get('failureSummary', '').split())}"
            for n in v["nodes"][:5]
        )
        for v in results.response["violations"]
        if v["impact"] in {"critical", "serious"}
    ]


# --- keyboard focus ------------------------------------------------------------------------


@dataclass(frozen=True)
class Focused:
    """The element that has the keyboard focus, as the browser draws it."""

    tag: str
    text: str
    href: str | None
    in_header: bool
    in_main: bool
    is_skip_link: bool
    visible: bool
    outline_style: str
    outline_width: float
    outline_color: str
    #: The first opaque background behind the ring (the ring is drawn outside the box).
    background: str

    def describe(self) -> str:
        return f"<{self.tag}> {self.text[:40]!r}"


_FOCUSED_JS = """
() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  let background = 'rgb(255, 255, 255)';
  for (let node = el.parentElement; node; node = node.parentElement) {
    const bg = getComputedStyle(node).backgroundColor;
    const alpha = bg.startsWith('rgba') ? parseFloat(bg.split(',')[3]) : 1;
    if (alpha >= 1) { background = bg; break; }
  }
  return {
    tag: el.tagName.toLowerCase(),
    text: (el.innerText || el.value || el.getAttribute('aria-label') || '').trim(),
    href: el.getAttribute('href'),
    in_header: !!el.closest('header'),
    in_main: !!el.closest('main'),
    is_skip_link: el.matches('a.skip-link[href="#content"]'),
    visible: box.width > 0 && box.height > 0 && box.bottom > 0 && box.right > 0
      && box.top < innerHeight && box.left < innerWidth && style.visibility !== 'hidden',
    outline_style: style.outlineStyle,
    outline_width: parseFloat(style.outlineWidth) || 0,
    outline_color: style.outlineColor,
    background: background,
  };
}
"""


def focused(page: Page) -> Focused | None:
    found: dict[str, Any] | None = page.evaluate(_FOCUSED_JS)
    return Focused(**found) if found else None


def tab(page: Page) -> Focused | None:
    page.keyboard.press("Tab")
    return focused(page)


def _rgb(css: str) -> tuple[float, float, float]:
    numbers = [float(n) for n in re.findall(r"[\d.]+", css)[:3]]
    assert len(numbers) == 3, f"not a colour: {css!r}"
    return numbers[0], numbers[1], numbers[2]


def contrast(first: str, second: str) -> float:
    """WCAG contrast ratio of two CSS ``rgb()`` colours."""

    def luminance(css: str) -> float:
        def channel(value: float) -> float:
            c = value / 255
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

        r, g, b = (channel(v) for v in _rgb(css))
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def focus_ring_problem(element: Focused) -> str | None:
    """Why the keyboard focus on ``element`` cannot be seen, or None."""
    if not element.visible:
        return f"{element.describe()} has the focus but is not on screen"
    if element.outline_style == "none" or element.outline_width < 2:
        return (
            f"{element.describe()} shows no focus ring "
            f"(outline {element.outline_style} {element.outline_width}px)"
        )
    ratio = contrast(element.outline_color, element.background)
    if ratio < FOCUS_RING_CONTRAST:
        return (
            f"{element.describe()}: focus ring {element.outline_color} on "
            f"{element.background} is {ratio:.2f}:1 (needs {FOCUS_RING_CONTRAST}:1)"
        )
    return None
