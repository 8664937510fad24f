"""The leaderboard: ranking rules (stars, time from each day's unlock, ties), who is
listed and how (name, anonymous, hidden, banned), the viewer's own standing, the page,
the JSON for bots, the profile's choice, and the per-process snapshot's freshness."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from daylock.accounts.models import DiscordAccount, LeaderboardVisibility, User
from daylock.accounts.services import user_set_banned
from daylock.events import leaderboard, services
from daylock.events.leaderboard import Freshness, format_duration, leaderboard_get
from daylock.events.models import Event, LeaderboardEntry, Progress, Tier

from .factories import EventFactory, UserFactory, answer_for

pytestmark = pytest.mark.django_db

UTC = dt.UTC
START = dt.datetime(2024, 1, 1, tzinfo=UTC)  # EventFactory's start: day k opens START + k-1


@pytest.fixture(autouse=True)
def exact(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every read rebuilds its snapshot (tests of freshness set their own)."""
    monkeypatch.setattr(leaderboard, "FRESHNESS", Freshness(0, 0, 0))
    leaderboard.snapshots_clear()
    yield
    leaderboard.snapshots_clear()


def player(name: str, *, global_name: str = "", **fields: Any) -> User:
    user = UserFactory(username=name, discord__username=f"{name}-discord", **fields)
    DiscordAccount.objects.filter(user=user).update(global_name=global_name)
    user.refresh_from_db()
    return user


def solve(user: User, event: Event, number: int, tier: Tier, *, after: dt.timedelta) -> None:
    """A solve ``after`` the day's unlock, written like the admin does (progress, then
    the refresh every writer calls)."""
    day = event.days.get(number=number)
    at = day.unlocks_at + after
    Progress.objects.create(user=user, day=day, tier=tier, solved_at=at)
    services.completion_refresh(event=event, user_ids=[user.pk])


def minutes(n: float) -> dt.timedelta:
    return dt.timedelta(minutes=n)


def board_of(event: Event, viewer: User | None = None) -> list[tuple[int, str, int, int]]:
    board = leaderboard_get(slug=event.slug, viewer=viewer)
    return [(row.rank, row.label, row.stars, row.total_seconds) for row in board.rows]


def named(*names: str) -> list[User]:
    return [
        player(name, global_name=name.title(), leaderboard_visibility=LeaderboardVisibility.NAME)
        for name in names
    ]


# --- ranking --------------------------------------------------------------------------------


def test_more_stars_rank_first_then_less_total_time() -> None:
    event = EventFactory(day_count=3)
    slow, fast, quick = named("slow", "fast", "quick")
    for number in (1, 2, 3):
        solve(slow, event, number, Tier.NORMAL, after=dt.timedelta(hours=5))
    for number in (1, 2):
        solve(fast, event, number, Tier.NORMAL, after=minutes(1))
    for number in (1, 2):
        solve(quick, event, number, Tier.NORMAL, after=minutes(2))
    solve(quick, event, 1, Tier.VETERAN, after=minutes(3))
    assert board_of(event) == [
        (1, "Quick", 3, (2 + 2 + 3) * 60),
        (2, "Slow", 3, 3 * 5 * 3600),
        (3, "Fast", 2, 2 * 60),
    ]


def test_ties_go_to_the_earlier_last_solve_then_the_smaller_user_id() -> None:
    event = EventFactory(day_count=2)
    late, early, twin_a, twin_b = named("late", "early", "twin-a", "twin-b")
    # Both 10 minutes in all; "early" finished its last solve sooner.
    solve(late, event, 1, Tier.NORMAL, after=minutes(0))
    solve(late, event, 2, Tier.NORMAL, after=minutes(10))
    solve(early, event, 1, Tier.NORMAL, after=minutes(10))
    solve(early, event, 2, Tier.NORMAL, after=minutes(0))
    # Identical in everything: the order is still total and stable.
    for twin in (twin_b, twin_a):
        solve(twin, event, 1, Tier.NORMAL, after=minutes(20))
        solve(twin, event, 2, Tier.NORMAL, after=minutes(20))
    assert twin_a.pk < twin_b.pk
    assert [label for _, label, _, _ in board_of(event)] == ["Early", "Late", "Twin-A", "Twin-B"]
    # And again from a fresh snapshot: the same order.
    leaderboard.snapshots_clear()
    assert [label for _, label, _, _ in board_of(event)] == ["Early", "Late", "Twin-A", "Twin-B"]


