"""The outbox pages' drawing of a message (:mod:`daylock.discord.rendering`), without a
database: Discord's markdown, mentions by name, timestamps, embeds, and safety — no
text from a message or a name ever becomes markup."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from daylock.discord import messages, rendering
from daylock.discord.models import OutboxMessage
from daylock.discord.rendering import Names

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
PAT = "100000000000000103"
ROLE = "100000000000000013"
CHANNEL = "710000000000000001"
GUILD = "100000000000000002"
NAMES = Names(
    users={PAT: "Pat"},
    roles={ROLE: "Event Winner"},
    channels={CHANNEL: "announcements"},
    guild_id=GUILD,
)


def md(text: str, names: Names = NAMES) -> str:
    return str(rendering.render_markdown(text, names, now=NOW))


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("**bold**", '<strong class="dc-bold">bold</strong>'),
        ("*it* and _it_", '<em class="dc-italic">it</em> and <em class="dc-italic">it</em>'),
        ("***both***", '<strong class="dc-bold"><em class="dc-italic">both</em></strong>'),
        ("__under__", '<span class="dc-underline">under</span>'),
        ("~~gone~~", '<s class="dc-strike">gone</s>'),
        ("||secret||", '<span class="dc-spoiler">secret</span>'),
        ("`a *b* <c>`", '<code class="dc-code">a *b* &lt;c&gt;</code>'),
        (r"\*not italic\*", "*not italic*"),
        ("snake_case_name", "snake_case_name"),
        (
            "[the page](https://x.example/a?b=1&c=2)",
            '<a class="dc-link" href="https://x.example/a?b=1&amp;c=2" '
            'rel="noopener noreferrer nofollow">the page</a>',
        ),
        (
            "see https://x.example/d/3/.",
            'see <a class="dc-link" href="https://x.example/d/3/" '
            'rel="noopener noreferrer nofollow">https://x.example/d/3/</a>.',
        ),
        (
            "<https://x.example/>",
            '<a class="dc-link" href="https://x.example/" '
            'rel="noopener noreferrer nofollow">https://x.example/</a>',
        ),
        ("<:party:123456>", '<span class="dc-emoji" title="custom emoji 123456">:party:</span>'),
    ],
)
def test_discord_markdown_inline(text: str, html: str) -> None:
    assert md(text) == f'<span class="dc-line">{html}</span>'


def test_discord_markdown_blocks() -> None:
    html = md(
        "one\ntwo\n# Big\n-# small\n> quoted\n- a\n- b\n3. c\n4. d\n```py\nx = '<y>'\n```\nend"
    )
    assert html == (
        '<span class="dc-line">one</span><br><span class="dc-line">two</span>'
        '<div class="dc-h dc-h1">Big</div><div class="dc-subtext">small</div>'
        '<blockquote class="dc-quote">quoted</blockquote>'
        '<ul class="dc-list"><li>a</li><li>b</li></ul>'
        '<ol class="dc-list" start="3"><li>c</li><li>d</li></ol>'
        '<pre class="dc-codeblock"><code>x = &#39;&lt;y&gt;&#39;</code></pre>'
        '<span class="dc-line">end</span>'
    )
    assert md(">>> all\nof this") == (
        '<blockquote class="dc-quote"><span class="dc-line">all</span><br>'
        '<span class="dc-line">of this</span></blockquote>'
    )


def test_mentions_are_shown_by_name_and_unknown_ids_say_so() -> None:
    html = md(f"<@{PAT}> <@!{PAT}> <@&{ROLE}> <#{CHANNEL}> <@&{GUILD}>")
    assert html.count(">@Pat</span>") == 2
    assert ">@Event Winner</span>" in html
    assert ">#announcements</span>" in html
    assert ">@everyone</span>" in html
    assert PAT not in html.replace(f'title="user {PAT}"', "")  # the id only in the tooltip
    unknown = md("<@200000000000000001> <@&200000000000000002> <#200000000000000003>")
    assert ">@unknown user 200000000000000001</span>" in unknown
    assert ">@unknown role 200000000000000002</span>" in unknown
    assert ">#unknown channel 200000000000000003</span>" in unknown
    assert unknown.count("dc-mention-unknown") == 3


def test_timestamps_are_dates_in_utc_and_relative_to_now() -> None:
    at = int(datetime(2030, 1, 7, 9, 5, 30, tzinfo=UTC).timestamp())
    shown = {
        style: md(f"<t:{at}:{style}>").split('">', 2)[-1].split("</time>")[0] for style in "tTdDfFR"
    }
    assert shown == {
        "t": "09:05 UTC",
        "T": "09:05:30 UTC",
        "d": "2030-01-07",
        "D": "7 January 2030",
        "f": "7 January 2030 09:05 UTC",
        "F": "Monday, 7 January 2030 09:05 UTC",
        "R": "in 6 days",
    }
    assert 'datetime="2030-01-07T09:05:30Z"' in md(f"<t:{at}>")
    assert ">7 January 2030 09:05 UTC</time>" in md(f"<t:{at}>")  # no style: f
    past = int((NOW - timedelta(hours=3)).timestamp())
    assert ">3 hours ago</time>" in md(f"<t:{past}:R>")
    assert ">a few seconds ago</time>" in md(f"<t:{int(NOW.timestamp())}:R>")
    assert md("<t:99999999999999:F>") == '<span class="dc-line">&lt;t:99999999999999:F&gt;</span>'


def test_nothing_in_a_message_or_a_name_becomes_markup() -> None:
    hostile = Names(
        users={PAT: '<script>alert("pat")</script>'},
        roles={ROLE: "<img src=x onerror=alert(1)>"},
        channels={CHANNEL: '"><b>'},
        guild_id=GUILD,
    )
    html = md(
        f"<script>alert(1)</script> <@{PAT}> <@&{ROLE}> <#{CHANNEL}> "
        '[x](javascript:alert(1)) [y](https://ok.example/"onmouseover="a) '
        "**<b>bold</b>** `</code><script>`",
        hostile,
    )
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "@&lt;script&gt;alert(&#34;pat&#34;)&lt;/script&gt;" in html
    assert "@&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'href="javascript' not in html  # only http(s) becomes a link
    assert "[x](javascript:alert(1))" in html
    assert 'onmouseover="' not in html
    assert "&lt;/code&gt;&lt;script&gt;" in html


def test_names_a_builder_escaped_render_exactly_as_typed() -> None:
    typed = "C++ *fast* <@100000000000000103> `x` ||y|| a_b"
    post = messages.day_open(
        event_name=typed, number=1, day_count=1, title=typed, url="https://x/", opens_at=NOW
    )
    html = md(post.content)
    assert "C++ *fast* &lt;@100000000000000103&gt; `x` ||y|| a_b" in html
    assert "dc-mention" not in html and "dc-italic" not in html and "dc-code" not in html
    title = str(rendering.render_inline(post.embeds[0]["title"], NAMES, now=NOW))
    assert title == "Day 1: C++ *fast* &lt;@100000000000000103&gt; `x` ||y|| a_b"


def _row(**fields: Any) -> OutboxMessage:
    base: dict[str, Any] = {
        "kind": "channel_message",
        "channel_id": CHANNEL,
        "content": "",
        "embeds": [],
        "nonce": "dl0123456789abcdef0123",
        "allowed_mentions": {"parse": [], "users": [], "roles": [], "replied_user": False},
    }
    return OutboxMessage(**(base | fields))


def test_an_embed_is_drawn_as_a_card() -> None:
    post = messages.entries_closed(
        event_name="Advent",
        prize_name="Keys",
        seed_hash="a" * 64,
        entrants_hash="b" * 64,
        entrant_count=3,
        url="https://x.example/prizes/draws/1/",
        closed_at=datetime(2030, 1, 7, 9, 0, tzinfo=UTC),
        simulated=True,
    )
    row = _row(content=post.content, embeds=list(post.embeds))
    shown = rendering.render(row, NAMES, now=NOW, request={"json": {"a": 1}})
    [card] = shown.embeds
    assert str(card.title) == "[SIMULATED] Commitment: Keys"
    assert card.url == "https://x.example/prizes/draws/1/"
    assert [(str(f.name), str(f.value), f.inline) for f in card.fields] == [
        ("Entrants", '<span class="dc-line">3</span>', True),
        (
            "Seed hash (SHA-256)",
            f'<span class="dc-line"><code class="dc-code">{"a" * 64}</code></span>',
            False,
        ),
        (
            "Entrants hash (SHA-256)",
            f'<span class="dc-line"><code class="dc-code">{"b" * 64}</code></span>',
            False,
        ),
    ]
    assert card.footer == messages.SIMULATED_FOOTER
    assert card.timestamp == "7 January 2030 09:00 UTC"
    assert (card.color, card.color_text) == ("99aab5", "#99aab5")
    assert shown.target == "#announcements"
    assert json.loads(shown.payload) == {"json": {"a": 1}}
    assert "\n  " in shown.payload  # indented: readable


def test_an_unknown_colour_and_a_non_web_url_are_not_drawn() -> None:
    row = _row(embeds=[{"title": "t", "url": "javascript:alert(1)", "color": 0x123456}])
    [card] = rendering.render(row, NAMES, now=NOW, request={}).embeds
    assert card.url == ""
    assert (card.color, card.color_text) == ("", "#123456")


def test_targets_and_previews_name_who_and_where() -> None:
    dm = _row(kind="direct_message", channel_id="", recipient_id=PAT, content=f"Hi <@{PAT}> **x**")
    grant = _row(kind="role_grant", channel_id="", recipient_id=PAT, role_id=ROLE, guild_id=GUILD)
    revoke = _row(kind="role_remove", channel_id="", recipient_id="1", role_id="2", guild_id=GUILD)
    assert rendering.target_text(dm, NAMES) == "DM to @Pat"
    assert rendering.target_text(grant, NAMES) == "@Pat gets @Event Winner"
    assert rendering.target_text(revoke, NAMES) == "@unknown user 1 loses @unknown role 2"
    assert rendering.preview(dm, NAMES) == "Hi @Pat **x**"
    assert rendering.preview(grant, NAMES) == f"grant role {ROLE}"
    embed_only = _row(embeds=[{"title": "Day 3: Lanterns"}])
    assert rendering.preview(embed_only, NAMES) == "Day 3: Lanterns"
    assert len(rendering.preview(_row(content="y" * 500), NAMES)) == 100


def test_mentioned_collects_every_id_to_name() -> None:
    rows = [
        _row(
            content=f"<@{PAT}>",
            embeds=[
                {
                    "description": "<#710000000000000009>",
                    "fields": [{"name": "n", "value": f"<@&{ROLE}>"}],
                }
            ],
        ),
        _row(kind="role_grant", channel_id="", recipient_id="5", role_id="6", guild_id=GUILD),
    ]
    wanted = rendering.mentioned(rows)
    assert wanted.users == {PAT, "5"}
    assert wanted.roles == {ROLE, "6"}
    assert wanted.channels == {CHANNEL, "710000000000000009"}
