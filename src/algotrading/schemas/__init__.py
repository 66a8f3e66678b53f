"""JSON Schemas of the files other tools may read (``plan.json``)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def plan_schema() -> dict[str, Any]:
    """The JSON Schema of ``reports/<D>/plan.json`` (DESIGN §11)."""
    return json.loads((resources.files("algotrading.schemas") / "plan.schema.json").read_text())
