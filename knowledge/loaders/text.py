"""Loaders of the text types: Markdown, plain text and HTML."""

from __future__ import annotations

import re

from knowledge.errors import CorruptDocument
from knowledge.loaders.registry import LoadedDocument, Source, loader, title_from_name

# HTML elements that end a line; inline ones (b, a, span...) stay inside their sentence.
BLOCKS = [
    "p", "div", "li", "tr", "td", "th", "section", "article", "blockquote", "pre",
    "dt", "dd", "table", "ul", "ol",
]


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


@loader(".html", ".htm")
def load_html(source: Source) -> LoadedDocument:
    """HTML: navigation, scripts and styles dropped; h1-h6 become Markdown headings."""
    from bs4 import BeautifulSoup

    name = source.name
    soup = BeautifulSoup(decode(source.read_bytes(), name), "html.parser")
    for tag in soup(["script", "style", "nav", "header", "footer", "aside", "form", "noscript"]):
        tag.decompose()
    title_tag = soup.find("h1") or soup.find("title")
    title = title_tag.get_text(" ", strip=True) if title_tag else title_from_name(name)
    for level in range(1, 7):
        for heading in soup.find_all(f"h{level}"):
            heading.replace_with(f"\n\n{'#' * level} {heading.get_text(' ', strip=True)}\n\n")
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for block in soup.find_all(BLOCKS):
        block.insert_before("\n\n")
        block.insert_after("\n\n")
    body = soup.body or soup
    lines = (" ".join(line.split()) for line in body.get_text().split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    return LoadedDocument(title, text.strip(), name, "text/html")
