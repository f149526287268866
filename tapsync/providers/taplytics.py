"""Taplytics REST API v2: experiments (read, delete), push campaigns (send), users.

The token travels in the ``x-access-token`` header only, never as the ``api_token``
query parameter the API also accepts, so it can never land in a URL, a ``Link`` header
we follow, or a log line. Collections are read by following each page's ``Link: …;
rel='next'`` URL exactly as given (the seed warns against building page URLs, and writes
the header with single quotes and a stray trailing ``"``, so it is parsed leniently).

A push has no id of ours and no idempotency key: its identity is its ``name``. Posting
one is a send, never retried blindly: when the answer is lost, the executor calls
:meth:`TaplyticsProvider.read_one`, which lists every page and matches by name, and
re-sends only if nothing landed. Live pushes are normalised to the shape a manifest
writes (``schedule: now``, ``send_to_all_users``, the API's defaults) so that a sent
push plans no change.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Collection, Mapping
from typing import Any, ClassVar

from tapsync.audience import describe_push, send_deadline
from tapsync.changes import Action, Change, KindSpec
from tapsync.errors import ApiError, ProviderError
from tapsync.http import quote_segment
from tapsync.model import Resource, ResourceKey, State
from tapsync.normalize import canonical
from tapsync.providers.base import Provider, write_costs

P = "taplytics"
PER_PAGE = "100"
MAX_PAGES = 10_000
USER_TEXT = ("email", "first_name", "last_name", "gender", "user_id")
FILTER_KEYS = ("type", "comparator", "values", "dataKey")
_LINK = re.compile(r"<([^>]*)>\s*;\s*rel\s*=\s*[\"']?([A-Za-z]+)[\"']?")


def parse_link(header: str) -> dict[str, str]:
    """``rel`` → URL from a ``Link`` header, in either quote style, stray quotes ignored."""
    return {rel.lower(): url for url, rel in _LINK.findall(header or "")}


def user_field(name: str, attrs: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    """Which parameter a user's identity is: the one the manifest named it by (the
    builder records it in ``meta["identity"]``, and a live user's read keeps it); failing
    that, ``email`` when the name looks like one and ``email`` is not an attr, else
    ``user_id``."""
    recorded = meta.get("identity")
    if isinstance(recorded, str) and recorded:
        return recorded
    return "email" if "email" not in attrs and "@" in name else "user_id"


def push_attrs(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A live push in the manifest's shape: defaults made explicit, ``{"now": true}`` →
    ``"now"``, no filters ↔ ``send_to_all_users: true``."""
    filters = [{k: f[k] for k in FILTER_KEYS if k in f}
               for f in obj.get("filters") or [] if isinstance(f, Mapping)]
    schedule = obj.get("schedule")
    if not isinstance(schedule, Mapping) or not schedule or schedule.get("now"):
        when: Any = "now"
    else:
        when = {k: schedule[k] for k in ("time", "local_time") if k in schedule}
    attrs: dict[str, Any] = {
        "notification": dict(obj.get("notification") or {}),
        "filters": filters, "send_to_all_users": not filters, "schedule": when,
        "custom_keys": dict(obj.get("custom_keys") or {}),
        "filter_duplicate_content": obj.get("filter_duplicate_content", True) is not False,
        "production": obj.get("production") is True, "is_silent": obj.get("is_silent") is True,
    }
    for key in ("image", "badge_count"):
        if obj.get(key) is not None:
            attrs[key] = dict(obj[key]) if isinstance(obj[key], Mapping) else obj[key]
    return attrs


