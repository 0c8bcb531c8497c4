"""Presenting: the output formats. ``render`` turns the plan JSON into text, JSON and Markdown
(``render_outside`` the drift section, ``render_summary`` many like changes of one folder as
one block); ``export`` writes live objects as stack YAML."""
