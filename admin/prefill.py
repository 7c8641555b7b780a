"""Customer text carried in a console link (the metrics page's "fix" links), made fit to prefill a form.

The metrics page links each unanswered or low-rated question to the knowledge, intents and rules
pages with the question in the query string (`?question=`, `?example=`, `?text=`). That text is
the customer's, not the business's: it is shown autoescaped only, and reduced here to one line of
printable characters of bounded length, so no value of the query string can fail a page.
(A NUL never gets this far: server/text_guard.py refuses it with 422 at the edge.)
"""

from __future__ import annotations

import unicodedata

MAX_PREFILL = 2000  # characters kept of a question carried in a link
# bidirectional embeddings, overrides and isolates: they could make the shown text read differently
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _char(ch: str) -> str:
    if ch in _BIDI:
        return ""
    category = unicodedata.category(ch)
    if category == "Cc":  # control characters, newlines and tabs included: a space
        return " "
    return "" if category in ("Cs", "Co") else ch  # lone surrogates, private use


def prefill(value: str | None, limit: int = MAX_PREFILL) -> str:
    """One line of the customer's text: control characters become spaces, runs of space one, at most `limit` characters.

    Args:
        value: the raw query-string value (None or empty: no prefill).
        limit: the most characters kept (the target form field's own limit, when smaller).

    Returns:
        The cleaned text, "" when nothing printable is left.
    """
    if not value:
        return ""
    text = " ".join("".join(_char(ch) for ch in value[: limit * 4]).split())
    return text[:limit].rstrip()
