"""Text from outside (stack names and paths, messages, values an API returned) put into Markdown or
HTML: one function per context, so a renderer never builds markup from raw text (docs/escaping.md).

Every function first makes the text *shown* (:func:`shown`): a byte that is not UTF-8 (a file name
decoded with ``surrogateescape``) becomes ``\\xNN``, a control character its escape (``\\n``, ``\\x1b``),
a bidirectional override ``\\u202e``; one-line contexts escape newlines too. So the output is always
valid UTF-8 and one name can never become two lines of a table.

=====================  ====================================================================
context                function
=====================  ====================================================================
Markdown inline text   :func:`md_text` (a table cell, a list item, a heading, a chat line)
Markdown code span     :func:`md_code`; inside a table cell :func:`md_cell_code`
Markdown fenced block  :func:`md_fence` (the whole block, fences included)
HTML text              :func:`html_text`
HTML attribute value   :func:`html_attr` (always inside double quotes)
=====================  ====================================================================
"""

from __future__ import annotations

import html
import re

__all__ = ["clip", "html_attr", "html_text", "md_cell_code", "md_code", "md_fence", "md_text", "shown"]

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# C0 and C1 controls, DEL, lone surrogates, bidirectional overrides and isolates, line/paragraph separators.
_UNSHOWN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
_UNSHOWN_KEEP_LINES = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]"
)
# Characters that open Markdown inline syntax (CommonMark and GitHub's extensions). Those that mean
# something only at the start of a line (``-``, ``+``, ``1.``) are left: this text never starts one.
# ``_`` between two letters or digits (``memory_size``) opens nothing, so it is left as written.
_MD_SPECIAL = re.compile(r"([\\`*\[\]{}!#|~$]|_(?![^\W_])|(?<![^\W_])_)")
_MD_ENTITY = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (os.fsdecode's surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(text: object, *, lines: bool = False) -> str:
    """``text`` as it can be shown anywhere: valid UTF-8, no control character; newlines kept only
    with ``lines``."""
    pattern = _UNSHOWN_KEEP_LINES if lines else _UNSHOWN
    return pattern.sub(_escape_char, str(text))


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters, ``…`` marking a cut (cut before escaping, so no escape is split)."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def md_text(text: object) -> str:
    """Plain text as one line of Markdown inline content: every character that could open a span,
    link, image, heading, table cell or HTML tag is escaped (``<``, ``>``, ``&`` as entities, which
    chat webhooks such as Slack also read literally)."""
    escaped = _MD_SPECIAL.sub(r"\\\1", shown(text))
    return "".join(_MD_ENTITY.get(c, c) for c in escaped)


def md_code(text: object) -> str:
    """Plain text as one Markdown code span: a backtick fence longer than any run inside, padded
    with a space when the text starts or ends with a backtick or a space (CommonMark strips one)."""
    body = shown(text)
    if not body:
        return "` `"
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if body[0] in "` " or body[-1] in "` " else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def md_cell_code(text: object) -> str:
    """:func:`md_code` for a table cell: a ``|`` would end the cell, even inside a code span, unless
    escaped (GitHub's table extension takes ``\\|`` as a pipe there)."""
    return md_code(text).replace("|", "\\|")


def md_fence(text: object, info: str = "") -> str:
    """Plain text (several lines) as a fenced code block, fences included: the fence is longer than
    any backtick run inside, so nothing in the text can close it."""
    body = shown(text, lines=True)
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{body}\n{fence}"


def html_text(text: object) -> str:
    """Plain text (lines kept) as HTML element content."""
    return html.escape(shown(text, lines=True), quote=True)


def html_attr(text: object) -> str:
    """Plain text as an HTML attribute value, to be written inside double quotes."""
    return html.escape(shown(text), quote=True)
