"""The one-pass loader (libyaml's events straight to values) builds exactly what the composing
path builds: the same values, the same marks on every key and value, the same secrets and
templates; anything it does not handle goes to the composing path, which words every error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.config import libyaml
from reconciler.config.loader import Mark, MarkedDict, MarkedList, load_file
from reconciler.errors import ConfigError

pytestmark = pytest.mark.skipif(libyaml.CParser is None, reason="PyYAML without libyaml")

ENV = {"TOKEN": "s3cret", "PLAIN": "visible"}

PLAIN_DOCUMENTS = [
    "",
    "# only a comment\n",
    "---\n",
    "version: 1\n",
    'version: 1\ncores:\n  a: {"class": "C0", precision: 64, "memory_size": 256000}\n',
    "a:\n  - 1\n  - two\n  - [3, '4', {five: 5}]\n  - {}\n  - []\nb: ~\nc: null\nd: true\ne: no\nf: 1.5\n"
    "g: .inf\nh: 0x1F\ni: 2024-01-02\nj: 2024-01-02T03:04:05Z\nk: ''\nl: \"\"\n",
    "key: ${env:TOKEN}\nplain: ${env:PLAIN:plain}\nliteral: $${env:TOKEN}\ndefault: ${env:UNSET:-x}\n",
    "name: core-${var.env}\nlist: ['${each.key}', plain]\n",
    "multi: |\n  line one\n  line two\nfolded: >\n  a\n  b\nquoted: 'it''s'\n",
    "1: one\n2.5: two\nfalse: three\n~: four\n",
    "url: https://example.com/?a=b&c=d\n",  # an "=" in the text, but no value key
    "deep: " + "[" * 60 + "]" * 60 + "\n",
]


def _same(one: Any, other: Any) -> None:
    assert type(one) is type(other)
    assert one == other
    if isinstance(one, MarkedDict | MarkedList):
        marks = [one.mark, *(one.key_marks.values() if isinstance(one, MarkedDict) else one.item_marks)]
        assert all(type(mark) is Mark for mark in marks)
    if isinstance(one, MarkedDict):
        assert one.mark == other.mark
        assert one.key_marks == other.key_marks
        assert one.value_marks == other.value_marks
        assert list(one) == list(other)  # the order keys were written in
        for key in one:
            _same(one[key], other[key])
    elif isinstance(one, MarkedList):
        assert one.mark == other.mark
        assert one.item_marks == other.item_marks
        for a, b in zip(one, other, strict=True):
            _same(a, b)


def _composed(text: str) -> tuple[Any, Any]:
    composing = libyaml.FastLoader(text, "stack.yaml", ENV)
    return composing.get_single_data(), composing


@pytest.mark.parametrize("text", PLAIN_DOCUMENTS)
def test_plain_documents_are_built_as_the_composing_path_builds_them(text: str) -> None:
    one_pass = libyaml.FastLoader(text, "stack.yaml", ENV)
    built = one_pass.plain_document()
    expected, composing = _composed(text)
    _same(built, expected)
    assert one_pass.secret_positions == composing.secret_positions
    assert one_pass.secret_values == composing.secret_values
    assert one_pass.environ_read == composing.environ_read
    assert one_pass.templates == composing.templates


NOT_PLAIN = [
    "a: &x 1\nb: *x\n",  # anchors and aliases: the alias-bomb check decides
    "a: !!str 1\n",  # an explicit tag
    "base: &b {x: 1}\nc:\n  <<: *b\n",  # a merge key
    "=: value\n",  # a value key
    "a: 1\na: 2\n",  # a duplicate key: the composing path words it
    "? [a]\n: 1\n",  # a key that is not a plain value
    "a: 1\n---\nb: 2\n",  # two documents
    "a: ${env:MISSING}\n",  # an environment variable that is not set
    "deep: " + "[" * 70 + "]" * 70 + "\n",  # past MAX_DEPTH
    "a: [1, 2\n",  # not YAML
]


@pytest.mark.parametrize("text", NOT_PLAIN)
def test_anything_else_is_left_to_the_composing_path(text: str) -> None:
    with pytest.raises(Exception):  # noqa: B017 (any exception hands the file over)
        libyaml.FastLoader(text, "stack.yaml", ENV).plain_document()


def test_load_file_words_errors_as_before(tmp_path: Path) -> None:
    stack = tmp_path / "stack.yaml"
    stack.write_text("version: 1\ncores:\n  a: {class: C0}\n  a: {class: C1}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_file(stack, ENV)
    issue = caught.value.issues[0]
    assert "duplicate key 'a' (first defined at line 3)" in issue.message
    assert (issue.line, issue.column) == (4, 3)


def test_load_file_with_anchors_still_loads(tmp_path: Path) -> None:
    stack = tmp_path / "stack.yaml"
    stack.write_text("base: &b {x: 1}\nc:\n  <<: *b\n  y: 2\n", encoding="utf-8")
    data = load_file(stack, ENV).data
    assert data == {"base": {"x": 1}, "c": {"x": 1, "y": 2}}
