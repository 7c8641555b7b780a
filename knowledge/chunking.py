"""Split a document into overlapping chunks that respect headings, paragraphs and sentences."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
# Sentence ends: Latin punctuation followed by space, or CJK full stops (no space needed).
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[A-Z0-9\u4e00-\u9fff])|(?<=[。！？；])")


@dataclass
class Section:
    """A run of text under one heading path."""

    path: list[str]
    text: str


@dataclass
class ChunkDraft:
    """A chunk before it has an id: text plus where it came from."""

    text: str
    title: str
    section: str
    anchor: str
    position: int
    extra: dict = field(default_factory=dict)


def slugify(text: str) -> str:
    """A URL anchor for a heading; keeps CJK characters."""
    text = unicodedata.normalize("NFKC", text).strip().lower()
    text = re.sub(r"[^\w\s-]", "", text)
    return re.sub(r"[\s_-]+", "-", text).strip("-") or "section"


def split_sections(markdown: str, title: str) -> list[Section]:
    """Cut Markdown at headings; each section keeps its heading path (the title is the root)."""
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    lines: list[str] = []

    def flush() -> None:
        text = "\n".join(lines).strip()
        if text:
            sections.append(Section([h for _, h in stack], text))
        lines.clear()

    for line in markdown.splitlines():
        match = HEADING.match(line)
        if not match:
            lines.append(line)
            continue
        flush()
        level, heading = len(match.group(1)), match.group(2).strip()
        if level == 1 and heading == title and not stack:
            continue
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, heading))
    flush()
    return sections


def split_sentences(text: str) -> list[str]:
    """Split a paragraph into sentences (English and Chinese punctuation)."""
    return [s.strip() for s in SENTENCE_END.split(text) if s and s.strip()]


def _pieces(text: str, limit: int) -> list[str]:
    """Paragraphs, with over-long paragraphs cut into sentences, and over-long sentences cut hard."""
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if len(paragraph) <= limit:
            pieces.append(paragraph)
            continue
        for sentence in split_sentences(paragraph):
            while len(sentence) > limit:
                pieces.append(sentence[:limit])
                sentence = sentence[limit:]
            if sentence:
                pieces.append(sentence)
    return pieces


def _tail(text: str, overlap: int) -> str:
    """The last whole sentences of text that fit in overlap characters."""
    if overlap <= 0:
        return ""
    kept: list[str] = []
    size = 0
    for sentence in reversed(split_sentences(text)):
        if size + len(sentence) > overlap:
            break
        kept.insert(0, sentence)
        size += len(sentence) + 1
    return " ".join(kept)


def chunk_markdown(markdown: str, title: str, chunk_chars: int = 900, overlap_chars: int = 150) -> list[ChunkDraft]:
    """Chunk a Markdown (or plain) document.

    Args:
        markdown: the document text; '#' headings define sections.
        title: the document title, kept on every chunk for citations.
        chunk_chars: the most characters in one chunk (overlap included).
        overlap_chars: characters of trailing sentences repeated at the start of the next chunk.

    Returns:
        Chunks in document order.
    """
    drafts: list[ChunkDraft] = []
    for section in split_sections(markdown, title):
        section_name = " > ".join(section.path)
        anchor = slugify(section.path[-1]) if section.path else ""
        current = ""
        for piece in _pieces(section.text, chunk_chars):
            if current and len(current) + len(piece) + 2 > chunk_chars:
                drafts.append(ChunkDraft(current, title, section_name, anchor, len(drafts)))
                tail = _tail(current, overlap_chars)
                current = f"{tail}\n\n{piece}" if tail and len(tail) + len(piece) + 2 <= chunk_chars else piece
            else:
                current = f"{current}\n\n{piece}" if current else piece
        if current:
            drafts.append(ChunkDraft(current, title, section_name, anchor, len(drafts)))
    return drafts
