"""Amplitude Taxonomy API: categories, event types, event properties, user properties.

Works with both editions described in ``shared/apis/amplitude-taxonomy.md``: it always
sends ``event_type`` with event-property calls (the seed edition requires it), copes with
a missing shared-property list (seed: an error), and explains the seed's refusal to delete
anything but planned events. Live values are put through :mod:`tapsync.normalize` so the
planner compares like with like; the raw name the service stores (it keeps trailing
blanks and ``gp:`` prefixes) travels in ``meta["api_name"]`` for addressing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from tapsync.changes import REFERENCES, Action, Change, KindSpec
from tapsync.errors import ApiError, ProviderError
from tapsync.http import quote_segment
from tapsync.model import Resource, ResourceKey, State
from tapsync.normalize import canonical, strip_gp
from tapsync.providers.base import Provider, write_costs

P = "amplitude"
ROOT = "/api/2/taxonomy"

EVENT_FIELDS = ("category", "description", "display_name", "is_active", "tags", "owner",
                "is_hidden_from_dropdowns", "is_hidden_from_persona_results",
                "is_hidden_from_pathfinder", "is_hidden_from_timeline")
PROPERTY_FIELDS = ("description", "type", "regex", "enum_values", "is_array_type",
                   "is_required", "is_hidden", "classifications")
USER_PROPERTY_FIELDS = ("description", "type", "regex", "enum_values", "is_array_type")
#: kinds with a list of their own (``event_property``: the shared ones)
LISTS = frozenset({"category", "event_type", "event_property", "user_property"})


@dataclass(frozen=True)
class _Shape:
    """How the Taxonomy API spells one kind's calls."""

    collection: str
    name_field: str           # the name on create
    rename_field: str         # the new name on update (the seed also accepts a shorter one)
    names_outlive_deletes: bool = False  # a deleted one, never listed, still holds its name


@dataclass(frozen=True)
class _Scope:
    """What one read lists: top-level ``lists`` (kinds), and the property lists of the
    ``events`` named (``None``: of every live event type)."""

    lists: frozenset[str]
    events: Collection[str] | None
    #: shared properties in play (declared or targeted): if the edition refuses their
    #: list, the read is an error naming them; with none, a refusal means "no shared ones"
    shared: tuple[str, ...]


_SHAPES: Mapping[str, _Shape] = {
    "event_type": _Shape("/event", "event_type", "new_event_type"),
    "event_property": _Shape("/event-property", "event_property", "new_event_property_value",
                             names_outlive_deletes=True),
    "user_property": _Shape("/user-property", "user_property", "new_user_property_value"),
}


def _spec(kind: str, order: int, *, rename: bool = True, restore: bool = True) -> KindSpec:
    return KindSpec(P, kind, order, can_rename=rename, can_restore=restore,
                    costs=write_costs(create=2, update=2, delete=2, rename=2,
                                      restore=2 if restore else 0))


