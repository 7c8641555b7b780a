"""Incremental detokenization: turn a growing list of token ids into text deltas.

Decoding each new token alone breaks words (SentencePiece drops the leading space of a lone
piece) and multi-byte characters (a Chinese character can span several byte-level tokens). The
window method used by vLLM avoids both: decode a few tokens of context before the new ones and
emit only the text that grew, holding back while the tail is an incomplete character.
"""

from __future__ import annotations

from typing import Any

INCOMPLETE = "\ufffd"  # what a tokenizer prints for a partial UTF-8 sequence


class TextDeltas:
    """Feed it the generated token ids so far; it returns the text not yet returned."""

    def __init__(self, tokenizer: Any, skip_special_tokens: bool = True) -> None:
        self.tokenizer = tokenizer
        self.skip_special_tokens = skip_special_tokens
        self.prefix_offset = 0
        self.read_offset = 0

    def push(self, tokens: list[int], final: bool = False) -> str:
        """Return the text that `tokens` (the whole generated list so far) adds to what was returned.

        Args:
            tokens: every generated token id so far, in order; the list only grows between calls.
            final: the last call: return the rest even if it ends in an incomplete character.

        Returns:
            The new text, or "" while nothing complete was added.
        """
        if len(tokens) <= self.read_offset:
            return ""
        prefix = self._decode(tokens[self.prefix_offset : self.read_offset])
        text = self._decode(tokens[self.prefix_offset :])
        if len(text) <= len(prefix) or (text.endswith(INCOMPLETE) and not final):
            return ""
        self.prefix_offset, self.read_offset = self.read_offset, len(tokens)
        return text[len(prefix) :]

    def _decode(self, tokens: list[int]) -> str:
        if not tokens:
            return ""
        return str(self.tokenizer.decode(tokens, skip_special_tokens=self.skip_special_tokens))
