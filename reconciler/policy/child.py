"""The policy engine's own process (run as a script by ``isolate.py``; standard library and regopy
only, so it starts in tens of milliseconds and shares nothing with the parent).

rego-cpp can take its process down (SIGSEGV, SIGABRT: docs/policy.md), so it never runs in the
command's process. This process limits itself: CPU time (``RLIMIT_CPU``) before it loads the
engine, its data segment (``RLIMIT_DATA``) once the engine is loaded (``limit_memory``). It
reads requests, one JSON object a line, on stdin and answers each with one JSON line on the
file descriptor that was its stdout; the engine's own prints (it prints parse errors) go to
stderr, which the parent reads bounded.

Requests (``op``):

- ``load``: ``modules`` ([name, text] pairs) replace the loaded ones; the first query compiles
  them, so ``load`` runs a trivial one. Answer: ``{}`` or ``{"error": …}``.
- ``query``: ``input`` (the input document, optional) and ``queries`` (Rego references such as
  ``data.main.deny``), or with ``bindings``: true, queries binding variables (``a := …; b := …``),
  whose value is then {variable: value}. Answer: ``{"results": {query: value}}``; an undefined
  value is left out;
  ``{"errors": {query: [message, …]}}`` for those that failed at run time; ``cpu``: the CPU
  seconds the input document and the queries took (for bench/policy.py).
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import sys
import time
from typing import Any


def limit_cpu(cpu_seconds: int) -> None:
    # SIGXCPU (fatal) at the soft limit; the parent also kills on its wall-clock deadline.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash leaves no core file behind


def limit_memory(memory_mib: int) -> None:
    """At most ``memory_mib`` more of data segment than the loaded engine holds.

    Set once the engine is loaded, and relative to what it holds then: rego-cpp's allocator
    (snmalloc) reserves 256 GiB of address space when it starts, so an absolute ``RLIMIT_AS`` or
    ``RLIMIT_DATA`` stops it from starting at all. Past the limit an allocation fails, and the
    engine aborts with ``std::bad_alloc`` (the parent reads that on stderr)."""
    with open("/proc/self/status", encoding="ascii") as status:
        held = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmData:"))
    limit = held + memory_mib * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


class Engine:
    def __init__(self) -> None:
        import regopy  # type: ignore[import-untyped]

        self.regopy = regopy
        self.interpreter: Any = regopy.Interpreter()
        self.interpreter.query("x := 1")  # the allocator is started, before limit_memory
        self.lib = _c_library()

    def load(self, modules: list[list[str]]) -> dict[str, Any]:
        interpreter = self.regopy.Interpreter()
        interpreter.strict_built_in_errors = True  # a builtin's error is an error, never "undefined"
        for name, text in modules:
            try:
                interpreter.add_module(name, text)
            except self.regopy.RegoError as exc:
                return {"error": {"parse": str(exc)}}
        self.interpreter = interpreter
        output = interpreter.query("x := 1")  # compiles every module
        if not output.ok():
            return {"error": {"compile": _errors(output)}}
        return {}

    def query(self, request: dict[str, Any]) -> dict[str, Any]:
        started = time.process_time()
        if "input" in request:
            self.set_input(request["input"])
        input_done = time.process_time()
        queries: list[str] = request["queries"]
        results: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        for query in queries:
            output = self.interpreter.query(query)
            if not output.ok():
                errors[query] = _errors(output)
                continue
            value = _bindings(output) if request.get("bindings") else _first_expression(output)
            if value is not _UNDEFINED:
                results[query] = value
        cpu = {"input_s": input_done - started, "queries_s": time.process_time() - input_done}
        return {"results": results, "errors": errors, "cpu": cpu}

    def set_input(self, value: Any) -> None:
        """The input document, built through the C API directly: regopy's own ``set_input`` does
        the same calls through a Python wrapper per value, twice as slow (bench/README.md)."""
        if self.lib is None:
            self.interpreter.set_input(value)
            return
        lib = self.lib
        handle = lib.regoNewInput()
        string, integer, number, boolean, null = (
            lib.regoInputString,
            lib.regoInputInt,
            lib.regoInputFloat,
            lib.regoInputBoolean,
            lib.regoInputNull,
        )
        item, mapping, array = lib.regoInputObjectItem, lib.regoInputObject, lib.regoInputArray

        def add(value: Any) -> None:
            kind = type(value)
            if kind is str:
                string(handle, value.encode())
            elif kind is dict:
                for key, member in value.items():
                    string(handle, key.encode())
                    add(member)
                    item(handle)
                mapping(handle, len(value))
            elif kind is list:
                for member in value:
                    add(member)
                array(handle, len(value))
            elif kind is bool:
                boolean(handle, value)
            elif kind is int:
                integer(handle, value)
            elif kind is float:
                number(handle, value)
            else:
                null(handle)

        try:
            add(value)
            if lib.regoSetInput(self.interpreter._impl, handle) != 0:
                raise RuntimeError("the engine refused the input document")
        finally:
            lib.regoFreeInput(handle)


def _c_library() -> Any:
    """rego-cpp's C API with its argument types declared, or None (then regopy's wrapper is used)."""
    try:
        from regopy.rego_shared import rego as lib  # type: ignore[import-untyped]
    except ImportError:
        return None
    pointer, text = ctypes.c_void_p, ctypes.c_char_p
    signatures = {
        "regoNewInput": ([], pointer),
        "regoInputString": ([pointer, text], ctypes.c_uint32),
        "regoInputInt": ([pointer, ctypes.c_int64], ctypes.c_uint32),
        "regoInputFloat": ([pointer, ctypes.c_double], ctypes.c_uint32),
        "regoInputBoolean": ([pointer, ctypes.c_bool], ctypes.c_uint32),
        "regoInputNull": ([pointer], ctypes.c_uint32),
        "regoInputObjectItem": ([pointer], ctypes.c_uint32),
        "regoInputObject": ([pointer, ctypes.c_uint32], ctypes.c_uint32),
        "regoInputArray": ([pointer, ctypes.c_uint32], ctypes.c_uint32),
        "regoSetInput": ([pointer, pointer], ctypes.c_uint32),
        "regoFreeInput": ([pointer], None),
    }
    for name, (args, result) in signatures.items():
        function = getattr(lib, name, None)
        if function is None:
            return None
        function.argtypes, function.restype = args, result
    return lib


_UNDEFINED = object()


def _first_expression(output: Any) -> Any:
    """The value of a query's first expression, read node by node.

    Not ``json.loads(str(output))``: rego-cpp's JSON output is not always JSON (``sprintf("%s",
    [lower(x)])`` yields a string holding unescaped quotes, printed as they are)."""
    from regopy.rego_shared import rego_node_get, rego_node_size, rego_output_node

    results = rego_output_node(output._impl)
    if rego_node_size(results) == 0:
        return _UNDEFINED
    result = rego_node_get(results, 0)
    terms = rego_node_get(result, 0)
    if rego_node_size(terms) == 0:
        return _UNDEFINED
    return _value(rego_node_get(terms, 0))


def _bindings(output: Any) -> Any:
    """The variables a query bound (``x := …; y := …``), as {name: value}."""
    from regopy.rego_shared import rego_node_get, rego_node_size, rego_node_value, rego_output_node

    results = rego_output_node(output._impl)
    if rego_node_size(results) == 0:
        return _UNDEFINED
    bindings = rego_node_get(rego_node_get(results, 0), 1)
    found = {}
    for i in range(rego_node_size(bindings)):
        binding = rego_node_get(bindings, i)
        found[rego_node_value(rego_node_get(binding, 0))] = _value(rego_node_get(binding, 1))
    return found


def _value(node: Any) -> Any:
    from regopy.rego_shared import rego_node_get, rego_node_size, rego_node_type, rego_node_value

    kind = rego_node_type(node)
    children = [rego_node_get(node, i) for i in range(rego_node_size(node))]
    if kind in (1002, 1003):  # Term, Scalar: a wrapper
        return _value(children[0])
    if kind in (1004, 1005):  # Array, Set
        return [_value(child) for child in children]
    if kind == 1006:  # Object: ObjectItem (key, value) children
        return {_key(_value(rego_node_get(i, 0))): _value(rego_node_get(i, 1)) for i in children}
    if kind == 1010:
        return _string(rego_node_value(node))
    if kind == 1008:
        return int(rego_node_value(node))
    if kind == 1009:
        return float(rego_node_value(node))
    if kind in (1011, 1012, 1111):
        return rego_node_value(node) == "true"
    if kind == 1013:
        return None
    raise ValueError(f"a value of node kind {kind} in a result")


def _key(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _string(raw: str) -> str:
    """A string node's text: JSON-escaped content, sometimes with its quotes (rego-cpp keeps
    tokens as written); when it is neither, the text as it is."""
    for candidate in (raw, f'"{raw}"'):
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, str):
            return value
    return raw


def _errors(output: Any) -> list[str]:
    """The messages of a failed query (rego-cpp puts them in an error sequence node)."""
    from regopy.rego_shared import (  # type: ignore[import-untyped]
        rego_node_get,
        rego_node_size,
        rego_node_value,
        rego_output_node,
    )

    found = []
    root = rego_output_node(output._impl)
    for i in range(rego_node_size(root)):
        error = rego_node_get(root, i)
        message = ""
        if rego_node_size(error) > 0:
            try:
                message = rego_node_value(rego_node_get(error, 0))
            except Exception:  # an error node without a message: say so below
                message = ""
        found.append(message or "the engine reported an error without a message")
    return found or ["the engine reported an error without a message"]


def main() -> None:
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # what the engine prints goes to stderr, never into the answers
    memory_mib, cpu_seconds = int(sys.argv[1]), int(sys.argv[2])  # from the parent (isolate.py)
    limit_cpu(cpu_seconds)
    engine = Engine()
    limit_memory(memory_mib)
    answers.write("{}\n")  # ready: the engine is loaded
    answers.flush()
    for line in sys.stdin:
        request = json.loads(line)
        answer = engine.load(request["modules"]) if request["op"] == "load" else engine.query(request)
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
