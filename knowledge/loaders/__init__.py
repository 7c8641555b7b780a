"""Loaders turn a file into a title and Markdown-like text, one loader per file type.

Text types (Markdown, text, HTML, DOCX) give the whole text. PDF and FAQ tables (CSV, XLSX)
stream parts (pages, entries) so big files are never held in memory as one string.
"""

from knowledge.loaders import html_pages, pdf, tables, text, word  # noqa: F401  (registers the loaders)
from knowledge.loaders.registry import (
    LOADERS,
    LoadedDocument,
    Loader,
    Part,
    Source,
    load_bytes,
    load_path,
    loader,
    title_from_name,
    unsupported_reason,
)

__all__ = [
    "LOADERS", "LoadedDocument", "Loader", "Part", "Source",
    "load_bytes", "load_path", "loader", "title_from_name", "unsupported_reason",
]
