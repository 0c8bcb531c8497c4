"""The application layer: the use cases composed over the engine, the providers and state.

``session`` builds a run's session (the one factory); ``planning`` is the one planning pipeline;
``apply_run`` is the apply sequence (lock → journal → plan → confirm → apply → verify);
``saved_plans``, ``imports`` and ``export`` are the other use cases; ``fleet`` checks many stacks.
The command line calls these and supplies only what is its own (output, confirmation).
"""
