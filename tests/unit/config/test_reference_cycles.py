"""A reference cycle between resources is refused; a stack without references skips the graph."""

from __future__ import annotations

import pytest

from reconciler.config.refs import _check_cycles
from reconciler.errors import ConfigError
from reconciler.values import Desired, Location, Ref


def _resource(name: str, refers_to: str | None = None) -> Desired:
    attrs = {"core": Ref(refers_to)} if refers_to else {"class": "C0"}
    return Desired("repositories", name, attrs, attrs, Location("stack.yaml", 3))


def test_a_cycle_is_refused_with_its_path_and_line() -> None:
    resources = [_resource("a", "repositories.b"), _resource("b", "repositories.a"), _resource("c")]
    with pytest.raises(ConfigError, match="reference cycle: repositories") as caught:
        _check_cycles(resources)
    assert caught.value.issues[0].line == 3


def test_a_resource_referring_to_itself_is_a_cycle() -> None:
    with pytest.raises(ConfigError, match="reference cycle"):
        _check_cycles([_resource("a", "repositories.a")])


def test_references_without_a_cycle_and_none_at_all_pass() -> None:
    _check_cycles([_resource("a", "repositories.b"), _resource("b")])
    _check_cycles([_resource("a"), _resource("b")])
