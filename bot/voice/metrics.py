"""Word and character error rates for speech-to-text (bench/voice.py and the tests)."""

from __future__ import annotations

import re
import unicodedata

# Whisper writes Mandarin in traditional characters as often as not; fold the common ones seen in
# customer-service speech so CER measures hearing, not the script.
_T2S = str.maketrans(
    "們時營業間麼貨請辦嗎這會說話點開關還運費寄錢號碼訂單聯係"
    "滿個為來門東員務幫問題帳戶張禮價買賣結優額內長該應壞裝損護險與樣後發質實現換處轉線邊給讓沒錯購車預約寫認證動裡裏",
    "们时营业间么货请办吗这会说话点开关还运费寄钱号码订单联系"
    "满个为来门东员务帮问题账户张礼价买卖结优额内长该应坏装损护险与样后发质实现换处转线边给让没错购车预约写认证动里里",
)
_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "兩": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_UNITS = {"十": 10, "百": 100, "千": 1000}
# 万 and 亿 are left as they are: Whisper writes "1万" as often as "10000", and 万一 is not a number.
_NUMERAL_RUN = re.compile(f"[{''.join(_DIGITS)}{''.join(_UNITS)}]+")


def chinese_number(run: str) -> int | None:
    """The value of a positional Chinese numeral below 10,000 (三百零五, 两千五, 十二), else None.

    A bare digit after a unit means the next lower unit, as speakers say it (两千五 = 2500,
    三百五 = 350); after 零 it is units (三百零五 = 305).
    """
    total, digit, last_unit, after_zero = 0, None, 10_000, False
    for ch in run:
        if ch in _DIGITS:
            if digit is not None:  # two digits in a row: not positional
                return None
            if _DIGITS[ch] == 0:  # 零 marks a skipped unit: what follows is not scaled
                after_zero = True
            else:
                digit = _DIGITS[ch]
        else:
            unit = _UNITS.get(ch, last_unit)  # not a numeral character: refused just below
            if unit >= last_unit:
                return None
            total += (1 if digit is None else digit) * unit
            digit, last_unit = None, unit
    if digit is not None:
        total += digit * (last_unit // 10 if 10 < last_unit < 10_000 and not after_zero else 1)
    return total


def _fold_run(match: re.Match[str]) -> str:
    run = match.group(0)
    if not any(ch in _UNITS for ch in run):
        return "".join(str(_DIGITS[ch]) for ch in run)  # read digit by digit: 一二三 / 二零二四
    value = chinese_number(run)
    if value is not None:
        return str(value)
    return "".join(str(_DIGITS.get(ch, _UNITS.get(ch))) for ch in run)  # a count: 一二三…九十


def fold_numerals(text: str) -> str:
    """Chinese numerals as Arabic digits (一二三 -> 123, 三百五十 -> 350, 两 -> 2), so both forms score alike."""
    return _NUMERAL_RUN.sub(_fold_run, text)


def normalize(text: str) -> str:
    """Lower case, NFKC, simplified script, Chinese numerals as digits, no punctuation, single spaces."""
    text = fold_numerals(unicodedata.normalize("NFKC", text).lower().translate(_T2S))
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
