"""The provider interface every service implements.

A provider turns a service's API into :class:`~tapsync.model.State` (``read``,
``read_one``) and a :class:`~tapsync.changes.Change` into API calls (``apply_change``,
called by the executor alone). Every call goes through one
:class:`~tapsync.http.ApiClient`, which holds the budget, the retries and the redaction,
so a provider is only the translation between our model and the service's shapes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping
from typing import Any, ClassVar

from tapsync.changes import Action, Change, KindSpec
from tapsync.http import ApiClient
from tapsync.model import Resource, ResourceKey, State


class Provider(ABC):
    """One service. Subclasses set ``NAME`` and ``SPECS`` and implement the three calls."""

    NAME: ClassVar[str]
    #: kind → what the API can do with it and what each action costs
    SPECS: ClassVar[Mapping[str, KindSpec]]

    def __init__(self, api: ApiClient) -> None:
        self.api = api
        for kind, spec in self.SPECS.items():
            if spec.provider != self.NAME or spec.kind != kind:
                raise TypeError(f"{type(self).__name__}.SPECS[{kind!r}] names "
                                f"{spec.provider}.{spec.kind}")

    @abstractmethod
    async def read(self, desired: State, *, prune: bool | frozenset[str] = False) -> State:
        """Read the live objects the workspace needs, normalised.

        ``desired`` says which objects matter (only this provider's part is looked at);
        with ``prune`` a provider reads whole collections it would otherwise skip.
        """

    @abstractmethod
    async def read_one(self, key: ResourceKey) -> Resource | None:
        """Read one object now (stale checks, reconciling an uncertain write)."""

    async def read_some(self, desired: State, targets: Collection[ResourceKey], *,
                        prune: bool | frozenset[str] = False) -> State:
        """What a re-plan narrowed to ``targets`` needs: the convergence check after apply.

        By default, :meth:`read` of a workspace declaring only the targets. That is exact
        for a provider whose objects neither nest nor name one another, and whose
        ``read`` lists whole any kind a prune may delete (Taplytics: experiments listed,
        pushes only when one was touched, only the touched users read); a provider with
        parents or references overrides it (Amplitude).
        """
        wanted = set(targets)
        return await self.read(State(r for r in desired if r.key in wanted), prune=prune)

    @abstractmethod
    async def apply_change(self, change: Change) -> None:
        """Make one change through the API. Raises a ProviderError subclass on failure."""

    async def read_all(self, kinds: Collection[str], *, limit: int | None = None) -> State:
        """Every live object of ``kinds``, for ``tapsync import`` (the caller keeps only
        ``kinds``). By default what a prune reads; a provider whose :meth:`read` leaves
        kinds unlisted (Taplytics users) overrides this, honouring ``limit`` for them."""
        return await self.read(State(), prune=True)

    @classmethod
    def client_options(cls, credentials: Mapping[str, str]) -> dict[str, Any]:
        """How credentials travel: keyword arguments for ``http.make_client``."""
        return {}

    @staticmethod
    def method_cost(method: str) -> int:
        """Budget units one call of ``method`` costs (1 unless the service says otherwise)."""
        return 1

    @classmethod
    def spec(cls, kind: str) -> KindSpec:
        return cls.SPECS[kind]

    def cost_of(self, change: Change) -> int:
        return self.SPECS[change.key.kind].cost(change.action)


def write_costs(*, create: int, update: int, delete: int, rename: int = 0,
                restore: int = 0, send: int = 0) -> dict[Action, int]:
    """A cost table for :class:`KindSpec` (writes only; MANUAL changes cost nothing)."""
    return {Action.CREATE: create, Action.UPDATE: update, Action.DELETE: delete,
            Action.RENAME: rename, Action.RESTORE: restore, Action.SEND: send,
            Action.MANUAL: 0}
