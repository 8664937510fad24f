"""Writes of the prizes app: prizes, closing entries, running and rerolling draws.

Every transition runs in one transaction that locks the draw's row first, so two
processes racing to close or run the same draw serialise: the second one sees the new
status and gets a clear error (and the database's one-draw-per-prize and
one-winner-per-rank constraints back that up). Discord side effects are written to the
outbox inside the same transaction and leave only after commit, under the
environment's delivery mode. Every action is written to the audit log.

Non-production (``policy.simulated_prizes``): every draw and pick is marked simulated,
no prize code is ever attached to a winner (they see a placeholder), and role grants
still go through the outbox, which captures or blocks them there.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Max, QuerySet

from daylock import clock, config
from daylock.accounts.models import DiscordAccount, User
from daylock.core.services import audit_record
from daylock.discord import lifecycle, messages
from daylock.discord.models import OutboxKind, OutboxMessage, OutboxStatus
from daylock.discord.services import outbox_enqueue
from daylock.discord.signals import outbox_settled
from daylock.events.models import Event, Tier
from daylock.prizes import draw as algorithm
from daylock.prizes.models import (
    REROLL_STATUSES,
    Draw,
    DrawEntrantList,
    DrawStatus,
    DrawWinner,
    Fulfilment,
    Prize,
    PrizeCode,
    WinnerStatus,
)
from daylock.prizes.selectors import (
    binary_cursor,
    close_blockers,
    eligible_entrant_batches,
    first_ranks,
)

logger = logging.getLogger(__name__)


class DrawError(Exception):
    """A draw transition that cannot happen; the message says why and what to do."""


class DrawAlreadyDrawn(DrawError):
    """The prize's draw has already been run (a prize is drawn once)."""


class ConfirmationRequired(DrawError):
    """Production draws need explicit confirmation."""


class CloseRefused(DrawError):
    """Entries should not close yet (days still locked, membership not fresh); staff may
    close them anyway with a reason, which is published. The message says which and how."""


# --- helpers -------------------------------------------------------------------------


def _audit(*, actor: User | None, action: str, target: str, details: dict[str, Any]) -> None:
    audit_record(
        actor_id=actor.pk if actor is not None else None,
        actor_label=actor.get_username() if actor is not None else "cli",
        action=action,
        target=target,
        details=details,
    )


def draw_page_url(draw: Draw) -> str:
    return f"{config.current().public_url}/prizes/draws/{draw.pk}/"


def _freeze_entrants(draw: Draw, frozen: algorithm.FrozenEntrants) -> None:
    """Write the entrant list: its canonical encoding, one row (see ``DrawEntrantList``).

    On PostgreSQL through a binary parameter (~0.03 s for a million entrants; the ORM
    would send a 14 MB hex literal, ~0.15 s).
    """
    if connection.vendor == "postgresql":
        table = DrawEntrantList._meta.db_table
        with binary_cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (draw_id, encoded) VALUES (%s, %b)",  # noqa: S608
                [draw.pk, frozen.encoded],
            )
    else:
        DrawEntrantList.objects.create(draw=draw, encoded=frozen.encoded)


def _users(draw: Draw, ids: Sequence[int]) -> dict[int, User]:
    """The picked users; a picked entrant whose account was deleted stops the draw."""
    users = {u.pk: u for u in User.objects.filter(pk__in=ids)}
    missing = [i for i in ids if i not in users]
    if missing:
        raise DrawError(
            f"draw {draw.pk}: picked entrant(s) {missing} no longer have an account; "
            "the ranking cannot skip anyone silently — restore the account(s) or "
            "contact the maintainers"
        )
    return users


def _discord_of(user_ids: Sequence[int]) -> dict[int, DiscordAccount]:
    return {d.user_id: d for d in DiscordAccount.objects.filter(user_id__in=user_ids)}


# --- prizes --------------------------------------------------------------------------


def prize_create(
    *,
    event: Event,
    name: str,
    fulfilment: Fulfilment | str,
    quantity: int = 1,
    min_tier: Tier | str = Tier.NORMAL,
    feedback_required: bool = False,
    description: str = "",
    discord_role_id: str = "",
    announce_channel_id: str = "",
    actor: User | None = None,
) -> Prize:
    """Create a prize and its draw; the draw's seed hash is public from this moment on."""
    with transaction.atomic():
        prize = Prize(
            event=event,
            name=name,
            description=description,
            quantity=quantity,
            min_tier=Tier(min_tier),
            feedback_required=feedback_required,
            fulfilment=Fulfilment(fulfilment),
            discord_role_id=discord_role_id,
            announce_channel_id=announce_channel_id,
        )
        prize.full_clean()
        prize.save()
        draw = _draw_create(prize)
        _audit(
            actor=actor,
            action="prizes.prize_create",
            target=f"prize:{prize.pk}",
            details={"name": name, "draw": draw.pk, "seed_hash": draw.seed_hash},
        )
    return prize


