"""Every curl example of the seed page (Amplitude's older Taxonomy API article), replayed.

The examples are read from the page itself (a copy kept beside this file, checked against
the shared original), not retyped, so a new or changed example fails here. Each one runs
against a project holding the objects it names, and must get the answer the page
documents. Only the page's *syntax* slips are repaired (a doubled quote, a typographic
quote, a lost closing quote, a raw space in a URL) — never its names, so ``/add_event``
and ``add event`` are taken literally. The replay runs in-process (the command parsed
into an httpx request) and over a real socket with the real ``curl`` binary.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sandbox_support import AUTH

HERE = Path(__file__).parent
SEED_COPY = HERE / "data" / "amplitude_seed_004.txt"
SEED_SHARED = Path(__file__).resolve().parents[3] / "shared" / "seeds" / "004_7b255e3f63faaf26.txt"

REPAIRS = (
    ("''https://", "'https://"),  # doubled opening quote
    ("\u2018", "'"),  # typographic opening quote
    ("is_required=true-data-urlencode 'new_event_property_value=user_name'",
     "is_required=true' --data-urlencode 'new_event_property_value=user_name'"),  # lost quote
    ("?event_type=add event'", "?event_type=add%20event'"),  # curl refuses a raw space
)


def seed_commands() -> list[str]:
    lines = SEED_COPY.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.startswith("curl ")]


def repaired(command: str) -> list[str]:
    for bad, good in REPAIRS:
        command = command.replace(bad, good)
    return shlex.split(command)


@dataclass
class Request:
    method: str
    url: str
    form: list[tuple[str, str]] = field(default_factory=list)


def parse(argv: list[str]) -> Request:
    """The subset of curl the page uses: -u, -X, --data-urlencode, one URL."""
    assert argv[0] == "curl"
    method, url, form = "GET", "", []
    args = iter(argv[1:])
    for arg in args:
        if arg == "-u":
            assert next(args) == "API_Key:Secret_Key"
        elif arg == "-X":
            method = next(args)
        elif arg == "--data-urlencode":
            name, _, value = next(args).partition("=")
            form.append((name, value))
        else:
            assert arg.startswith("https://amplitude.com/api/2/taxonomy/"), arg
            url = arg
    return Request(method, url, form)


def ok_shape(body: Any) -> None:
    assert body == {"success": True}


def data_has(expected: dict[str, Any]) -> Any:
    def check(body: Any) -> None:
        assert body["success"] is True
        for key, value in expected.items():
            assert body["data"][key] == value, (key, body["data"])
    return check


def list_has(expected: dict[str, Any]) -> Any:
    def check(body: Any) -> None:
        assert body["success"] is True
        assert any(all(item.get(k) == v for k, v in expected.items()) for item in body["data"])
    return check


EVENT = {"event_type": "add_event", "category": "category_test", "description": "add events",
         "status": "planned"}
CATEGORY = {"categories": [{"name": "category_test", "id": 4786}]}
PROP = {"event_property": "user", "description": "user id", "type": "string",
        "is_required": True, "is_array_type": True, "status": "planned"}
AGE = {"user_properties": [{"user_property": "age", "description": "how old this user is",
                            "type": "string", "status": "planned"}]}

# (given fixture, expected status, body check, follow-up GET path and check) per example.
CASES: list[tuple[dict[str, Any], int, Any]] = [
    ({}, 200, ok_shape),  # create category
    ({"categories": ["category_name"]}, 200, data_has({"name": "category_name"})),
    (CATEGORY, 200, list_has({"name": "category_test", "id": 4786})),
    (CATEGORY, 200, ok_shape),  # rename by id 4786
    (CATEGORY, 200, ok_shape),  # delete by id 4786
    (CATEGORY, 200, ok_shape),  # create event in category_test
    ({**CATEGORY, "event_types": [EVENT]}, 200,
     data_has({"category": {"name": "category_test"}, "description": "add events",
               "event_type": "add_event"})),
    ({**CATEGORY, "event_types": [EVENT]}, 200,
     list_has({"category": {"name": "category_test"}, "event_type": "add_event"})),
    ({**CATEGORY, "event_types": [EVENT]}, 200, ok_shape),  # rename to new_add_events
    ({**CATEGORY, "event_types": [EVENT]}, 200, ok_shape),  # delete a planned event
    ({**CATEGORY, "event_types": [EVENT]}, 200, ok_shape),  # create event property
    ({**CATEGORY, "event_types": [EVENT],
      "event_properties": [{**PROP, "event_type": "add_event"}]}, 200,
     data_has({"description": "user id", "event_type": "add_event", "event_property": "user",
               "regex": None, "is_required": True, "is_array_type": True,
               "enum_values": None, "type": "string"})),
    ({**CATEGORY, "event_types": [{**EVENT, "event_type": "add event"}],
      "event_properties": [{**PROP, "event_type": "add event"}]}, 200,
     list_has({"event_property": "user", "event_type": "add event", "type": "string"})),
    ({**CATEGORY, "event_types": [{**EVENT, "event_type": "add_event_new"}],
      "event_properties": [{**PROP, "event_type": "add_event_new"}]}, 200, ok_shape),
    ({**CATEGORY, "event_types": [{**EVENT, "event_type": "/add_event"}],
      "event_properties": [{**PROP, "event_type": "/add_event"}]}, 200, ok_shape),
    # The page creates a user property with PUT, which the service does not route: the
    # page's documented failure form, a bare {"success": false}. (POST: see below.)
    ({}, 405, lambda body: body == {"success": False}),
    (AGE, 200, data_has({"user_property": "gp:age", "description": "how old this user is",
                         "regex": None, "is_array_type": False, "enum_values": None,
                         "type": "string"})),
    (AGE, 200, list_has({"user_property": "gp:age", "type": "string"})),
    (AGE, 200, ok_shape),  # rename age → first_name
    (AGE, 200, ok_shape),  # delete a planned user property
]

# What each write must have done, read back afterwards: (path, check on the JSON body).
AFTER: dict[int, tuple[str, Any]] = {
    0: ("/category/category_test", data_has({"name": "category_test"})),
    3: ("/category/category_testNew", data_has({"id": 4786})),
    4: ("/category", lambda b: b["data"] == []),
    5: ("/event/add_event", data_has({"category": {"name": "category_test"},
                                      "description": "add events"})),
    8: ("/event/new_add_events", data_has({"description": "new add events"})),
    9: ("/event?showDeleted=true", lambda b: b["data"] == []),
    10: ("/event-property/user?event_type=add_event",
         data_has({"description": " user id", "regex": "[0-9]{5}", "is_required": False})),
    13: ("/event-property/user_name?event_type=add_event_new",
         data_has({"description": "user name", "is_required": True, "is_array_type": False})),
    14: ("/event-property?event_type=%2Fadd_event", lambda b: b["data"] == []),
    18: ("/user-property/gp:first_name", data_has({"description": "first name",
                                                   "regex": "None", "enum_values": ["None"]})),
    19: ("/user-property/age", lambda b: b == {"success": False,
                                              "errors": [{"message": "Not found"}]}),
}


def test_the_copy_of_the_seed_page_is_current() -> None:
    if not SEED_SHARED.exists():
        pytest.skip(f"shared seed not present at {SEED_SHARED}")
    assert SEED_COPY.read_bytes() == SEED_SHARED.read_bytes()


def test_every_example_has_a_case() -> None:
    assert len(seed_commands()) == len(CASES) == 20


async def given(admin: httpx.AsyncClient, fixture: dict[str, Any]) -> None:
    assert (await admin.post("/_sandbox/reset")).status_code == 200
    if fixture:
        response = await admin.post("/_sandbox/fixtures", json={"amplitude": fixture})
        assert response.status_code == 200, response.text


async def check_after(admin: httpx.AsyncClient, index: int) -> None:
    if index in AFTER:
        path, check = AFTER[index]
        response = await admin.get("/api/2/taxonomy" + path, auth=AUTH)
        check(response.json())


@pytest.mark.anyio
@pytest.mark.parametrize("index", range(20))
async def test_example_in_process(client: httpx.AsyncClient, index: int) -> None:
    fixture, status, check = CASES[index]
    await given(client, fixture)
    request = parse(repaired(seed_commands()[index]))
    url = request.url.replace("https://amplitude.com", "")
    response = await client.request(request.method, url, data=dict(request.form) or None)
    assert response.status_code == status, response.text
    check(response.json())
    await check_after(client, index)


@pytest.mark.socket
@pytest.mark.anyio
@pytest.mark.skipif(shutil.which("curl") is None, reason="the curl binary is not installed")
async def test_every_example_with_real_curl_over_a_socket(live_server: str) -> None:
    async with httpx.AsyncClient(base_url=live_server) as admin:
        for index, command in enumerate(seed_commands()):
            fixture, status, check = CASES[index]
            await given(admin, fixture)
            argv = [arg.replace("https://amplitude.com", live_server) for arg in repaired(command)]
            argv[argv.index("API_Key:Secret_Key")] = ":".join(AUTH)
            done = subprocess.run(
                [*argv, "-sS", "-w", "\n%{http_code}"], capture_output=True, text=True,
                timeout=20, check=True,
            )
            body, _, code = done.stdout.rpartition("\n")
            assert int(code) == status, (index, done.stdout)
            check(json.loads(body))
            await check_after(admin, index)


@pytest.mark.anyio
async def test_the_legacy_rule_answers_the_pages_refusal(client: httpx.AsyncClient) -> None:
    """The page's delete failure: a live event cannot be deleted under the older rule."""
    await given(client, {**CATEGORY, "event_types": [{**EVENT, "status": "live"}]})
    await client.post("/_sandbox/settings", json={"legacy_delete": True})
    request = parse(repaired(seed_commands()[9]))
    url = request.url.replace("https://amplitude.com", "")
    response = await client.request(request.method, url)
    assert response.status_code == 409
    assert response.json() == {"success": False, "errors": [{"message":
        'Attempted to remove an event, "add_event", that is not a planned event.'}]}


@pytest.mark.anyio
async def test_placeholders_taken_literally_get_the_documented_not_found(
    client: httpx.AsyncClient,
) -> None:
    """Against an empty project the reads answer the page's other documented answer."""
    await given(client, {})
    for index in (1, 6, 11, 16):
        request = parse(repaired(seed_commands()[index]))
        response = await client.get(request.url.replace("https://amplitude.com", ""))
        assert response.json() == {"success": False, "errors": [{"message": "Not found"}]}
        assert response.status_code == (404 if "user-property" in request.url else 400)


@pytest.mark.anyio
async def test_the_user_property_example_succeeds_with_post(client: httpx.AsyncClient) -> None:
    await given(client, {})
    request = parse(repaired(seed_commands()[15]))
    url = request.url.replace("https://amplitude.com", "")
    response = await client.post(url, data=dict(request.form))
    assert response.json() == {"success": True}
    read = await client.get(url + "/gp%3Aage")
    assert read.json()["data"]["regex"] == "[0-9]{1,2}"
