"""Django settings, derived entirely from :mod:`daylock.config`.

Nothing here reads the environment directly: every value comes from the parsed
:class:`~daylock.config.Config` and its environment policy.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
import django_stubs_ext
from csp.constants import NONE, SELF

from daylock.config import BASE_DIR, EMULATOR_MOUNT, VAR_DIR, load_config

# Lets admin.ModelAdmin[Model], QuerySet[Model] … be subscripted at run time (strict mypy).
django_stubs_ext.monkeypatch()

DAYLOCK = load_config()
_policy = DAYLOCK.policy
_env = DAYLOCK.app_env.value

SECRET_KEY = DAYLOCK.secret_key
DEBUG = DAYLOCK.debug
_public = urlsplit(DAYLOCK.public_url)
ALLOWED_HOSTS = [_public.hostname or "localhost"]
if _policy.allows_local_hosts:
    ALLOWED_HOSTS += ["127.0.0.1", "localhost", "testserver"]
CSRF_TRUSTED_ORIGINS = [DAYLOCK.public_url]

INSTALLED_APPS = [
    "daylock.core",
    "daylock.accounts",
    # Django's admin with Daylock's site: the role table decides, writes are audited.
    "daylock.accounts.admin_app.DaylockAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "daylock.events",
    "daylock.discord",
    "daylock.prizes",
    "daylock.staging",
    # The Discord emulator's own command (`daylock emulator`; refused in production).
    "daylock.testing",
]
if DAYLOCK.database_engine == "postgresql":
    # The outbox worker's queue lives in PostgreSQL; on the SQLite development
    # default there is no queue and capture records messages at once.
    INSTALLED_APPS.append("procrastinate.contrib.django")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Outside sessions and auth: a response made for an exception raised in them (the
    # 503 of a reset) gets the Content-Security-Policy too. See the CSP block below.
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "daylock.core.middleware.ClockMiddleware",
]

ROOT_URLCONF = "daylock.urls"
WSGI_APPLICATION = "daylock.wsgi.application"

_CONTEXT_PROCESSORS = [
    "django.template.context_processors.request",
    "django.contrib.auth.context_processors.auth",
    "django.contrib.messages.context_processors.messages",
    "daylock.site.context_processors.environment",
]
TEMPLATES = [
    {
        # Daylock's pages (see daylock.core.templating for why Jinja2).
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "jinja2"],
        "APP_DIRS": False,
        "OPTIONS": {
            "environment": "daylock.core.templating.environment",
            "context_processors": _CONTEXT_PROCESSORS,
        },
    },
    {
        # Django's own templates: the admin and form widgets.
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],  # admin/base_site.html: the environment banner
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": _CONTEXT_PROCESSORS},
    },
]

_db = dj_database_url.parse(DAYLOCK.database_url, conn_max_age=60, conn_health_checks=True)
if DAYLOCK.database_engine == "sqlite":
    Path(_db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    _db["CONN_MAX_AGE"] = 0
else:
    _name = str(_db["NAME"])
    # Test databases are always named daylock_test…, never the configured database.
    _db["TEST"] = {"NAME": _name if _name.startswith("daylock_test") else f"daylock_test_{_name}"}
    _db.setdefault("OPTIONS", {})["application_name"] = f"daylock-{_env}"
    # Parameters bound by PostgreSQL, so psycopg prepares a statement the connection has
    # run prepare_threshold times and then only executes it (the ORM's queries of every
    # page view are planned once per connection). Like any prepared statement, this does
    # not suit a pooler in transaction mode (none is used).
    _db["OPTIONS"] |= {"server_side_binding": True, "prepare_threshold": 5}
    # Django's backend with a health check that needs no round trip (see its docstring).
    _db["ENGINE"] = "daylock.core.postgresql"
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if DAYLOCK.redis_url:
    CACHES = {
        "default": {
            # Django's RedisCache, reusing its redis-py client (see daylock.core.cache).
            "BACKEND": "daylock.core.cache.RedisCache",
            "LOCATION": DAYLOCK.redis_url,
            # Every key is daylock:<env>:<version>:<key>; the stamp guard keeps
            # environments in separate DBs, the prefix keeps them apart in any dump.
            "KEY_PREFIX": f"daylock:{_env}",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "KEY_PREFIX": f"daylock:{_env}",
        }
    }
# Sessions in the database (django_session), read through a copy in the cache (Redis).
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
# Distinct cookie names: two environments on one host (ports differ) never mix sessions.
SESSION_COOKIE_NAME = f"daylock_{_env}_session"
CSRF_COOKIE_NAME = f"daylock_{_env}_csrftoken"
_security = DAYLOCK.security_settings
SESSION_COOKIE_SECURE = bool(_security["SESSION_COOKIE_SECURE"])
CSRF_COOKIE_SECURE = bool(_security["CSRF_COOKIE_SECURE"])
SECURE_HSTS_SECONDS = int(str(_security["SECURE_HSTS_SECONDS"]))
SECURE_HSTS_INCLUDE_SUBDOMAINS = bool(_security["SECURE_HSTS_INCLUDE_SUBDOMAINS"])
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- Content-Security-Policy (django-csp 4) ------------------------------------------
# Every page may load only this site's own files: no inline script or style anywhere
# (scripts and styles live in static/daylock/, tests/core/test_csp.py scans the
# templates), no plugins, no <base> elsewhere, never framed. Forms post to this site —
# and the login's POST answers with a redirect to Discord's authorize page, which
# Chromium checks against form-action too, so Discord's origin (DISCORD_API_BASE's) is
# listed. Images may also come over https: day content is Markdown that allows <img>
# (no code runs from an image); and from Discord's CDN, whatever its scheme: avatars
# (the emulator's CDN outside production, often plain http). The Django admin needs no
# relaxation: its templates have no inline script or style attribute.
_discord = urlsplit(DAYLOCK.discord_api_base)
_cdn = urlsplit(DAYLOCK.discord_cdn)
CONTENT_SECURITY_POLICY: dict[str, object] = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "https:", f"{_cdn.scheme}://{_cdn.netloc}"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF, f"{_discord.scheme}://{_discord.netloc}"],
    },
}
if _policy.embedded_emulator:
    # The in-process Discord emulator stands in for discord.com, whose pages are not
    # ours: its consent page (inline <style>) is left to its own rules, as Discord's is.
    CONTENT_SECURITY_POLICY["EXCLUDE_URL_PREFIXES"] = [EMULATOR_MOUNT]

AUTH_USER_MODEL = "accounts.User"
# Banned users are refused like inactive ones, sessions included.
AUTHENTICATION_BACKENDS = [
    "daylock.accounts.backends.DaylockBackend",
    # Django's model permissions (the admin asks them) from the role table.
    "daylock.accounts.permissions.RolePermissionBackend",
]
# The CSRF failure page in the site's frame, with the environment banner.
CSRF_FAILURE_VIEW = "daylock.site.views.csrf_failure"
LOGIN_URL = "/auth/login/"
LOGIN_REDIRECT_URL = "/"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Static files are served from the package by whitenoise; no collectstatic step needed.
WHITENOISE_USE_FINDERS = True
with contextlib.suppress(OSError):  # read-only working directory: finders still serve
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "daylock.logs.JsonFormatter", "environment": _env},
        "human": {"()": "daylock.logs.HumanFormatter", "environment": _env},
    },
    # Logs go to stderr, leaving stdout to command output (doctor, draw list, …).
    # Nothing logs while the guards run, so a refused start prints exactly one line.
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": _policy.log_format},
    },
    "root": {"handlers": ["stderr"], "level": _policy.log_level},
    "loggers": {
        # SQL at DEBUG would drown everything else.
        "django.db.backends": {"level": "INFO"},
        "django.utils.autoreload": {"level": "INFO"},
        "redis": {"level": "WARNING"},
        # Python-Markdown logs three DEBUG lines (extensions loaded) per document.
        "MARKDOWN": {"level": "WARNING"},
        # Procrastinate logs its set-up at INFO on every django.setup(); the worker
        # command turns it back up for itself.
        "procrastinate": {"level": "WARNING"},
    },
}
