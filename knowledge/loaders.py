"""Loaders turn a file into a title and Markdown-like text, one loader per file type."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from knowledge.errors import CorruptDocument, UnsupportedDocument


@dataclass
class LoadedDocument:
    """The text of a document and its title."""

    title: str
    text: str
    source: str
    media_type: str


Loader = Callable[[bytes, str], LoadedDocument]
# HTML elements that end a line; inline ones (b, a, span...) stay inside their sentence.
BLOCKS = ["p", "div", "li", "tr", "td", "th", "section", "article", "blockquote", "pre", "dt", "dd", "table", "ul", "ol"]
LOADERS: dict[str, Loader] = {}


def loader(*suffixes: str) -> Callable[[Loader], Loader]:
    """Register a loader for file suffixes (lower case, with the dot)."""

    def register(func: Loader) -> Loader:
        for suffix in suffixes:
            LOADERS[suffix] = func
        return func

    return register


def _decode(data: bytes, name: str) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise CorruptDocument(f"{name}: not valid UTF-8 or GB18030 text")


def _title_from_name(name: str) -> str:
    return Path(name).stem.replace("-", " ").replace("_", " ").strip().capitalize() or name


@loader(".md", ".markdown")
def load_markdown(data: bytes, name: str) -> LoadedDocument:
    """Markdown: the first '# ' heading is the title."""
    text = _decode(data, name)
    match = re.search(r"^#\s+(.+?)\s*$", text, flags=re.M)
    title = match.group(1) if match else _title_from_name(name)
    return LoadedDocument(title, text, name, "text/markdown")


@loader(".txt", ".text")
def load_text(data: bytes, name: str) -> LoadedDocument:
    """Plain text: the file name is the title."""
    return LoadedDocument(_title_from_name(name), _decode(data, name), name, "text/plain")


@loader(".html", ".htm")
def load_html(data: bytes, name: str) -> LoadedDocument:
    """HTML: navigation, scripts and styles dropped; h1-h6 become Markdown headings."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_decode(data, name), "html.parser")
    for tag in soup(["script", "style", "nav", "header", "footer", "aside", "form", "noscript"]):
        tag.decompose()
    title_tag = soup.find("h1") or soup.find("title")
    title = title_tag.get_text(" ", strip=True) if title_tag else _title_from_name(name)
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


def load_bytes(data: bytes, name: str) -> LoadedDocument:
    """Pick the loader by the file name's suffix and run it."""
    suffix = Path(name).suffix.lower()
    if suffix not in LOADERS:
        supported = ", ".join(sorted(LOADERS))
        raise UnsupportedDocument(f"{name}: unsupported file type {suffix or '(none)'}; supported: {supported}")
    document = LOADERS[suffix](data, name)
    if not document.text.strip():
        raise CorruptDocument(f"{name}: no text found")
    return document


def load_path(path: Path) -> LoadedDocument:
    """Read a file from disk and load it."""
    return load_bytes(path.read_bytes(), path.name)
