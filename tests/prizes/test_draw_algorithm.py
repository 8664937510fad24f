"""Properties of the pure draw algorithm (no database)."""

from __future__ import annotations

import hashlib
import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daylock.prizes import draw

seeds = st.binary(min_size=32, max_size=32).map(bytes.hex)
entrant_lists = st.lists(st.integers(min_value=1, max_value=10**12), max_size=200, unique=True)


def independent_key(seed: str, entrant_id: int) -> bytes:
    """The ranking key written from the definition alone."""
    return hashlib.sha256(f"{seed}:{entrant_id}".encode()).digest()


@given(seed=seeds, ids=entrant_lists)
def test_ranking_is_a_permutation_ordered_by_the_documented_key(seed: str, ids: list[int]) -> None:
    ranking = draw.rank(seed, ids)
    assert sorted(ranking) == sorted(ids)
    keys = [independent_key(seed, i) for i in ranking]
    assert keys == sorted(keys)


@given(seed=seeds, ids=entrant_lists, k=st.integers(min_value=0, max_value=250))
def test_winners_are_distinct_entrants_and_the_head_of_the_ranking(
    seed: str, ids: list[int], k: int
) -> None:
    won = draw.winners(seed, ids, k)
    assert len(won) == min(k, len(ids))
    assert len(set(won)) == len(won)
    assert set(won) <= set(ids)
    assert won == draw.rank(seed, ids)[:k]


@given(seed=seeds, ids=entrant_lists, k=st.integers(min_value=0, max_value=250))
def test_winners_from_the_encoding_are_the_winners(seed: str, ids: list[int], k: int) -> None:
    """The run ranks the stored entrants.txt lines; it must match the definition."""
    encoded = draw.encode_entrants(draw.canonical_ids(ids))
    assert draw.winners_from_encoding(seed, encoded, k) == draw.winners(seed, ids, k)


def test_winners_from_the_encoding_break_ties_by_the_smaller_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A SHA-256 collision cannot be produced, so every key collides here: the order is
    then the ids' numeric order (9 before 10, though b"10" < b"9")."""

    class Constant:
        def __init__(self, data: bytes = b"") -> None:
            pass

        def copy(self) -> Constant:
            return Constant()

        def update(self, data: bytes) -> None:
            pass

        def digest(self) -> bytes:
            return b"\0" * 32

    monkeypatch.setattr(draw.hashlib, "sha256", Constant)
    encoded = draw.encode_entrants([8, 9, 10, 11, 100])
    assert draw.winners_from_encoding("0" * 64, encoded, 4) == [8, 9, 10, 11]
    assert draw.winners_from_encoding("0" * 64, b"", 4) == []
    with pytest.raises(ValueError, match="k must be"):
        draw.winners_from_encoding("0" * 64, encoded, -1)


@given(
    seed=seeds,
    ids=st.lists(st.integers(min_value=1, max_value=10**12), max_size=200),
    k=st.integers(min_value=0, max_value=30),
    data=st.data(),
)
def test_freezing_batches_in_any_order_gives_the_list_and_its_encoding(
    seed: str, ids: list[int], k: int, data: st.DataObject
) -> None:
    """Ids streamed from a query: any batching, any order, even repeated. The winners
    ranked from the frozen encoding (what the run does) are the oracle's."""
    cuts = sorted(data.draw(st.lists(st.integers(min_value=0, max_value=len(ids)), max_size=6)))
    batches = [ids[a:b] for a, b in itertools.pairwise([0, *cuts, len(ids)])]
    frozen = draw.freeze_entrants(batches)
    assert frozen.ids == sorted(set(ids))
    assert frozen.encoded == b"".join(b"%d\n" % i for i in sorted(set(ids)))
    oracle = sorted(set(ids), key=lambda i: (independent_key(seed, i), i))[:k]
    assert draw.winners_from_encoding(seed, frozen.encoded, k) == oracle


