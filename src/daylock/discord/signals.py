"""Signals of the outbox.

``outbox_settled`` is sent once a row reaches an outcome Discord (or the delivery
mode) decided — sent, captured, blocked, failed, uncertain — with ``message`` (the row).
Apps that wait on Discord listen to it rather than trusting that a queued row will
succeed: a prize fulfilled by a role is fulfilled when Discord confirms the grant
(``daylock.prizes.services``). Receivers run in the worker, after the row is saved.
"""

from __future__ import annotations

from django.dispatch import Signal

outbox_settled = Signal()
