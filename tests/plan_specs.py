"""Realistic KindSpecs for planner tests, written from ../shared/apis/*.md.

Kept here, not imported from the providers, so the planner is tested against the
capabilities the API pages describe rather than against whatever a provider declares.
"""

from __future__ import annotations

from collections.abc import Mapping

from tapsync.audience import describe_push, send_deadline
from tapsync.changes import Action, KindSpec

_WRITES = {Action.CREATE: 2, Action.UPDATE: 2, Action.RENAME: 2, Action.DELETE: 2,
           Action.RESTORE: 2}


def _amp(kind: str, order: int, *, restore: bool = True) -> KindSpec:
    return KindSpec("amplitude", kind, order, can_rename=True, can_restore=restore,
                    costs=_WRITES)


_CALL = {Action.CREATE: 1, Action.UPDATE: 1, Action.DELETE: 1, Action.SEND: 1}

SPECS: Mapping[tuple[str, str], KindSpec] = {
    ("amplitude", "category"): _amp("category", 0, restore=False),
    ("amplitude", "event_type"): _amp("event_type", 1),
    ("amplitude", "event_property"): _amp("event_property", 2),
    ("amplitude", "user_property"): _amp("user_property", 2),
    # Taplytics: experiments are read and delete only; pushes are create (= send) only.
    ("taplytics", "experiment"): KindSpec("taplytics", "experiment", 0, can_create=False,
                                          can_update=False, costs=_CALL),
    ("taplytics", "push_campaign"): KindSpec("taplytics", "push_campaign", 1, can_update=False,
                                             can_delete=False, sends=True, immutable=True,
                                             unmanaged_is_history=True, costs=_CALL,
                                             describe=describe_push,
                                             send_deadline=send_deadline),
    ("taplytics", "user"): KindSpec("taplytics", "user", 0, costs=_CALL,
                                    whole_fields=("custom_data",)),
}
