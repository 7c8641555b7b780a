"""Whether a customer's message answers the 1-5 channel survey, and the comment that came with it.

A message is an answer when it starts with a bare 1-5 (full-width digits too, or a button's `csat:3`)
and what follows cannot make that digit a quantity:

- nothing, a score unit ("4分", "4 stars", "4/5", "4 out of 5", "5⭐"), then anything;
- a separator, then the comment ("4 - too slow", "4, great", "4。很好");
- a space and text that does not count something: "4 great support" and "4 满意" are answers,
  "3 items are missing", "2 orders", "1 more question", "2 broken items" and "5个包裹没到" are not.

English has no classifiers, so "counts something" is a heuristic: the next word is a usual counted
noun or quantity word ("more", "order", "days"), or looks plural ("items"), or the word after an
adjective does ("2 broken items"). Chinese puts a measure word right after a number (个, 件, 天, 号…).
When in doubt the message is not an answer: a lost rating costs less than a question the bot never sees.
"""

from __future__ import annotations

import re
import unicodedata

SEPARATORS = "-–—:,.!。，、！)）;；~～|"
OPENERS = "(（\"'“‘「【["
ANSWER = re.compile(
    r"^(?:csat:)?(?P<score>[1-5])"
    r"(?![\d.,]*\d)"  # not 10, 45, 4.5 or 4,5
    r"(?!\s*[-–—~～到至]\s*\d)"  # not a range: "2-3 days", "1~2"
    r"(?P<space>\s*)"
    r"(?P<unit>分(?!钟)|颗星|星(?!期|级)|stars?\b|points?\b|pts\b|(?:out\s+)?of\s+5\b|/\s*5(?!\d)|⭐+|★+)?"
    r"(?P<rest>.*)$",
    re.S | re.I,
)
# Chinese measure words and quantity suffixes: a number right before one counts something.
MEASURE = re.compile(
    r"^(?:小时|分钟|星期|礼拜|公斤|千克|公里|厘米|毫米|块钱|"
    r"[个件位名只条张本台部辆双对套份包箱盒袋瓶杯碗块片支根把颗粒枚次回遍趟下天日号月年周秒点岁元角毛斤克吨米"
    r"层楼间家单笔种样项批折倍季期页章集人多几成万千百十星])"
)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


QUANTITY_WORDS = _words(
    "more less other another of out or to x times time item order package parcel product piece pcs unit box bag "
    "bottle question thing problem issue day week month year hour hr min minute sec second am pm person people "
    "kg lb euro dollar usd eur gbp rmb yuan cny percent"
)
COMMENT_LEADS = _words(  # words that start a comment, not a counted noun phrase: "5 the agents were great"
    "i i'm im it it's its you your we they he she the this that was is are were very so really too not no yes "
    "thanks thank and but just"
)
NOT_PLURAL = _words(
    "thanks always perhaps sometimes yes this was has does goes its it's seems looks works helps feels sounds "
    "means needs gets makes takes kudos cheers"
)


def split_answer(text: str) -> tuple[int, str] | None:
    """(score, comment) of a survey answer ("" for no comment), or None when the text is not one.

    Args:
        text: the customer's message, as received.

    Returns:
        The 1-5 score and the comment after it (trimmed, separators removed), or None.
    """
    match = ANSWER.match(unicodedata.normalize("NFKC", text).strip())
    if match is None:
        return None
    rest = match["rest"].strip()
    if not rest:
        return int(match["score"]), ""
    if match["unit"] or rest[0] in SEPARATORS:
        return int(match["score"]), rest.lstrip(SEPARATORS).strip()
    if not _comment_after(rest, spaced=bool(match["space"])):
        return None
    return int(match["score"]), rest


def _comment_after(rest: str, *, spaced: bool) -> bool:
    """Whether rest (right after the digit, no separator) reads as a comment rather than what the digit counts."""
    first = rest[0]
    if unicodedata.category(first) == "So":  # an emoji: "5👍"
        return True
    if _is_cjk(first):
        return MEASURE.match(rest) is None
    if not spaced:  # "3items", "1st", "4pm", "3%", "3/4"
        return False
    if first in OPENERS:
        return True
    if not first.isalpha():  # "2 3", "4 ?", "5 $"
        return False
    return not _counts_something([w.strip(SEPARATORS + OPENERS + "?\"'”’").casefold() for w in rest.split()[:2]])


def _counts_something(words: list[str]) -> bool:
    """Whether the first English words after a number are what it counts: "items", "more questions", "broken items"."""
    first = words[0]
    if first in QUANTITY_WORDS or _plural(first):
        return True
    if first in COMMENT_LEADS or len(words) < 2:
        return False
    return words[1] in QUANTITY_WORDS - {"of", "or", "to", "more", "less"} or _plural(words[1])


def _plural(word: str) -> bool:
    """A word that looks like an English plural noun (a heuristic: "items" yes, "thanks", "was", "glass" no)."""
    return (
        len(word) > 3
        and word.endswith("s")
        and not word.endswith(("ss", "us", "is", "ous", "'s"))
        and word not in NOT_PLURAL
    )


def _is_cjk(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf" or "\uf900" <= char <= "\ufaff"
