"""Settings of the HTTP benchmark server: Daylock's own settings, unchanged, plus one
bench-only URL (a plain view) so the baseline runs on exactly the same server,
middleware and configuration as the page it is compared with."""

from daylock.settings import *  # noqa: F403

ROOT_URLCONF = "http_urls"
