"""A one-line progress bar on stderr, drawn only when stderr is a terminal (so logs,
pipes and tests see nothing but the final summary on stdout)."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

logger = logging.getLogger("daylock.staging")


class ProgressBar:
    WIDTH = 30

    def __init__(self, total: int, *, stream: TextIO | None = None, force: bool = False) -> None:
        self.stream = sys.stderr if stream is None else stream
        try:
            tty = self.stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        self.enabled = force or tty
        self.total = max(total, 1)
        self.done = 0
        self.label = ""
        self._last_draw = 0.0
        self._stage_started = time.perf_counter()
        #: (stage, seconds) of every finished stage, logged at DEBUG by :meth:`finish`.
        self.timings: list[tuple[str, float]] = []

    def _close_stage(self) -> None:
        now = time.perf_counter()
        if self.label:
            self.timings.append((self.label, now - self._stage_started))
        self._stage_started = now

    def stage(self, label: str) -> None:
        self._close_stage()
        self.label = label
        self._draw(force=True)

    def advance(self, n: int) -> None:
        self.done = min(self.total, self.done + n)
        self._draw()

    def _draw(self, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        filled = int(self.WIDTH * self.done / self.total)
        percent = 100 * self.done // self.total
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self.stream.write(f"\r[{bar}] {percent:3d}% {self.label:<28}")
        self.stream.flush()

    def finish(self) -> None:
        self._close_stage()
        self.label = ""
        if self.timings:
            logger.debug(
                "stages: %s",
                ", ".join(f"{label} {seconds:.3f} s" for label, seconds in self.timings),
            )
        if self.enabled:
            self.done = self.total
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()