def prize_codes_add(
    *, prize: Prize, codes: Sequence[str], is_test: bool = False, actor: User | None = None
) -> int:
    """Add codes to a code prize's inventory (duplicates of existing codes are skipped)."""
    if prize.fulfilment != Fulfilment.CODE:
        raise DrawError(f"prize {prize.pk} is fulfilled by {prize.fulfilment}, not by codes")
    cleaned = [c.strip() for c in codes if c.strip()]
    with transaction.atomic():
        before = PrizeCode.objects.filter(prize=prize).count()
        PrizeCode.objects.bulk_create(
            [PrizeCode(prize=prize, code=c, is_test=is_test) for c in cleaned],
            ignore_conflicts=True,
        )
        added = PrizeCode.objects.filter(prize=prize).count() - before
        _audit(
            actor=actor,
            action="prizes.codes_add",
            target=f"prize:{prize.pk}",
            details={"added": added, "is_test": is_test},  # never the codes themselves
        )
    return added


def draw_ensure(*, prize: Prize) -> Draw:
    """The prize's draw, created (seed committed) if it has none yet."""
    with transaction.atomic():
        return _locked_draw(prize)


def _draw_create(prize: Prize) -> Draw:
    cfg = config.current()
    seed = algorithm.new_seed()
    return Draw.objects.create(
        prize=prize,
        seed=seed,
        seed_hash=algorithm.seed_hash(seed),
        simulated=cfg.policy.simulated_prizes,
        environment=cfg.app_env.value,
    )


def _locked_draw(prize: Prize) -> Draw:
    """The prize's draw, row-locked for this transaction (created if the prize has none).

    Locking the prize row first serialises creation, so two racing processes cannot both
    try to create the draw.
    """
    Prize.objects.select_for_update().filter(pk=prize.pk).get()
    draw = Draw.objects.select_for_update().filter(prize_id=prize.pk).first()
    return draw if draw is not None else _draw_create(prize)


# --- close entries -------------------------------------------------------------------


@dataclass(frozen=True)
class Commitment:
    draw_id: int
    seed_hash: str
    entrants_hash: str
    entrant_count: int


def draw_close_entries(
    *, prize: Prize, actor: User | None, force_reason: str | None = None
) -> Commitment:
    """Freeze the entrant list and publish its hash (the seed hash is already public).

    The eligibility query runs inside the transaction that writes the list, so the list
    is exactly the eligible users at that instant. Nothing is ranked here: the seed
    stays the only secret, and the run ranks the committed list.

    Closing is refused (:class:`CloseRefused`) while the event still has locked days
    (by ``clock.now()``: players could still solve them) or while guild membership was
    not synced from Discord within ``DAYLOCK_MEMBER_SYNC_MAX_AGE_MINUTES`` (departed
    members would enter), unless ``force_reason`` says why to close anyway: the reason,
    the locked days and the sync's time are stored on the draw, shown on its public page
    and audited. A reason given when nothing needed forcing is not recorded.

    Any error while the query streams, ``KeyboardInterrupt`` included, ends the stream
    (psycopg cancels the query and releases the connection) before the transaction rolls
    back, and propagates: the call returns with it and entries can be closed again.
    """
    reason = (force_reason or "").strip()
    if force_reason is not None and not reason:
        raise DrawError(
            "forcing entries closed needs a reason (it is published on the draw page): "
            f'daylock draw close {prize.pk} --force "why"'
        )
    with transaction.atomic():
        draw = _locked_draw(prize)
        if draw.status != DrawStatus.OPEN:
            raise DrawError(
                f"entries for prize {prize.pk} ({prize.name}) already closed at "
                f"{draw.closed_at:%Y-%m-%d %H:%M:%S} UTC (draw {draw.pk}, {draw.status})"
            )
        blockers = close_blockers(prize=prize)
        problems = blockers.problems
        if problems and not reason:
            raise CloseRefused(
                f"entries for prize {prize.pk} ({prize.name}) were not closed: "
                + "; ".join(problems)
                + ". To close them anyway, give a reason (it is published on the draw "
                f'page): daylock draw close {prize.pk} --force "why", or the reason field '
                "on the staff prize page"
            )
        # The ids are formatted as the query streams them, alongside the query. No SET
        # LOCAL work_mem: at 1M entrants a larger one (64 MB) made the eligibility query
        # slower, not faster. closing(): a consumer that raises leaves a suspended
        # stream holding the connection's lock, and the rollback would wait for that
        # lock for ever; closing the batches first ends the stream.
        with contextlib.closing(eligible_entrant_batches(prize=prize)) as batches:
            frozen = algorithm.freeze_entrants(batches)
        entrants_hash = hashlib.sha256(frozen.encoded).hexdigest()
        _freeze_entrants(draw, frozen)
        draw.status = DrawStatus.CLOSED
        draw.entrants_hash = entrants_hash
        draw.entrant_count = len(frozen.ids)
        draw.winners_wanted = prize.quantity
        draw.closed_at = clock.now()
        draw.closed_by = actor
        draw.closed_early = bool(blockers.locked)
        draw.locked_days = [day.number for day in blockers.locked]
        draw.members_synced_at = blockers.membership.synced_at
        draw.membership_stale = not blockers.membership.fresh
        draw.close_reason = reason if problems else ""
        draw.save()
        details: dict[str, Any] = {
            "prize": prize.pk,
            "seed_hash": draw.seed_hash,
            "entrants_hash": entrants_hash,
            "entrant_count": len(frozen.ids),
            "simulated": draw.simulated,
            "members_synced_at": (
                draw.members_synced_at.isoformat() if draw.members_synced_at else None
            ),
        }
        if problems:
            details |= {"forced": reason, "overridden": problems}
        _audit(
            actor=actor,
            action="prizes.draw_close_entries",
            target=f"draw:{draw.pk}",
            details=details,
        )
        # The commitment, posted to the event's channel before the seed is revealed.
        lifecycle.entries_closed_enqueue(draw=draw)
    return Commitment(draw.pk, draw.seed_hash, entrants_hash, len(frozen.ids))


