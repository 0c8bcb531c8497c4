"""Deciding what to do: pure functions from (desired, live, state) to a plan, no I/O.

``plan`` matches and diffs each resource and chooses its action (``changes``: the plan's values);
``diff`` compares fields, ``causes`` says config or drift, ``deletes`` applies the rules for
deletes and replaces, ``select`` cuts to ``--target``/``--exclude``, ``safety`` is the mass-delete
guard, ``saved`` judges a saved plan against a fresh one, ``adopt`` checks ``reconciler import``.
"""