def push_body(name: str, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """What ``POST /v2/push`` gets: our own guard and ``schedule: now`` are left out."""
    body = {k: v for k, v in attrs.items() if k not in ("send_to_all_users", "schedule")}
    if isinstance(attrs.get("schedule"), Mapping):
        body["schedule"] = dict(attrs["schedule"])
    if attrs.get("send_to_all_users") is True:
        body.pop("filters", None)
    return {"name": name, **body}


class TaplyticsProvider(Provider):
    """Taplytics documents no cost or rate limit: every call costs 1."""

    NAME: ClassVar[str] = P
    SPECS: ClassVar[Mapping[str, KindSpec]] = {
        "experiment": KindSpec(P, "experiment", 0, can_create=False, can_update=False,
                               costs=write_costs(create=0, update=0, delete=1)),
        "push_campaign": KindSpec(P, "push_campaign", 1, can_update=False, can_delete=False,
                                  sends=True, immutable=True, unmanaged_is_history=True,
                                  describe=describe_push, send_deadline=send_deadline,
                                  costs=write_costs(create=1, update=0, delete=0, send=1)),
        # custom_data is owned whole: a key dropped from the manifest is removed live
        "user": KindSpec(P, "user", 1, costs=write_costs(create=1, update=1, delete=1),
                         whole_fields=("custom_data",)),
    }

    @classmethod
    def client_options(cls, credentials: Mapping[str, str]) -> dict[str, Any]:
        return {"headers": {"x-access-token": credentials.get("api_token", "")}}

    # ------------------------------------------------------------------ reading

    async def read(self, desired: State, *, prune: bool | frozenset[str] = False) -> State:
        """Every experiment (undeclared ones are unmanaged, or pruned); every push when
        pushes are declared (undeclared ones are history); declared users one by one (a
        project may hold millions of users: undeclared ones are never listed nor pruned)."""
        mine = [r for r in desired if r.key.provider == P]
        kinds = {r.key.kind for r in mine} | {"experiment"}
        users = [r for r in mine if r.key.kind == "user"]
        experiments, pushes, found = await asyncio.gather(
            self._collection("/v2/experiments") if "experiment" in kinds else _nothing(),
            self._collection("/v2/push") if "push_campaign" in kinds else _nothing(),
            asyncio.gather(*(self._user(r.key.leaf, user_field(r.key.leaf, r.attrs, r.meta))
                             for r in users)))
        live = State()
        for r in self._by_name("experiment", experiments, _experiment):
            live.add(r)
        for r in self._by_name("push_campaign", pushes, push_attrs):
            live.add(r)
        for r in found:
            if r is not None:
                live.add(r)
        return live

    async def read_one(self, key: ResourceKey) -> Resource | None:
        if key.kind == "user":
            found = await self._user(key.leaf, "user_id")
            if found is None and "@" in key.leaf:
                found = await self._user(key.leaf, "email")
            return found
        path = {"experiment": "/v2/experiments", "push_campaign": "/v2/push"}.get(key.kind)
        if path is None:
            raise ProviderError(f"taplytics has no kind {key.kind!r}")
        translate = _experiment if key.kind == "experiment" else push_attrs
        wanted = [o for o in await self._collection(path) if o.get("name") == key.leaf]
        return next(iter(self._by_name(key.kind, wanted, translate)), None)

    # ------------------------------------------------------------------ importing

    async def read_all(self, kinds: Collection[str], *, limit: int | None = None) -> State:
        """Every live object of ``kinds``, for ``tapsync import``: unlike :meth:`read`,
        sent pushes and users are listed whole when asked for. Users are listed by token
        pages (``/v2/usersByToken``), the one listing that stays cheap at millions; with
        ``limit``, listing stops once more than ``limit`` users are found, so the caller can
        refuse the import without having paged through the whole project."""
        unknown = sorted(set(kinds) - set(self.SPECS))
        if unknown:
            raise ProviderError(f"taplytics has no kind(s) {', '.join(unknown)}")
        experiments, pushes, users = await asyncio.gather(
            self._collection("/v2/experiments") if "experiment" in kinds else _nothing(),
            self._collection("/v2/push") if "push_campaign" in kinds else _nothing(),
            self._all_users(limit) if "user" in kinds else _no_users())
        return State([*self._by_name("experiment", experiments, _experiment),
                      *self._by_name("push_campaign", pushes, push_attrs), *users])

    async def _all_users(self, limit: int | None) -> list[Resource]:
        """Every user that has an identity a manifest can write (``user_id``, else
        ``email``), the first of namesakes, in the API's order; paging stops after the
        page on which more than ``limit`` were found, so up to ``limit + PER_PAGE``."""
        found: dict[ResourceKey, Resource] = {}
        params: dict[str, str] = {"per_page": PER_PAGE}
        tokens: set[str] = set()
        while True:
            body = await self.api.json("GET", "/v2/usersByToken", params=params)
            if not isinstance(body, dict) or not isinstance(body.get("users"), list):
                raise ProviderError("taplytics GET /v2/usersByToken: expected an object "
                                    "with a list of users")
            for obj in body["users"]:
                r = _listed_user(obj) if isinstance(obj, dict) else None
                if r is not None:
                    found.setdefault(r.key, r)
            token = body.get("nextPaginationToken")
            if (limit is not None and len(found) > limit) or not token or not body["users"]:
                return list(found.values())
            if str(token) in tokens or len(tokens) >= MAX_PAGES:
                raise ProviderError("taplytics GET /v2/usersByToken: the pagination tokens "
                                    "loop")
            tokens.add(str(token))
            params = {"per_page": PER_PAGE, "paginationToken": str(token)}

    async def _collection(self, path: str) -> list[dict[str, Any]]:
        """Every page, following ``next`` links verbatim (never building one)."""
        items: list[dict[str, Any]] = []
        url: str | None = path
        seen: set[str] = set()
        params: dict[str, str] | None = {"per_page": PER_PAGE}
        while url is not None:
            if url in seen or len(seen) >= MAX_PAGES:
                raise ProviderError(f"taplytics GET {path}: the Link header's next pages loop")
            seen.add(url)
            response = await self.api.request("GET", url, params=params)
            body = self.api.decode(response, "GET", path)
            if not isinstance(body, list):
                raise ProviderError(f"taplytics GET {path}: expected a list of objects")
            items.extend(o for o in body if isinstance(o, dict))
            url, params = parse_link(response.headers.get("link", "")).get("next"), None
            if not body:
                break
        return items

    async def _user(self, ident: str, field: str) -> Resource | None:
        try:
            obj = await self.api.json("GET", "/v2/users", params={field: ident})
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        if not isinstance(obj, dict):
            raise ProviderError("taplytics GET /v2/users: expected a user object")
        return _user_resource(obj, ident, field, obj.get("custom_data"))

    @staticmethod
    def _by_name(kind: str, objects: list[dict[str, Any]],
                 translate: Any) -> list[Resource]:
        """One resource per name (the first, in creation order); later namesakes' ids go
        in ``meta["duplicate_ids"]``. Nameless objects (old pushes) are history: skipped."""
        first: dict[str, dict[str, Any]] = {}
        extra: dict[str, list[Any]] = {}
        for obj in objects:
            name = obj.get("name")
            if not isinstance(name, str) or not name:
                continue
            if name in first:
                extra.setdefault(name, []).append(obj.get("id"))
            else:
                first[name] = obj
        out = []
        for name, obj in first.items():
            meta: dict[str, Any] = {k: obj[k] for k in ("id", "status", "created_at")
                                    if k in obj}
            if name in extra:
                meta["duplicate_ids"] = extra[name]
            out.append(Resource(ResourceKey(P, kind, (name,)), attrs=translate(obj), meta=meta))
        return out

    # ------------------------------------------------------------------ writing

    async def apply_change(self, change: Change) -> None:
        kind, action = change.key.kind, change.action
        if kind == "experiment" and action is Action.DELETE:
            ids = [change.meta.get("id"), *change.meta.get("duplicate_ids", ())]
            if ids[0] is None:
                found = await self.read_one(change.key)
                ids = [] if found is None else [found.meta.get("id"),
                                                *found.meta.get("duplicate_ids", ())]
            for ident in ids:
                await self._delete(f"/v2/experiments/{quote_segment(str(ident))}")
        elif kind == "push_campaign" and action in (Action.SEND, Action.CREATE):
            await self.api.json("POST", "/v2/push",
                                json=push_body(change.key.leaf, change.after or {}),
                                idempotent=False)
        elif kind == "user" and action in (Action.CREATE, Action.UPDATE):
            await self._write_user(change)
        elif kind == "user" and action is Action.DELETE:
            field = user_field(change.key.leaf, {}, change.meta)
            ident = change.meta.get("id")
            if ident:
                await self._delete(f"/v2/users/{quote_segment(str(ident))}")
            else:
                await self._delete("/v2/users", {field: change.key.leaf})
        else:
            raise ProviderError(f"taplytics cannot {action.value} a {kind}")

    async def _write_user(self, change: Change) -> None:
        """``POST /v2/users?user_id=…`` creates or updates; repeating it changes nothing,
        so it is retried like any idempotent call. ``custom_data`` is owned whole: keys
        live has and the manifest dropped are sent as ``null``, which removes them."""
        after = dict(change.after or {})
        field = user_field(change.key.leaf, after, change.meta)
        if change.action is Action.UPDATE:
            names = {str(f.path[0]) for f in change.fields}
            after = {k: v for k, v in after.items() if k in names}
        if "custom_data" in after:
            live = (change.before or {}).get("custom_data") or {}
            wanted = dict(after["custom_data"] or {})
            after["custom_data"] = {**{k: None for k in live if k not in wanted}, **wanted}
        body = {field: change.key.leaf, **after}
        await self.api.json("POST", "/v2/users", params={field: change.key.leaf}, json=body,
                            idempotent=True)

    async def _delete(self, path: str, params: Mapping[str, str] | None = None) -> None:
        """Deleting what is already gone is done, not an error (a retried DELETE)."""
        try:
            await self.api.json("DELETE", path, params=dict(params) if params else None)
        except ApiError as exc:
            if exc.status != 404:
                raise


async def _nothing() -> list[dict[str, Any]]:
    return []


async def _no_users() -> list[Resource]:
    return []


def _user_resource(obj: Mapping[str, Any], ident: str, field: str,
                   custom_data: Any) -> Resource:
    """A user as planned: text fields other than its identity (unset → ``""``), and its
    ``custom_data`` (which list items call ``metadata``)."""
    attrs: dict[str, Any] = {f: obj.get(f) or "" for f in USER_TEXT if f != field}
    attrs["custom_data"] = dict(custom_data or {})
    return Resource(ResourceKey(P, "user", (ident,)), attrs=attrs,
                    meta={"id": obj.get("id"), "identity": field})


def _listed_user(obj: Mapping[str, Any]) -> Resource | None:
    """A ``/v2/usersByToken`` item, identified as a manifest would (``user_id``, else
    ``email``); ``None`` for a user with neither (an anonymous device: nothing to write)."""
    for field in ("user_id", "email"):
        ident = obj.get(field)
        if isinstance(ident, str) and ident:
            return _user_resource(obj, ident, field, obj.get("metadata"))
    return None


def _experiment(obj: Mapping[str, Any]) -> dict[str, Any]:
    """An experiment as a manifest writes it: status, description and each variation's
    ``name`` and ``distributionPercent``, in name order (the API documents none). Ids,
    dynamic variables and web elements are the dashboard's business; so is the
    baseline, which the API keeps apart from ``variations``."""
    variations = []
    for v in obj.get("variations") or ():
        if isinstance(v, Mapping) and isinstance(v.get("name"), str):
            item: dict[str, Any] = {"name": v["name"]}
            if v.get("distributionPercent") is not None:
                item["distributionPercent"] = v["distributionPercent"]
            variations.append(item)
    return canonical(P, "experiment", {"status": obj.get("status") or "",
                                       "description": obj.get("description") or "",
                                       "variations": variations})
