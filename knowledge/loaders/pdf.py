"""PDF loader (pypdf): pages are read and yielded one at a time, never the whole text at once."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import BinaryIO

from knowledge.errors import CorruptDocument
from knowledge.loaders.registry import LoadedDocument, Part, Source, loader, title_from_name

log = logging.getLogger(__name__)
CACHE_PAGES = 16  # pages between clearing pypdf's object cache (a bound on memory per file)


def _open_reader(handle: BinaryIO, name: str):  # type: ignore[no-untyped-def]
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(handle)  # a file object is read lazily; a path would be slurped
        if reader.is_encrypted and not reader.decrypt(""):
            raise CorruptDocument(f"{name}: the PDF is password-protected")
        return reader
    except CorruptDocument:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise CorruptDocument(f"{name}: not a readable PDF ({exc})") from exc


def _page_text(raw: str) -> str:
    """Clean one page: join hyphenated line breaks, collapse runs of spaces and blank lines."""
    text = re.sub(r"-\n(?=\w)", "", raw)
    lines = (" ".join(line.split()) for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _forget_resolved(reader) -> None:  # type: ignore[no-untyped-def]
    """Drop pypdf's cache of parsed objects, which otherwise keeps every page read so far.

    Without this a 50 MB PDF costs its whole size again in memory by the last page (images and
    content streams stay cached); with it memory stays flat and pages are re-read from the file.
    """
    cache = getattr(reader, "resolved_objects", None)
    if isinstance(cache, dict):
        cache.clear()


def _pages(handle: BinaryIO, reader, name: str) -> Iterator[Part]:  # type: ignore[no-untyped-def]
    from pypdf.errors import PyPdfError

    found = False
    try:
        try:
            total = len(reader.pages)
        except (PyPdfError, ValueError, KeyError, TypeError, RecursionError) as exc:
            raise CorruptDocument(f"{name}: the page tree is unreadable ({exc})") from exc
        for number in range(1, total + 1):
            try:
                text = _page_text(reader.pages[number - 1].extract_text() or "")
            except (PyPdfError, ValueError, KeyError, TypeError, RecursionError) as exc:
                raise CorruptDocument(f"{name}: page {number} is unreadable ({exc})") from exc
            if number % CACHE_PAGES == 0:
                _forget_resolved(reader)
            if text:
                found = True
                yield Part(f"## Page {number}\n\n{text}", done=number / total)
        if not found:
            raise CorruptDocument(
                f"{name}: no text layer in {total} page(s) (a scanned PDF? run it through OCR first)"
            )
    finally:
        handle.close()


@loader(".pdf")
def load_pdf(source: Source) -> LoadedDocument:
    """PDF: one part per page ('## Page N' sections); the metadata title, else the file name."""
    handle = source.open()
    try:
        reader = _open_reader(handle, source.name)
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except BaseException:
        handle.close()
        raise
    title = meta_title.strip() or title_from_name(source.name)
    parts = _pages(handle, reader, source.name)
    return LoadedDocument(title, "", source.name, "application/pdf", parts)