class AmplitudeProvider(Provider):
    """The Taxonomy API. Costs: GET 1, POST/PUT/DELETE 2 (per API key)."""

    NAME: ClassVar[str] = P
    SPECS: ClassVar[Mapping[str, KindSpec]] = {
        "category": _spec("category", 0, restore=False),
        "event_type": _spec("event_type", 1),
        "event_property": _spec("event_property", 2),
        "user_property": _spec("user_property", 2),
    }

    @classmethod
    def client_options(cls, credentials: Mapping[str, str]) -> dict[str, Any]:
        """HTTP Basic: user = project API key, password = secret key."""
        return {"auth": (credentials.get("api_key", ""), credentials.get("secret_key", ""))}

    @staticmethod
    def method_cost(method: str) -> int:
        return 1 if method.upper() in ("GET", "HEAD") else 2

    # ------------------------------------------------------------------ reading

    async def read(self, desired: State, *, prune: bool | frozenset[str] = False) -> State:
        """Four list calls, then one property list per event type the workspace needs."""
        return await self._read(_Scope(
            lists=frozenset(LISTS), events=self._events_needing_properties(desired, prune),
            shared=tuple(sorted(r.key.leaf for r in desired if r.key.provider == P and not r.absent
                                and r.key.kind == "event_property" and len(r.key.name) == 1))))

    async def read_some(self, desired: State, targets: Collection[ResourceKey], *,
                        prune: bool | frozenset[str] = False) -> State:
        """Only what a re-plan of ``targets`` needs: the convergence check after apply.

        Lists, never ``read_one``: Amplitude charges any GET one unit, so one list per kind
        costs no more than one key would, and only a list is exact for a rename (old and
        new name in one answer), for names stored with trailing blanks, and for deleted
        objects (``showDeleted``). Read are: the lists of the targets' kinds; the event
        list when properties were touched (a parent's name and status decide what the
        planner does with its children); the categories when an event type in play names
        one (its change would depend on it); and the property lists of the touched event
        types (those :meth:`read` would read) and of the event types over touched
        properties, with the old names their ``renamed_from`` gives.
        """
        mine = [t for t in targets if t.provider == P]
        lists: set[str] = {t.kind for t in mine if len(t.name) == 1}
        wanted = self._events_needing_properties(desired, prune)
        events = {t.leaf for t in mine if t.kind == "event_type"
                  and (wanted is None or t.leaf in wanted)}
        events |= {t.name[0] for t in mine if t.kind == "event_property" and len(t.name) == 2}
        if events:
            lists.add("event_type")
        in_play = {*events, *(t.leaf for t in mine if t.kind == "event_type")}
        for name in sorted(in_play):
            declared = desired.get(ResourceKey(P, "event_type", (name,)))
            if declared is None:
                continue
            events.update(declared.renamed_from)
            lists.update(kind for field, kind in REFERENCES.get("event_type", {}).items()
                         if isinstance(declared.attrs.get(field), str)
                         and declared.attrs[field])
        shared = tuple(sorted(t.leaf for t in mine
                              if t.kind == "event_property" and len(t.name) == 1))
        return await self._read(_Scope(lists=frozenset(lists & LISTS),
                                       events=frozenset(events), shared=shared))

    async def _read(self, scope: _Scope) -> State:
        """The lists ``scope`` names, then the property lists of its live event types."""
        cats, events, shared, users = await asyncio.gather(
            self._list_if(scope, "category", "/category"),
            self._list_if(scope, "event_type", "/event", {"showDeleted": "true"}),
            self._shared_properties(scope.shared) if "event_property" in scope.lists
            else _none(),
            self._list_if(scope, "user_property", "/user-property", {"showDeleted": "true"}),
        )
        live = State()
        for c in cats:
            live.add(self._category(c))
        event_res = [self._event(e) for e in events]
        for r in event_res:
            live.add(r)
        for p in shared:
            live.add(self._property(p, None))
        for u in users:
            live.add(self._user_property(u))

        to_read = [r for r in event_res if not r.meta.get("deleted")
                   and (scope.events is None or r.key.leaf in scope.events)]
        lists = await asyncio.gather(*(self._event_properties(r) for r in to_read))
        for props in lists:
            for prop in props:
                live.add(prop)
        return live

    async def _list_if(self, scope: _Scope, kind: str, path: str,
                       params: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        return await self._get_list(path, params) if kind in scope.lists else []

    async def _event_properties(self, event: Resource) -> list[Resource]:
        # normalised as each answer arrives: the raw lists of 5,000 events, all held until
        # the last one came, added ~50 MB to the peak
        props = await self._get_list("/event-property", {"event_type": event.meta["api_name"]})
        return [self._property(p, event.key.leaf) for p in props]

    @staticmethod
    def _events_needing_properties(desired: State, prune: bool | frozenset[str]) -> set[str] | None:
        """Event types whose property list the plan needs (``None``: all of them)."""
        if prune is True or (prune and "event_property" in prune):
            return None
        names: set[str] = set()
        for r in desired:
            if r.key.provider != P:
                continue
            if r.key.kind == "event_type":
                names.add(r.key.leaf)
                names.update(r.renamed_from)
            elif r.key.kind == "event_property" and len(r.key.name) == 2:
                names.add(r.key.name[0])
        return names

    async def _shared_properties(self, declared: tuple[str, ...]) -> list[dict[str, Any]]:
        """The shared properties; the seed edition has none and refuses the list (400).

        That refusal is only an error when shared properties are in play (``declared``):
        they could never be read nor written there, so the message names them.
        """
        try:
            return await self._get_list("/event-property")
        except ApiError as exc:
            if exc.status != 400:
                raise
            if declared:
                names = ", ".join(f'amplitude.event_property["{n}"]' for n in declared)
                raise ProviderError(
                    f"{names}: declared as shared event properties (no event type), but this "
                    "Amplitude project's Taxonomy API is the older edition without shared "
                    f"properties (GET {ROOT}/event-property without event_type answered "
                    f"HTTP 400: {exc.message}); declare them under their event types "
                    "instead") from exc
            return []  # the seed edition: no shared properties to manage

    async def read_one(self, key: ResourceKey) -> Resource | None:
        name = key.leaf
        try:
            if key.kind == "category":
                return self._category(await self._get_one(f"/category/{quote_segment(name)}"))
            if key.kind == "event_type":
                return self._event(await self._get_one(f"/event/{quote_segment(name)}"))
            if key.kind == "event_property":
                event = key.name[0] if len(key.name) == 2 else None
                params = {"event_type": event} if event is not None else None
                data = await self._get_one(f"/event-property/{quote_segment(name)}", params)
                return self._property(data, event)
            if key.kind == "user_property":
                return self._user_property(
                    await self._get_one(f"/user-property/{quote_segment(name)}"))
        except ApiError as exc:
            if _not_found(exc):
                return None
            raise
        raise ProviderError(f"amplitude has no kind {key.kind!r}")

    async def _get_list(self, path: str, params: Mapping[str, str] | None = None
                        ) -> list[dict[str, Any]]:
        data = await self._get_one(path, params)
        if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
            raise ProviderError(f"amplitude GET {path}: expected a list of objects in 'data'")
        return data

    async def _get_one(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        body = await self.api.json("GET", ROOT + path, params=dict(params or {}))
        return _data(body, f"GET {path}")

    # ---------------------------------------------------------------- normalising

    @staticmethod
    def _category(obj: Mapping[str, Any]) -> Resource:
        raw = str(obj.get("name", ""))
        return Resource(ResourceKey(P, "category", (raw.rstrip(),)),
                        meta={"id": obj.get("id"), "api_name": raw})

    @staticmethod
    def _event(obj: Mapping[str, Any]) -> Resource:
        raw = str(obj.get("event_type", ""))
        attrs = canonical(P, "event_type", {f: obj.get(f) for f in EVENT_FIELDS if f in obj})
        return Resource(ResourceKey(P, "event_type", (raw.rstrip(),)), attrs=attrs,
                        meta=_status_meta(obj, raw))

    @staticmethod
    def _property(obj: Mapping[str, Any], event: str | None) -> Resource:
        raw = str(obj.get("event_property", ""))
        name = (event, raw.rstrip()) if event is not None else (raw.rstrip(),)
        attrs = canonical(P, "event_property",
                          {f: obj.get(f) for f in PROPERTY_FIELDS if f in obj})
        return Resource(ResourceKey(P, "event_property", name), attrs=attrs,
                        meta=_status_meta(obj, raw))

    @staticmethod
    def _user_property(obj: Mapping[str, Any]) -> Resource:
        raw = str(obj.get("user_property", ""))
        attrs = canonical(P, "user_property",
                          {f: obj.get(f) for f in USER_PROPERTY_FIELDS if f in obj})
        meta = _status_meta(obj, raw)
        if not raw.startswith("gp:"):
            meta["builtin"] = True  # device_id, amplitude_id…: never ours to delete
        return Resource(ResourceKey(P, "user_property", (strip_gp(raw).rstrip(),)),
                        attrs=attrs, meta=meta)

    # ------------------------------------------------------------------- writing

    async def apply_change(self, change: Change) -> None:
        kind, action = change.key.kind, change.action
        handler = self._write_category if kind == "category" else \
            self._write_named if kind in _SHAPES else None
        if handler is None or action in (Action.MANUAL, Action.SEND):
            raise ProviderError(f"amplitude cannot {action.value} a {kind}")
        await handler(change)

    def _changed(self, change: Change) -> dict[str, Any]:
        """The owned fields to send: all of ``after`` on create, only changed ones else."""
        after = dict(change.after or {})
        if change.action is Action.CREATE:
            return after
        names = {str(f.path[0]) for f in change.fields}
        return {k: v for k, v in after.items() if k in names}

    def _api_name(self, change: Change) -> str:
        live_name = change.meta.get("api_name")
        return str(live_name) if live_name else (change.from_key or change.key).leaf

    async def _write_category(self, change: Change) -> None:
        new = change.key.leaf
        if change.action is Action.CREATE:
            await self._send("POST", "/category", {"category_name": new})
            return
        cat_id = change.meta.get("id")
        if cat_id is None:
            raise ProviderError(f"{change.key}: the live category id is unknown; plan again")
        if change.action is Action.RENAME:
            await self._send("PUT", f"/category/{cat_id}", {"category_name": new}, retry=False)
        elif change.action is Action.DELETE:
            await self._send("DELETE", f"/category/{cat_id}", retry=False)
        else:
            raise ProviderError(f"amplitude cannot {change.action.value} a category")

    async def _write_named(self, change: Change) -> None:
        """Event types, event properties and user properties: one protocol, three shapes."""
        shape = _SHAPES[change.key.kind]
        # a property's event is never changed by the property's own change (renaming an
        # event type is the event's change, applied first), so the key's event is current
        scope = {"event_type": change.key.name[0]} if len(change.key.name) == 2 else {}
        path = f"{shape.collection}/{quote_segment(self._api_name(change))}"
        fields = _form(self._changed(change))
        action = change.action
        if action is Action.CREATE:
            try:
                await self._send("POST", shape.collection,
                                 {**scope, shape.name_field: change.key.leaf, **fields})
            except ApiError as exc:
                if not (shape.names_outlive_deletes and _already_exists(exc)):
                    raise
                await self._revive(path, scope, fields)
        elif action is Action.DELETE:
            await self._delete(change, path, scope)
        elif action is Action.RESTORE:
            await self._send("POST", f"{path}/restore", scope, retry=False)
            if fields:
                await self._send("PUT", path, {**scope, **fields})
        elif action is Action.RENAME:
            try:
                await self._send("PUT", path, {**scope, shape.rename_field: change.key.leaf,
                                               **fields}, retry=False)
            except ApiError as exc:
                if not (shape.names_outlive_deletes and _already_exists(exc)):
                    raise
                # the new name is held by a deleted property no list shows: as if it had
                # been seen, that one is the declared property (the old one stays as it is)
                await self._revive(f"{shape.collection}/{quote_segment(change.key.leaf)}",
                                   scope, _form(dict(change.after or {})))
        elif fields:
            await self._send("PUT", path, {**scope, **fields})

    async def _revive(self, path: str, scope: Mapping[str, str],
                      fields: Mapping[str, str]) -> None:
        """Create met "already exists" for a property no list shows: a deleted property
        (never listed, yet it blocks its name until restored), or one of a deleted event
        type, back with its event. Restore it (409: it is not deleted), then set the fields."""
        try:
            await self._send("POST", f"{path}/restore", scope, retry=False)
        except ApiError as exc:
            if exc.status != 409:
                raise
        if fields:
            await self._send("PUT", path, {**scope, **fields})

    async def _delete(self, change: Change, path: str, scope: Mapping[str, str]) -> None:
        try:
            await self._send("DELETE", path, params=dict(scope), retry=False)
        except ApiError as exc:
            if change.meta.get("unseen") and (
                    _not_found(exc) or (exc.status == 409 and "already deleted" in exc.message)):
                return  # planned unseen (under a deleted parent) and not back: nothing to do
            if exc.status == 409 and "not a planned" in exc.message:
                raise ApiError(P, exc.status, f"{exc.message} — this project's Taxonomy API "
                               "deletes only planned (never ingested) items; remove the "
                               "tombstone, or delete it in Amplitude's UI",
                               method=exc.method, path=exc.path) from None
            raise

    async def _send(self, method: str, path: str, form: Mapping[str, str] | None = None, *,
                    params: Mapping[str, str] | None = None, retry: bool = True) -> None:
        """One write; ``retry=False`` marks calls that must not be repeated blindly."""
        body = await self.api.json(method, ROOT + path, data=dict(form) if form else None,
                                   params=dict(params) if params else None,
                                   idempotent=retry and method in ("PUT",))
        if isinstance(body, Mapping) and body.get("success") is False:
            raise ApiError(P, 200, _message(body), method=method, path=ROOT + path)


async def _none() -> list[dict[str, Any]]:
    return []


def _status_meta(obj: Mapping[str, Any], raw: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"api_name": raw}
    if obj.get("deleted"):
        meta["deleted"] = True
    if obj.get("status"):
        meta["status"] = obj["status"]
    return meta


def _form(values: Mapping[str, Any]) -> dict[str, str]:
    """Form encoding the Taxonomy API expects: booleans as true/false, lists comma-joined."""
    out: dict[str, str] = {}
    for k, v in values.items():
        if isinstance(v, bool):
            out[k] = "true" if v else "false"
        elif isinstance(v, (list, tuple)):
            out[k] = ",".join(str(x) for x in v)
        elif v is None:
            out[k] = ""
        else:
            out[k] = str(v)
    return out


def _data(body: Any, what: str) -> Any:
    if not isinstance(body, Mapping) or "data" not in body:
        if isinstance(body, Mapping) and body.get("success") is False:
            raise ApiError(P, 200, _message(body))
        raise ProviderError(f"amplitude {what}: answer has no 'data' envelope")
    return body["data"]


def _message(body: Mapping[str, Any]) -> str:
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
        return str(errors[0].get("message", "unknown error"))
    return "the service answered success: false without a message"


def _already_exists(exc: ApiError) -> bool:
    return exc.status == 409 and "already exists" in exc.message


def _not_found(exc: ApiError) -> bool:
    return exc.status == 404 or (exc.status == 400 and "not found" in exc.message.lower())
