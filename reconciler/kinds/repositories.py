"""Signaloid connected repositories."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from reconciler.kinds.base import Kind, Reference, SpecModel
from reconciler.kinds.fields import HttpUrlStr, Integer, NonEmptyStr
from reconciler.kinds.normalise import empty_as_none

CORE_ID = re.compile(r"cor_[0-9a-f]{32}")


class DataSource(SpecModel):
    resource_id: NonEmptyStr
    resource_type: Literal["Gateway", "Bucket", "SignaloidCloudStorage"]
    location: NonEmptyStr
    files: NonEmptyStr | None = Field(
        default=None,
        exclude=True,  # ours only: orders the upload first, never sent to the API nor compared
        description="a `files` resource of this stack this data source reads: its files are uploaded "
        "before the repository is connected or updated (resource_type SignaloidCloudStorage)",
    )

    @model_validator(mode="after")
    def _files_are_cloud_storage(self) -> DataSource:
        if self.files is not None and self.resource_type != "SignaloidCloudStorage":
            raise ValueError(
                "files: names cloud-storage files, so resource_type must be SignaloidCloudStorage"
            )
        return self


class TraceVariable(SpecModel):
    file: NonEmptyStr
    line_number: Annotated[Integer, Field(ge=1)]
    expression: NonEmptyStr


class RepositorySpec(SpecModel):
    """A git repository connected to Signaloid. Found without state by (remote_url, branch)."""

    remote_url: HttpUrlStr = Field(description="https URL of the git remote (SSH URLs are not accepted)")
    branch: NonEmptyStr
    commit: NonEmptyStr = "HEAD"
    build_directory: NonEmptyStr = "src"
    arguments: str | None = None
    core: str | None = Field(
        default=None, description="a core of this stack, or a core id (cor_…) such as a default core"
    )
    data_sources: Annotated[list[DataSource], Field(max_length=5)] | None = None
    trace_variables: list[TraceVariable] | None = None

    @field_validator("core")
    @classmethod
    def _core_not_empty(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("core must name a core; write `core: null` to clear it")
        return value


def _files_read(spec: RepositorySpec) -> list[tuple[str, str, str]]:
    """The ``files`` resources the repository's data sources name: uploaded before it."""
    return [
        ("files", source.files, f"data_sources[{i}].files")
        for i, source in enumerate(spec.data_sources or [])
        if source.files is not None
    ]


def _key(name: str, attrs: Any) -> tuple[str, ...]:
    return (str(attrs.get("remote_url") or "").rstrip("/"), str(attrs.get("branch") or ""))


KIND = Kind(
    name="repositories",
    provider="signaloid",
    spec=RepositorySpec,
    summary="Signaloid connected git repositories",
    natural_key=_key,
    key_doc="(remote_url, branch): the API's own lookup key",
    replace_fields={
        "remote_url": "a connection belongs to one remote repository; its builds would be "
        "attributed to the other one",
    },
    normalisers={
        "remote_url": lambda v: v.rstrip("/"),
        "arguments": empty_as_none,
        "data_sources": empty_as_none,
        "trace_variables": empty_as_none,
    },
    references={"core": Reference(kind="cores", literal=CORE_ID)},
    # Only a new remote_url forces a replace, and the new connection's (remote_url, branch) is then
    # not the old one's, so both can exist while the new one is created first.
    create_before_destroy=True,
    comes_after=_files_read,
    orders_after=("files",),
)
