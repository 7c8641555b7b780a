"""The loader registry: a loader per file suffix, fed bytes (uploads) or a path (big files)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import BinaryIO

from knowledge.errors import CorruptDocument, UnsupportedDocument


@dataclass
class Part:
    """A piece of a document that is chunked on its own (a PDF page, a FAQ entry, a whole text).

    Chunks never span two parts, so FAQ entries stay separate and pages can be cited.
    """

    text: str  # Markdown-like
    title: str | None = None  # replaces the document title on this part's chunks (FAQ: question)
    done: float | None = None  # fraction of the file read once this part is out (0-1), if known


@dataclass
class LoadedDocument:
    """A loaded document: its title and its text, whole or as a stream of parts.

    Small types fill `text`. Big types (PDF, tables) leave `text` empty and stream `parts`,
    which can be read once; `iter_parts` works for both.
    """

    title: str
    text: str
    source: str
    media_type: str
    parts: Iterable[Part] | None = field(default=None, repr=False)

    def iter_parts(self) -> Iterator[Part]:
        """The document's parts, in order (one part for whole-text documents)."""
        if self.parts is None:
            yield Part(self.text)
        else:
            yield from self.parts


@dataclass
class Source:
    """Where a document's bytes come from: in memory (an upload) or a file on disk."""

    name: str
    data: bytes | None = None
    path: Path | None = None

    def open(self) -> BinaryIO:
        """A binary file object; the caller closes it. A path is read lazily, never slurped."""
        if self.path is not None:
            return self.path.open("rb")
        return io.BytesIO(self.data or b"")

    def read_bytes(self) -> bytes:
        """All the bytes (for the small text types)."""
        return self.path.read_bytes() if self.path is not None else (self.data or b"")


# C0 control characters but tab, newline and carriage return, and lone UTF-16 surrogates (a Python str
# holds a surrogate only when it is unpaired). PostgreSQL refuses NUL in text ("A string literal cannot
# contain NUL"), UTF-8 cannot encode a surrogate, and the rest is invisible noise in a chunk or title.
_UNWANTED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_LINE_BREAKS = {"\x0b": "\n", "\x0c": "\n"}  # vertical tab and form feed (PDF page breaks) end a line


def clean_text(text: str) -> str:
    """The text without NUL, other C0 controls (tab, newline, CR kept) and lone surrogates.

    Vertical tab and form feed become a newline; the rest is dropped, so 'a\\x00b' gives 'ab'.
    """
    if _UNWANTED.search(text) is None:
        return text
    return _UNWANTED.sub(lambda m: _LINE_BREAKS.get(m.group(), ""), text)


def _clean_parts(parts: Iterable[Part]) -> Iterator[Part]:
    for part in parts:
        part.text = clean_text(part.text)
        if part.title is not None:
            part.title = clean_text(part.title)
        yield part


def _clean(document: LoadedDocument) -> LoadedDocument:
    """Every text a loader gave, cleaned in one place: source name, title, text and each part."""
    document.source = clean_text(document.source)
    document.title = clean_text(document.title).strip() or title_from_name(document.source)
    document.text = clean_text(document.text)
    if document.parts is not None:
        document.parts = _clean_parts(document.parts)
    return document


Loader = Callable[[Source], LoadedDocument]
LOADERS: dict[str, Loader] = {}


def loader(*suffixes: str) -> Callable[[Loader], Loader]:
    """Register a loader for file suffixes (lower case, with the dot)."""

    def register(func: Loader) -> Loader:
        for suffix in suffixes:
            LOADERS[suffix] = func
        return func

    return register


def title_from_name(name: str) -> str:
    """A readable title from a file name: 'shipping-times_faq.md' -> 'Shipping times faq'."""
    name = clean_text(name)
    return Path(name).stem.replace("-", " ").replace("_", " ").strip().capitalize() or name


def unsupported_reason(name: str) -> str | None:
    """Why a file of this name has no loader (naming the supported types), or None when it has one."""
    suffix = Path(name).suffix.lower()
    if suffix in LOADERS:
        return None
    supported = ", ".join(sorted(LOADERS))
    return f"{name}: unsupported file type {suffix or '(none)'}; supported: {supported}"


def _load(source: Source) -> LoadedDocument:
    reason = unsupported_reason(source.name)
    if reason is not None:
        raise UnsupportedDocument(reason)
    suffix = Path(source.name).suffix.lower()
    document = _clean(LOADERS[suffix](source))
    if document.parts is None:
        if not document.text.strip():
            raise CorruptDocument(f"{source.name}: no text found")
        return document
    # Pull the first non-empty part now, so that unreadable files fail here, not mid-ingest.
    parts = (p for p in document.parts if p.text.strip())
    first = next(parts, None)
    if first is None:
        raise CorruptDocument(f"{source.name}: no text found")
    document.parts = chain([first], parts)
    return document


def load_bytes(data: bytes, name: str) -> LoadedDocument:
    """Pick the loader by the file name's suffix and run it on bytes in memory.

    Args:
        data: the file's content (e.g. an upload).
        name: the file name; its suffix picks the loader.

    Returns:
        The document; big types stream `parts` (read them once).
    """
    return _load(Source(name, data=data))


def load_path(path: Path, name: str | None = None) -> LoadedDocument:
    """Load a file from disk; big types read it lazily rather than into memory.

    Args:
        path: the file.
        name: the name to report and pick the loader by (default: the path's name),
            e.g. an upload's original name when path is a temporary file.

    Returns:
        The document; big types stream `parts` (read them once).
    """
    return _load(Source(name or path.name, path=path))
