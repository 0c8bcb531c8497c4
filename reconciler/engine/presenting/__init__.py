"""Presenting: the output formats. ``render`` turns the plan JSON into text, JSON and Markdown
(``render_outside`` the drift section); ``export`` writes live objects as stack YAML."""
