"""The request record says whose credential each request carried — a fingerprint, so a
test can tell production's bot from staging's — and never the credential itself."""

from __future__ import annotations

import hashlib
import json

import requests

from daylock.testing.discord_emulator import bot_token_for, default_config, start_emulator
from daylock.testing.discord_emulator.config import EmulatedBot
from daylock.testing.discord_emulator.state import credential_fingerprint


def test_each_request_records_the_fingerprint_of_its_token_not_the_token() -> None:
    own, other = bot_token_for("100000000000000099", "own"), bot_token_for("7", "other")
    config = default_config(bot_token=own, bots=[EmulatedBot(other, "7", "Other Bot")])
    with start_emulator(config) as running:
        for token in (own, other, " spaced  "):
            requests.get(
                running.base_api_url + "/users/@me",
                headers={"Authorization": f"Bot {token}"},
                timeout=10,
            )
        requests.get(running.base_api_url + "/users/@me", timeout=10)
        record = running.requests()
    assert [r["credential"] for r in record] == [
        hashlib.sha256(own.encode()).hexdigest()[:16],
        hashlib.sha256(other.encode()).hexdigest()[:16],
        hashlib.sha256(b"spaced").hexdigest()[:16],
        None,
    ]
    assert [r["status"] for r in record] == [200, 200, 401, 401]
    text = json.dumps(record)
    assert own not in text
    assert other not in text


def test_the_fingerprint_ignores_the_scheme_and_surrounding_space() -> None:
    assert credential_fingerprint("Bot abc") == credential_fingerprint("Bearer  abc ")
    assert credential_fingerprint("Bot abc") != credential_fingerprint("Bot abd")
    assert credential_fingerprint("") is None
    assert credential_fingerprint("Bot ") is None
