"""Load a stack: many YAML files → one validated Stack → Desired resources."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.config.evaluate import Evaluator, Scope
from reconciler.config.instantiate import add_origins, expand_stack
from reconciler.config.loader import Mark, load_file, stack_files
from reconciler.config.merge import merge_files
from reconciler.config.refs import desired_resources
from reconciler.config.stack import StackBase, stack_model, validate_stack
from reconciler.config.variables import NO_INPUTS, Value, VariableInputs
from reconciler.errors import ConfigError, ConfigIssue
from reconciler.values import Desired

__all__ = ["LoadedStack", "VariableInputs", "load_stack", "stack_model"]


@dataclass(frozen=True)
class LoadedStack:
    # The validated stack: its blocks as typed fields; its resource sections are fields of the model
    # built for the kinds it declares (``stack_model``), read by name (``getattr(stack, kind)``).
    stack: StackBase
    resources: list[Desired]
    files: list[Path]
    root: Path  # where .reconciler/ lives: the first -f directory, or the first file's folder
    # value -> NAME of each ${env:NAME} used (sensitive values; ``export`` writes the reference back)
    secret_values: Mapping[str, str] = field(default_factory=dict)
    # The root stack's variables, for references in --target addresses (:meth:`address`).
    variables: Mapping[str, Value] = field(default_factory=dict)

    def address(self, text: str) -> str:
        """A --target / --exclude address with its ``${var.…}`` evaluated (``cores.shared-${var.env}``)."""
        if "${" not in text:
            return text
        from reconciler.config.loader import parse_scalar

        where = Mark("--target", 1, 1)
        value = Evaluator(set()).value(parse_scalar(text, where), where, Scope(self.variables))
        if not isinstance(value, str):
            raise ConfigError(ConfigIssue(f"the address {text!r} is not text once evaluated"))
        return value


def stack_root(paths: list[Path]) -> Path:
    first = paths[0] if paths else Path(".")
    return first if first.is_dir() else first.parent


def load_stack(
    paths: list[Path], environ: Mapping[str, str] | None = None, inputs: VariableInputs = NO_INPUTS
) -> LoadedStack:
    """Read, merge, expand (variables, for_each, modules: config/instantiate.py), validate, resolve."""
    environ = os.environ if environ is None else environ
    files = [load_file(p, environ) for p in stack_files(paths)]
    expanded = expand_stack(merge_files(files), files, inputs, environ)
    secrets = frozenset(expanded.secrets)
    try:
        stack = validate_stack(expanded.document, secrets)
        modules = {address: o.module for address, o in expanded.origins.items() if o.module}
        resources = desired_resources(stack, expanded.document, secrets, modules)
    except ConfigError as exc:
        raise add_origins(exc, expanded.origins) from None
    secret_values = {
        value: name for f in [*files, *expanded.files] for value, name in f.secret_values.items()
    }
    secret_values.update(expanded.secret_values)
    all_files = [f.path for f in files] + [f.path for f in expanded.files]
    return LoadedStack(stack, resources, all_files, stack_root(paths), secret_values, expanded.variables)
