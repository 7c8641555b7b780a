"""Split a long reply into messages that each fit a platform's length limit.

Cuts at paragraph breaks, then line breaks, then sentence ends (Latin `.!?` followed by a space,
Chinese/Japanese `。！？；` anywhere), then spaces and CJK commas, and only as a last resort inside a
word: never inside a URL (unless the URL alone is longer than the limit) and never between the
code points of one emoji or accented letter. Limits are counted the way each platform counts:
UTF-16 code units (Telegram, LINE and most others) or UTF-8 bytes (WeChat).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

Measure = Callable[[str], int]


def utf16_units(text: str) -> int:
    """Length in UTF-16 code units: an emoji outside the BMP counts 2 (Telegram, LINE)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def utf8_bytes(text: str) -> int:
    """Length in UTF-8 bytes: a Chinese character counts 3 (WeChat)."""
    return len(text.encode("utf-8", "surrogatepass"))


LEVELS: tuple[re.Pattern[str], ...] = (
    re.compile(r"\n[ \t]*\n\s*"),  # paragraphs
    re.compile(r"\n"),  # lines
    re.compile(r"[.!?…]+[\"'”’)\]]*\s+|[。！？；]+[”’」』）]*\s*"),  # sentences
    re.compile(r"\s+|[，、：]"),  # words and CJK clauses
)
URL = re.compile(
    r"https?://[^\s<>\"。，！？；、）」』]*[^\s<>\"。，！？；、）」』.,;:!?)\]'’”]", re.IGNORECASE
)  # a trailing full stop or bracket is the sentence's, not the link's
ZWJ = "\u200d"
ELLIPSIS = "…"


def split_text(text: str, limit: int, measure: Measure = utf16_units) -> list[str]:
    """The text as consecutive parts, each at most `limit` by `measure`, stripped of edge spaces.

    Args:
        text: the text to cut.
        limit: the most each part may measure (at least 2).
        measure: utf16_units or utf8_bytes (any measure that adds up over concatenation).

    Returns:
        One part when the text fits, else several; never an empty list.
    """
    if limit < 2:
        raise ValueError("limit must be at least 2")
    parts = [p.strip() for p in _split(text.strip(), limit, measure, 0)]
    return [p for p in parts if p] or [""]


def compose(
    body: str,
    tail: str,
    limit: int,
    measure: Measure = utf16_units,
    max_parts: int = 10,
) -> list[str]:
    """The body split into parts, with `tail` (the Sources list, numbered options) at the end.

    The tail joins the last part when it fits there, else it becomes its own part(s). When more
    than `max_parts` parts would be needed, the body is shortened at a word boundary and ends
    with "…" (the tail is kept whole).
    """
    parts = _assemble(body, tail, limit, measure)
    size = measure(body)
    while len(parts) > max_parts and size > 0:
        size = size * 9 // 10
        parts = _assemble(truncate(body, size, measure), tail, limit, measure)
    return parts[:max_parts]


def truncate(text: str, limit: int, measure: Measure = utf16_units) -> str:
    """The text cut to at most `limit` (ending with "…" when cut), at a space when one is near."""
    if measure(text) <= limit:
        return text
    if limit <= measure(ELLIPSIS):
        return ""
    cut = _safe_cut(text, _fit(text, limit - measure(ELLIPSIS), measure))
    space = text.rfind(" ", 0, cut + 1)
    if space > cut * 4 // 5:
        cut = space
    return text[:cut].rstrip() + ELLIPSIS


def _assemble(body: str, tail: str, limit: int, measure: Measure) -> list[str]:
    body, tail = body.strip(), tail.strip()
    if not tail:
        return split_text(body, limit, measure)
    whole = f"{body}\n\n{tail}" if body else tail
    if measure(whole) <= limit:
        return [whole]
    parts = split_text(body, limit, measure) if body else []
    if parts and measure(parts[-1]) + measure("\n\n" + tail) <= limit:
        parts[-1] = f"{parts[-1]}\n\n{tail}"
        return parts
    return parts + split_text(tail, limit, measure)


def _split(text: str, limit: int, measure: Measure, level: int) -> list[str]:
    if measure(text) <= limit:
        return [text]
    if level == len(LEVELS):
        return _hard_split(text, limit, measure)
    pieces = _pieces(text, LEVELS[level])
    if len(pieces) == 1:
        return _split(text, limit, measure, level + 1)
    parts: list[str] = []
    current, size = "", 0
    for piece in pieces:
        n = measure(piece)
        if size + n <= limit:
            current, size = current + piece, size + n
            continue
        if current.strip():
            parts.append(current)
        if n <= limit:
            current, size = piece, n
        else:
            *done, current = _split(piece, limit, measure, level + 1)
            parts.extend(done)
            size = measure(current)
    if current.strip():
        parts.append(current)
    return parts


def _pieces(text: str, pattern: re.Pattern[str]) -> list[str]:
    """The text cut after each match of pattern (separators stay with the piece before them)."""
    out, start = [], 0
    urls = [m.span() for m in URL.finditer(text)]
    for match in pattern.finditer(text):
        inside = any(a < match.start() < b for a, b in urls)
        if start < match.end() < len(text) and not inside:
            out.append(text[start : match.end()])
            start = match.end()
    out.append(text[start:])
    return [p for p in out if p]


def _hard_split(text: str, limit: int, measure: Measure) -> list[str]:
    parts = []
    while measure(text) > limit:
        cut = _safe_cut(text, _fit(text, limit, measure))
        parts.append(text[:cut])
        text = text[cut:]
    parts.append(text)
    return parts


def _fit(text: str, limit: int, measure: Measure) -> int:
    """The longest prefix length (in code points) that measures at most limit."""
    total = 0
    for i, ch in enumerate(text):
        total += measure(ch)
        if total > limit:
            return i
    return len(text)


def _safe_cut(text: str, cut: int) -> int:
    """Move a cut back out of a URL and out of a grapheme (emoji sequence, combining marks)."""
    original = cut
    for match in URL.finditer(text):
        if match.start() < cut < match.end() and match.start() > 0:
            cut = match.start()
            break
    while 0 < cut < len(text) and _glued(text, cut):
        cut -= 1
    return cut if cut > 0 else max(original, 1)


def _glued(text: str, cut: int) -> bool:
    """True when text[cut] belongs to the same user-perceived character as text[cut - 1]."""
    before, after = text[cut - 1], text[cut]
    if before == ZWJ or after == ZWJ or unicodedata.combining(after):
        return True
    code = ord(after)
    if 0xFE00 <= code <= 0xFE0F or 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F:
        return True  # variation selectors, skin tones, flag tags
    if _regional(after) and _regional(before):
        run = 0
        while cut - run - 1 >= 0 and _regional(text[cut - run - 1]):
            run += 1
        return run % 2 == 1  # inside a flag (two regional indicators)
    return False


def _regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF
