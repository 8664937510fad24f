"""The operator's confirmation of a command that destroys or ships data: the
environment's name typed at a terminal (``daylock reset``, ``daylock event import``).

Typing the name, not "y", makes the operator read which environment the process is
about to act on; without a terminal nothing is asked and the caller refuses.
"""

from __future__ import annotations

import sys
from typing import Protocol


class Output(Protocol):
    def write(self, text: str, /) -> object: ...
    def flush(self) -> object: ...


def stdin_is_interactive() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def environment_name_typed(*, environment: str, action: str, out: Output) -> bool:
    """Ask for the name to ``action`` and read one line; True only for the environment's
    exact name.
    Call only when :func:`stdin_is_interactive` (the caller decides what "no terminal"
    means for its command)."""
    out.write(f"Type the environment's name ({environment}) to {action}: ")
    out.flush()
    try:
        answer = input()
    except EOFError:
        answer = ""
    return answer.strip() == environment
