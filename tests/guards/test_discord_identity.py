"""Production's Discord bot can never serve staging: the token's own claim (no I/O) and
what Discord says (the live ``discord-identity`` guard), at doctor and at worker start.

A Discord bot token is ``<base64 of the bot's id>.<timestamp>.<hmac>``. Copying
production's token into staging passed every guard while staging's own ids were
listed; now the bot the token names is judged, in every spelling Discord accepts.
"""

from __future__ import annotations

import base64
import dataclasses
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from daylock.config import Config, DeliveryMode, Environment, Refusal, load_config
from daylock.discord_identity import (
    GUARD_TIMEOUT,
    bot_id_from_token,
    canonical_id,
    check_discord_identity,
)
from daylock.guardrails import GUARD_NAMES, check_configuration
from daylock.testing import pytest_plugin
from daylock.testing.discord_emulator import (
    EmulatedBot,
    GuildChannel,
    RunningEmulator,
    bot_token_for,
    default_config,
)
from daylock.testing.pytest_plugin import (
    PRODUCTION_TEST_BOT_TOKEN,
    STAGING_TEST_BOT_TOKEN,
    production_environ,
    staging_environ,
)
from tests.conftest import Databases, run_daylock

PROD_CLIENT, PROD_GUILD, PROD_BOT = pytest_plugin.TEST_PRODUCTION_IDS.split(",")
STAGING_BOT = "700000000000000003"
STAGING_GUILD = staging_environ()["DISCORD_GUILD_ID"]
#: A 19-digit production id: its base64 needs padding ("==").
PADDED_PROD_BOT = "9000000000000000007"
CHANNEL = "700000000000000020"
OTHER_GUILD = "800000000000000002"
UNREACHABLE = "http://127.0.0.1:9/api/v10"

RESOURCES = {"DATABASE_URL": "postgres://x@127.0.0.1:1/x", "REDIS_URL": "redis://127.0.0.1:1/0"}


def b64(text: str, *, urlsafe: bool = True, pad: bool = False) -> str:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    encoded = encode(text.encode()).decode()
    return encoded if pad else encoded.rstrip("=")


# --- the token's own claim -----------------------------------------------------------


@given(
    bot_id=st.integers(min_value=1, max_value=2**64 - 1),
    urlsafe=st.booleans(),
    pad=st.booleans(),
    rest=st.from_regex(r"\A(\.[A-Za-z0-9_-]{0,40}){0,2}\Z"),
)
@hypothesis_settings(max_examples=300, deadline=None)
def test_generated_ids_round_trip_through_their_token(
    bot_id: int, urlsafe: bool, pad: bool, rest: str
) -> None:
    token = b64(str(bot_id), urlsafe=urlsafe, pad=pad) + rest
    assert bot_id_from_token(token) == str(bot_id)


@given(st.text(max_size=200))
@hypothesis_settings(max_examples=500, deadline=None)
def test_garbage_never_crashes_and_never_invents_an_id(token: str) -> None:
    found = bot_id_from_token(token)
    assert found is None or (found.isdigit() and found == canonical_id(found))


@given(st.binary(max_size=64))
@hypothesis_settings(max_examples=300, deadline=None)
def test_any_decoded_bytes_are_an_id_only_when_they_are_digits(raw: bytes) -> None:
    token = base64.urlsafe_b64encode(raw).decode() + ".x.y"
    found = bot_id_from_token(token)
    text = raw.decode("ascii", errors="replace").strip()
    if found is not None:
        assert text.isdigit() and int(text) == int(found)
    elif text.isascii() and text.isdigit():
        assert not 0 < int(text) < 2**64  # zero, or too large to be a snowflake


@pytest.mark.parametrize(
    "token",
    [
        "emulator-bot-token",
        "",
        "   ",
        ".abc.def",
        "bm90IGFuIGlk.x.y",  # base64 of "not an id"
        "MA.x.y",  # base64 of "0": not a snowflake
        b64("18446744073709551616") + ".x.y",  # 2**64: too large
        "!!!!.x.y",
        "Bot ",
        "x" * 5000,
    ],
)
def test_tokens_that_name_no_bot(token: str) -> None:
    assert bot_id_from_token(token) is None


