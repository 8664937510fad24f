"""Everything the emulated Discord remembers, behind one lock.

One object holds the configuration and a :class:`Store` of what the requests created
(codes, tokens, messages, DM channels, role changes, rate-limit buckets) plus what the
tests set up (faults, the clock offset) and the request record. All API areas read and
write it through ``state.lock``, so the emulator can be served by a threaded server or
mounted inside a multi-threaded Django process; a reset swaps in a fresh ``Store``, so
"forget everything" cannot miss a field added later.
"""

from __future__ import annotations

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
    #: (channel id, nonce) -> (when, the message it created)
    nonces: dict[tuple[str, str], tuple[float, dict[str, Any]]] = field(default_factory=dict)
    #: recipient id -> the DM channel object
    dm_channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    role_changes: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    #: bucket -> (reset at, requests used in this window)
    buckets: dict[str, tuple[float, int]] = field(default_factory=dict)
    clock_offset: float = 0.0
    sequence: int = 0


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
            self.store = Store()

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
        """The first fault matching the request, used up by one."""
        with self.lock:
            for fault in self.store.faults:
                if fault.matches(method, path):
                    fault.count -= 1
                    if fault.count <= 0:
                        self.store.faults.remove(fault)
                    return fault
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
            "body": _redact(request.body),
            "status": None,
            "response": None,
            "fault": None,
        }
        with self.lock:
            entry["id"] = len(self.store.requests) + 1
            self.store.requests.append(entry)
        return entry


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
