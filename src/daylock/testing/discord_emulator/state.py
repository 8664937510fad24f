"""Everything the emulated Discord remembers, behind one lock.

One object holds the configuration and a :class:`Store` of what the requests created
(codes, tokens, messages, DM channels, role changes, rate-limit buckets, the invalid
requests that lead to a ban) plus what the tests set up (faults, the clock offset) and
the request record. All API areas read and
write it through ``state.lock``, so the emulator can be served by a threaded server or
mounted inside a multi-threaded Django process; a reset swaps in a fresh ``Store``, so
"forget everything" cannot miss a field added later.
"""

from __future__ import annotations

import collections
import hashlib
import random
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from daylock.testing.discord_emulator.config import (
    ConfigError,
    EmulatorConfig,
    default_config,
    parse_users,
)
from daylock.testing.discord_emulator.faults import Fault
from daylock.testing.discord_emulator.web import CONTROL_PREFIX, Request

DISCORD_EPOCH_MS = 1420070400000
#: Keys whose values never appear in the request record.
_SECRET_KEYS = {"client_secret", "code_verifier", "refresh_token", "access_token", "token"}
_RECORDED_HEADERS = ("Authorization", "Content-Type", "User-Agent", "X-Audit-Log-Reason", "Accept")


@dataclass
class AuthorizationCode:
    """A code the consent page issued, waiting for the token exchange."""

    redirect_uri: str
    scopes: list[str]
    user_id: str
    #: The PKCE S256 challenge (None when the app sent none).
    challenge: str | None
    expires_at: float
    #: A replayed code is refused and revokes what it issued (RFC 6749 §4.1.2).
    used: bool = False


@dataclass
class AccessToken:
    user_id: str
    scopes: list[str]
    expires_at: float


@dataclass
class Store:
    """What requests and tests have changed since the last reset."""

    codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    tokens: dict[str, AccessToken] = field(default_factory=dict)
    #: refresh token -> the access token it replaces
    refresh: dict[str, str] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    #: (author id, nonce) -> (when, the message it created): Discord deduplicates per sender
    nonces: dict[tuple[str, str], tuple[float, dict[str, Any]]] = field(default_factory=dict)
    #: ids of messages deleted since (a repeated nonce of one of them answers 404 10008)
    deleted: set[str] = field(default_factory=set)
    #: recipient id -> the DM channel object
    dm_channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    role_changes: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    #: bucket -> (reset at, requests used in this window); shared (per resource) buckets
    #: are keyed ``shared:<channel>``
    buckets: dict[str, tuple[float, int]] = field(default_factory=dict)
    #: bot id -> arrival times of its requests in the last second (the global limit)
    recent: dict[str, collections.deque[float]] = field(default_factory=dict)
    #: times of the invalid requests (401, 403, 429 but shared) in the window
    invalid: collections.deque[float] = field(default_factory=collections.deque)
    #: the Cloudflare-style ban is in force until then (emulator clock)
    banned_until: float = 0.0
    #: times new DM channels were opened (too many too fast: 40003)
    dm_opens: collections.deque[float] = field(default_factory=collections.deque)
    clock_offset: float = 0.0
    sequence: int = 0
    #: draws of the faults injected with a probability (seeded: reproducible runs)
    rng: random.Random = field(default_factory=random.Random)