# --- run -----------------------------------------------------------------------------


def draw_run(*, prize: Prize, actor: User | None, confirm: bool) -> Draw:
    """Reveal the seed, write the winners and fulfil their prizes.

    The winners are ranks 1..``winners_wanted`` of the ranking, computed now from the
    stored list and the seed (:func:`daylock.prizes.selectors.first_ranks`, the one path
    of the run and of every reroll): the outcome was fixed by the committed seed and list
    when entries closed; nothing derived from the seed was stored before, so running the
    draw trusts only what was committed, and makes it public.

    In production this needs ``confirm=True`` (it gives real prizes away and cannot be
    undone). A drawn draw is never run again, in any environment.
    """
    cfg = config.current()
    if cfg.policy.draws_need_confirmation and not confirm:
        raise ConfirmationRequired(
            f"running the draw of prize {prize.pk} ({prize.name}) releases real prizes and "
            "cannot be undone; confirm explicitly"
        )
    with transaction.atomic():
        draw = _locked_draw(prize)
        if draw.status == DrawStatus.DRAWN:
            raise DrawAlreadyDrawn(
                f"prize {prize.pk} ({prize.name}) was already drawn at "
                f"{draw.drawn_at:%Y-%m-%d %H:%M:%S} UTC (draw {draw.pk}); "
                "a prize is drawn once — reroll a winner instead"
            )
        if draw.status == DrawStatus.OPEN:
            raise DrawError(
                f"entries for prize {prize.pk} ({prize.name}) are still open; close them "
                f"first (daylock draw close {prize.pk}) so the entrant list is committed"
            )
        simulated = draw.simulated or cfg.policy.simulated_prizes
        picked = first_ranks(draw=draw, k=draw.winners_wanted or 0)
        now = clock.now()
        if prize.fulfilment == Fulfilment.CODE and not simulated:
            available = _real_codes(prize).count()
            if available < len(picked):
                raise DrawError(
                    f"prize {prize.pk} has {available} unassigned code(s) for {len(picked)} "
                    "winner(s); add codes before running the draw"
                )
        users = _users(draw, picked)
        discord = _discord_of(picked)
        winners = [
            DrawWinner(draw=draw, user=users[uid], rank=r, simulated=simulated)
            for r, uid in enumerate(picked, start=1)
        ]
        DrawWinner.objects.bulk_create(winners)
        for winner in winners:
            _fulfil(winner, prize, discord.get(winner.user_id), now)
        draw.status = DrawStatus.DRAWN
        draw.simulated = simulated
        draw.drawn_at = now
        draw.drawn_by = actor
        draw.save()
        _announce_winners(draw, prize, winners, discord)
        lifecycle.results_enqueue(draw=draw, winner_count=len(winners))
        _audit(
            actor=actor,
            action="prizes.draw_run",
            target=f"draw:{draw.pk}",
            details={
                "prize": prize.pk,
                "seed": draw.seed,
                "winners": picked,
                "simulated": simulated,
                "confirmed": confirm,
            },
        )
    return draw


