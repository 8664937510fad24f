"""Installs :class:`daylock.accounts.admin_site.DaylockAdminSite` as Django's default
admin site (``admin.site``, which ``@admin.register`` uses), the way Django documents
overriding it. Its own module: an app config is imported before the models are ready,
and the site imports them."""

from django.contrib.admin.apps import AdminConfig


class DaylockAdminConfig(AdminConfig):
    default_site = "daylock.accounts.admin_site.DaylockAdminSite"
