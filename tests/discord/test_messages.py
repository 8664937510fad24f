"""The message builders (:mod:`daylock.discord.messages`), without a database: what each
message says, what it links, who it pings, and that nothing a name can hold makes it
exceed a limit Discord enforces or read as formatting."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daylock.discord import messages
from daylock.discord.messages import Post, Winner

AT = datetime(2030, 1, 7, 9, 30, tzinfo=UTC)
UNIX = int(AT.timestamp())
URL = "https://daylock.example/prizes/draws/12/"
SEED_HASH = "a" * 64
ENTRANTS_HASH = "b" * 64
PAT = "100000000000000103"
SAM = "100000000000000104"


def _card(post: Post) -> dict[str, Any]:
    [card] = post.embeds
    return card


def _fields(post: Post) -> dict[str, str]:
    return {field["name"]: field["value"] for field in _card(post).get("fields", [])}


def test_day_open_links_the_day_and_pings_nobody() -> None:
    post = messages.day_open(
        event_name="Advent",
        number=3,
        day_count=7,
        title="Lanterns",
        url="https://x/d/3/",
        opens_at=AT,
    )
    assert post.content == "🔓 **Advent** — Day 3 is open!"
    card = _card(post)
    assert card["title"] == "Day 3: Lanterns"
    assert card["url"] == "https://x/d/3/"
    assert card["timestamp"] == "2030-01-07T09:30:00+00:00"
    assert card["color"] == messages.GREEN
    assert f"<t:{UNIX}:F>" in card["description"] and "Day 3 of 7" in card["description"]
    assert post.mention_user_ids == ()
    assert messages.embeds_problem(post.embeds) == ""
    untitled = messages.day_open(
        event_name="A", number=1, day_count=1, title="", url="https://x/", opens_at=AT
    )
    assert _card(untitled)["title"] == "Day 1"


def test_the_reminder_shows_when_the_last_day_opens_and_the_roles_to_earn() -> None:
    post = messages.last_day_reminder(
        event_name="Advent",
        number=7,
        opens_at=AT,
        url="https://x/e/",
        completion_roles=[("Normal", "730000000000000091"), ("Veteran", "730000000000000092")],
    )
    assert post.content == f"⏰ **Advent** — the last day (Day 7) opens <t:{UNIX}:R>."
    card = _card(post)
    assert f"<t:{UNIX}:F> (<t:{UNIX}:R>)" in card["description"]
    assert _fields(post) == {
        "Complete every day to earn": (
            "<@&730000000000000091> (normal)\n<@&730000000000000092> (veteran)"
        )
    }
    assert post.mention_user_ids == ()  # the roles are shown, never pinged
    plain = messages.last_day_reminder(event_name="A", number=2, opens_at=AT, url="https://x/")
    assert "fields" not in _card(plain)


@pytest.mark.parametrize("simulated", [True, False])
def test_entries_closed_carries_the_commitment_in_code_spans(simulated: bool) -> None:
    post = messages.entries_closed(
        event_name="Advent",
        prize_name="Keys",
        seed_hash=SEED_HASH,
        entrants_hash=ENTRANTS_HASH,
        entrant_count=1,
        url=URL,
        closed_at=AT,
        simulated=simulated,
    )
    assert post.content.endswith("🔒 Entries closed for **Keys** (Advent): 1 entrant.")
    assert _fields(post) == {
        "Entrants": "1",
        "Seed hash (SHA-256)": f"`{SEED_HASH}`",
        "Entrants hash (SHA-256)": f"`{ENTRANTS_HASH}`",
    }
    card = _card(post)
    assert card["url"] == URL and card["timestamp"] == AT.isoformat()
    if simulated:
        assert post.content.startswith("[SIMULATED] ")
        assert card["title"] == "[SIMULATED] Commitment: Keys"
        assert card["color"] == messages.GREY
        assert card["footer"]["text"] == messages.SIMULATED_FOOTER
    else:
        assert "SIMULATED" not in post.content and "SIMULATED" not in str(card)
        assert card["color"] == messages.BLURPLE and "footer" not in card


def test_results_link_the_draw_and_mention_the_winners_channel_without_pinging() -> None:
    post = messages.results(
        event_name="Advent",
        prize_name="Keys",
        winner_count=2,
        url=URL,
        drawn_at=AT,
        simulated=False,
        winners_channel_id="710000000000000092",
    )
    assert post.content == "🏆 **Keys** (Advent) was drawn: 2 winners."
    assert "announced in <#710000000000000092>." in _card(post)["description"]
    assert _card(post)["url"] == URL
    assert post.mention_user_ids == ()
    nobody = messages.results(
        event_name="A", prize_name="P", winner_count=0, url=URL, drawn_at=AT, simulated=True
    )
    assert nobody.content == "[SIMULATED] 🏆 **P** (A) was drawn: no winner."
    assert "announced in" not in _card(nobody)["description"]


def test_the_draw_announcement_pings_exactly_its_named_winners() -> None:
    winners = [Winner(1, PAT, "pat"), Winner(2, None, "user 7"), Winner(3, SAM, "sam")]
    post = messages.draw_winners(
        event_name="Advent",
        prize_name="Keys",
        winners=winners,
        entrant_count=9,
        url=URL,
        drawn_at=AT,
        simulated=False,
    )
    assert (
        post.content == f"🎉 Congratulations <@{PAT}>, user 7, <@{SAM}>! You won **Keys** (Advent)."
    )
    assert post.mention_user_ids == (PAT, SAM)
    assert _card(post)["description"] == f"1. <@{PAT}>\n2. user 7\n3. <@{SAM}>"
    assert _fields(post)["Winners"] == "3" and _fields(post)["Entrants"] == "9"
    assert f"[The draw page]({URL})" in _fields(post)["Verify it yourself"]


def test_a_crowd_of_winners_is_cut_at_forty_names_and_forty_pings() -> None:
    crowd = [Winner(rank, str(200000000000000000 + rank), "") for rank in range(1, 46)]
    post = messages.draw_winners(
        event_name="A",
        prize_name="P",
        winners=crowd,
        entrant_count=90,
        url=URL,
        drawn_at=AT,
        simulated=True,
    )
    assert len(post.mention_user_ids) == messages.ANNOUNCE_MAX_NAMES
    assert post.content.count("<@") == messages.ANNOUNCE_MAX_NAMES
    assert " and 5 more! " in post.content and len(post.content) <= messages.CONTENT_MAX
    assert "… and 5 more on the draw page." in _card(post)["description"]
    assert messages.embeds_problem(post.embeds) == ""


def test_no_winner_is_said_plainly() -> None:
    post = messages.draw_winners(
        event_name="A",
        prize_name="P",
        winners=[],
        entrant_count=0,
        url=URL,
        drawn_at=AT,
        simulated=False,
    )
    assert post.content == "Draw for **P** (A): no eligible entrants, no winner."
    assert post.mention_user_ids == ()


def test_the_winner_dm_links_their_prizes_and_never_pings() -> None:
    post = messages.winner_dm(
        event_name="Advent",
        prize_name="Keys",
        prizes_url="https://x/prizes/mine/",
        draw_url=URL,
        simulated=True,
    )
    assert post.content == "[SIMULATED — not a real prize] 🎉 You won **Keys** in Advent!"
    card = _card(post)
    assert card["url"] == "https://x/prizes/mine/"
    assert f"[The draw]({URL})" in card["description"]
    assert post.mention_user_ids == ()


def test_a_reroll_pings_the_new_winner_and_clips_a_long_reason() -> None:
    post = messages.reroll(
        prize_name="Keys",
        replaced_rank=1,
        status_label="Declined",
        reason="did not answer " * 400,
        new_winner=Winner(3, SAM, "sam"),
        url=URL,
        rerolled_at=AT,
        simulated=False,
    )
    assert post.content.startswith("🔁 Reroll for **Keys**: rank 1 (declined: did not answer")
    assert post.content.endswith(f"is replaced by rank 3, <@{SAM}>.")
    assert len(post.content) <= messages.CONTENT_MAX
    assert post.mention_user_ids == (SAM,)
    fields = _fields(post)
    assert len(fields["Reason"]) == messages.FIELD_VALUE_MAX and fields["Reason"].endswith("…")
    assert fields["New winner"] == f"Rank 3: <@{SAM}>"
    assert messages.embeds_problem(post.embeds) == ""


def test_names_are_shown_as_typed_never_as_formatting_or_mentions() -> None:
    post = messages.day_open(
        event_name="C++ *fast* <@100000000000000103> `x`",
        number=1,
        day_count=1,
        title="a_b ~~c~~ ||d|| [e](https://evil.example)",
        url="https://x/",
        opens_at=AT,
    )
    assert r"C++ \*fast\* \<@100000000000000103> \`x\`" in post.content
    assert _card(post)["title"] == r"Day 1: a\_b \~\~c\~\~ \|\|d\|\| \[e\](https://evil.example)"
    assert messages.escape_markdown("plain words 123") == "plain words 123"


def test_clip_never_leaves_an_escaping_backslash_before_the_ellipsis() -> None:
    assert messages.clip("abcdef", 6) == "abcdef"
    assert messages.clip("abcdefg", 6) == "abcde…"
    assert messages.clip(r"abcd\*", 6) == r"abcd\*"
    assert messages.clip(r"abcd\*x", 6) == "abcd…"  # not "abcd\…"
    assert messages.clip("ab\\\\cd", 5) == "ab\\\\…"  # an escaped backslash stays whole


# --- Discord's limits, checked before a row is written ------------------------------------


def _long(n: int) -> str:
    return "x" * n


@pytest.mark.parametrize(
    ("embeds", "problem"),
    [
        ([{"title": "t"}] * 11, "11 embeds; Discord allows 10 per message"),
        ([{"title": _long(257)}], "embed 1's title is 257 characters; Discord allows 256"),
        ([{"description": _long(4097)}], "embed 1's description is 4097 characters"),
        ([{"fields": [{"name": "n", "value": "v"}] * 26}], "embed 1 has 26 fields"),
        ([{"fields": [{"name": _long(257), "value": "v"}]}], "field 1's name is 257 characters"),
        ([{"fields": [{"name": "n", "value": _long(1025)}]}], "field 1's value is 1025 characters"),
        ([{"fields": [{"name": "n", "value": ""}]}], "embed 1's field 1 needs a name and a value"),
        ([{"footer": {"text": _long(2049)}}], "embed 1's footer text is 2049 characters"),
        ([{"title": "a"}, {"author": {"name": _long(257)}}], "embed 2's author name is 257"),
        (
            [{"description": _long(3000)}, {"description": _long(3001)}],
            "the embeds hold 6001 characters together; Discord allows 6000",
        ),
        ([{"color": 0x1000000}], "embed 1's color 16777216 is not an RGB number"),
        (
            [{"url": "javascript:alert(1)"}],
            "embed 1's url 'javascript:alert(1)' is not an http(s) URL",
        ),
        (["not an object"], "embed 1 is not an object"),
        ([{"title": 5}], "embed 1's title is not text"),
    ],
)
def test_each_documented_limit_is_named(embeds: list[Any], problem: str) -> None:
    assert problem in messages.embeds_problem(embeds)


def test_a_message_at_every_limit_is_accepted() -> None:
    full = {
        "title": _long(256),
        "description": _long(1000),
        "fields": [{"name": _long(100), "value": _long(80)}] * 25,
        "footer": {"text": _long(100)},
        "author": {"name": _long(144)},
        "color": messages.COLOR_MAX,
        "url": "https://x/",
    }
    assert messages.embeds_problem([full]) == ""  # 6000 characters exactly
    full["footer"] = {"text": _long(101)}
    assert "6001 characters together" in messages.embeds_problem([full])


_names = st.text(min_size=0, max_size=200)


@settings(max_examples=60, deadline=None)
@given(event=_names, prize=_names, title=_names, reason=_names.filter(str.strip))
def test_any_names_build_messages_discord_accepts(
    event: str, prize: str, title: str, reason: str
) -> None:
    """Whatever staff typed (up to the models' 200 characters), every message stays
    within Discord's limits: a name shortens a message, never gets it refused."""
    winners = [Winner(rank, str(200000000000000000 + rank), prize) for rank in range(1, 60)]
    posts = [
        messages.day_open(
            event_name=event, number=7, day_count=7, title=title, url=URL, opens_at=AT
        ),
        messages.last_day_reminder(
            event_name=event, number=7, opens_at=AT, url=URL, completion_roles=[("Normal", "1")]
        ),
        messages.entries_closed(
            event_name=event,
            prize_name=prize,
            seed_hash=SEED_HASH,
            entrants_hash=ENTRANTS_HASH,
            entrant_count=3,
            url=URL,
            closed_at=AT,
            simulated=True,
        ),
        messages.results(
            event_name=event,
            prize_name=prize,
            winner_count=3,
            url=URL,
            drawn_at=AT,
            simulated=True,
            winners_channel_id="2",
        ),
        messages.draw_winners(
            event_name=event,
            prize_name=prize,
            winners=winners,
            entrant_count=99,
            url=URL,
            drawn_at=AT,
            simulated=True,
        ),
        messages.winner_dm(
            event_name=event, prize_name=prize, prizes_url=URL, draw_url=URL, simulated=True
        ),
        messages.reroll(
            prize_name=prize,
            replaced_rank=1,
            status_label="Declined",
            reason=reason * 20,
            new_winner=winners[0],
            url=URL,
            rerolled_at=AT,
            simulated=True,
        ),
    ]
    for post in posts:
        assert 0 < len(post.content) <= messages.CONTENT_MAX
        assert messages.embeds_problem(post.embeds) == ""