class EmulatorState:
    """The emulator's state and the operations tests (in-process or over the control API)
    perform on it."""

    config: EmulatorConfig
    store: Store

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self._initial = config or default_config()
        #: Re-entrant: a route that holds it calls helpers (snowflakes, token issue) that
        #: take it again.
        self.lock = threading.RLock()
        self.reset()

    def reset(self, config: EmulatorConfig | None = None) -> None:
        """Forget every code, token, message, fault and recorded request."""
        with self.lock:
            if config is not None:
                self._initial = config
            # A copy, so control-API changes (users, roles) never leak into the next reset.
            self.config = EmulatorConfig.from_json(self._initial.to_json())
            self.store = Store(rng=random.Random(self.config.fault_seed))

    def now(self) -> float:
        """The emulator's clock (wall time plus what ``advance_clock`` added)."""
        return time.time() + self.store.clock_offset

    def advance_clock(self, seconds: float) -> None:
        with self.lock:
            self.store.clock_offset += seconds

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        """The request record, oldest first; ``path`` filters by regex search."""
        with self.lock:
            return [r for r in self.store.requests if path is None or re.search(path, r["path"])]

    def clear_requests(self) -> None:
        with self.lock:
            self.store.requests.clear()

    def messages(self, channel_id: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                dict(m)
                for m in self.store.messages
                if channel_id is None or m["channel_id"] == channel_id
            ]

    def role_changes(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.store.role_changes)

    def add_fault(self, fault: Fault | dict[str, Any]) -> Fault:
        if not isinstance(fault, Fault):
            fault = Fault.from_json(fault)
        with self.lock:
            self.store.faults.append(fault)
        return fault

    def faults(self) -> list[Fault]:
        with self.lock:
            return list(self.store.faults)

    def clear_faults(self) -> None:
        with self.lock:
            self.store.faults.clear()

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The first fault matching the request, used up by one. A fault with a
        ``probability`` below 1 fires on that share of its matching requests (a seeded
        draw); a request it spares goes on to the next matching fault."""
        with self.lock:
            for fault in self.store.faults:
                if fault.matches(method, path):
                    if fault.probability < 1.0 and self.store.rng.random() >= fault.probability:
                        continue
                    fault.count -= 1
                    if fault.count <= 0:
                        self.store.faults.remove(fault)
                    return fault
        return None

    # ------------------------------------------------------------------ invalid requests

    def note_invalid(self, status: int, scope: str | None) -> None:
        """Count a 401, 403 or 429 (not one of scope ``shared``) against the ban threshold;
        reaching it starts the ban."""
        if status not in {401, 403, 429} or scope in {"shared", "cloudflare"}:
            return
        with self.lock:
            now = self.now()
            log = self.store.invalid
            log.append(now)
            self._forget_old_invalid(now)
            if len(log) >= self.config.invalid_request_limit:
                self.store.banned_until = max(
                    self.store.banned_until, now + self.config.ban_seconds
                )

    def _forget_old_invalid(self, now: float) -> None:
        log = self.store.invalid
        while log and now - log[0] >= self.config.invalid_request_window_seconds:
            log.popleft()

    def invalid_requests(self) -> dict[str, Any]:
        """What the ban counter stands at (the control API shows it)."""
        with self.lock:
            now = self.now()
            self._forget_old_invalid(now)
            return {
                "count": len(self.store.invalid),
                "limit": self.config.invalid_request_limit,
                "window_seconds": self.config.invalid_request_window_seconds,
                "banned": self.store.banned_until > now,
                "banned_for_seconds": max(self.store.banned_until - now, 0.0),
            }

    def banned_for(self) -> float:
        """Seconds the ban still lasts (0: not banned)."""
        with self.lock:
            return max(self.store.banned_until - self.now(), 0.0)

    def delete_message(self, message_id: str) -> dict[str, Any] | None:
        """Delete a message (a moderator did it): it leaves the channel, and a repeat of
        its nonce answers 404 Unknown Message."""
        with self.lock:
            for message in self.store.messages:
                if message["id"] == message_id:
                    self.store.messages.remove(message)
                    self.store.deleted.add(message_id)
                    return message
        return None

    def set_users(self, data: dict[str, Any]) -> None:
        """Replace users and guild settings (keys: users, guild_roles, channels, guild_id,
        guild_name, bots)."""
        allowed = {"users", "guild_roles", "channels", "guild_id", "guild_name", "bots"}
        if not isinstance(data, dict):
            raise ConfigError("expected a JSON object with users (and optionally guild_roles)")
        unknown = set(data) - allowed
        if unknown:
            raise ConfigError(
                f"unknown keys: {', '.join(sorted(unknown))} "
                f"(allowed: {', '.join(sorted(allowed))})"
            )
        partial = EmulatorConfig.from_json(data)
        with self.lock:
            if "users" in data:
                self.config.users = parse_users(data["users"])
            if "guild_roles" in data:
                self.config.guild_roles = partial.guild_roles
            if "channels" in data:
                self.config.channels = partial.channels
            if "guild_id" in data:
                self.config.guild_id = partial.guild_id
            if "guild_name" in data:
                self.config.guild_name = partial.guild_name
            if "bots" in data:
                self.config.bots = partial.bots

    def snowflake(self) -> str:
        """A new Discord id whose timestamp is the emulator's clock."""
        with self.lock:
            self.store.sequence += 1
            ms = int(self.now() * 1000) - DISCORD_EPOCH_MS
            return str((ms << 22) | (self.store.sequence & 0x3FFFFF))

    def timestamp(self, *, at: float | None = None) -> str:
        """``at`` (default: the emulator's clock now) as Discord writes times (ISO 8601)."""
        return datetime.fromtimestamp(self.now() if at is None else at, UTC).isoformat()

    def record(self, request: Request) -> dict[str, Any] | None:
        """Add the request to the record (secrets masked) and return the entry, which the
        router completes with the status, response and fault; None for the control API,
        so reading the record never changes it."""
        if request.path.startswith(CONTROL_PREFIX):
            return None
        entry: dict[str, Any] = {
            "id": 0,
            "time": self.timestamp(),
            "method": request.method,
            "path": request.path,
            "query": _redact(request.query),
            "headers": _recorded_headers(request.headers),
            "credential": credential_fingerprint(request.headers.get("Authorization", "")),
            "body": _redact(request.body),
            "status": None,
            "response": None,
            "fault": None,
            #: a 429's X-RateLimit-Scope (user, global, shared) or "cloudflare" for the ban
            "scope": None,
        }
        with self.lock:
            entry["id"] = len(self.store.requests) + 1
            self.store.requests.append(entry)
        return entry


def credential_fingerprint(authorization: str) -> str | None:
    """Whose credential a request carried, without the record holding it: the first 16
    hex digits of the SHA-256 of what follows the scheme (``Bot <token>``). A test
    compares it with the fingerprint of each environment's token to tell which
    environment's bot made a request; None without credentials."""
    credential = authorization.strip().partition(" ")[2].strip()
    if not credential:
        return None
    return hashlib.sha256(credential.encode()).hexdigest()[:16]


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("***" if k in _SECRET_KEYS else _redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def _recorded_headers(headers: dict[str, str]) -> dict[str, str]:
    """The headers worth asserting on, with the credential masked but its scheme kept
    (``Bot ***`` vs ``Bearer ***`` is what a test wants to see)."""
    recorded = {k: v for k, v in headers.items() if k in _RECORDED_HEADERS}
    auth = recorded.get("Authorization")
    if auth:
        scheme = auth.split(" ", 1)[0]
        recorded["Authorization"] = f"{scheme} ***"
    return recorded