def test_time_counts_from_each_days_unlock_in_the_events_time_zone() -> None:
    event = EventFactory(day_count=2, time_zone="Europe/Berlin")
    (ada,) = named("ada")
    # Day 2 opens at 00:00 in Berlin on 2 January: 23:00 UTC on 1 January.
    at = dt.datetime(2024, 1, 1, 23, 30, 15, 900000, tzinfo=UTC)
    Progress.objects.create(user=ada, day=event.days.get(number=2), tier=Tier.NORMAL, solved_at=at)
    services.completion_refresh(event=event, user_ids=[ada.pk])
    assert board_of(event) == [(1, "Ada", 1, 30 * 60 + 15)]  # whole seconds


def test_format_duration() -> None:
    assert format_duration(0) == "00:00:00"
    assert format_duration(3 * 3600 + 4 * 60 + 5) == "03:04:05"
    assert format_duration(2 * 86400 + 3661) == "2d 01:01:01"


# --- who is listed, and how --------------------------------------------------------------


def test_each_choice_labels_the_player_and_banned_or_hidden_leave_no_gap() -> None:
    event = EventFactory(day_count=1)
    global_named = player("g", global_name="Sunny Otter", leaderboard_visibility="name")
    discord_named = player("d", leaderboard_visibility="name")
    anon = player("a")  # the default
    hidden = player("h", leaderboard_visibility="hidden")
    banned = player("b", is_banned=True, leaderboard_visibility="name")
    no_discord = UserFactory(username="nodiscord", discord=None, leaderboard_visibility="name")
    order = [hidden, banned, global_named, discord_named, anon, no_discord]
    for n, user in enumerate(order):
        solve(user, event, 1, Tier.NORMAL, after=minutes(n))
    board = leaderboard_get(slug=event.slug, viewer=None)
    assert [(row.rank, row.label, row.anonymous) for row in board.rows] == [
        (1, "Sunny Otter", False),
        (2, "d-discord", False),
        (3, "anonymous #5", True),  # the fifth player to solve anything in this event
        (4, "nodiscord", False),
    ]
    assert board.players == 4


def test_new_players_are_anonymous_by_default() -> None:
    assert User.objects.create_user("newcomer").leaderboard_visibility == "anonymous"


def test_anonymous_numbers_are_per_event_stable_and_not_the_user_id() -> None:
    UserFactory.create_batch(5)  # user ids well past the numbers below
    first, second = EventFactory(day_count=2), EventFactory(day_count=2)
    x, y, z = player("x"), player("y"), player("z")
    solve(y, first, 1, Tier.NORMAL, after=minutes(1))
    solve(x, first, 1, Tier.NORMAL, after=minutes(2))
    solve(x, second, 1, Tier.NORMAL, after=minutes(1))
    labels = {row.label for row in leaderboard_get(slug=first.slug, viewer=None).rows}
    assert labels == {"anonymous #1", "anonymous #2"}
    assert all(f"#{user.pk}" not in label for user in (x, y, z) for label in labels)
    assert [row.label for row in leaderboard_get(slug=second.slug, viewer=None).rows] == [
        "anonymous #1"
    ]
    # Others joining, more solves, a name shown for a while: the numbers stay.
    solve(z, first, 1, Tier.NORMAL, after=minutes(0))
    solve(x, first, 2, Tier.VETERAN, after=minutes(1))
    leaderboard.visibility_set(user=x, visibility="name")
    leaderboard.visibility_set(user=x, visibility="anonymous")
    services.completion_refresh(event=first)
    rows = {row.label: row.stars for row in leaderboard_get(slug=first.slug, viewer=None).rows}
    assert rows == {"anonymous #2": 2, "anonymous #3": 1, "anonymous #1": 1}


def test_names_are_escaped_on_the_page(client: Client) -> None:
    event = EventFactory(slug="esc", day_count=1)
    sneaky = player("s", global_name="<b>bold</b>", leaderboard_visibility="name")
    solve(sneaky, event, 1, Tier.NORMAL, after=minutes(1))
    body = client.get("/events/esc/leaderboard/").content.decode()
    assert "&lt;b&gt;bold&lt;/b&gt;" in body and "<b>bold</b>" not in body


