"""The emulator's bot identities and channel guilds, its clock-driven nonce window over
the control API, and the ``delay_after`` fault (what a worker killed mid-request sees).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from daylock.discord_identity import bot_id_from_token
from daylock.testing.discord_emulator import (
    EmulatedBot,
    EmulatorConfig,
    GuildChannel,
    RunningEmulator,
    bot_token_for,
    default_config,
)
from daylock.testing.discord_emulator.config import DEFAULT_BOT_USER_ID, bot_user_id_of

OTHER_GUILD = "800000000000000002"
PROD_BOT = "900000000000000003"


def me(emu: RunningEmulator, token: str) -> requests.Response:
    return requests.get(
        f"{emu.base_api_url}/users/@me", headers={"Authorization": f"Bot {token}"}, timeout=5
    )


def channel(emu: RunningEmulator, channel_id: str, token: str | None = None) -> requests.Response:
    auth = {"Authorization": f"Bot {token or emu.config.bot_token}"}
    return requests.get(f"{emu.base_api_url}/channels/{channel_id}", headers=auth, timeout=5)


def post(
    emu: RunningEmulator, channel_id: str, body: dict[str, object], token: str = ""
) -> dict[str, Any]:
    response = requests.post(
        f"{emu.base_api_url}/channels/{channel_id}/messages",
        json=body,
        headers={"Authorization": f"Bot {token or emu.config.bot_token}"},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_bot_users_me_answers_the_bot_each_token_belongs_to(
    discord_emulator: RunningEmulator,
) -> None:
    production_token = bot_token_for(PROD_BOT, "prod")
    discord_emulator.reset(
        default_config(bots=[EmulatedBot(production_token, PROD_BOT, "Production Bot")])
    )
    own = me(discord_emulator, discord_emulator.config.bot_token)
    assert own.status_code == 200
    assert (own.json()["id"], own.json()["username"], own.json()["bot"]) == (
        DEFAULT_BOT_USER_ID,
        "Daylock Bot",
        True,
    )
    other = me(discord_emulator, production_token)
    assert (other.status_code, other.json()["id"], other.json()["username"]) == (
        200,
        PROD_BOT,
        "Production Bot",
    )
    # A message posted with a token is authored by that token's bot.
    message = post(
        discord_emulator, "710000000000000555", {"content": "hi"}, token=production_token
    )
    assert message["author"]["id"] == PROD_BOT


def test_an_unknown_bot_token_is_401_with_discords_body(discord_emulator: RunningEmulator) -> None:
    response = me(discord_emulator, bot_token_for("700000000000000003"))
    assert response.status_code == 401
    assert response.json() == {"message": "401: Unauthorized", "code": 0}
    assert channel(discord_emulator, "710000000000000555", token="nope").status_code == 401


def test_channels_answer_their_guild_and_unknown_ones_are_10003(
    discord_emulator: RunningEmulator,
) -> None:
    guild = discord_emulator.config.guild_id
    discord_emulator.reset(
        default_config(
            channels=[
                GuildChannel("710000000000000555", "general"),
                GuildChannel("710000000000000556", "elsewhere", guild_id=OTHER_GUILD, type=5),
            ]
        )
    )
    assert channel(discord_emulator, "710000000000000555").json() == {
        "id": "710000000000000555",
        "guild_id": guild,
        "name": "general",
        "type": 0,
    }
    assert channel(discord_emulator, "710000000000000556").json()["guild_id"] == OTHER_GUILD
    unknown = channel(discord_emulator, "710000000000000557")
    assert unknown.status_code == 404
    assert unknown.json()["code"] == 10003
    # A message to the other guild's channel is recorded in that guild.
    post(discord_emulator, "710000000000000556", {"content": "x"})
    assert discord_emulator.messages("710000000000000556")[0]["guild_id"] == OTHER_GUILD


def test_without_configured_channels_any_channel_is_the_guilds(
    discord_emulator: RunningEmulator,
) -> None:
    answer = channel(discord_emulator, "742424242424242424")
    assert answer.status_code == 200
    assert answer.json()["guild_id"] == discord_emulator.config.guild_id


def test_bots_and_channel_guilds_survive_json_and_the_control_api(
    discord_emulator: RunningEmulator, tmp_path: Path
) -> None:
    token = bot_token_for(PROD_BOT)
    config = default_config(
        bots=[EmulatedBot(token, PROD_BOT)],
        channels=[GuildChannel("710000000000000556", "elsewhere", guild_id=OTHER_GUILD)],
    )
    path = tmp_path / "emulator.json"
    path.write_text(json.dumps(config.to_json()))
    assert EmulatorConfig.from_file(path) == config
    shown = requests.get(f"{discord_emulator.control_url}/config", timeout=5).json()
    assert all(bot["token"] == "***" for bot in shown["bots"])
    replaced = requests.put(
        f"{discord_emulator.control_url}/users",
        json={
            "bots": [{"token": token, "id": int(PROD_BOT), "username": "P"}],
            "channels": [{"id": 710000000000000556, "name": "x", "guild_id": int(OTHER_GUILD)}],
        },
        timeout=5,
    )
    assert replaced.status_code == 200, replaced.text
    assert me(discord_emulator, token).json()["id"] == PROD_BOT
    assert channel(discord_emulator, "710000000000000556").json()["guild_id"] == OTHER_GUILD
    duplicate = requests.put(
        f"{discord_emulator.control_url}/users",
        json={"bots": [{"token": "t", "id": "1"}, {"token": "t", "id": "2"}]},
        timeout=5,
    )
    assert duplicate.status_code == 400
    assert "unique" in duplicate.json()["error"]


def test_a_discord_shaped_token_names_its_bot() -> None:
    token = bot_token_for(PROD_BOT, "s3cret")
    assert bot_user_id_of(token) == PROD_BOT
    assert bot_id_from_token(token) == PROD_BOT  # Daylock's reading agrees
    assert bot_user_id_of("emulator-bot-token") is None
    assert default_config(bot_token=token).bot_user_id == PROD_BOT
    # An explicit bot id wins; a token that names no bot keeps the default bot.
    assert default_config(bot_token=token, bot_user_id="5").bot_user_id == "5"
    assert default_config(bot_token="plain").bot_user_id == DEFAULT_BOT_USER_ID


def test_the_nonce_window_runs_on_the_clock_the_control_api_moves(
    discord_emulator: RunningEmulator,
) -> None:
    body = {"content": "winner!", "nonce": "outbox-7", "enforce_nonce": True}
    first = post(discord_emulator, "710000000000000555", body)
    clock = f"{discord_emulator.control_url}/clock"
    before = requests.get(clock, timeout=5).json()
    assert before["offset_seconds"] == 0
    window = discord_emulator.config.nonce_window_seconds
    assert 60 <= window <= 120  # short by default: "the past few minutes" at the least
    moved = requests.post(clock, json={"advance_seconds": window - 1}, timeout=5).json()
    assert moved["offset_seconds"] == window - 1
    assert requests.get(clock, timeout=5).json()["now"] >= before["now"] + window - 1
    assert (
        post(discord_emulator, "710000000000000555", body)["id"] == first["id"]
    )  # still deduplicated
    requests.post(clock, json={"advance_seconds": 2}, timeout=5).raise_for_status()
    assert (
        post(discord_emulator, "710000000000000555", body)["id"] != first["id"]
    )  # the window is over
    assert len(discord_emulator.messages("710000000000000555")) == 2
    bad = requests.post(clock, json={"advance_seconds": "soon"}, timeout=5)
    assert bad.status_code == 400


def test_delay_after_does_the_work_then_answers_late(discord_emulator: RunningEmulator) -> None:
    discord_emulator.add_fault("delay_after", "/messages$", method="POST", delay=0.6)
    answered: list[float] = []

    def send() -> None:
        post(discord_emulator, "710000000000000555", {"content": "slow"})
        answered.append(time.monotonic())

    started = time.monotonic()
    thread = threading.Thread(target=send)
    thread.start()
    deadline = time.monotonic() + 5
    while not discord_emulator.messages() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert discord_emulator.messages()  # the message exists…
    assert answered == []  # …before anyone has been told
    thread.join(timeout=5)
    assert answered and answered[0] - started >= 0.6
    [record] = discord_emulator.requests()
    assert record["fault"] == "delay_after"


@pytest.mark.parametrize("kind", ["delay_after", "delay"])
def test_delay_faults_validate(discord_emulator: RunningEmulator, kind: str) -> None:
    ok = requests.post(
        f"{discord_emulator.control_url}/faults", json={"kind": kind, "delay": 0.1}, timeout=5
    )
    assert ok.status_code == 201
    assert ok.json()[0]["kind"] == kind
