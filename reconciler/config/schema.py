"""The JSON Schema of the stack format, generated from the models (``reconciler schema``)."""

from __future__ import annotations

from typing import Any

from reconciler.config.stack import SCHEMA_ID, stack_model


def stack_schema() -> dict[str, Any]:
    schema = stack_model().model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
