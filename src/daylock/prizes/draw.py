"""The verifiable draw algorithm — pure Python, no Django, hashlib only.

Anyone can re-run a draw from what the public draw page publishes, so every byte that
goes into a hash is defined here exactly:

* **Seed**: 32 random bytes from :mod:`secrets`, written as 64 lowercase hex digits.
  The hex *text* is the seed everywhere below (its ASCII bytes are hashed, not the
  32 raw bytes), so the seed can be copied from a web page and used as is.
* **seed_hash** = ``sha256(seed.encode("ascii")).hexdigest()`` — published when the
  draw is created, before anyone can know the entrants, revealed seed later.
* **Canonical entrant encoding**: the distinct entrant ids (Daylock user ids, positive
  integers) in ascending numeric order, each written in decimal ASCII with no sign or
  leading zeros and followed by one ``"\\n"`` (so the empty list encodes to ``b""``).
  This is exactly the downloadable ``entrants.txt``.
* **entrants_hash** = ``sha256(canonical encoding).hexdigest()`` — published when
  entries close (``sha256sum entrants.txt`` prints it).
* **Ranking key** of entrant ``i``: ``sha256(seed.encode("ascii") + b":" +
  str(i).encode("ascii")).digest()``, i.e. SHA-256 of the text ``"<seed>:<id>"``.
  Entrants are ranked by ascending key (bytewise, as 32-byte strings), ties — which
  would need a SHA-256 collision — broken by the smaller id. Rank 1 is the first.
* **Winners** of a prize of quantity ``k`` are ranks ``1..k``. A **reroll** takes the
  next rank after every entrant ever picked, so picks are always a prefix of the
  ranking and a past winner can never come back.

Why this shape: the seed is committed to before the entrant list is known, and the
list is committed to before the seed is revealed, so neither can be chosen after the
fact to favour someone without the published hashes failing to match.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import operator
import secrets
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

SEED_BYTES = 32
SEPARATOR = b":"


def new_seed() -> str:
    """A fresh secret seed: 32 random bytes as 64 lowercase hex digits."""
    return secrets.token_hex(SEED_BYTES)


def _seed_bytes(seed: str) -> bytes:
    if len(seed) != 2 * SEED_BYTES or any(c not in "0123456789abcdef" for c in seed):
        raise ValueError(f"seed must be {2 * SEED_BYTES} lowercase hex digits, got {seed!r}")
    return seed.encode("ascii")


def seed_hash(seed: str) -> str:
    """``sha256(seed text)`` as hex: the commitment to the seed."""
    return hashlib.sha256(_seed_bytes(seed)).hexdigest()


def canonical_ids(entrant_ids: Iterable[int]) -> list[int]:
    """Distinct ids in ascending order; rejects ids below 1."""
    ids = sorted(set(entrant_ids))
    if ids and ids[0] < 1:
        raise ValueError(f"entrant ids must be positive integers, got {ids[0]}")
    return ids


def is_canonical(ids: Sequence[int]) -> bool:
    """Strictly ascending positive ids (what :func:`canonical_ids` returns)."""
    # map(operator.lt, …) compares in C: ~35 ms at a million ids, pairwise() ~80 ms.
    return (not ids or ids[0] >= 1) and all(map(operator.lt, ids, itertools.islice(ids, 1, None)))


def encode_entrants(sorted_ids: Sequence[int]) -> bytes:
    """The canonical encoding of an already sorted, distinct id list (see module doc)."""
    if not sorted_ids:
        return b""
    return ("\n".join(map(str, sorted_ids)) + "\n").encode("ascii")


def decode_entrants(data: bytes) -> list[int]:
    """Parse the canonical encoding back, refusing anything not canonical."""
    if not data:
        return []
    if not data.endswith(b"\n"):
        raise ValueError("entrant list must end with a newline")
    ids = [int(line) for line in data[:-1].split(b"\n")]
    if encode_entrants(ids) != data or any(a >= b for a, b in itertools.pairwise(ids)):
        raise ValueError("entrant list is not canonical (ascending distinct decimal ids)")
    return ids


def entrants_hash(sorted_ids: Sequence[int]) -> str:
    return hashlib.sha256(encode_entrants(sorted_ids)).hexdigest()


def commitment(seed: str, entrant_ids: Iterable[int]) -> tuple[str, str]:
    """``(seed_hash, entrants_hash)`` — what is published when entries close."""
    return seed_hash(seed), entrants_hash(canonical_ids(entrant_ids))


def ranking_key(seed: str, entrant_id: int) -> bytes:
    """``sha256(seed + ":" + decimal id)``; smaller ranks first."""
    return hashlib.sha256(_seed_bytes(seed) + SEPARATOR + str(entrant_id).encode("ascii")).digest()


def _keyed(seed: str, entrant_ids: Iterable[int]) -> Iterable[tuple[bytes, int]]:
    # Hash the common prefix once and copy the state: about 15% faster than hashing
    # the whole input for each of a million entrants.
    prefix = hashlib.sha256(_seed_bytes(seed) + SEPARATOR)
    for entrant_id in entrant_ids:
        h = prefix.copy()
        h.update(b"%d" % entrant_id)
        yield h.digest(), entrant_id


def rank(seed: str, entrant_ids: Iterable[int]) -> list[int]:
    """The whole ranking: every entrant once, best (rank 1) first."""
    return [i for _, i in sorted(_keyed(seed, set(entrant_ids)))]


def winners(seed: str, entrant_ids: Iterable[int], k: int) -> list[int]:
    """Ranks ``1..k`` (fewer if there are fewer entrants), without sorting everyone."""
    if k < 0:
        raise ValueError("k must be ≥ 0")
    return [i for _, i in heapq.nsmallest(k, _keyed(seed, set(entrant_ids)))]


class TopRanks:
    """Ranks ``1..k`` of entrants fed in batches of decimal id lines, keeping only k.

    The ranking key hashes each id's decimal text, which is exactly a line of the
    canonical encoding, so lines are hashed as they are: no ints parsed and formatted
    back. A tie (a SHA-256 collision) goes to the shorter line, then the bytewise smaller
    one, which for canonical decimals is the smaller id, as :func:`winners` rules. Feed
    every entrant once, as a canonical decimal (no sign, no leading zero), in any order;
    the tests check the result is :func:`winners`.
    """

    def __init__(self, seed: str, k: int) -> None:
        if k < 0:
            raise ValueError("k must be ≥ 0")
        self._k = k
        # The common prefix hashed once, its state copied per entrant (~15% faster).
        new_state = hashlib.sha256(_seed_bytes(seed) + SEPARATOR).copy

        def key(line: bytes) -> bytes:
            h = new_state()
            h.update(line)
            return h.digest()

        self._key = key
        self._top: list[tuple[bytes, int, bytes]] = []

    def add(self, lines: Sequence[bytes]) -> None:
        keyed = zip(map(self._key, lines), map(len, lines), lines, strict=True)
        self._top = heapq.nsmallest(self._k, itertools.chain(self._top, keyed))

    def winners(self) -> list[int]:
        return [int(line) for _, _, line in self._top]


def winners_from_encoding(seed: str, encoded: bytes, k: int) -> list[int]:
    """:func:`winners` of the entrant list whose canonical encoding is ``encoded``.

    ``encoded`` must be canonical (as stored when entries close; :func:`decode_entrants`
    is the strict reader): its lines are hashed as they are (see :class:`TopRanks`).
    """
    top = TopRanks(seed, k)
    if encoded:
        top.add(encoded[:-1].split(b"\n"))
    return top.winners()


@dataclass(frozen=True)
class FrozenEntrants:
    """An entrant list in canonical form and its encoding."""

    ids: list[int]
    #: :func:`encode_entrants` of ``ids``: ``entrants.txt``.
    encoded: bytes


def freeze_entrants(batches: Iterable[Sequence[int]]) -> FrozenEntrants:
    """The canonical list and its encoding, in one pass over batches of ids.

    Each batch is formatted and joined as it arrives, so ids streamed from a query are
    encoded while the query is still running. The ids may come in any order and
    repeated: the list is then sorted, deduplicated and encoded again at the end, so the
    result never depends on the order. Nothing here knows the seed: the ranking is
    computed when the draw runs, from this list (:func:`winners_from_encoding`).
    Raises ``ValueError`` for ids below 1.
    """
    ids: list[int] = []
    parts: list[bytes] = []
    # Checked batch by batch, while the query still runs, not over the whole list after.
    canonical = True
    for batch in batches:
        if not batch:
            continue
        if canonical:
            canonical = (not ids or ids[-1] < batch[0]) and is_canonical(batch)
        ids.extend(batch)
        parts.append(b"\n".join(map(b"%d".__mod__, batch)))
    if canonical:
        return FrozenEntrants(ids, b"\n".join(parts) + b"\n" if ids else b"")
    ids = canonical_ids(ids)
    return FrozenEntrants(ids, encode_entrants(ids))


def next_after(seed: str, entrant_ids: Iterable[int], excluded: Collection[int]) -> int | None:
    """The best-ranked entrant not in ``excluded`` (a reroll), or None if none is left.

    With ``excluded`` = everyone ever picked (a prefix of the ranking), this is the next
    rank, so a reroll never repeats a past winner.
    """
    best = min(
        (pair for pair in _keyed(seed, set(entrant_ids)) if pair[1] not in excluded),
        default=None,
    )
    return None if best is None else best[1]


@dataclass(frozen=True)
class Pick:
    """One stored pick of a draw, as verification sees it."""

    rank: int
    user_id: int
    #: The pick was rerolled away (declined, ineligible, replaced).
    rerolled: bool
    #: The rank this pick replaced (a reroll), or None for the draw's first picks.
    replaces_rank: int | None = None


def verify(
    *,
    seed: str,
    seed_hash_stored: str,
    entrants: Sequence[int],
    entrants_hash_stored: str,
    entrant_count: int,
    winners_wanted: int,
    picks: Sequence[Pick],
    drawn: bool = True,
) -> list[str]:
    """Recompute a draw from its stored data; return what differs (empty = all match).

    Checks the seed against its hash, the entrant list against its hash and count, and
    that the picks are exactly ranks ``1..n`` of the recomputed ranking, the first
    ``min(winners_wanted, entrants)`` being the original winners and every later one
    replacing an earlier, rerolled pick (so no reroll is secret and none is skipped).
    A draw not yet run (``drawn=False``) must have no picks.
    """
    problems: list[str] = []
    try:
        recomputed_seed_hash = seed_hash(seed)
    except ValueError as exc:
        return [f"seed: {exc}"]
    if recomputed_seed_hash != seed_hash_stored:
        problems.append(
            f"seed hash: stored {seed_hash_stored}, sha256(seed) is {recomputed_seed_hash}"
        )
    ids = list(entrants)
    if any(a >= b for a, b in itertools.pairwise(ids)):
        problems.append("entrant list: not strictly ascending (duplicates or unsorted)")
        ids = canonical_ids(ids)
    recomputed_entrants_hash = entrants_hash(ids)
    if recomputed_entrants_hash != entrants_hash_stored:
        problems.append(
            f"entrants hash: stored {entrants_hash_stored}, recomputed {recomputed_entrants_hash}"
        )
    if len(ids) != entrant_count:
        problems.append(f"entrant count: stored {entrant_count}, list has {len(ids)}")
    ordered = sorted(picks, key=lambda p: p.rank)
    ranks = [p.rank for p in ordered]
    if ranks != list(range(1, len(ordered) + 1)):
        problems.append(f"winner ranks: stored {ranks}, expected 1..{len(ordered)} with no gaps")
    recomputed = winners(seed, ids, len(ordered))
    by_rank = dict(enumerate(recomputed, start=1))
    for pick in ordered:
        expected = by_rank.get(pick.rank)
        if expected is None:
            problems.append(
                f"winner rank {pick.rank}: stored user {pick.user_id}, "
                f"but the ranking has only {len(recomputed)} entrants"
            )
        elif expected != pick.user_id:
            problems.append(
                f"winner rank {pick.rank}: stored user {pick.user_id}, recomputed user {expected}"
            )
    initial = min(winners_wanted, len(ids))
    rerolled = {p.rank for p in ordered if p.rerolled}
    for pick in ordered:
        if pick.rank <= initial and pick.replaces_rank is not None:
            problems.append(f"winner rank {pick.rank}: an original winner marked as a reroll")
        if pick.rank > initial:
            if pick.replaces_rank is None:
                problems.append(
                    f"winner rank {pick.rank}: beyond the {initial} winner(s) but replaces no one"
                )
            elif pick.replaces_rank >= pick.rank or pick.replaces_rank not in rerolled:
                problems.append(
                    f"winner rank {pick.rank}: replaces rank {pick.replaces_rank}, "
                    "which is not an earlier rerolled pick"
                )
    if not drawn:
        if ordered:
            problems.append(f"picks: {len(ordered)} stored, but the draw has not been run")
    elif len(ordered) != initial + len(rerolled):
        problems.append(
            f"picks: {len(ordered)} stored, expected {initial} winner(s) + "
            f"{len(rerolled)} reroll(s) = {initial + len(rerolled)}"
        )
    return problems
