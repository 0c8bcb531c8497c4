"""The JSON Schema of the stack format, generated from the models (``reconciler schema``).

Variables, ``for_each`` and modules are evaluated before a stack is validated
(config/instantiate.py), so the models describe the values after evaluation. What a user writes may
hold a reference where any value stands, and a resource's name may hold one: the schema says
so, so that an editor does not flag ``precision: "${var.precision}"`` as a string in a number.
"""

from __future__ import annotations

from typing import Any

from reconciler.config.stack import SCHEMA_ID, stack_model
from reconciler.kinds import KINDS

# A value that is one reference; longer text with references is already a string.
REFERENCE = {
    "type": "string",
    "pattern": r"^\$\{(var\.|each\.|env:)[^}]+\}$",
    "description": "a ${var.NAME…}, ${each.key / each.value…} or ${env:NAME} reference, evaluated before "
    "validation",
}
# A resource name that holds a reference: checked once evaluated.
TEMPLATED_NAME = r"\$\{(var|each)\."
_LITERAL_ONLY = frozenset({"VariableSpec", "ModuleCall"})  # declarations: values as written


def stack_schema() -> dict[str, Any]:
    schema = stack_model().model_json_schema(by_alias=True, mode="validation")
    defs = schema.setdefault("$defs", {})
    for name, definition in defs.items():
        if name not in _LITERAL_ONLY:
            for field, prop in definition.get("properties", {}).items():
                if field != "for_each":
                    definition["properties"][field] = _or_reference(prop)
    defs["Reference"] = REFERENCE
    for kind in KINDS:
        section = schema["properties"].get(kind.name)
        if section and "patternProperties" in section:
            spec = next(iter(section["patternProperties"].values()))
            section["patternProperties"][TEMPLATED_NAME] = spec
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def _or_reference(prop: dict[str, Any]) -> dict[str, Any]:
    """``prop`` or a reference; its title and description stay on the outside (editors show them)."""
    outside: dict[str, Any] = {k: prop[k] for k in ("title", "description", "default") if k in prop}
    inside = {k: v for k, v in prop.items() if k not in outside}
    alternatives = inside["anyOf"] if list(inside) == ["anyOf"] else [inside]
    return {**outside, "anyOf": [*alternatives, {"$ref": "#/$defs/Reference"}]}