def test_players_shown_by_name_appear_as_discord_shows_them_with_their_avatar(
    client: Client,
) -> None:
    """Server nickname, else display name, else username (:mod:`daylock.accounts.names`);
    the avatar on the configured CDN next to a name, never next to "anonymous #n"."""
    event = EventFactory(slug="names", day_count=1)
    nicknamed = player("n", global_name="Global N", leaderboard_visibility="name")
    DiscordAccount.objects.filter(user=nicknamed).update(nick="Nick N", guild_avatar="a_9")
    global_named = player("g", global_name="Global G", leaderboard_visibility="name")
    plain = player("p", leaderboard_visibility="name")
    anonymous = player("a", global_name="Global A")
    DiscordAccount.objects.filter(user=anonymous).update(nick="Nick A", avatar="beef")
    for n, user in enumerate((nicknamed, global_named, plain, anonymous)):
        solve(user, event, 1, Tier.NORMAL, after=minutes(n))
    rows = leaderboard_get(slug=event.slug, viewer=None).rows
    assert [row.label for row in rows] == ["Nick N", "Global G", "p-discord", "anonymous #4"]
    accounts = [DiscordAccount.objects.get(user=u) for u in (nicknamed, global_named, plain)]
    assert [row.avatar_url for row in rows] == [*(a.avatar_url for a in accounts), ""]
    cdn = settings.DAYLOCK.discord_cdn
    assert rows[0].avatar_url.startswith(f"{cdn}/guilds/")
    assert rows[2].avatar_url.startswith(f"{cdn}/embed/avatars/")
    body = client.get("/events/names/leaderboard/").content.decode()
    for row in rows[:3]:
        assert f'<img class="avatar" src="{row.avatar_url}" alt=""' in body
    assert body.count('<img class="avatar"') == 3  # none for the anonymous player
    assert "Nick A" not in body and "Global A" not in body and "beef" not in body
    entries = client.get("/events/names/leaderboard.json").json()["entries"]
    assert [entry["name"] for entry in entries] == [row.label for row in rows]
    assert all("avatar" not in key for entry in entries for key in entry)


def test_hidden_banned_and_anonymous_players_nicknames_are_never_published(
    client: Client,
) -> None:
    event = EventFactory(slug="secret", day_count=1)
    hidden = player("h", leaderboard_visibility="hidden")
    banned = player("b", is_banned=True, leaderboard_visibility="name")
    anonymous = player("a")
    shown = player("s", leaderboard_visibility="name")
    for n, user in enumerate((hidden, banned, anonymous, shown)):
        DiscordAccount.objects.filter(user=user).update(
            nick=f"Secret {user.username}", global_name=f"Global {user.username}"
        )
        solve(user, event, 1, Tier.NORMAL, after=minutes(n))
    page = client.get("/events/secret/leaderboard/").content.decode()
    document = client.get("/events/secret/leaderboard.json").content.decode()
    for text in (page, document):
        assert "Secret s" in text
        for secret in ("Secret h", "Secret b", "Secret a", "Global h", "Global b", "Global a"):
            assert secret not in text


def test_a_nickname_with_markup_renders_as_text_on_the_board(client: Client) -> None:
    event = EventFactory(slug="nickesc", day_count=1)
    sneaky = player("s", leaderboard_visibility="name")
    DiscordAccount.objects.filter(user=sneaky).update(nick="<script>alert(1)</script>")
    solve(sneaky, event, 1, Tier.NORMAL, after=minutes(1))
    client.force_login(sneaky)  # the header and their own standing, as well as the table
    body = client.get("/events/nickesc/leaderboard/").content.decode()
    assert "<script>alert(1)</script>" not in body
    assert body.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 3


