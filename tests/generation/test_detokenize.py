"""Incremental detokenization keeps words and multi-byte characters whole."""

from __future__ import annotations

from typing import Any

import pytest

from bot.generation.detokenize import INCOMPLETE, TextDeltas

TEXT = "退货政策：三十天内可退。Standard shipping takes 3-5 business days, 快递 1-2 天。"


@pytest.fixture(scope="module")
def byte_level_tokenizer() -> Any:
    """A byte-level BPE (as Qwen and GPT-2 use) trained on a few lines, so CJK characters split into bytes."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    core = ByteLevelBPETokenizer()
    core.train_from_iterator(["shipping takes business days standard"] * 5, vocab_size=300, min_frequency=1)
    return PreTrainedTokenizerFast(tokenizer_object=core._tokenizer)


def test_deltas_concatenate_to_the_full_decode_without_broken_characters(byte_level_tokenizer: Any) -> None:
    ids = byte_level_tokenizer.encode(TEXT)
    assert len(ids) > len(TEXT) // 2, "CJK characters should span several byte tokens"
    deltas = TextDeltas(byte_level_tokenizer)
    pieces = [deltas.push(ids[:n]) for n in range(1, len(ids) + 1)]
    pieces.append(deltas.push(ids, final=True))
    assert "".join(pieces) == byte_level_tokenizer.decode(ids) == TEXT
    assert not any(INCOMPLETE in piece for piece in pieces)
    assert sum(1 for piece in pieces if piece) > 10, "text streams piece by piece"


def test_final_push_releases_a_trailing_partial_character(byte_level_tokenizer: Any) -> None:
    ids = byte_level_tokenizer.encode("好")
    assert len(ids) > 1
    deltas = TextDeltas(byte_level_tokenizer)
    assert deltas.push(ids[:1]) == ""
    assert deltas.push(ids[:1], final=True) == byte_level_tokenizer.decode(ids[:1])
    assert deltas.push(ids[:1]) == ""
