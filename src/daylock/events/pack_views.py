"""Staff pages for event packs (mounted at ``/staff/packs/``): upload a pack and see
its plan, apply the reviewed plan, download an event's pack.

The same services as ``daylock event import`` (:mod:`daylock.events.packs`). Applying
is a second POST that carries the pack back (base64, so no browser rewrites its
newlines) with the digest of the plan the staff member saw: the apply plans again and
writes only if that plan is still the one reviewed, and only when confirmed — a box
to tick, or, where the policy says ``imports_need_confirmation`` (production), the
environment's name typed. Authoring permission only (admins): what is imported is
what members will play.
"""

from __future__ import annotations

import base64
import binascii

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from daylock import clock, config
from daylock.accounts.models import User
from daylock.accounts.permissions import Perm, permission_required
from daylock.events import packs
from daylock.events.models import Event

author_required = permission_required(Perm.AUTHOR)


class PackUploadForm(forms.Form):
    file = forms.FileField(
        label="Event pack (JSON)",
        help_text="A file written by `daylock event export` or downloaded below.",
    )


def _plan_page(
    request: HttpRequest, plan: packs.ImportPlan, *, error: str = "", status: int = 200
) -> HttpResponse:
    policy = config.policy()
    return render(
        request,
        "staff/packs_plan.html",
        {
            "plan": plan,
            "items": [(item, item.lines()[1:]) for item in plan.items],
            "pack_b64": base64.b64encode(plan.pack.dumps()).decode("ascii"),
            "can_apply": plan.writes and not plan.refusals,
            "needs_name": policy.imports_need_confirmation,
            "environment": policy.name,
            "error": error,
        },
        status=status,
    )


def _upload_page(
    request: HttpRequest, form: PackUploadForm, problems: tuple[str, ...] = (), status: int = 200
) -> HttpResponse:
    return render(
        request,
        "staff/packs.html",
        {"form": form, "problems": problems, "events": packs.exportable_events()},
        status=status,
    )


@author_required
@require_http_methods(["GET", "POST"])
def pack_upload(request: HttpRequest) -> HttpResponse:
    """GET: the upload form and the events to download. POST: the uploaded pack's plan
    (nothing is written)."""
    if request.method != "POST":
        return _upload_page(request, PackUploadForm())
    form = PackUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _upload_page(request, form, status=400)
    upload = form.cleaned_data["file"]
    if upload.size is not None and upload.size > packs.MAX_PACK_BYTES:
        problem = f"the file has {upload.size} bytes, more than a pack may ({packs.MAX_PACK_BYTES})"
        return _upload_page(request, form, (problem,), status=400)
    try:
        pack = packs.pack_parse(data=upload.read())
    except packs.PackInvalid as exc:
        return _upload_page(request, form, exc.problems, status=400)
    return _plan_page(request, packs.plan_import(pack, now=clock.now()))


@author_required
@require_POST
def pack_apply(request: HttpRequest) -> HttpResponse:
    """Apply the plan reviewed on the previous page, if it is still the plan and it is
    confirmed."""
    try:
        data = base64.b64decode(request.POST.get("pack", ""), validate=True)
        pack = packs.pack_parse(data=data)
    except (binascii.Error, packs.PackInvalid):
        messages.error(request, "The form did not carry a valid pack: upload the file again.")
        return redirect("packs:upload")
    plan = packs.plan_import(pack, now=clock.now())
    if request.POST.get("plan_digest") != plan.digest:
        return _plan_page(
            request,
            plan,
            error="The plan changed since you reviewed it (the event was edited, a day "
            "opened or entries closed meanwhile). Nothing was written: review this plan.",
            status=409,
        )
    policy = config.policy()
    if policy.imports_need_confirmation:
        confirmed = request.POST.get("environment", "").strip() == policy.name
        missing = f"Type the environment's name ({policy.name}) to confirm the import."
    else:
        confirmed = request.POST.get("confirm") == "yes"
        missing = "Tick the box to confirm that you reviewed the plan."
    if not confirmed:
        return _plan_page(request, plan, error=f"Not imported: {missing}", status=400)
    user = request.user
    assert isinstance(user, User)
    try:
        result = packs.pack_apply(plan=plan, actor=user, confirmed=True)
    except (packs.ImportRefused, packs.PlanStale) as exc:
        return _plan_page(request, plan, error=f"Not imported: {exc}", status=409)
    if result.written:
        messages.success(
            request,
            f"Imported {result.event.slug}: {result.plan.summary()} (audit {result.audit_id}).",
        )
    else:
        messages.success(request, f"{result.event.slug}: everything unchanged, nothing written.")
    return redirect("packs:upload")


@author_required
@require_GET
def pack_download(request: HttpRequest, slug: str) -> HttpResponse:
    """The event's pack file, as ``daylock event export`` writes it."""
    event = get_object_or_404(Event, slug=slug)
    response = HttpResponse(packs.pack_export(event=event), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{event.slug}.daylock-pack.json"'
    return response
