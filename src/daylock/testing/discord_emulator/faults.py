"""Misbehaviour on demand: the faults a test injects (``POST /_emulator/faults``) and
what each one does to the next matching API request.

Discord rate-limits, refuses, fails with 5xx, answers late and, past the invalid-request
threshold, bans; Daylock's client must survive all of it, and the only way to prove it
is an emulator that does it when told to. The faults apply to ``/api/v10`` only (never
to the control API), in the order injected:

* ``rate_limit``: a 429 with Discord's body and headers, ``scope`` user (default),
  global or shared;
* ``error``: any 4xx or 5xx with Discord's error body, e.g. ``status=403, code=50013``;
* ``ban``: Cloudflare's answer to a banned client: a 429 whose body is an HTML page,
  not JSON;
* ``delay`` (wait, then handle) and ``delay_after`` (handle, then wait).

``count`` caps how many requests a fault answers; ``probability`` (0 to 1) makes it answer
only that share of its matching requests, drawn from a seeded generator (reproducible).
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from dataclasses import dataclass
from typing import Any

from daylock.testing.discord_emulator.config import ConfigError
from daylock.testing.discord_emulator.web import (
    DISCORD_MESSAGES,
    STATUS_TEXT,
    Response,
    cloudflare_ban,
    discord_error,
    json_response,
)

FAULT_KINDS = frozenset({"rate_limit", "error", "delay", "delay_after", "ban"})
_KIND_ALIASES = {"429": "rate_limit", "500": "error", "5xx": "error", "cloudflare": "ban"}
_FAULT_KEYS = frozenset(
    {
        "kind",
        "path",
        "method",
        "count",
        "retry_after",
        "global",
        "scope",
        "status",
        "code",
        "message",
        "delay",
        "probability",
    }
)
RATE_LIMIT_SCOPES = frozenset({"user", "global", "shared"})


@dataclass
class Fault:
    """The next ``count`` requests whose path matches ``path`` (a regex) misbehave."""

    #: "rate_limit" | "error" | "ban" | "delay" (wait, then handle) | "delay_after"
    #: (handle, then wait: the request takes effect, and a client that dies meanwhile
    #: never learns it)
    kind: str
    path: str = ".*"
    method: str | None = None
    count: int = 1
    retry_after: float = 1.0
    #: a rate limit's X-RateLimit-Scope: "user", "global" or "shared"
    scope: str = "user"
    status: int = 500
    #: Discord's JSON error code of an ``error`` fault (0 when not given)
    code: int = 0
    message: str = ""
    delay: float = 0.0
    probability: float = 1.0

    @property
    def is_global(self) -> bool:
        return self.scope == "global"

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        return re.search(self.path, path) is not None

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["global"] = self.is_global
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
        scope = str(data.get("scope") or ("global" if data.get("global") else "user"))
        try:
            fault = cls(
                kind=kind,
                path=str(data.get("path", ".*")),
                method=(str(data["method"]).upper() if data.get("method") else None),
                count=int(data.get("count", 1)),
                retry_after=float(data.get("retry_after", 1.0)),
                scope=scope,
                status=int(data.get("status", 500)),
                code=int(data.get("code", 0)),
                message=str(data.get("message", "")),
                delay=float(data.get("delay", 0.0)),
                probability=float(data.get("probability", 1.0)),
            )
            re.compile(fault.path)
        except (TypeError, ValueError, re.error) as exc:
            raise ConfigError(f"invalid fault: {exc}") from None
        if fault.count < 1:
            raise ConfigError("fault count must be at least 1")
        if not 0.0 < fault.probability <= 1.0:
            raise ConfigError("fault probability must be above 0 and at most 1")
        if scope not in RATE_LIMIT_SCOPES:
            raise ConfigError(f"scope must be one of {', '.join(sorted(RATE_LIMIT_SCOPES))}")
        if kind == "error" and not (400 <= fault.status <= 599 and fault.status != 429):
            raise ConfigError(
                "an error fault's status must be 4xx or 5xx (for a 429 use kind rate_limit)"
            )
        return fault


def fault_response(fault: Fault, *, rate_limit_per_bucket: int, now: float) -> Response | None:
    """What a fault answers instead of the route; None when the route still runs.

    ``delay`` sleeps here, before the route; ``delay_after`` is the router's job (it
    sleeps after the route has done its work).
    """
    if fault.kind == "delay":
        time.sleep(fault.delay)
        return None
    if fault.kind == "delay_after":
        return None
    if fault.kind == "ban":
        return cloudflare_ban(retry_after=fault.retry_after)
    if fault.kind == "error":
        text = STATUS_TEXT.get(fault.status, "Error")
        message = fault.message or DISCORD_MESSAGES.get(fault.code) or f"{fault.status}: {text}"
        return discord_error(fault.status, message, fault.code)
    return rate_limited(
        scope=fault.scope,
        retry_after=fault.retry_after,
        limit=rate_limit_per_bucket,
        now=now,
        bucket="fault",
    )


def rate_limited(
    *, scope: str, retry_after: float, limit: int, now: float, bucket: str, remaining: int = 0
) -> Response:
    """Discord's 429 (rate-limits page): the JSON body, ``Retry-After`` and, but for the
    global limit, the bucket's headers; ``X-RateLimit-Global`` on the global one."""
    headers = [("Retry-After", str(math.ceil(max(retry_after, 0.0))))]
    if scope == "global":
        headers.append(("X-RateLimit-Global", "true"))
    else:
        headers += [
            ("X-RateLimit-Limit", str(limit)),
            ("X-RateLimit-Remaining", str(remaining)),
            ("X-RateLimit-Reset", f"{now + retry_after:.3f}"),
            ("X-RateLimit-Reset-After", f"{retry_after:.3f}"),
            ("X-RateLimit-Bucket", bucket),
        ]
    headers.append(("X-RateLimit-Scope", scope))
    shared = scope == "shared"
    message = f"{'The resource is' if shared else 'You are'} being rate limited."
    body = {"message": message, "retry_after": round(retry_after, 3), "global": scope == "global"}
    response = json_response(429, body, headers)
    response.scope = scope
    return response