def test_a_player_banned_or_hidden_since_the_snapshot_disappears_within_names_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Bans are written outside the leaderboard (no new snapshot token): who of the top
    is listed, and their names, are read again after ``names_seconds``, and a row no
    longer listed rebuilds the snapshot at once (ranks and counts included)."""
    clock = [1000.0]
    monkeypatch.setattr(leaderboard, "monotonic", lambda: clock[0])
    monkeypatch.setattr(leaderboard, "FRESHNESS", Freshness(3600, 3600, 1))
    event = EventFactory(day_count=1)
    a, b, c = named("a", "b", "c")
    for n, user in enumerate((a, b, c)):
        solve(user, event, 1, Tier.NORMAL, after=minutes(n))
    assert [label for _, label, _, _ in board_of(event)] == ["A", "B", "C"]
    user_set_banned(actor=None, user=b, banned=True)
    clock[0] += 0.5
    assert [label for _, label, _, _ in board_of(event)] == ["A", "B", "C"]
    clock[0] += 0.5
    assert board_of(event) == [(1, "A", 1, 0), (2, "C", 1, 120)]
    assert leaderboard_get(slug=event.slug, viewer=c).players == 2  # rebuilt, not just filtered
    viewer = leaderboard_get(slug=event.slug, viewer=c).viewer
    assert viewer is not None and viewer.row is not None and viewer.row.rank == 2
    User.objects.filter(pk=a.pk).update(leaderboard_visibility="hidden")
    clock[0] += 1
    assert board_of(event) == [(1, "C", 1, 120)]
    User.objects.filter(pk=c.pk).update(leaderboard_visibility="anonymous")
    clock[0] += 1
    assert board_of(event) == [(1, "anonymous #3", 1, 120)]


# --- the viewer's own standing -----------------------------------------------------------


def test_the_viewer_sees_their_rank_below_the_top_100(client: Client) -> None:
    event = EventFactory(slug="big", day_count=1)
    users = UserFactory.create_batch(leaderboard.TOP + 2)
    day = event.days.get()
    Progress.objects.bulk_create(
        [
            Progress(user=user, day=day, tier=Tier.NORMAL, solved_at=day.unlocks_at + minutes(n))
            for n, user in enumerate(users)
        ]
    )
    services.completion_refresh(event=event)
    last = users[-1]
    client.force_login(last)
    body = client.get("/events/big/leaderboard/").content.decode()
    assert body.count("<tr data-rank=") == leaderboard.TOP
    assert 'data-you="true"' not in body
    assert '<strong data-your-rank="102">#102</strong>' in body
    assert "anonymous #102</strong> (below the top 100)" in body
    assert "102 players listed" in body
    client.force_login(users[4])
    body = client.get("/events/big/leaderboard/").content.decode()
    mine = re.search(
        r'<tr data-rank="5" data-you="true" aria-current="true">(.*?)</tr>', body, re.S
    )
    assert mine is not None and "<strong>anonymous #5</strong> (you)" in mine.group(1)


def test_a_hidden_viewer_sees_where_they_would_be_and_nobody_else_does(client: Client) -> None:
    event = EventFactory(slug="h", day_count=1)
    first, me, third = named("first", "me", "third")
    for n, user in enumerate((first, me, third)):
        solve(user, event, 1, Tier.NORMAL, after=minutes(n))
    leaderboard.visibility_set(user=me, visibility="hidden")
    client.force_login(me)
    body = client.get("/events/h/leaderboard/").content.decode()
    assert '<strong data-your-rank="2">#2</strong>' in body
    assert "but hidden: that is where you would be, and nobody else sees you" in body
    assert "On leaderboards: Not at all." in body
    page = body.split("<main")[1]  # the header names the viewer to themselves
    assert ">Me<" not in page and "(you)" not in page
    assert [label for _, label, _, _ in board_of(event, viewer=me)] == ["First", "Third"]
    assert leaderboard_get(slug=event.slug, viewer=me).players == 2


def test_a_banned_viewer_or_one_without_stars_is_told_why(client: Client) -> None:
    event = EventFactory(slug="v", day_count=1)
    banned, newcomer = player("banned"), player("newcomer")
    solve(banned, event, 1, Tier.NORMAL, after=minutes(1))
    User.objects.filter(pk=banned.pk).update(is_banned=True)
    banned.refresh_from_db()
    board = leaderboard_get(slug=event.slug, viewer=banned)
    assert board.viewer is not None and board.viewer.state == "banned" and board.rows == []
    client.force_login(newcomer)
    body = client.get("/events/v/leaderboard/").content.decode()
    assert 'data-state="no-stars"' in body
    assert "No stars yet: solve a day's challenge to appear here." in body
    client.logout()
    body = client.get("/events/v/leaderboard/").content.decode()
    assert (
        'href="/auth/login/?next=%2Fevents%2Fv%2Fleaderboard%2F">Log in</a> to see your own rank'
        in body
    )


def test_leaderboard_shows_the_player_after_solving(
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    """The check of issue 16: a player solves through the day page's form and finds
    themselves on the leaderboard at once, even though this process's snapshot was
    built before the solve and is not due for a rebuild; other visitors see them once
    the write is committed and the snapshot rebuilt."""
    monkeypatch.setattr(leaderboard, "FRESHNESS", Freshness(3600, 3600))
    event = EventFactory(slug="walk", day_count=2)
    (rival,) = named("rival")
    solve(rival, event, 1, Tier.NORMAL, after=dt.timedelta(days=3650))  # slower than "me"
    me = player("me", global_name="Me Myself", leaderboard_visibility="name")
    client.force_login(me)
    body = client.get("/events/walk/leaderboard/").content.decode()
    assert 'data-state="no-stars"' in body and "1 player listed" in body
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/events/walk/day/1/answer/normal/", {"answer": answer_for("normal", 1)}
        )
    assert response.status_code == 302
    body = client.get("/events/walk/leaderboard/").content.decode()
    assert re.search(
        r'<tr data-rank="1" data-you="true" aria-current="true">\s*<td>1</td>\s*'
        r'<td><img class="avatar" src="[^"]+" alt=""[^>]*> <strong>Me Myself</strong> \(you\)</td>',
        body,
    ), body
    assert '<strong data-your-rank="1">#1</strong>' in body and "2 players listed" in body
    # Another visitor: the snapshot is stale (the write committed) but not due yet.
    assert [label for _, label, _, _ in board_of(event)] == ["Rival"]
    monkeypatch.setattr(leaderboard, "FRESHNESS", Freshness(0, 3600))
    assert [label for _, label, _, _ in board_of(event)] == ["Me Myself", "Rival"]


def test_the_viewers_live_row_replaces_their_line_in_an_older_snapshot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The snapshot still has the viewer's old line (better or worse than now): it is
    neither counted ahead of them nor shown twice."""
    monkeypatch.setattr(leaderboard, "FRESHNESS", Freshness(3600, 3600))
    event = EventFactory(day_count=2)
    me, rival, third = named("me", "rival", "third")
    solve(me, event, 1, Tier.NORMAL, after=minutes(0))
    solve(me, event, 2, Tier.NORMAL, after=minutes(0))
    solve(rival, event, 1, Tier.NORMAL, after=minutes(1))
    solve(third, event, 1, Tier.NORMAL, after=minutes(2))
    assert [label for _, label, _, _ in board_of(event)] == ["Me", "Rival", "Third"]
    # An admin takes a star away (no new token: the snapshot keeps me at 2 stars).
    Progress.objects.filter(user=me, day__number=2).delete()
    services.completion_refresh(event=event, user_ids=[me.pk])
    board = leaderboard_get(slug=event.slug, viewer=me)
    assert [(row.rank, row.label, row.stars) for row in board.rows] == [
        (1, "Me", 1), (2, "Rival", 1), (3, "Third", 1),
    ]  # fmt: skip
    assert board.viewer is not None and board.viewer.row is not None
    assert board.viewer.row.rank == 1 and board.players == 3
    # Now slower than the rival: second, still once.
    Progress.objects.filter(user=me).update(
        solved_at=event.days.get(number=1).unlocks_at + minutes(1.5)
    )
    services.completion_refresh(event=event, user_ids=[me.pk])
    board = leaderboard_get(slug=event.slug, viewer=me)
    assert [(row.rank, row.label) for row in board.rows] == [(1, "Rival"), (2, "Me"), (3, "Third")]
    assert board.viewer is not None and board.viewer.row is not None and board.viewer.row.rank == 2


