"""The alias-expansion guard is relative: big honest files load, alias bombs are refused cheaply."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.config import expansion, load_stack
from reconciler.config import loader as loader_module
from reconciler.config.loader import MAX_FILE_BYTES, load_file
from reconciler.errors import ConfigError

BAD_INPUTS = Path(__file__).parents[2] / "bad_inputs"


def _generated_stack(path: Path, count: int) -> Path:
    """A stack as a generator writes it: one flow mapping per resource, no anchors or aliases."""
    lines = ["version: 1"]
    for kind in ("cores", "webhooks"):
        lines.append(f"{kind}:")
        for i in range(count // 2):
            spec = (
                {"class": "C0", "microarchitecture": "Athens", "precision": 64 + i % 64,
                 "memory_size": 256000, "correlation_tracking": "Autocorrelation"}
                if kind == "cores"
                else {"url": f"https://hooks.example.com/ci/{i}", "events": ["task-status", "build-status"],
                      "description": f"hook {i} of the generated stack", "status": "active"}
            )  # fmt: skip
            lines.append(f"  {kind[:4]}-{i:05d}: {json.dumps(spec)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_generated_20000_resource_file_loads(tmp_path: Path) -> None:
    """Like the file of the issue: 3.2 MB, 240,000 values (the old absolute limit was 200,000)."""
    path = _generated_stack(tmp_path / "stack.yaml", 20_000)
    assert 2_000_000 < path.stat().st_size < MAX_FILE_BYTES
    loaded = load_stack([path], {})
    assert len(loaded.resources) == 20_000
    assert {r.address for r in loaded.resources} >= {"cores.core-09999", "webhooks.webh-09999"}


@pytest.fixture(params=["libyaml", "pure-python"])
def which_loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both parsers: libyaml (the pre-scan refuses) and the pure-Python reference (its composer)."""
    if request.param == "pure-python":
        monkeypatch.setattr(loader_module, "CParser", None)
    elif loader_module.CParser is None:
        pytest.skip("PyYAML is built without libyaml here")
    return str(request.param)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_expansion_within_ratio_loads_beyond_the_floor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, which_loader: str
) -> None:
    """Anchors used as people use them (defaults merged into each resource) stay within the ratio."""
    monkeypatch.setattr(expansion, "EXPANSION_FLOOR", 100)
    defaults = "defaults: &d {class: C0, microarchitecture: Athens, memory_size: 256000}\n"
    cores = "".join(f"  c{i}: {{<<: *d, precision: {i}}}\n" for i in range(50))
    data = load_file(_write(tmp_path / "s.yaml", "version: 1\n" + defaults + "cores:\n" + cores), {}).data
    assert data is not None
    assert data["cores"]["c49"] == {
        "class": "C0", "microarchitecture": "Athens", "memory_size": 256000, "precision": 49
    }  # fmt: skip


def test_expansion_beyond_the_ratio_is_refused_at_the_biggest_alias(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, which_loader: str
) -> None:
    monkeypatch.setattr(expansion, "EXPANSION_FLOOR", 100)
    text = (
        "a: &a [" + ", ".join(["x"] * 30) + "]\nsmall: &s [1]\nb: [*s,\n  " + ", ".join(["*a"] * 30) + "]\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_file(_write(tmp_path / "s.yaml", text), {})
    (issue,) = caught.value.issues
    assert issue.line == 4  # the first alias of the biggest anchor, not the small one on line 3
    assert "69 values are written but they expand to 970" in issue.message
    assert "the alias *a here alone stands for 31" in issue.message
    assert "'billion laughs' document?" in issue.message


def test_aliases_never_expand_past_the_ceiling_but_written_values_may(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, which_loader: str
) -> None:
    """The ceiling (what the biggest allowed file can write) bounds aliases even within the ratio,
    so they never make a document cost more than the file-size cap already allows."""
    monkeypatch.setattr(expansion, "EXPANSION_FLOOR", 10)
    monkeypatch.setattr(loader_module, "MAX_VALUES", 100)
    plain = "a: [" + ", ".join(["x"] * 150) + "]\n"  # 152 values written, none from aliases
    assert load_file(_write(tmp_path / "plain.yaml", plain), {}).data is not None
    aliased = "a: &a [x, x, x, x]\nb: [" + ", ".join(["*a"] * 22) + "]\n"  # 31 written, 119 expanded
    with pytest.raises(ConfigError, match=r"expand to 119 .* at least 10 and at most 100\)"):
        load_file(_write(tmp_path / "aliased.yaml", aliased), {})


def test_the_floor_lets_a_small_file_lean_on_anchors(tmp_path: Path, which_loader: str) -> None:
    """60x what is written, but far below the floor: fine."""
    text = "a: &a [" + ", ".join(["x"] * 100) + "]\nb: [" + ", ".join(["*a"] * 60) + "]\n"
    data = load_file(_write(tmp_path / "s.yaml", text), {}).data
    assert data is not None and len(data["b"]) == 60 and data["b"][59] == ["x"] * 100


def test_a_recursive_alias_is_an_error_not_a_hang(tmp_path: Path, which_loader: str) -> None:
    with pytest.raises(ConfigError, match=r"recursive|nested more than") as caught:
        load_file(_write(tmp_path / "s.yaml", "version: 1\na: &a [1, *a]\n"), {})
    assert "tabs" not in str(caught.value)  # "unconstructable" once earned a hint about tabs


# Run in a child process whose address space is capped: if the guard ever broke, the bomb would
# fail this test with a MemoryError instead of taking the machine's memory.
_PROBE = """
import json, resource, sys, time
from pathlib import Path
from reconciler.config.loader import load_file
from reconciler.errors import ConfigError
resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
try:
    load_file(Path(sys.argv[1]), {})
    outcome = "loaded"
except ConfigError as exc:
    outcome = str(exc)
print(json.dumps({"outcome": outcome, "seconds": time.perf_counter() - started,
                  "growth_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024}))
"""


def _probe(path: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.skipif(sys.platform == "win32", reason="the probe caps memory with the resource module")
def test_alias_bombs_are_refused_quickly_in_little_memory(tmp_path: Path) -> None:
    """The classic billion laughs (9 lines, ~10^9 values) and a quadratic blow-up (one anchored
    list of 300,000 values used 300,000 times, 1.5 MB): refused before anything is built."""
    quadratic = _write(
        tmp_path / "quadratic.yaml",
        "version: 1\na: &a [" + ",".join(["x"] * 300_000) + "]\nb: [" + ",".join(["*a"] * 300_000) + "]\n",
    )
    for path, line in ((BAD_INPUTS / "billion_laughs.yaml", 12), (quadratic, 3)):
        result = _probe(path)
        assert f"{path.name}:{line}: document too large" in str(result["outcome"]), result
        # Measured on 2 busy cores: billion laughs < 0.01 s, +0 MB; this quadratic 0.8-4 s, +0 MB.
        assert float(result["seconds"]) < 20, result  # type: ignore[arg-type]
        assert float(result["growth_mb"]) < 100, result  # type: ignore[arg-type]
