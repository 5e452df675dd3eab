"""``sweeprun schema``: the JSON Schema of sweep.yaml, for editor completion.

Generated from the pydantic models of :mod:`sweeprun.config.models`, then made friendly to
yaml-language-server: a ``$schema`` and title, pydantic's ``ge``/``gt``/``le``/``lt`` (left
in place for validated types) turned into JSON Schema keywords, the parameter-name pattern,
and the W&B-only keys that sweeprun accepts and ignores.

Use it with ``# yaml-language-server: $schema=sweeprun-schema.json`` at the top of a sweep
file after ``sweeprun schema > sweeprun-schema.json``.
"""

from __future__ import annotations

import json
from typing import Any

from sweeprun.config.models import SweepConfig
from sweeprun.config.parameters import NAME_PATTERN
from sweeprun.config.types import WANDB_ONLY_KEYS
from sweeprun.errors import EXIT_OK

DIALECT = "https://json-schema.org/draft/2020-12/schema"
_KEYWORDS = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum"}


def build_schema() -> dict[str, Any]:
    """The JSON Schema of a sweep file (draft 2020-12)."""
    raw = SweepConfig.model_json_schema()
    schema: dict[str, Any] = {
        "$schema": DIALECT,
        "title": "sweeprun sweep configuration",
        "description": (
            "A W&B-style sweep.yaml run offline by sweeprun with Optuna: every W&B sweep "
            "file is valid, plus sweeprun's extensions."
        ),
    }
    schema.update(
        {k: v for k, v in _fix_keywords(raw).items() if k not in {"title", "description"}}
    )
    props = schema["properties"]
    for key in WANDB_ONLY_KEYS:
        props[key] = {"description": f"W&B only ({key}); accepted and ignored by sweeprun."}
    names = {"pattern": NAME_PATTERN.pattern}
    props["parameters"]["propertyNames"] = names
    props["parameters"]["minProperties"] = 1
    param = schema["$defs"]["ParamSpec"]
    nested = param["properties"]["parameters"]
    for option in nested.get("anyOf", [nested]):
        if option.get("type") == "object":
            option["propertyNames"] = names
    return schema


def _fix_keywords(node: Any) -> Any:
    if isinstance(node, dict):
        return {_KEYWORDS.get(k, k) if not isinstance(v, dict | list) else k: _fix_keywords(v)
                for k, v in node.items()}  # fmt: skip
    if isinstance(node, list):
        return [_fix_keywords(v) for v in node]
    return node


def run() -> int:
    """Print the schema as JSON."""
    print(json.dumps(build_schema(), indent=2))
    return EXIT_OK
