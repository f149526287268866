"""The plan as CONTRACT.md §5's versioned JSON (also the saved-plan format)."""

from __future__ import annotations

import json
from typing import TextIO

from tapsync.changes import Plan
from tapsync.planfile import plan_to_dict


def render_plan(plan: Plan, stream: TextIO, *, color: bool = False) -> None:
    """Write the plan's JSON document; ``color`` is accepted for a uniform signature."""
    del color
    json.dump(plan_to_dict(plan), stream, ensure_ascii=False, indent=2, sort_keys=False)
    stream.write("\n")
