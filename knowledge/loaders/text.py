"""Loaders of the plain text types: Markdown and text (HTML is in html_pages)."""

from __future__ import annotations

import re

from knowledge.errors import CorruptDocument
from knowledge.loaders.registry import LoadedDocument, Source, loader, title_from_name


def decode(data: bytes, name: str) -> str:
    """UTF-8 (with or without BOM), else GB18030, else CorruptDocument."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise CorruptDocument(f"{name}: not valid UTF-8 or GB18030 text")


@loader(".md", ".markdown")
def load_markdown(source: Source) -> LoadedDocument:
    """Markdown: the first '# ' heading is the title."""
    text = decode(source.read_bytes(), source.name)
    match = re.search(r"^#\s+(.+?)\s*$", text, flags=re.M)
    title = match.group(1) if match else title_from_name(source.name)
    return LoadedDocument(title, text, source.name, "text/markdown")


@loader(".txt", ".text")
def load_text(source: Source) -> LoadedDocument:
    """Plain text: the file name is the title."""
    text = decode(source.read_bytes(), source.name)
    return LoadedDocument(title_from_name(source.name), text, source.name, "text/plain")
