"""Misbehaviour on demand: the faults a test injects (``POST /_emulator/faults``) and
what each one does to the next matching API request.

Discord rate-limits, fails with 5xx and answers late; Daylock's client must survive all
three, and the only way to prove it is an emulator that does them when told to. The
faults apply to ``/api/v10`` only (never to the control API), in the order injected.
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass
from typing import Any

from daylock.testing.discord_emulator.config import ConfigError
from daylock.testing.discord_emulator.web import Response, discord_error, json_response

FAULT_KINDS = frozenset({"rate_limit", "error", "delay", "delay_after"})
_KIND_ALIASES = {"429": "rate_limit", "500": "error", "5xx": "error"}
_FAULT_KEYS = frozenset(
    {"kind", "path", "method", "count", "retry_after", "global", "status", "delay"}
)


@dataclass
class Fault:
    """The next ``count`` requests whose path matches ``path`` (a regex) misbehave."""

    #: "rate_limit" | "error" | "delay" (wait, then handle) | "delay_after" (handle, then
    #: wait: the request takes effect, and a client that dies meanwhile never learns it)
    kind: str
    path: str = ".*"
    method: str | None = None
    count: int = 1
    retry_after: float = 1.0
    is_global: bool = False
    status: int = 500
    delay: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        return re.search(self.path, path) is not None

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["global"] = data.pop("is_global")
        return data

    @classmethod
    def from_json(cls, data: Any) -> Fault:
        """A fault from the control API's JSON; anything unclear is a :class:`ConfigError`
        (a 400 that names the problem) rather than a fault that silently never fires."""
        if not isinstance(data, dict):
            raise ConfigError("a fault must be a JSON object")
        kind = _KIND_ALIASES.get(str(data.get("kind")), str(data.get("kind")))
        if kind not in FAULT_KINDS:
            raise ConfigError(f"fault kind must be one of {', '.join(sorted(FAULT_KINDS))}")
        unknown = set(data) - _FAULT_KEYS
        if unknown:
            raise ConfigError(f"unknown fault keys: {', '.join(sorted(unknown))}")
        try:
            fault = cls(
                kind=kind,
                path=str(data.get("path", ".*")),
                method=(str(data["method"]).upper() if data.get("method") else None),
                count=int(data.get("count", 1)),
                retry_after=float(data.get("retry_after", 1.0)),
                is_global=bool(data.get("global", False)),
                status=int(data.get("status", 500)),
                delay=float(data.get("delay", 0.0)),
            )
            re.compile(fault.path)
        except (TypeError, ValueError, re.error) as exc:
            raise ConfigError(f"invalid fault: {exc}") from None
        if fault.count < 1:
            raise ConfigError("fault count must be at least 1")
        if kind == "error" and not 500 <= fault.status <= 599:
            raise ConfigError("an error fault's status must be 5xx")
        return fault


def fault_response(fault: Fault, *, rate_limit_per_bucket: int) -> Response | None:
    """What a fault answers instead of the route; None when the route still runs.

    ``delay`` sleeps here, before the route; ``delay_after`` is the router's job (it
    sleeps after the route has done its work).
    """
    if fault.kind == "delay":
        time.sleep(fault.delay)
        return None
    if fault.kind == "delay_after":
        return None
    if fault.kind == "error":
        return discord_error(fault.status, f"{fault.status}: Internal Server Error", 0)
    headers = [
        ("Retry-After", f"{fault.retry_after:g}"),
        ("X-RateLimit-Limit", str(rate_limit_per_bucket)),
        ("X-RateLimit-Remaining", "0"),
        ("X-RateLimit-Reset-After", f"{fault.retry_after:.3f}"),
        ("X-RateLimit-Scope", "global" if fault.is_global else "user"),
    ]
    if fault.is_global:
        headers.append(("X-RateLimit-Global", "true"))
    body = {
        "message": "You are being rate limited.",
        "retry_after": fault.retry_after,
        "global": fault.is_global,
    }
    return json_response(429, body, headers)
