"""A tiny document model rendered to Markdown and to self-contained HTML.

Building the report once as blocks and rendering it twice keeps the two
files in step; the HTML embeds every figure as a data URI so it can be mailed
or archived as one file.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Figure:
    path: str  # relative to the report's folder
    caption: str


Block = Heading | Paragraph | Table | Figure


def markdown_text(text: str) -> str:
    """Text that a Markdown viewer shows as written, not as markup: a file name, a label or a covariate value from
    a user's data set may hold HTML (`<img onerror=...>`), a link's `](`, or line breaks that would start a heading;
    HTML's special characters become entities, `](` is escaped and line breaks are folded. The report's own
    Markdown (code spans, emphasis) is untouched."""
    return " ".join(html.escape(text, quote=False).replace("](", "]\\(").splitlines())


def _cell(text: str) -> str:
    """A table cell: as `markdown_text`, with `|` escaped so that a value cannot split the row."""
    return markdown_text(text).replace("|", "\\|")


def to_markdown(blocks: list[Block]) -> str:
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"{'#' * block.level} {markdown_text(block.text)}")
        elif isinstance(block, Paragraph):
            parts.append(markdown_text(block.text))
        elif isinstance(block, Table):
            lines = ["| " + " | ".join(map(_cell, block.headers)) + " |", "|" + "---|" * len(block.headers)]
            lines += ["| " + " | ".join(map(_cell, row)) + " |" for row in block.rows]
            parts.append("\n".join(lines))
        elif isinstance(block, Figure):  # the path is the project's own; the caption may name a user's things
            caption = markdown_text(block.caption).replace("[", "\\[").replace("]", "\\]")
            parts.append(f"![{caption}]({block.path})\n\n*{markdown_text(block.caption)}*")
    return "\n\n".join(parts) + "\n"


STYLE = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #bbb;padding:.3rem .6rem;text-align:right}
th{background:#eee}td:first-child,th:first-child{text-align:left}figure{margin:1rem 0}
img{max-width:100%;border:1px solid #ddd}figcaption{font-style:italic;color:#555}"""


def to_html(blocks: list[Block], base: Path, title: str) -> str:
    """One HTML file with figures inlined from files under `base`."""
    body = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{html.escape(block.text)}</p>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{html.escape(cell)}</th>" for cell in block.headers)
            rows = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
                           for row in block.rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif isinstance(block, Figure):
            data = base64.b64encode((base / block.path).read_bytes()).decode("ascii")
            body.append(f'<figure><img alt="{html.escape(block.caption)}" src="data:image/png;base64,{data}">'
                        f"<figcaption>{html.escape(block.caption)}</figcaption></figure>")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