def test_the_test_configurations_carry_realistic_tokens() -> None:
    assert bot_id_from_token(STAGING_TEST_BOT_TOKEN) == STAGING_BOT
    assert bot_id_from_token(PRODUCTION_TEST_BOT_TOKEN) == PROD_BOT
    assert PROD_BOT in pytest_plugin.TEST_PRODUCTION_IDS.split(",")
    assert bot_id_from_token(bot_token_for(PROD_BOT)) == PROD_BOT


def spellings(bot_id: str) -> dict[str, str]:
    """Every way the same production token might be pasted."""
    tail = ".GhT3aw.c2VjcmV0LWhtYWM"
    return {
        "urlsafe-unpadded": b64(bot_id) + tail,
        "urlsafe-padded": b64(bot_id, pad=True) + tail,
        "standard-unpadded": b64(bot_id, urlsafe=False) + tail,
        "standard-padded": b64(bot_id, urlsafe=False, pad=True) + tail,
        "one-pad-char": b64(bot_id) + ("=" if len(b64(bot_id)) % 4 else "") + tail,
        "leading-zero": b64("0" + bot_id) + tail,
        "spaces-around": "  " + b64(bot_id) + tail + "  ",
        "tab-and-newline": "\t" + b64(bot_id, pad=True) + tail + "\n",
        "space-before-the-dot": b64(bot_id) + " " + tail,
        "bot-prefix": "Bot " + b64(bot_id) + tail,
        "first-segment-only": b64(bot_id),
    }


SPELLINGS = [
    pytest.param(bot_id, name, token, id=f"{len(bot_id)}-digits-{name}")
    for bot_id in (PROD_BOT, PADDED_PROD_BOT)
    for name, token in spellings(bot_id).items()
]


@pytest.mark.parametrize(("bot_id", "name", "token"), SPELLINGS)
def test_every_spelling_of_a_production_token_is_refused_in_staging(
    bot_id: str, name: str, token: str
) -> None:
    assert bot_id_from_token(token) == bot_id
    env = (
        staging_environ()
        | RESOURCES
        | {
            "DISCORD_BOT_TOKEN": token,
            "PRODUCTION_DISCORD_IDS": f"{pytest_plugin.TEST_PRODUCTION_IDS},{PADDED_PROD_BOT}",
        }
    )
    with pytest.raises(Refusal) as refused:
        check_configuration(env)
    assert refused.value.guard == "production-identity"
    assert f"bot {bot_id}, which is production's" in refused.value.found
    assert "own bot token" in refused.value.fix
    # The refusal names the bot, never the secret.
    line = str(refused.value)
    assert token.strip() not in line
    assert token.split(".", 1)[-1].strip() not in line


def test_staging_with_its_own_realistic_token_passes() -> None:
    check_configuration(staging_environ() | RESOURCES)


def test_staging_refuses_a_token_that_names_no_bot() -> None:
    env = staging_environ() | RESOURCES | {"DISCORD_BOT_TOKEN": "staging-test-bot-token"}
    with pytest.raises(Refusal) as refused:
        check_configuration(env)
    assert refused.value.guard == "production-identity"
    assert "DISCORD_BOT_TOKEN is not a Discord bot token" in refused.value.found
    assert "staging-test-bot-token" not in str(refused.value)


def test_development_with_the_embedded_emulators_token_passes_but_not_productions(
    tmp_path: object,
) -> None:
    development = {"APP_ENV": "development", "DATABASE_URL": f"sqlite:///{tmp_path}/d.sqlite3"}
    config = check_configuration(development)
    assert config.discord_bot_token == "emulator-bot-token"
    assert config.policy.embedded_emulator  # the policy, not the name, allows it
    with pytest.raises(Refusal, match=f"bot {PROD_BOT}, which is production's"):
        check_configuration(
            development
            | {
                "DISCORD_BOT_TOKEN": PRODUCTION_TEST_BOT_TOKEN,
                "PRODUCTION_DISCORD_IDS": pytest_plugin.TEST_PRODUCTION_IDS,
            }
        )


