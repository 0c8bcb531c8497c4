"""CPU and memory of loading a ``files`` resource: every file's etag (MD5) is computed at load.

    python bench/files_load.py [--small 2000] [--big-mib 256]

Writes ``--small`` files of 4 KiB and one file of ``--big-mib`` MiB into a temp folder, then times
``load_stack`` of a stack declaring the folder (best of 3, CPU seconds), against the floor: reading
the same files in 1 MiB chunks into ``hashlib.md5`` and nothing else. Peak RSS shows the big file
is never held whole (the floor's own peak is the comparison).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from pathlib import Path

import _harness as h


def floor_s(folder: Path) -> float:
    started = time.process_time()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        md5 = hashlib.md5(usedforsecurity=False)
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                md5.update(chunk)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--big-mib", type=int, default=256)
    args = parser.parse_args()

    from reconciler.config import load_stack

    with h.workdir("files-load") as root:
        data = root / "data"
        data.mkdir()
        for i in range(args.small):
            (data / f"f{i:05}.csv").write_bytes(os.urandom(4096))
        with (data / "big.bin").open("wb") as fh:
            for _ in range(args.big_mib):
                fh.write(os.urandom(1 << 20))
        stack = root / "stack.yaml"
        stack.write_text("version: 1\nfiles:\n  inputs: {source: ./data, path: inputs/}\n")
        rss_before = h.peak_rss_mb()
        floor = min(floor_s(data) for _ in range(3))
        loads = []
        for _ in range(3):
            started = time.process_time()
            resources = load_stack([stack], {}).resources
            loads.append(time.process_time() - started)
        load = min(loads)
        assert len(resources) == args.small + 1
        rss_after = h.peak_rss_mb()

    ratio = load / floor if floor else float("inf")
    total_mib = args.small * 4 / 1024 + args.big_mib
    h.report(
        "files_load",
        {
            "files": args.small + 1,
            "mib": round(total_mib, 1),
            "load_cpu_s": round(load, 3),
            "floor_cpu_s": round(floor, 3),
            "ratio": round(ratio, 2),
            "peak_rss_growth_mb": round(rss_after - rss_before, 1),
        },
        [
            ("files / MiB", f"{args.small + 1:,} / {total_mib:.0f}", ""),
            ("load_stack CPU (best of 3)", f"{load:.3f} s", ""),
            ("floor: chunked md5 of the same bytes", f"{floor:.3f} s", ""),
            ("load / floor", f"{ratio:.2f}x", f"<= 2x {h.verdict(ratio <= 2)}"),
            ("peak RSS growth while loading", f"{rss_after - rss_before:.1f} MB", "far below the big file"),
        ],
    )


if __name__ == "__main__":
    main()
