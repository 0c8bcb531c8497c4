"""Parse what the renderers write, as a reader would (CommonMark + GitHub tables; HTML), so tests
assert structure (rows, cells, headings, elements) instead of matching strings."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

from markdown_it import MarkdownIt
from markdown_it.token import Token

__all__ = ["HtmlDoc", "Markdown", "parse_html", "parse_markdown", "table_rows"]

_PARSER = MarkdownIt("commonmark").enable("table")


def _text(token: Token) -> str:
    """The plain text of an inline token: what a reader sees (code spans' content included)."""
    out = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            out.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            out.append("\n")
        elif child.type in ("html_inline",):
            out.append(child.content)
    return "".join(out)


@dataclass
class Markdown:
    headings: list[tuple[int, str]] = field(default_factory=list)
    tables: list[list[list[str]]] = field(default_factory=list)  # table -> body rows -> cell texts
    images: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)  # raw HTML the parser passed through
    fences: list[str] = field(default_factory=list)


def parse_markdown(text: str) -> Markdown:
    doc = Markdown()
    tokens = _PARSER.parse(text)
    row: list[str] | None = None
    in_body = False
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            doc.headings.append((int(token.tag[1]), _text(tokens[i + 1])))
        elif token.type == "table_open":
            doc.tables.append([])
        elif token.type == "tbody_open":
            in_body = True
        elif token.type == "tbody_close":
            in_body = False
        elif token.type == "tr_open" and in_body:
            row = []
        elif token.type == "tr_close" and row is not None:
            doc.tables[-1].append(row)
            row = None
        elif token.type == "inline" and row is not None and tokens[i - 1].type == "td_open":
            row.append(_text(token))
        elif token.type in ("fence", "code_block"):
            doc.fences.append(token.content)
        elif token.type == "html_block":
            doc.html.append(token.content)
        if token.type == "inline":
            for child in token.children or []:
                if child.type == "image":
                    doc.images.append(str(child.attrs.get("src")))
                elif child.type == "link_open":
                    doc.links.append(str(child.attrs.get("href")))
                elif child.type == "html_inline":
                    doc.html.append(child.content)
    return doc


def table_rows(text: str) -> list[list[str]]:
    """Every body row of every table in ``text``, as the cells' plain texts."""
    return [row for table in parse_markdown(text).tables for row in table]


@dataclass
class HtmlDoc:
    elements: list[tuple[str, dict[str, str | None]]] = field(default_factory=list)
    texts: dict[str, list[str]] = field(default_factory=dict)  # tag -> text of each such element

    def tags(self) -> set[str]:
        return {tag for tag, _ in self.elements}

    def attrs(self, tag: str, name: str) -> list[str | None]:
        return [attrs.get(name) for t, attrs in self.elements if t == tag and name in attrs]


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.doc = HtmlDoc()
        self.open: list[tuple[str, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.doc.elements.append((tag, dict(attrs)))
        if tag not in ("meta", "br", "hr", "img", "input", "link"):
            self.open.append((tag, []))

    def handle_endtag(self, tag: str) -> None:
        while self.open:
            name, parts = self.open.pop()
            self.doc.texts.setdefault(name, []).append("".join(parts))
            if self.open:
                self.open[-1][1].extend(parts)
            if name == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.open:
            self.open[-1][1].append(data)


def parse_html(text: str) -> HtmlDoc:
    parser = _Collector()
    parser.feed(text)
    parser.close()
    return parser.doc