@pytest.mark.parametrize(
    ("changes", "found"),
    [
        (
            {"PRODUCTION_DISCORD_IDS": f"{PROD_CLIENT},{PROD_GUILD}"},
            f"PRODUCTION_DISCORD_IDS does not list production's own bot {PROD_BOT}",
        ),
        (
            {"DISCORD_BOT_TOKEN": "production-test-bot-token"},
            "DISCORD_BOT_TOKEN is not a Discord bot token",
        ),
    ],
    ids=["bot-not-listed", "token-names-no-bot"],
)
def test_production_requires_its_own_bot_to_be_listed(changes: dict[str, str], found: str) -> None:
    env = production_environ() | RESOURCES | changes
    with pytest.raises(Refusal) as refused:
        check_configuration(env)
    assert refused.value.guard == "production-hygiene"
    assert found in refused.value.found
    assert "production-test-bot-token" not in str(refused.value)


# --- the live guard, in-process against the emulator -----------------------------------


def staging_config(emulator: RunningEmulator, **changes: Any) -> Config:
    base = load_config(staging_environ() | RESOURCES | {"DISCORD_API_BASE": emulator.base_api_url})
    return dataclasses.replace(base, **changes)


@pytest.fixture
def staging_discord(discord_emulator: RunningEmulator) -> RunningEmulator:
    """The emulator as staging's own Discord: staging's bot, staging's test guild."""
    discord_emulator.reset(default_config(bot_token=STAGING_TEST_BOT_TOKEN, guild_id=STAGING_GUILD))
    return discord_emulator


def allowlist(emulator: RunningEmulator, *channels: str) -> Config:
    return staging_config(
        emulator,
        discord_delivery=DeliveryMode.ALLOWLIST,
        discord_allowed_channel_ids=frozenset(channels or {CHANNEL}),
    )


def test_staging_bot_passes_and_allowlist_channels_are_checked(
    staging_discord: RunningEmulator,
) -> None:
    detail = check_discord_identity(allowlist(staging_discord, CHANNEL))
    assert detail.startswith(f"bot {STAGING_BOT} (Daylock Bot) is not production's")
    assert f"all in DISCORD_GUILD_ID={STAGING_GUILD}" in detail
    assert [(r["method"], r["path"]) for r in staging_discord.requests()] == [
        ("GET", "/api/v10/users/@me"),
        ("GET", f"/api/v10/channels/{CHANNEL}"),
    ]
    assert all(r["headers"]["Authorization"] == "Bot ***" for r in staging_discord.requests())


@pytest.mark.parametrize("mode", [DeliveryMode.CAPTURE, DeliveryMode.ALLOWLIST])
def test_a_bot_discord_says_is_productions_is_refused_in_every_mode(
    discord_emulator: RunningEmulator, mode: DeliveryMode
) -> None:
    """The token claims staging's bot, but Discord knows it as production's."""
    discord_emulator.reset(
        default_config(
            guild_id=STAGING_GUILD, bots=[EmulatedBot(STAGING_TEST_BOT_TOKEN, PROD_BOT, "Prod")]
        )
    )
    cfg = staging_config(
        discord_emulator,
        discord_delivery=mode,
        discord_allowed_channel_ids=frozenset({CHANNEL}),
    )
    with pytest.raises(Refusal) as refused:
        check_discord_identity(cfg)
    assert refused.value.guard == "discord-identity"
    assert f"DISCORD_BOT_TOKEN is bot {PROD_BOT} (Prod), which is production's" in (
        refused.value.found
    )
    assert STAGING_TEST_BOT_TOKEN not in str(refused.value)
    assert [r["path"] for r in discord_emulator.requests()] == ["/api/v10/users/@me"]


def test_a_production_token_is_never_sent_from_staging(discord_emulator: RunningEmulator) -> None:
    cfg = staging_config(discord_emulator, discord_bot_token=PRODUCTION_TEST_BOT_TOKEN)
    with pytest.raises(Refusal, match="not sent to any API"):
        check_discord_identity(cfg)
    assert discord_emulator.requests() == []


