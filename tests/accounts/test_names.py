"""How Daylock shows a person (:mod:`daylock.accounts.names`): Discord's precedence of
names, the avatar URLs on the configured CDN, and the CDN setting itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import daylock.accounts
from daylock.accounts import names
from daylock.accounts.models import DiscordAccount, User
from daylock.config import Refusal, cdn_base_for, load_config
from daylock.testing.pytest_plugin import staging_environ as staging_without_stores
from tests.config_override import config_override

ROOT = Path(__file__).resolve().parents[2]
CDN = "https://cdn.example.test"
GUILD = "700000000000000002"


def staging_environ() -> dict[str, str]:
    """A valid staging configuration to parse (nothing is connected to)."""
    return staging_without_stores() | {
        "DATABASE_URL": "postgres://daylock@db.invalid:5432/daylock_staging",
        "REDIS_URL": "redis://redis.invalid:6379/1",
    }


maybe_name = st.one_of(st.none(), st.just(""), st.text(min_size=1, max_size=40))


def discord_shows(nick: str | None, global_name: str | None, username: str) -> str:
    """Discord's rule as its documentation states it, one case at a time: a member with
    a server nickname is shown by it; one without, by their display name if they set
    one; anyone else by their username."""
    if nick is not None and len(nick) > 0:
        return nick
    if global_name is not None and len(global_name) > 0:
        return global_name
    return username


@given(nick=maybe_name, global_name=maybe_name, username=st.text(min_size=1, max_size=40))
def test_the_name_shown_follows_discords_precedence(
    nick: str | None, global_name: str | None, username: str
) -> None:
    shown = names.name_shown(nick=nick, global_name=global_name, username=username)
    assert shown == discord_shows(nick, global_name, username)


def account(**fields: Any) -> DiscordAccount:
    values: dict[str, Any] = {"discord_id": "100000000000000103", "username": "pat"}
    return DiscordAccount(**(values | fields))


def test_an_account_is_shown_by_nickname_then_display_name_then_username() -> None:
    assert names.display_name(account(nick="Patty", global_name="Pat Player")) == "Patty"
    assert names.display_name(account(global_name="Pat Player")) == "Pat Player"
    assert names.display_name(account()) == "pat"
    # The model's property and the package's export are the same decision.
    assert account(nick="Patty").display_name == "Patty"
    assert daylock.accounts.display_name is names.display_name


def test_a_user_without_discord_account_is_shown_by_daylock_username() -> None:
    operator = User(username="root")
    assert names.user_display_name(operator) == "root"
    assert names.user_avatar_url(operator) == ""
    player = User(username="pat-2")
    player.discord = account(global_name="Pat Player")
    assert names.user_display_name(player) == "Pat Player"


@pytest.fixture
def cdn() -> Any:
    with config_override(discord_cdn_base=CDN, discord_guild_id=GUILD) as override:
        yield override


@pytest.mark.usefixtures("cdn")
def test_the_avatar_is_the_guild_avatar_then_the_user_avatar_then_the_default() -> None:
    both = account(avatar="u1", guild_avatar="a_g2")
    assert names.avatar_url(both) == (
        f"{CDN}/guilds/{GUILD}/users/100000000000000103/avatars/a_g2.png?size=64"
    )
    assert names.avatar_url(account(avatar="u1")) == (
        f"{CDN}/avatars/100000000000000103/u1.png?size=64"
    )
    # 100000000000000103 >> 22 = 23841857910, and 23841857910 % 6 = 0
    assert names.avatar_url(account()) == f"{CDN}/embed/avatars/0.png"
    assert names.avatar_url(account(discord_id=str((5 << 22) | 77))) == (
        f"{CDN}/embed/avatars/5.png"
    )
    assert account(avatar="u1").avatar_url == names.avatar_url(account(avatar="u1"))


@pytest.mark.usefixtures("cdn")
def test_hashes_cannot_leave_their_path_segment() -> None:
    url = names.avatar_url(account(avatar="../../x?y"))
    assert url == f"{CDN}/avatars/100000000000000103/..%2F..%2Fx%3Fy.png?size=64"


@given(timestamp=st.integers(0, (1 << 41) - 1), low=st.integers(0, (1 << 22) - 1))
def test_the_default_avatar_is_the_snowflakes_timestamp_modulo_six(
    timestamp: int, low: int
) -> None:
    """Discord: ``(user_id >> 22) % 6`` — the id's millisecond timestamp, whatever its
    worker, process and sequence bits."""
    snowflake = (timestamp << 22) | low
    assert names.default_avatar_index(str(snowflake)) == timestamp % 6


def test_seeded_and_malformed_ids_get_the_first_default_avatar() -> None:
    assert names.default_avatar_index("1000042") == 0  # seeded ids sit below 2**22
    assert names.default_avatar_index("not-an-id") == 0


# --- the setting --------------------------------------------------------------------


def test_the_cdn_goes_with_the_api_unless_set() -> None:
    assert cdn_base_for("https://discord.com/api/v10") == "https://cdn.discordapp.com"
    assert cdn_base_for("http://127.0.0.1:9/api/v10") == "http://127.0.0.1:9"
    assert (
        cdn_base_for("http://127.0.0.1:8000/_emulator/discord/api/v10")
        == "http://127.0.0.1:8000/_emulator/discord"
    )
    environ = staging_environ()
    assert load_config(environ).discord_cdn == "http://127.0.0.1:9"
    production_like = environ | {"DISCORD_API_BASE": "https://discord.com/api/v10"}
    assert load_config(production_like).discord_cdn == "https://cdn.discordapp.com"
    chosen = environ | {"DISCORD_CDN_BASE": "https://media.example.test/cdn/"}
    assert load_config(chosen).discord_cdn == "https://media.example.test/cdn"


@pytest.mark.parametrize("value", ["cdn.discordapp.com", "ftp://cdn.example", "https://x/?a=1"])
def test_a_malformed_cdn_setting_is_refused_with_what_to_set(value: str) -> None:
    with pytest.raises(Refusal, match="DISCORD_CDN_BASE") as refused:
        load_config(staging_environ() | {"DISCORD_CDN_BASE": value})
    assert "https://cdn.discordapp.com" in str(refused.value)


def test_every_deployment_example_documents_the_cdn_setting() -> None:
    examples = sorted((ROOT / "deploy").glob("*.env.example"))
    assert examples
    for example in examples:
        assert "DISCORD_CDN_BASE=" in example.read_text(), example.name


# --- the Content-Security-Policy ---------------------------------------------------------


def img_sources(header: str) -> list[str]:
    for directive in header.split(";"):
        words = directive.split()
        if words and words[0] == "img-src":
            return words[1:]
    raise AssertionError(f"no img-src in {header!r}")


@pytest.mark.django_db
def test_pages_may_load_images_from_the_configured_cdn_and_no_other_plain_http_origin(
    client: Any,
) -> None:
    """Day content may show https images (Markdown); besides those and this site, only
    the CDN's origin, which is plain http when it is a local emulator."""
    header = client.get("/healthz")["Content-Security-Policy"]
    assert img_sources(header) == ["'self'", "https:", "http://127.0.0.1:9"]


SHOW_IMG_SRC = (
    "import daylock.settings as s; print(' '.join(s.CONTENT_SECURITY_POLICY['DIRECTIVES']"
    "['img-src']))"
)


@pytest.mark.parametrize(
    ("cdn", "expected"),
    [
        ("", "'self' https: http://127.0.0.1:8000"),  # the embedded emulator's origin
        ("http://cdn.internal:8080/media", "'self' https: http://cdn.internal:8080"),
    ],
)
def test_the_policy_follows_the_cdn_setting(tmp_path: Path, cdn: str, expected: str) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "APP_ENV": "development",
        "DAYLOCK_VAR_DIR": str(tmp_path),
        "DISCORD_CDN_BASE": cdn,
    }
    shown = subprocess.run(
        [sys.executable, "-c", SHOW_IMG_SRC],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == expected