def test_freezing_checks_the_order_across_batch_boundaries() -> None:
    """Each batch ascending is not enough: a batch starting at or below the previous
    batch's last id means the list must be sorted and deduplicated."""
    for batches in ([[1, 5], [3, 4]], [[1, 2], [2, 3]], [[2, 3], [1]], [[1], [], [3], [2]]):
        ids = sorted({i for batch in batches for i in batch})
        frozen = draw.freeze_entrants(batches)
        assert (frozen.ids, frozen.encoded) == (ids, draw.encode_entrants(ids)), batches
    assert draw.freeze_entrants([[1, 2], [], [3]]).encoded == b"1\n2\n3\n"
    assert draw.freeze_entrants([]).encoded == b""


def test_freezing_refuses_ids_below_one() -> None:
    with pytest.raises(ValueError, match="positive integers"):
        draw.freeze_entrants([[3, 0]])


@given(seed=seeds, ids=entrant_lists, data=st.data())
def test_winners_do_not_depend_on_input_order_or_duplicates(
    seed: str, ids: list[int], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(ids)) + ids[: len(ids) // 2]
    assert draw.winners(seed, shuffled, 5) == draw.winners(seed, ids, 5)
    assert draw.commitment(seed, shuffled) == draw.commitment(seed, ids)


@given(seed=seeds, ids=entrant_lists, k=st.integers(min_value=1, max_value=5), data=st.data())
def test_rerolls_walk_the_ranking_and_never_repeat(
    seed: str, ids: list[int], k: int, data: st.DataObject
) -> None:
    picked = draw.winners(seed, ids, k)
    rerolls = data.draw(st.integers(min_value=0, max_value=len(ids) + 2))
    for _ in range(rerolls):
        nxt = draw.next_after(seed, ids, set(picked))
        if nxt is None:
            assert set(picked) == set(ids)
            break
        assert nxt not in picked
        picked.append(nxt)
    assert picked == draw.rank(seed, ids)[: len(picked)]


@given(seed=seeds, ids=entrant_lists, k=st.integers(min_value=0, max_value=10), data=st.data())
def test_verification_of_an_untouched_draw_passes(
    seed: str, ids: list[int], k: int, data: st.DataObject
) -> None:
    ranking = draw.rank(seed, ids)
    initial = min(k, len(ids))
    picks = [draw.Pick(rank=r, user_id=u, rerolled=False) for r, u in enumerate(ranking[:k], 1)]
    # Reroll some of the current winners, each replaced by the next rank.
    for _ in range(data.draw(st.integers(min_value=0, max_value=3))):
        active = [p for p in picks if not p.rerolled]
        if not active or len(picks) >= len(ranking):
            break
        victim = data.draw(st.sampled_from(active))
        picks[victim.rank - 1] = draw.Pick(victim.rank, victim.user_id, True, victim.replaces_rank)
        rank = len(picks) + 1
        picks.append(draw.Pick(rank, ranking[rank - 1], False, victim.rank))
    seed_hash, entrants_hash = draw.commitment(seed, ids)
    problems = draw.verify(
        seed=seed,
        seed_hash_stored=seed_hash,
        entrants=sorted(ids),
        entrants_hash_stored=entrants_hash,
        entrant_count=len(ids),
        winners_wanted=k,
        picks=picks,
    )
    assert problems == []
    assert len(picks) >= initial


@settings(max_examples=50)
@given(seed=seeds, ids=st.lists(st.integers(1, 10**6), min_size=3, max_size=50, unique=True))
def test_verification_names_a_changed_winner(seed: str, ids: list[int]) -> None:
    ranking = draw.rank(seed, ids)
    outsider = ranking[2]
    picks = [draw.Pick(1, ranking[0], False), draw.Pick(2, outsider, False)]
    seed_hash, entrants_hash = draw.commitment(seed, ids)
    problems = draw.verify(
        seed=seed,
        seed_hash_stored=seed_hash,
        entrants=sorted(ids),
        entrants_hash_stored=entrants_hash,
        entrant_count=len(ids),
        winners_wanted=2,
        picks=picks,
    )
    assert problems == [f"winner rank 2: stored user {outsider}, recomputed user {ranking[1]}"]


def verify_with(**changes: object) -> list[str]:
    seed = "ab" * 32
    ids = [3, 5, 8, 13, 21]
    ranking = draw.rank(seed, ids)
    seed_hash, entrants_hash = draw.commitment(seed, ids)
    args: dict[str, object] = {
        "seed": seed,
        "seed_hash_stored": seed_hash,
        "entrants": ids,
        "entrants_hash_stored": entrants_hash,
        "entrant_count": 5,
        "winners_wanted": 2,
        "picks": [draw.Pick(1, ranking[0], False), draw.Pick(2, ranking[1], False)],
    }
    args.update(changes)
    return draw.verify(**args)  # type: ignore[arg-type]


def test_verification_reports_each_kind_of_tampering() -> None:
    seed = "ab" * 32
    ranking = draw.rank(seed, [3, 5, 8, 13, 21])
    assert verify_with() == []
    assert verify_with(seed="cd" * 32)[0].startswith("seed hash: stored ")
    assert verify_with(entrants=[3, 5, 8, 13, 22])[0].startswith("entrants hash: stored ")
    assert verify_with(entrant_count=6) == ["entrant count: stored 6, list has 5"]
    assert verify_with(entrants=[3, 3, 5, 8, 13, 21])[0].startswith("entrant list: not strictly")
    # A secret reroll: rank 2 dropped and rank 3 shown as a winner.
    problems = verify_with(picks=[draw.Pick(1, ranking[0], False), draw.Pick(3, ranking[2], False)])
    assert "winner ranks: stored [1, 3], expected 1..2 with no gaps" in problems
    # A reroll that replaces no one.
    problems = verify_with(
        picks=[
            draw.Pick(1, ranking[0], False),
            draw.Pick(2, ranking[1], False),
            draw.Pick(3, ranking[2], False),
        ]
    )
    assert "winner rank 3: beyond the 2 winner(s) but replaces no one" in problems
    assert verify_with(picks=[]) == ["picks: 0 stored, expected 2 winner(s) + 0 reroll(s) = 2"]


def test_canonical_encoding_is_exactly_defined() -> None:
    assert draw.encode_entrants([]) == b""
    assert draw.encode_entrants([1, 20, 300]) == b"1\n20\n300\n"
    assert draw.decode_entrants(b"1\n20\n300\n") == [1, 20, 300]
    assert draw.entrants_hash([1, 20, 300]) == hashlib.sha256(b"1\n20\n300\n").hexdigest()
    for bad in (b"1\n20", b"20\n1\n", b"01\n2\n", b"1\n1\n", b"+1\n"):
        with pytest.raises(ValueError, match=r"newline|canonical"):
            draw.decode_entrants(bad)


def test_seed_is_32_random_bytes_in_lowercase_hex_and_validated() -> None:
    seed = draw.new_seed()
    assert len(seed) == 64
    assert bytes.fromhex(seed).hex() == seed
    assert draw.seed_hash(seed) == hashlib.sha256(seed.encode()).hexdigest()
    assert draw.new_seed() != seed
    with pytest.raises(ValueError, match="64 lowercase hex digits"):
        draw.seed_hash("AB" * 32)
    with pytest.raises(ValueError, match="positive integers"):
        draw.canonical_ids([0, 1])


def test_known_answer() -> None:
    """Pins the algorithm: changing any byte of the definition breaks this test."""
    seed = "00" * 32
    assert draw.ranking_key(seed, 7) == hashlib.sha256(b"0" * 64 + b":7").digest()
    ids = list(range(1, 11))
    expected = sorted(ids, key=lambda i: hashlib.sha256(f"{'0' * 64}:{i}".encode()).digest())
    assert draw.winners(seed, ids, 3) == expected[:3]
    rng = random.Random(4)
    big = rng.sample(range(1, 10**9), 2000)
    assert draw.winners(seed, big, 7) == sorted(big, key=lambda i: independent_key(seed, i))[:7]


@given(ids=st.lists(st.integers(min_value=-3, max_value=50), max_size=30))
def test_is_canonical_accepts_exactly_canonical_lists(ids: list[int]) -> None:
    expected = ids == sorted(set(ids)) and all(i >= 1 for i in ids)
    assert draw.is_canonical(ids) is expected
