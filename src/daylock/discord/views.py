"""The staff outbox pages: what Daylock sent, captured or blocked, like a mail catcher."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from daylock import clock, config
from daylock.accounts import permissions
from daylock.discord import delivery, rendering, selectors, services
from daylock.discord.models import OutboxStatus

View = Callable[..., HttpResponse]
PAGE_SIZE = 200


@permissions.permission_required(permissions.Perm.READ_OUTBOX)
def outbox_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status") or None
    if status is not None and status not in OutboxStatus.values:
        status = None
    rows = list(selectors.outbox_list(status=status, limit=PAGE_SIZE))
    counts = selectors.outbox_counts()
    hold = selectors.delivery_hold()
    named = selectors.mention_names(
        wanted=rendering.mentioned(rows), ask_discord=hold is not None and not hold.any
    )
    return render(
        request,
        "discord/outbox_list.html",
        {
            "rows": [
                (m, rendering.target_text(m, named.names), rendering.preview(m, named.names))
                for m in rows
            ],
            "status": status,
            "statuses": [(value, label, counts[value]) for value, label in OutboxStatus.choices],
            "delivery_mode": config.current().discord_delivery.value,
            "page_size": PAGE_SIZE,
            "hold": hold,
            "names_problem": named.problem,
        },
    )


@permissions.permission_required(permissions.Perm.READ_OUTBOX)
def outbox_detail(request: HttpRequest, message_id: int) -> HttpResponse:
    message = selectors.outbox_get(message_id=message_id)
    if message is None:
        raise Http404("no such outbox message")
    hold = selectors.delivery_hold()
    named = selectors.mention_names(
        wanted=rendering.mentioned([message]), ask_discord=hold is not None and not hold.any
    )
    show_content = selectors.outbox_content_visible(message)
    return render(
        request,
        "discord/outbox_detail.html",
        {
            "m": message,
            "show_content": show_content,
            "shown": rendering.render(
                message, named.names, now=clock.now(), request=delivery.request_of(message)
            )
            if show_content
            else None,
            "target": rendering.target_text(message, named.names),
            "pings": [
                named.names.user(user)[0] for user in message.allowed_mentions.get("users", [])
            ],
            "hold": hold,
            "names_problem": named.problem,
        },
    )


@permissions.permission_required(permissions.Perm.HANDLE_OUTBOX)
@require_POST
def outbox_resume(request: HttpRequest) -> HttpResponse:
    """Lift the pause a 401 put on delivery (after the token was fixed)."""
    resumed = services.delivery_resume(
        actor_id=request.user.pk, actor_label=request.user.get_username()
    )
    if resumed:
        messages.success(request, "Delivery resumed: waiting messages are scheduled again.")
    else:
        messages.info(request, "Delivery was not paused.")
    return redirect("discord:outbox_list")


@permissions.permission_required(permissions.Perm.HANDLE_OUTBOX)
@require_POST
def outbox_retry(request: HttpRequest, message_id: int) -> HttpResponse:
    message = selectors.outbox_get(message_id=message_id)
    if message is None:
        raise Http404("no such outbox message")
    try:
        services.outbox_retry(
            message=message, actor_id=request.user.pk, actor_label=request.user.get_username()
        )
    except services.OutboxError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Outbox message #{message.pk} queued again.")
    return redirect("discord:outbox_detail", message_id=message.pk)


@permissions.permission_required(permissions.Perm.HANDLE_OUTBOX)
@require_POST
def outbox_resend(request: HttpRequest, message_id: int) -> HttpResponse:
    """Send an ``uncertain`` message again: staff looked and it is not in Discord."""
    return _uncertain_action(request, message_id, services.outbox_resend, "queued again")


@permissions.permission_required(permissions.Perm.HANDLE_OUTBOX)
@require_POST
def outbox_discard(request: HttpRequest, message_id: int) -> HttpResponse:
    """Never send an ``uncertain`` message: staff looked and it did arrive (or is moot)."""
    return _uncertain_action(request, message_id, services.outbox_discard, "discarded")


def _uncertain_action(
    request: HttpRequest, message_id: int, action: Callable[..., object], done: str
) -> HttpResponse:
    message = selectors.outbox_get(message_id=message_id)
    if message is None:
        raise Http404("no such outbox message")
    try:
        action(message=message, actor_id=request.user.pk, actor_label=request.user.get_username())
    except services.OutboxError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Outbox message #{message.pk} {done}.")
    return redirect("discord:outbox_detail", message_id=message.pk)