@pytest.mark.parametrize(
    ("channels", "found"),
    [
        ([GuildChannel(CHANNEL, "elsewhere", guild_id=OTHER_GUILD)], f"guild {OTHER_GUILD}"),
        ([GuildChannel(CHANNEL, "prod", guild_id=PROD_GUILD)], f"guild {PROD_GUILD}"),
        ([GuildChannel("700000000000000021", "other")], "HTTP 404 code 10003: Unknown Channel"),
    ],
    ids=["another-guild", "production-guild", "unknown-channel"],
)
def test_allowlist_refuses_a_channel_outside_the_test_guild(
    discord_emulator: RunningEmulator, channels: list[GuildChannel], found: str
) -> None:
    discord_emulator.reset(
        default_config(bot_token=STAGING_TEST_BOT_TOKEN, guild_id=STAGING_GUILD, channels=channels)
    )
    with pytest.raises(Refusal) as refused:
        check_discord_identity(allowlist(discord_emulator, CHANNEL))
    assert refused.value.guard == "discord-identity"
    assert f"allow-listed channel {CHANNEL}" in refused.value.found
    assert found in refused.value.found
    assert "DISCORD_ALLOWED_CHANNEL_IDS" in refused.value.fix


@pytest.mark.parametrize(
    ("mode", "passes"),
    [(DeliveryMode.CAPTURE, True), (DeliveryMode.ALLOWLIST, False)],
)
def test_a_token_discord_rejects(
    discord_emulator: RunningEmulator, mode: DeliveryMode, passes: bool
) -> None:
    discord_emulator.reset(default_config(guild_id=STAGING_GUILD))  # does not know the token
    cfg = staging_config(
        discord_emulator, discord_delivery=mode, discord_allowed_channel_ids=frozenset({CHANNEL})
    )
    if passes:
        detail = check_discord_identity(cfg)
        assert "refused DISCORD_BOT_TOKEN (HTTP 401: 401: Unauthorized); capture sends nothing" in (
            detail
        )
        return
    with pytest.raises(Refusal, match="refused DISCORD_BOT_TOKEN") as refused:
        check_discord_identity(cfg)
    assert "Reset Token" in refused.value.fix


@pytest.mark.parametrize(
    ("mode", "outcome"),
    [
        (DeliveryMode.CAPTURE, "not reachable (HTTP 503); capture sends nothing"),
        (DeliveryMode.ALLOWLIST, "refused"),
    ],
)
def test_5xx_counts_as_unreachable(
    staging_discord: RunningEmulator, mode: DeliveryMode, outcome: str
) -> None:
    staging_discord.add_fault("error", "/users/@me$", status=503)
    cfg = staging_config(
        staging_discord, discord_delivery=mode, discord_allowed_channel_ids=frozenset({CHANNEL})
    )
    if outcome == "refused":
        with pytest.raises(Refusal, match=r"not reachable \(HTTP 503\)"):
            check_discord_identity(cfg)
    else:
        assert outcome in check_discord_identity(cfg)


def test_the_guard_does_not_hang_on_a_slow_discord(staging_discord: RunningEmulator) -> None:
    assert max(GUARD_TIMEOUT) <= 3
    staging_discord.add_fault("delay", "/users/@me$", delay=4.0)
    started = time.monotonic()
    detail = check_discord_identity(staging_config(staging_discord))
    assert time.monotonic() - started < 3.8
    assert "not reachable (ReadTimeout); capture sends nothing" in detail


def production_config(emulator: RunningEmulator) -> Config:
    base = load_config(
        production_environ() | RESOURCES | {"DISCORD_API_BASE": emulator.base_api_url}
    )
    assert base.app_env is Environment.PRODUCTION
    return base


def test_production_bot_must_be_listed_and_be_the_tokens_own(
    discord_emulator: RunningEmulator,
) -> None:
    discord_emulator.reset(default_config(bot_token=PRODUCTION_TEST_BOT_TOKEN))
    cfg = production_config(discord_emulator)
    assert check_discord_identity(cfg).startswith(
        f"bot {PROD_BOT} (Daylock Bot) is production's own bot"
    )
    # Discord says the token is another bot (listed or not): refused.
    for answer, found in (
        ("900000000000000099", "which PRODUCTION_DISCORD_IDS does not list"),
        (PROD_CLIENT, f"but the token names bot {PROD_BOT}"),
    ):
        discord_emulator.reset(
            default_config(bot_token=PRODUCTION_TEST_BOT_TOKEN, bot_user_id=answer)
        )
        with pytest.raises(Refusal) as refused:
            check_discord_identity(cfg)
        assert refused.value.guard == "discord-identity"
        assert found in refused.value.found


# --- doctor and worker start, as real processes ------------------------------------------


