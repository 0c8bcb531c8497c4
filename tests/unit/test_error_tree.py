"""One error tree (errors.py), honoured: every exception class the tool defines is in it and drawn
in its docstring, and the retry decision is the error's own ``retryable``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import reconciler
from reconciler import errors
from reconciler.common.paths import PathProblem
from reconciler.errors import PackageError, ReconcilerError, ServerError, api_error_for_status
from reconciler.packages.archive import ArchiveProblem
from reconciler.packages.pack import PackageError as PackagingPackageError

# Outside the tree on purpose (errors.py says why): the emulators' errors become HTTP answers.
OUTSIDE = {PathProblem}


def _defined_exceptions() -> set[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for info in pkgutil.walk_packages(reconciler.__path__, "reconciler."):
        if info.name.startswith("reconciler.sandbox") or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == module.__name__:
                found.add(obj)
    return found


def test_every_exception_the_tool_defines_is_in_the_tree_and_drawn() -> None:
    defined = _defined_exceptions() - OUTSIDE
    assert {e.__name__ for e in defined if not issubclass(e, ReconcilerError)} == set()
    doc = errors.__doc__ or ""
    public = {e.__name__ for e in defined if not e.__name__.startswith("_")}
    assert {name for name in public if not re.search(rf"(─ |^\s+){name}\b", doc, re.MULTILINE)} == set()


def test_one_package_error() -> None:
    assert PackagingPackageError is PackageError and issubclass(ArchiveProblem, PackageError)


STATUSES = [
    (500, True),
    (502, True),
    (503, True),
    (504, True),
    (501, False),
    (505, False),
    (429, True),
    (404, False),
]


@pytest.mark.parametrize(("status", "retryable"), STATUSES)
def test_retryable_is_the_statuses_worth_asking_again(status: int, retryable: bool) -> None:
    error = api_error_for_status(status, "m", "api GET /x")
    assert error.retryable is retryable
    assert isinstance(error, ServerError) is (status >= 500)