def _real_codes(prize: Prize) -> QuerySet[PrizeCode]:
    return PrizeCode.objects.filter(prize=prize, assigned_to=None, is_test=False).order_by("id")


def _fulfil(winner: DrawWinner, prize: Prize, discord: DiscordAccount | None, now: Any) -> None:
    """Release the prize to one winner (or simulate it). Called inside the transaction."""
    source = f"draw:{winner.draw_id}:rank:{winner.rank}"
    if prize.fulfilment == Fulfilment.CODE:
        if not winner.simulated:
            code = _real_codes(prize).select_for_update(skip_locked=True).first()
            if code is None:
                raise DrawError(f"prize {prize.pk} ran out of codes; add codes and reroll")
            code.assigned_to_id = winner.user_id
            code.assigned_at = now
            code.save(update_fields=["assigned_to", "assigned_at"])
            winner.code = code
        # Simulated: no code is attached at all; the winner sees a placeholder.
        winner.fulfilled_at = now
    elif prize.fulfilment == Fulfilment.DISCORD_ROLE:
        if discord is None:
            logger.warning("winner %s has no Discord account; role not granted", winner.user_id)
        else:
            # Through the outbox in every environment: capture/allowlist keep it from
            # ever reaching a real server outside production. Fulfilled only once Discord
            # confirms the grant (role_grant_settled), not when it is queued.
            tag = " (simulated)" if winner.simulated else ""
            outbox_enqueue(
                kind="role_grant",
                recipient_id=discord.discord_id,
                role_id=prize.discord_role_id,
                source=source,
                reason=f"Prize {prize.name!r}, draw {winner.draw_id} rank {winner.rank}{tag}",
            )
    else:
        return  # manual: fulfilled when staff mark it shipped
    winner.save(update_fields=["code", "fulfilled_at"])


def _named(winner: DrawWinner, account: DiscordAccount | None) -> messages.Winner:
    """A winner as Discord messages name them: mentioned, or "user N" without an account."""
    return messages.Winner(
        rank=winner.rank,
        discord_id=account.discord_id if account is not None else None,
        label=f"user {winner.user_id}",
    )


def _announce_winners(
    draw: Draw,
    prize: Prize,
    winners: Sequence[DrawWinner],
    discord: dict[int, DiscordAccount],
) -> None:
    if prize.announce_channel_id:
        outbox_enqueue(
            kind="channel_message",
            channel_id=prize.announce_channel_id,
            source=f"draw:{draw.pk}",
            **messages.draw_winners(
                event_name=prize.event.name,
                prize_name=prize.name,
                winners=[_named(w, discord.get(w.user_id)) for w in winners],
                entrant_count=draw.entrant_count or 0,
                url=draw_page_url(draw),
                drawn_at=draw.drawn_at or clock.now(),
                simulated=draw.simulated,
            ).outbox_fields(),
        )
    for winner in winners:
        _dm_winner(draw, prize, winner, discord.get(winner.user_id))


def _dm_winner(
    draw: Draw, prize: Prize, winner: DrawWinner, account: DiscordAccount | None
) -> None:
    if account is None:
        return
    outbox_enqueue(
        kind="direct_message",
        recipient_id=account.discord_id,
        source=f"draw:{draw.pk}:rank:{winner.rank}",
        **messages.winner_dm(
            event_name=prize.event.name,
            prize_name=prize.name,
            prizes_url=f"{config.current().public_url}/prizes/mine/",
            draw_url=draw_page_url(draw),
            simulated=winner.simulated,
        ).outbox_fields(),
    )


# --- reroll --------------------------------------------------------------------------


