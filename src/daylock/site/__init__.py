"""The site's own pages and frame: home, health, the audit log page, error and CSRF
failure pages, and the context every page is rendered with.

Above the apps (it reads who may see what from :mod:`daylock.accounts.permissions`),
so that :mod:`daylock.core` — stamps, audit records, templating — stays below them.
"""