@pytest.fixture(scope="module")
def migrated() -> Iterator[Callable[[str, dict[str, str]], str]]:
    """``migrated(label, env)``: a throw-away database migrated under ``env`` (once per
    label for the module), so the worker can start on it."""
    dbs = Databases()
    made: dict[str, str] = {}

    def get(label: str, env: dict[str, str]) -> str:
        if label not in made:
            url = dbs.create(f"ident_{label}")
            result = run_daylock("migrate", "--no-input", env=env | {"DATABASE_URL": url})
            assert result.returncode == 0, result.stderr[-3000:]
            made[label] = url
        return made[label]

    yield get
    dbs.drop_all()


@pytest.fixture
def staging_env(
    databases: Databases, redis_dbs: Callable[[int], str], staging_discord: RunningEmulator
) -> dict[str, str]:
    return staging_environ() | {
        "DATABASE_URL": databases.create("ident"),
        "REDIS_URL": redis_dbs(1),
        "DISCORD_API_BASE": staging_discord.base_api_url,
    }


def doctor_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stdout.splitlines()
    assert [line.split(" ", 2)[1].rstrip(":") for line in lines] == list(GUARD_NAMES), lines
    assert all(line.startswith("PASS ") for line in lines[:-1]), lines
    return lines[-1]


def assert_worker_refused(env: dict[str, str], needle: str) -> None:
    worker = run_daylock("worker", "--once", env=env)
    assert worker.returncode == 2, (worker.stdout, worker.stderr)
    assert "Traceback" not in worker.stderr
    [line] = worker.stderr.splitlines()
    assert line.startswith("daylock: refused: discord-identity: "), line
    assert needle in line
    assert env["DISCORD_BOT_TOKEN"] not in line
    assert "daylock worker: environment" not in worker.stdout  # stopped before any work


def test_doctor_and_worker_refuse_a_bot_discord_names_as_productions(
    staging_env: dict[str, str], staging_discord: RunningEmulator
) -> None:
    staging_discord.set_users(
        {"bots": [{"token": STAGING_TEST_BOT_TOKEN + ".v2", "id": PROD_BOT, "username": "Prod"}]}
    )
    env = staging_env | {"DISCORD_BOT_TOKEN": STAGING_TEST_BOT_TOKEN + ".v2"}
    doctor = run_daylock("doctor", env=env)
    assert doctor.returncode == 2, doctor.stdout
    line = doctor_line(doctor)
    assert line.startswith("FAIL discord-identity: Discord says DISCORD_BOT_TOKEN is bot ")
    assert f"bot {PROD_BOT} (Prod), which is production's" in line
    assert_worker_refused(env, f"bot {PROD_BOT} (Prod), which is production's")


def test_doctor_and_worker_refuse_an_allowlisted_channel_of_another_guild(
    staging_env: dict[str, str], staging_discord: RunningEmulator
) -> None:
    staging_discord.set_users(
        {"channels": [{"id": CHANNEL, "name": "elsewhere", "guild_id": OTHER_GUILD}]}
    )
    env = staging_env | {"DISCORD_DELIVERY": "allowlist", "DISCORD_ALLOWED_CHANNEL_IDS": CHANNEL}
    doctor = run_daylock("doctor", env=env)
    assert doctor.returncode == 2, doctor.stdout
    assert doctor_line(doctor).startswith(
        f"FAIL discord-identity: allow-listed channel {CHANNEL} belongs to guild {OTHER_GUILD}, "
        f"not DISCORD_GUILD_ID={STAGING_GUILD}; list only channels of"
    )
    assert_worker_refused(env, f"belongs to guild {OTHER_GUILD}")


def test_allowlist_with_discord_unreachable_is_refused(staging_env: dict[str, str]) -> None:
    env = staging_env | {
        "DISCORD_DELIVERY": "allowlist",
        "DISCORD_ALLOWED_CHANNEL_IDS": CHANNEL,
        "DISCORD_API_BASE": UNREACHABLE,
    }
    doctor = run_daylock("doctor", env=env)
    assert doctor.returncode == 2, doctor.stdout
    line = doctor_line(doctor)
    assert line.startswith("FAIL discord-identity: the Discord API at http://127.0.0.1:9 is not ")
    assert "use DISCORD_DELIVERY=capture" in line
    assert_worker_refused(env, "not reachable (ConnectionError)")


