"""Continuous reconciliation: ``reconciler watch``.

``policy`` (pure: what a stack's ``watch:`` settings let a check write) → ``pipeline`` (the one
seam onto planning and applying) → ``check`` (one stack: load, plan, decide, apply, report) →
``history`` (bounded per-stack events, transitions only) → ``schedule`` (which stacks are due:
in memory, or claimed in PostgreSQL by several replicas) → ``loop`` (the long-running process,
signals, backoff) → ``server`` and ``page`` (health, metrics, the JSON API, the live page).
Documented for users in ``docs/watch.md``.
"""
