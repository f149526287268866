"""``describe_push``: the plan's words for who a push reaches, and when."""

from __future__ import annotations

from typing import Any

import pytest

from tapsync.audience import describe_push
from tests.taplytics.tap_support import SEED_PUSH

COUNTRY = {"type": "country", "comparator": "=", "values": ["Canada", "US"]}
ANDROID = {"type": "an_version", "comparator": ">=", "values": ["5.0.0"]}
IOS = {"type": "ios_version", "comparator": "!=", "values": ["8.0.1"]}

CASES: list[tuple[dict[str, Any], str]] = [
    ({"filters": [COUNTRY], "schedule": {"time": "2026-12-05T15:00:00Z"}, "production": True},
     "sends to users in Canada or US at 2026-12-05 15:00 UTC, production"),
    ({"send_to_all_users": True, "schedule": "now"},
     "sends to all users now, sandbox devices only"),
    ({}, "sends to all users now, sandbox devices only"),  # the API's defaults
    ({"filters": [ANDROID]},
     "sends to Android only (version >= 5.0.0) now, sandbox devices only"),
    ({"filters": [IOS, COUNTRY], "production": True},
     "sends to users in Canada or US, iOS only (version != 8.0.1), now, production"),
    ({"filters": [ANDROID, IOS]},
     "sends to users on Android version >= 5.0.0 or iOS version != 8.0.1 now, "
     "sandbox devices only"),
    ({"filters": [{"type": "os", "comparator": "=", "values": ["iOS"]}]},
     "sends to iOS only now, sandbox devices only"),
    ({"filters": [COUNTRY], "schedule": {"local_time": "2026-12-05T09:00:00"}},
     "sends to users in Canada or US at 2026-12-05 09:00 in each user's own time zone, "
     "sandbox devices only"),
    ({"filters": [COUNTRY], "schedule": {"time": "2026-12-05T15:00:30Z",
                                         "local_time": "2026-12-05T09:00:00"}},
     "sends to users in Canada or US at 2026-12-05 09:00 in each user's own time zone "
     "(local time takes precedence over its UTC time), sandbox devices only"),
    ({"filters": [{"type": "ios_version", "comparator": "!=", "values": ["8.0.1", "8.1.3"]}]},
     "sends to iOS only (version != 8.0.1 or 8.1.3 (matches everyone: != with several "
     "values)) now, sandbox devices only"),
    ({"filters": [{"type": "gender", "comparator": "=", "values": ["female"]}],
      "is_silent": True},
     "sends to users with gender = female now, sandbox devices only, silently "
     "(no alert shown)"),
]


@pytest.mark.parametrize(("attrs", "text"), CASES)
def test_describe_push(attrs: dict[str, Any], text: str) -> None:
    assert describe_push(attrs) == text


def test_the_seeds_own_example_reads_as_the_seed_explains_it() -> None:
    # seed 001: "Have an Android phone with a version greater than or equal to 5.0.0 OR have
    # an iPhone with versions not equal to 8.0.1 / AND are currently in either Canada OR the
    # US / AND have a custom data field dollars spent with a value greater than or equal to 16"
    assert describe_push(SEED_PUSH) == (
        'sends to users in Canada or US and with custom data "dollars spent" >= 16, on '
        "Android version >= 5.0.0 or iOS version != 8.0.1, now, sandbox devices only")
