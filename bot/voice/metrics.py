"""Word and character error rates for speech-to-text (bench/voice.py and the tests)."""

from __future__ import annotations

import re
import unicodedata

# Whisper writes Mandarin in traditional characters as often as not; fold the common ones seen in
# customer-service speech so CER measures hearing, not the script.
_T2S = str.maketrans(
    "們時營業間麼貨請辦嗎這會說話點開關還運費寄錢號碼訂單聯係",
    "们时营业间么货请办吗这会说话点开关还运费寄钱号码订单联系",
)


def normalize(text: str) -> str:
    """Lower case, NFKC, no punctuation, single spaces."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_T2S)
    text = "".join(" " if unicodedata.category(ch).startswith(("P", "S")) else ch for ch in text)
    return re.sub(r"\s+", " ", text).strip()


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance between two token lists."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, start=1):
        current = [i]
        for j, hyp in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate (English and other space-separated languages)."""
    ref, hyp = normalize(reference).split(), normalize(hypothesis).split()
    return edit_distance(ref, hyp) / max(len(ref), 1)


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate, spaces ignored (Chinese)."""
    ref, hyp = list(normalize(reference).replace(" ", "")), list(normalize(hypothesis).replace(" ", ""))
    return edit_distance(ref, hyp) / max(len(ref), 1)
