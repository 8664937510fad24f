"""Settings of the HTTP benchmark server: Daylock's own settings, unchanged, plus the
bench-only URLs (``http_urls``) and one middleware that echoes a request header, so the
baselines run on exactly the same server, middleware and configuration as the pages
they are compared with."""

from daylock.settings import *  # noqa: F403
from daylock.settings import MIDDLEWARE

ROOT_URLCONF = "http_urls"
MIDDLEWARE = ["http_urls.EchoPlayer", *MIDDLEWARE]
