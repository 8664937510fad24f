"""Users, their roles and their Discord accounts. :func:`display_name` is how Daylock
names a person everywhere (:mod:`daylock.accounts.names`)."""

from daylock.accounts.names import display_name

__all__ = ["display_name"]
