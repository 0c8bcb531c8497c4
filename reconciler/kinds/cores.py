"""Signaloid cores: a custom core configuration, named by its ``Name`` on Signaloid."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator

from reconciler.kinds.base import Kind, SpecModel
from reconciler.kinds.fields import Integer
from reconciler.kinds.normalise import casefold

CORRELATION_TRACKING = ("Autocorrelation", "Disable")


def _canonical_tracking(value: Any) -> Any:
    # The API takes this enum case-insensitively and answers in lowercase.
    if isinstance(value, str):
        for option in CORRELATION_TRACKING:
            if value.casefold() == option.casefold():
                return option
    return value


class CoreSpec(SpecModel):
    """A custom Signaloid core. The logical name (the key under ``cores:``) is its Name."""

    core_class: Literal["C0", "C0Pro", "C0-microSD", "C0-microSD-plus"] = Field(alias="class")
    microarchitecture: Literal["Zurich", "Athens", "Bypass", "Reference", "Jupiter"]
    precision: Integer = Field(description="4..8000 (Athens, Zurich), 4..1,000,000 (Reference)")
    memory_size: Integer = Field(ge=256_000, le=4_000_000_000, description="bytes")
    correlation_tracking: Annotated[
        Literal["Autocorrelation", "Disable"], BeforeValidator(_canonical_tracking)
    ] = Field(description="case-insensitive")

    @field_validator("precision")
    @classmethod
    def _precision_in_range(cls, value: int, info: ValidationInfo) -> int:
        microarchitecture = info.data.get("microarchitecture")
        upper = 1_000_000 if microarchitecture == "Reference" else 8000
        if not 4 <= value <= upper:
            arch = (
                f"the {microarchitecture} microarchitecture"
                if microarchitecture
                else "this microarchitecture"
            )
            raise ValueError(f"precision must be between 4 and {upper:,} for {arch}")
        return value


def _key(name: str, attrs: Any) -> tuple[str, ...]:
    return (name,)


KIND = Kind(
    name="cores",
    provider="signaloid",
    spec=CoreSpec,
    summary="Signaloid custom cores",
    natural_key=_key,
    key_doc="the core's Name (the logical name)",
    normalisers={"correlation_tracking": casefold},
    name_is_remote=True,
    create_before_destroy=True,  # Signaloid does not require core names to be unique
)
