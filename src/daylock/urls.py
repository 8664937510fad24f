"""URL configuration. What is mounted depends only on the environment policy."""

from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

from daylock import config
from daylock.site import views

_policy = config.policy()

# Every error page is in the site's frame with the environment banner.
handler400 = "daylock.site.views.bad_request"
handler403 = "daylock.site.views.permission_denied"
handler404 = "daylock.site.views.page_not_found"
# A database error while the database is away (a reset) answers 503, not 500.
handler500 = "daylock.site.views.server_error"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("auth/", include("daylock.accounts.urls")),
    path("events/", include("daylock.events.urls")),
    path("prizes/", include("daylock.prizes.urls")),
    path("staff/outbox/", include("daylock.discord.urls")),
    # Read-only, in every environment (production included).
    path("staff/audit/", views.audit_list, name="audit"),
    path("staff/packs/", include("daylock.events.pack_urls")),
    path("staff/events/", include("daylock.events.editor_urls")),
    path("admin/", admin.site.urls),
]

if _policy.test_utilities:
    # Not mounted at all in production: every path under the prefix is a 404.
    urlpatterns.append(
        path(config.TESTTOOLS_PREFIX.strip("/") + "/", include("daylock.staging.urls"))
    )

if _policy.embedded_emulator:
    from daylock.testing.discord_emulator import django_mount

    urlpatterns.append(path(config.EMULATOR_MOUNT.strip("/") + "/", include(django_mount())))