def test_capture_with_discord_unreachable_passes_and_the_worker_runs(
    staging_env: dict[str, str], migrated: Callable[[str, dict[str, str]], str]
) -> None:
    env = staging_env | {"DISCORD_API_BASE": UNREACHABLE}
    doctor = run_daylock("doctor", env=env)
    assert doctor.returncode == 0, doctor.stdout
    assert doctor_line(doctor) == (
        "PASS discord-identity: the Discord API at http://127.0.0.1:9 is not reachable "
        "(ConnectionError); capture sends nothing"
    )
    env |= {"DATABASE_URL": migrated("staging", env)}
    worker = run_daylock("worker", "--once", env=env)
    assert worker.returncode == 0, worker.stderr
    assert "daylock worker: discord-identity: the Discord API at http://127.0.0.1:9 is not" in (
        worker.stdout
    )
    assert "daylock worker: stopped" in worker.stdout


def test_a_good_staging_passes_doctor_against_its_discord(
    staging_env: dict[str, str], staging_discord: RunningEmulator
) -> None:
    env = staging_env | {"DISCORD_DELIVERY": "allowlist", "DISCORD_ALLOWED_CHANNEL_IDS": CHANNEL}
    doctor = run_daylock("doctor", env=env)
    assert doctor.returncode == 0, doctor.stdout
    assert doctor_line(doctor).startswith(
        f"PASS discord-identity: bot {STAGING_BOT} (Daylock Bot) is not production's; "
        "1 allow-listed channel(s)"
    )


def test_doctor_does_not_send_a_production_token_anywhere(
    staging_env: dict[str, str], staging_discord: RunningEmulator
) -> None:
    doctor = run_daylock(
        "doctor", env=staging_env | {"DISCORD_BOT_TOKEN": PRODUCTION_TEST_BOT_TOKEN}
    )
    assert doctor.returncode == 2
    assert "FAIL production-identity: DISCORD_BOT_TOKEN is the token of bot" in doctor.stdout
    assert doctor.stdout.splitlines()[-1] == (
        "FAIL discord-identity: not checked: production-identity failed"
    )
    assert staging_discord.requests() == []


@pytest.fixture
def production_env(
    databases: Databases, redis_dbs: Callable[[int], str], discord_emulator: RunningEmulator
) -> dict[str, str]:
    discord_emulator.reset(default_config(bot_token=PRODUCTION_TEST_BOT_TOKEN))
    return production_environ() | {
        "DATABASE_URL": databases.create("ident_prod"),
        "REDIS_URL": redis_dbs(2),
        "DISCORD_API_BASE": discord_emulator.base_api_url,
    }


def test_production_refuses_a_wrong_bot_at_doctor_and_worker_start(
    production_env: dict[str, str], discord_emulator: RunningEmulator
) -> None:
    doctor = run_daylock("doctor", env=production_env)
    assert doctor.returncode == 0, doctor.stdout
    assert doctor_line(doctor).startswith(
        f"PASS discord-identity: bot {PROD_BOT} (Daylock Bot) is production's own bot"
    )
    discord_emulator.reset(
        default_config(bot_token=PRODUCTION_TEST_BOT_TOKEN, bot_user_id="900000000000000099")
    )
    doctor = run_daylock("doctor", env=production_env)
    assert doctor.returncode == 2
    assert "FAIL discord-identity: Discord says DISCORD_BOT_TOKEN is bot 900000000000000099" in (
        doctor_line(doctor)
    )
    assert_worker_refused(production_env, "which PRODUCTION_DISCORD_IDS does not list")


def test_production_keeps_working_when_discord_is_unreachable(
    production_env: dict[str, str], migrated: Callable[[str, dict[str, str]], str]
) -> None:
    env = production_env | {"DISCORD_API_BASE": UNREACHABLE}
    doctor = run_daylock("doctor", env=env)
    assert doctor.returncode == 0, doctor.stdout
    line = doctor_line(doctor)
    assert line.startswith("PASS discord-identity: WARNING: the Discord API at http://127.0.0.1:9")
    assert "the worker keeps running and delivery retries" in line
    env |= {"DATABASE_URL": migrated("production", env)}
    worker = run_daylock("worker", "--once", env=env)
    assert worker.returncode == 0, worker.stderr
    assert "daylock worker: discord-identity: WARNING" in worker.stdout
    assert "daylock worker: stopped" in worker.stdout