def draw_reroll(
    *,
    winner: DrawWinner,
    reason: str,
    actor: User | None,
    status: WinnerStatus | str = WinnerStatus.REPLACED,
) -> DrawWinner:
    """Replace a winner by the next entrant of the same ranking, publicly, with a reason.

    The next entrant is the rank after every pick so far, so a past winner (of any
    status) is never picked again.
    """
    reason = reason.strip()
    if not reason:
        raise DrawError("a reroll needs a reason (it is published on the draw page)")
    new_status = WinnerStatus(status)
    if new_status not in REROLL_STATUSES:
        raise DrawError(
            f"status {new_status.value!r} is not a reroll status; use one of "
            + ", ".join(s.value for s in REROLL_STATUSES)
        )
    with transaction.atomic():
        draw = (
            Draw.objects.select_for_update().select_related("prize__event").get(pk=winner.draw_id)
        )
        current = DrawWinner.objects.get(pk=winner.pk)
        if draw.status != DrawStatus.DRAWN:
            raise DrawError(f"draw {draw.pk} has not been run; nothing to reroll")
        if current.status != WinnerStatus.WON:
            raise DrawError(
                f"rank {current.rank} of draw {draw.pk} was already rerolled "
                f"({current.status}: {current.reason})"
            )
        last = DrawWinner.objects.filter(draw=draw).aggregate(m=Max("rank"))["m"] or 0
        ranked = first_ranks(draw=draw, k=last + 1)
        if len(ranked) <= last:
            raise DrawError(
                f"no entrant left in the ranking of draw {draw.pk} "
                f"({draw.entrant_count} entrants, all picked)"
            )
        now = clock.now()
        current.status = new_status
        current.reason = reason
        current.rerolled_at = now
        current.save(update_fields=["status", "reason", "rerolled_at"])
        next_id = ranked[last]
        new = DrawWinner.objects.create(
            draw=draw,
            user=_users(draw, [next_id])[next_id],
            rank=last + 1,
            simulated=draw.simulated,
            replaces=current,
        )
        prize = draw.prize
        account = _discord_of([next_id]).get(next_id)
        _fulfil(new, prize, account, now)
        if prize.announce_channel_id:
            outbox_enqueue(
                kind="channel_message",
                channel_id=prize.announce_channel_id,
                source=f"draw:{draw.pk}:reroll:{new.rank}",
                **messages.reroll(
                    prize_name=prize.name,
                    replaced_rank=current.rank,
                    status_label=new_status.label,
                    reason=reason,
                    new_winner=_named(new, account),
                    url=draw_page_url(draw),
                    rerolled_at=now,
                    simulated=draw.simulated,
                ).outbox_fields(),
            )
        _dm_winner(draw, prize, new, account)
        _audit(
            actor=actor,
            action="prizes.draw_reroll",
            target=f"draw:{draw.pk}",
            details={
                "replaced_rank": current.rank,
                "replaced_user": current.user_id,
                "status": new_status.value,
                "reason": reason,
                "new_rank": new.rank,
                "new_user": next_id,
            },
        )
    return new


# --- fulfilment ----------------------------------------------------------------------


def winner_mark_fulfilled(*, winner: DrawWinner, actor: User | None) -> DrawWinner:
    """Record that a manual prize was shipped (or handed over)."""
    with transaction.atomic():
        current = DrawWinner.objects.select_for_update().get(pk=winner.pk)
        if current.status != WinnerStatus.WON:
            raise DrawError(f"rank {current.rank} is {current.status}; only winners get prizes")
        if current.fulfilled_at is not None:
            raise DrawError(
                f"rank {current.rank} was already marked fulfilled at "
                f"{current.fulfilled_at:%Y-%m-%d %H:%M} UTC"
            )
        current.fulfilled_at = clock.now()
        current.fulfilled_by = actor
        current.save(update_fields=["fulfilled_at", "fulfilled_by"])
        _audit(
            actor=actor,
            action="prizes.winner_mark_fulfilled",
            target=f"draw:{current.draw_id}:rank:{current.rank}",
            details={"user": current.user_id, "simulated": current.simulated},
        )
    return current


# --- fulfilment confirmed by Discord -----------------------------------------------------

_GRANT_SOURCE = re.compile(r"draw:(\d+):rank:(\d+)")


def role_grant_settled(sender: object, *, message: OutboxMessage, **kwargs: object) -> None:
    """A prize fulfilled by a role is fulfilled when Discord confirms the grant (its
    outbox row is ``sent``), not when the grant is queued: a grant Discord refuses (the
    role sits above the bot: 50013) leaves the winner unfulfilled, and the staff prize
    page shows why. Connected to ``daylock.discord.signals.outbox_settled``."""
    if message.kind != OutboxKind.ROLE_GRANT or message.status != OutboxStatus.SENT:
        return
    match = _GRANT_SOURCE.fullmatch(message.source)
    if match is None:
        return
    DrawWinner.objects.filter(
        draw_id=int(match[1]), rank=int(match[2]), status=WinnerStatus.WON, fulfilled_at=None
    ).update(fulfilled_at=clock.now())


outbox_settled.connect(role_grant_settled, dispatch_uid="daylock.prizes.role_grant_settled")
