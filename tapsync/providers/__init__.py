"""One provider per service: reads live state, normalises it, and makes each change.

Providers declare what their API can do as data (:class:`~tapsync.changes.KindSpec`), so
the planner never needs an ``if provider == …``.
"""

from __future__ import annotations

from tapsync.providers.base import Provider

__all__ = ["Provider"]
