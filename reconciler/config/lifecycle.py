"""``lifecycle:`` on any resource: protections and diff rules that are the user's, not the API's.

It is added to every kind's spec by :func:`with_lifecycle`, so a new kind gets it for free.
Values are ordinary YAML, so ``${env:…}`` works in them too (Terraform's lifecycle block takes
literals only, hashicorp/terraform#24188).
"""

from __future__ import annotations

import difflib
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from reconciler.kinds.base import Kind

__all__ = ["Lifecycle", "with_lifecycle"]


class Lifecycle(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    prevent_destroy: bool = Field(
        default=False,
        description="refuse any plan that would delete or replace this resource (remembered in state, "
        "so removing the resource from the YAML does not lift it)",
    )
    ignore_changes: list[str] = Field(
        default_factory=list, description="fields never compared with live state (still sent on create)"
    )
    create_before_destroy: bool = Field(
        default=False, description="on replace, create the new object before deleting the old one"
    )


def with_lifecycle(kind: Kind) -> type[BaseModel]:
    """The kind's spec plus an optional ``lifecycle`` field, checked against the kind's rules."""
    spec = kind.spec
    fields = sorted(f.alias or name for name, f in spec.model_fields.items())

    # A field validator, so the error is reported at the ``lifecycle:`` line, not the resource's.
    def check(cls: Any, lifecycle: Lifecycle | None) -> Lifecycle | None:
        if lifecycle is None:
            return lifecycle
        for name in lifecycle.ignore_changes:
            if name not in fields:
                close = difflib.get_close_matches(name, fields, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f"; fields: {', '.join(fields)}"
                raise ValueError(f"lifecycle.ignore_changes: {kind.name} has no field {name!r}{hint}")
        if lifecycle.create_before_destroy and not kind.create_before_destroy:
            raise ValueError(
                f"lifecycle.create_before_destroy is not possible for {kind.name}: "
                f"{kind.no_create_before_destroy_reason}"
            )
        return lifecycle

    return create_model(  # type: ignore[call-overload,no-any-return]
        spec.__name__,
        __base__=spec,
        __doc__=spec.__doc__,
        __validators__={"_lifecycle_rules": field_validator("lifecycle")(check)},
        lifecycle=(Lifecycle | None, Field(default=None, description="protections and diff rules")),
        # Evaluated away before validation (config/instantiate.py): here for the schema and the hints.
        for_each=(
            list[str] | dict[str, typing.Any] | str | None,
            Field(
                default=None,
                description="one instance per item of a list of strings or per key of a map (or a "
                "${var.…} holding one); the name must use ${each.key}",
            ),
        ),
    )