# --- the snapshot's freshness ---------------------------------------------------------------


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Event ids of every snapshot built (by this process) from now on."""
    built: list[int] = []
    real = leaderboard._build

    def counting(event_id: int, version: str) -> Any:
        built.append(event_id)
        return real(event_id, version)

    monkeypatch.setattr(leaderboard, "_build", counting)
    return built


def test_a_snapshot_is_reused_until_a_committed_write_and_then_rebuilt(
    monkeypatch: pytest.MonkeyPatch,
    builds: list[int],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    monkeypatch.setattr(leaderboard, "FRESHNESS", Freshness(0, 3600))
    event = EventFactory(day_count=1)
    (a,) = named("a")
    board_of(event)
    board_of(event)
    assert builds == [event.pk]
    with django_capture_on_commit_callbacks(execute=True):
        services.answer_submit(
            user=a, day=event.days.get(), tier=Tier.NORMAL, answer=answer_for("normal", 1)
        )
    assert [label for _, label, _, _ in board_of(event)] == ["A"]
    assert builds == [event.pk, event.pk]
    # A visibility change is a write too.
    with django_capture_on_commit_callbacks(execute=True):
        leaderboard.visibility_set(user=a, visibility="anonymous")
    assert [label for _, label, _, _ in board_of(event)] == ["anonymous #1"]
    assert len(builds) == 3


def test_writes_rebuild_at_most_every_after_write_seconds_and_any_snapshot_ages_out(
    monkeypatch: pytest.MonkeyPatch,
    builds: list[int],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(leaderboard, "monotonic", lambda: clock[0])
    monkeypatch.setattr(leaderboard, "FRESHNESS", Freshness(5, 60))
    event = EventFactory(day_count=1)
    a, b = named("a", "b")
    board_of(event)
    with django_capture_on_commit_callbacks(execute=True):
        solve(a, event, 1, Tier.NORMAL, after=minutes(1))
    clock[0] += 4
    assert board_of(event) == []  # stale, but rebuilt at most every 5 s
    clock[0] += 1
    assert [label for _, label, _, _ in board_of(event)] == ["A"]
    assert len(builds) == 2
    # Without a token change (a write outside the leaderboard), after max_age_seconds.
    Progress.objects.create(user=b, day=event.days.get(), tier=Tier.NORMAL,
                            solved_at=event.days.get().unlocks_at)  # fmt: skip
    services.completion_refresh(event=event, user_ids=[b.pk])  # no commit: no new token
    clock[0] += 59
    assert [label for _, label, _, _ in board_of(event)] == ["A"]
    clock[0] += 1
    assert [label for _, label, _, _ in board_of(event)] == ["B", "A"]
    assert len(builds) == 3


# --- the JSON for bots ---------------------------------------------------------------------


def test_json_lists_ranks_labels_stars_time_and_days_without_ids(client: Client) -> None:
    event = EventFactory(slug="bots", name="Bot Week", day_count=3)
    shown = player("shown", global_name="Shown", leaderboard_visibility="name")
    anon, hidden = player("anon"), player("hidden", leaderboard_visibility="hidden")
    solve(shown, event, 1, Tier.NORMAL, after=minutes(1))
    solve(shown, event, 1, Tier.VETERAN, after=minutes(2))
    solve(shown, event, 3, Tier.VETERAN, after=minutes(3))
    solve(anon, event, 2, Tier.NORMAL, after=minutes(4))
    solve(hidden, event, 2, Tier.NORMAL, after=minutes(0))
    response = client.get("/events/bots/leaderboard.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "public, max-age=60"
    document = json.loads(response.content)
    assert set(document) == {"event", "players", "ranking", "entries"}
    assert document["event"] == {"slug": "bots", "name": "Bot Week", "day_count": 3}
    assert document["players"] == 2
    assert document["entries"] == [
        {"rank": 1, "name": "Shown", "anonymous": False, "stars": 3, "total_seconds": 360,
         "days": {"1": ["normal", "veteran"], "3": ["veteran"]}},
        {"rank": 2, "name": "anonymous #2", "anonymous": True, "stars": 1, "total_seconds": 240,
         "days": {"2": ["normal"]}},
    ]  # fmt: skip
    text = response.content.decode()
    for user in (shown, anon, hidden):
        assert f'"id": {user.pk}' not in text and "user" not in text and "hidden" not in text


def test_json_answers_304_while_nothing_changed(client: Client) -> None:
    event = EventFactory(slug="etag", day_count=1)
    (a,) = named("a")
    first = client.get("/events/etag/leaderboard.json")
    etag = first["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    again = client.get("/events/etag/leaderboard.json", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b""
    solve(a, event, 1, Tier.NORMAL, after=minutes(1))
    changed = client.get("/events/etag/leaderboard.json", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag


def test_unknown_or_unpublished_events_have_no_leaderboard(client: Client) -> None:
    EventFactory(slug="draft", published=False)
    for path in ("/events/draft/leaderboard/", "/events/draft/leaderboard.json",
                 "/events/nothing/leaderboard/", "/events/nothing/leaderboard.json"):  # fmt: skip
        assert client.get(path).status_code == 404, path
    assert client.post("/events/nothing/leaderboard.json").status_code == 405


def test_the_event_page_links_to_its_leaderboard(client: Client) -> None:
    EventFactory(slug="linked", day_count=1)
    body = client.get("/events/linked/").content.decode()
    assert '<a href="/events/linked/leaderboard/">Leaderboard</a>' in body
    page = client.get("/events/linked/leaderboard/").content.decode()
    assert '<a href="/events/linked/leaderboard.json">JSON for bots</a>' in page
    assert "Nobody is listed yet." in page


# --- the profile's choice ------------------------------------------------------------------


def test_the_profile_offers_every_choice_with_the_current_one_checked(client: Client) -> None:
    me = player("me", global_name="Me Myself")
    client.force_login(me)
    body = client.get("/events/profile/").content.decode()
    form = body.split('action="/events/profile/leaderboard/"')[1].split("</form>")[0]
    values = re.findall(r'name="visibility" value="(\w+)"', form)
    assert values == list(LeaderboardVisibility.values)
    assert re.findall(r'value="(\w+)" checked', form) == ["anonymous"]
    assert "By your Discord display name: Me Myself" in form
    assert "csrfmiddlewaretoken" in form


def test_saving_a_choice(client: Client) -> None:
    me = player("me")
    client.force_login(me)
    response = client.post("/events/profile/leaderboard/", {"visibility": "hidden"}, follow=True)
    assert response.redirect_chain == [("/events/profile/#leaderboard", 302)]
    me.refresh_from_db()
    assert me.leaderboard_visibility == "hidden"
    body = response.content.decode()
    assert "Saved. On leaderboards: not at all." in body
    assert re.findall(r'value="(\w+)" checked', body) == ["hidden"]


def test_an_unknown_choice_is_refused_and_says_what_to_do(client: Client) -> None:
    me = player("me", leaderboard_visibility="name")
    client.force_login(me)
    response = client.post("/events/profile/leaderboard/", {"visibility": "public"}, follow=True)
    me.refresh_from_db()
    assert me.leaderboard_visibility == "name"
    assert (
        "Nothing changed: choose how you appear on leaderboards (name, anonymous, hidden) "
        "and save again." in response.content.decode()
    )
    with pytest.raises(ValueError, match="public"):
        leaderboard.visibility_set(user=me, visibility="public")


def test_choosing_needs_a_login_and_a_post(client: Client) -> None:
    response = client.post("/events/profile/leaderboard/", {"visibility": "hidden"})
    assert response.status_code == 302
    assert response["Location"] == "/auth/login/?next=%2Fevents%2Fprofile%2F"
    client.force_login(player("me"))
    # A GET of the form's address goes to the form (issue 16: never a 405).
    response = client.get("/events/profile/leaderboard/")
    assert response.status_code == 302
    assert response["Location"] == "/events/profile/#leaderboard"


def test_no_entry_exists_for_a_player_who_never_solved() -> None:
    event = EventFactory(day_count=1)
    assert not LeaderboardEntry.objects.filter(event=event).exists()
    assert leaderboard_get(slug=event.slug, viewer=player("idle")).rows == []


def test_the_unlisted_query_can_use_its_partial_index() -> None:
    """``_UNLISTED_SQL`` repeats the condition of the ``user_unlisted`` index word for
    word; PostgreSQL proves that from the text, so a drift (another constant, another
    column) would make every snapshot build read the whole user table."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + leaderboard._sql(leaderboard._UNLISTED_SQL))
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "user_unlisted" in plan, plan
    assert LeaderboardVisibility.HIDDEN.value == "hidden"


def test_the_table_is_rendered_once_per_distinct_list(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Viewers below the top see the same table: rendered once. Anything shown that
    changes (a name read live, the viewer's own row) is another table."""
    from daylock.events import leaderboard_views

    renders: list[int] = []
    real = leaderboard_views.get_template

    def counting(name: str) -> Any:
        renders.append(1)
        return real(name)

    monkeypatch.setattr(leaderboard_views, "get_template", counting)
    event = EventFactory(slug="memo", day_count=1)
    shown, me, you = named("shown", "me", "you")
    solve(shown, event, 1, Tier.NORMAL, after=minutes(1))
    for viewer in (me, you, me):
        client.force_login(viewer)
        assert "> Shown</td>" in client.get("/events/memo/leaderboard/").content.decode()
    assert len(renders) == 1
    DiscordAccount.objects.filter(user=shown).update(global_name="Renamed")
    assert "> Renamed</td>" in client.get("/events/memo/leaderboard/").content.decode()
    client.force_login(shown)
    body = client.get("/events/memo/leaderboard/").content.decode()
    assert "<strong>Renamed</strong> (you)" in body
    assert len(renders) == 3
