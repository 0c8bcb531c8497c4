"""The stack's ``policy:`` block: which policies every plan of this stack must pass."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PolicySettings"]


class PolicySettings(BaseModel):
    """Policies (Rego, conftest's conventions: docs/policy.md) judged on every plan, apply and
    drift of this stack, besides any ``--policy`` given on the command line."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    paths: list[str] = Field(
        min_length=1,
        description="policy files or folders of *.rego files, relative to the stack's folder",
    )
    enforcement: Literal["mandatory", "advisory"] = Field(
        default="mandatory",
        description="mandatory: a denial fails plan (exit 1) and stops apply; advisory: denials are "
        "reported as warnings",
    )
    namespace: str = Field(
        default="main",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$",
        description="the Rego package whose deny/violation/warn rules are evaluated",
    )
