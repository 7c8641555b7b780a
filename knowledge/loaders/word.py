"""DOCX loader (python-docx): Word headings become Markdown headings, tables become rows."""

from __future__ import annotations

import re
import zipfile
import zlib

from knowledge.errors import CorruptDocument
from knowledge.loaders import ooxml
from knowledge.loaders.registry import LoadedDocument, Source, loader, title_from_name

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.I)


def _markdown_line(paragraph) -> str:  # type: ignore[no-untyped-def]
    """One Word paragraph as a Markdown line ('' when blank)."""
    text = " ".join(paragraph.text.split())
    if not text:
        return ""
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    match = HEADING_STYLE.match(style)
    if match:
        return f"{'#' * min(int(match.group(1)), 6)} {text}"
    if style.lower() == "title":
        return f"# {text}"
    if style.lower().startswith("list"):
        return f"- {text}"
    return text


def _table_lines(table) -> list[str]:  # type: ignore[no-untyped-def]
    rows = []
    for row in table.rows:
        cells = [" ".join(c.text.split()) for c in row.cells]
        if any(cells):
            rows.append(" | ".join(cells))
    return rows


@loader(".docx")
def load_docx(source: Source) -> LoadedDocument:
    """DOCX: the Title paragraph or first Heading 1, else the title property, else the file name."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from lxml.etree import XMLSyntaxError

    handle = source.open()
    try:
        handle = ooxml.readable(handle)  # NUL and other control characters in its XML: a cleaned copy
        document = docx.Document(handle)
        blocks = list(document.iter_inner_content())
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError, EOFError, zlib.error,
            XMLSyntaxError) as exc:
        raise CorruptDocument(f"{source.name}: not a readable DOCX file ({exc})") from exc
    finally:
        handle.close()
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Table):
            lines.extend(["", *_table_lines(block), ""])
        else:
            lines.extend(["", _markdown_line(block)])
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    match = re.search(r"^#\s+(.+?)\s*$", text, flags=re.M)
    title = match.group(1) if match else (document.core_properties.title or "").strip()
    return LoadedDocument(title or title_from_name(source.name), text, source.name, DOCX_TYPE)
