"""Executing a plan: ``apply`` runs the actions in dependency order through the providers,
recording state after every call; ``journal`` writes each call's intent and outcome, so a killed
run's creates can be found again (``pending``)."""
