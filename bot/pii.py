"""Personal data in customer text: find it and redact it.

Found: e-mail addresses, phone numbers (Google's libphonenumber via `phonenumbers`, tried for each
configured region), payment card numbers (13-19 digits passing the Luhn check), Chinese resident ID
numbers (18 characters with the ISO 7064 MOD 11-2 check digit), US social security numbers, IBANs
(mod-97 check), IP addresses, postal addresses (Chinese and English, by rules: bot/pii_rules.py)
and people's names (by cues such as 我叫 / 收件人 / 先生 / "my name is" / Mr, and, when enabled, by
spaCy's English NER model: bot/pii_ner.py). What is missed is listed in docs/privacy.md.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers

from bot import pii_ner, pii_rules

DEFAULT_REGIONS = ("US", "CN", "GB")
LABELS = {
    "email": "[EMAIL]",
    "phone": "[PHONE]",
    "card": "[CARD]",
    "cn_id": "[ID]",
    "ssn": "[ID]",
    "iban": "[IBAN]",
    "ip": "[IP]",
    "address": "[ADDRESS]",
    "name": "[NAME]",
}
# when two finds overlap, the more specific kind wins (a card number also parses as a phone number)
_PRECEDENCE = {"email": 0, "card": 1, "iban": 2, "cn_id": 3, "ssn": 4, "ip": 5, "phone": 6, "address": 7, "name": 8}

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_CN_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_SSN = re.compile(r"(?<!\d)(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?!\d)")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_ID_CHECK = "10X98765432"


@dataclass(frozen=True)
class PiiMatch:
    """One piece of personal data in a text."""

    kind: str
    start: int
    end: int
    text: str


def luhn_ok(digits: str) -> bool:
    """Whether a digit string passes the Luhn check used by payment cards."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def cn_id_ok(value: str) -> bool:
    """Whether an 18-character Chinese resident ID has a valid check character."""
    if len(value) != 18 or not value[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _CN_ID_WEIGHTS, strict=True))
    return _CN_ID_CHECK[total % 11] == value[17].upper()


def iban_ok(value: str) -> bool:
    """Whether an IBAN passes its mod-97 check."""
    compact = value.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def find_pii(text: str, regions: Iterable[str] = DEFAULT_REGIONS) -> list[PiiMatch]:
    """Personal data found in text, in order, without overlaps."""
    found: list[PiiMatch] = []

    def add(kind: str, start: int, end: int) -> None:
        found.append(PiiMatch(kind, start, end, text[start:end]))

    for m in _EMAIL.finditer(text):
        add("email", m.start(), m.end())
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and luhn_ok(digits):
            add("card", m.start(), m.end())
    for m in _CN_ID.finditer(text):
        if cn_id_ok(m.group()):
            add("cn_id", m.start(), m.end())
    for m in _SSN.finditer(text):
        add("ssn", m.start(), m.end())
    for m in _IBAN.finditer(text):
        if iban_ok(m.group()):
            add("iban", m.start(), m.end())
    for m in _IPV4.finditer(text):
        try:
            ipaddress.IPv4Address(m.group())
        except ValueError:
            continue
        add("ip", m.start(), m.end())
    for region in regions:
        for m in phonenumbers.PhoneNumberMatcher(text, region):
            add("phone", m.start, m.end)
    for kind, start, end in pii_rules.find_addresses(text) + pii_rules.find_names(text) + pii_ner.find_names(text):
        add(kind, start, end)
    return _without_overlaps(found)


def _without_overlaps(found: list[PiiMatch]) -> list[PiiMatch]:
    kept: list[PiiMatch] = []
    for match in sorted(found, key=lambda m: (_PRECEDENCE[m.kind], -(m.end - m.start), m.start)):
        if all(match.end <= k.start or match.start >= k.end for k in kept):
            kept.append(match)
    return sorted(kept, key=lambda m: m.start)


def redact(text: str, regions: Iterable[str] = DEFAULT_REGIONS) -> str:
    """The text with each piece of personal data replaced by a label such as [EMAIL] or [CARD]."""
    out: list[str] = []
    position = 0
    for match in find_pii(text, regions):
        out.append(text[position : match.start])
        out.append(LABELS[match.kind])
        position = match.end
    out.append(text[position:])
    return "".join(out)
