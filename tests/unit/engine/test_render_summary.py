"""Many like file changes of one ``files`` resource are summarised in text and Markdown, never in JSON."""

from __future__ import annotations

from typing import Any

from reconciler.engine.presenting.render import render_markdown, render_text
from reconciler.engine.presenting.render_summary import FIRST_PATHS, SUMMARY_OVER


def change(address: str, action: str, size: int | None = None) -> dict[str, Any]:
    fields = [] if size is None else [{"path": "size", "before": None, "after": size, "op": "add",
                                       "sensitive": False, "forces_replacement": None}]  # fmt: skip
    return {"address": address, "kind": address.split(".")[0], "action": action, "pending": True,
            "cause": "new", "reason": "declared, not found live", "remote_id": None,
            "fields": fields}  # fmt: skip


def doc(changes: list[dict[str, Any]]) -> dict[str, Any]:
    summary = {a: sum(c["action"] == a for c in changes) for a in ("create", "update", "replace", "delete")}
    return {"changes": changes, "summary": summary, "unmanaged": [], "warnings": []}


def test_more_than_the_threshold_of_one_folder_is_one_block_with_count_bytes_and_first_paths() -> None:
    many = [change(f"files.inputs/f{i:03}.csv", "create", 1024) for i in range(SUMMARY_OVER + 5)]
    text = render_text(doc([change("cores.fast", "create"), *many]))
    assert f"files.inputs: {SUMMARY_OVER + 5} files to upload, 15.0 KiB" in text
    assert "files.inputs/f000.csv" in text and f"files.inputs/f{FIRST_PATHS:03}.csv" not in text
    assert "… and 10 more" in text and "+ cores.fast" in text
    assert text.count("files.inputs/") == FIRST_PATHS
    markdown = render_markdown(doc(many))
    assert "files.inputs: 15 files to upload" in markdown and "<details>" not in markdown


def test_few_changes_and_other_actions_are_shown_one_by_one() -> None:
    few = [change(f"files.inputs/f{i}.csv", "create", 10) for i in range(SUMMARY_OVER)]
    text = render_text(doc([*few, change("files.other/x.csv", "delete")]))
    assert all(f"+ files.inputs/f{i}.csv" in text for i in range(SUMMARY_OVER))
    assert "- files.other/x.csv" in text and "files to upload" not in text
