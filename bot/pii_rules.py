"""Postal addresses and people's names found by rules, Chinese and English (used by bot.pii).

Chinese addresses are written in a fixed order with fixed markers (省 / 市 / 区 / 县 / 镇 / 路 / 街 /
巷 / 号 / 栋 / 单元 / 室), so a rule finds them well: a street or estate with a house number, with the
administrative divisions before it and the building, unit and room after it. English addresses
are found when they have a house number and a street type ("221B Baker Street", "12 Oak Ave,
Apt 4, Springfield, IL 62704"), and UK postcodes or US "STATE 12345" may follow.

Names are found by cues only: a common Chinese surname after 我叫 / 姓名 / 收件人 / 联系人 or before
先生 / 女士 / 小姐, and a capitalised name after "my name is", "name:" or a title (Mr, Mrs, Ms, Dr).
A name said with no cue ("Tell Priya I called") is found only by the optional model detector
(bot/pii_ner.py). Measured on tests/bot/data/pii_names_addresses.jsonl (docs/privacy.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

Span = tuple[str, int, int]  # (kind, start, end)

_HAN = r"\u4e00-\u9fff"
_NUM = r"[0-9０-９一二三四五六七八九十百千零〇两]+"
_PLACE = rf"[{_HAN}A-Za-z0-9]{{1,10}}?"
# divisions: optional, in order; the street (or estate) with a number is what makes it an address
_CN_ADDRESS = re.compile(
    rf"(?:[{_HAN}]{{2,8}}?(?:省|自治区|特别行政区))?"
    rf"(?:[{_HAN}]{{1,8}}?(?:市|自治州|州|盟|地区))?"
    rf"(?:[{_HAN}]{{1,8}}?(?:区|县|旗))?"
    rf"(?:[{_HAN}]{{1,8}}?(?:镇|乡|街道))?"
    rf"(?:{_PLACE}(?:大道|路|街|道|巷|弄|胡同|里)(?:{_NUM}(?:段|巷|弄))?{_NUM}号"
    rf"|{_PLACE}(?:小区|花园|公寓|大厦|苑|村|广场|中心)(?=\s*{_NUM}(?:栋|幢|座|号楼|单元|室)))"
    rf"(?:\s*[{_HAN}A-Za-z]{{0,10}}?(?:小区|花园|公寓|大厦|大楼|写字楼|苑|广场|中心|城|园))?"
    rf"(?:\s*[A-Za-z]?{_NUM}(?:栋|幢|座|号楼|楼|层))?"
    rf"(?:\s*{_NUM}单元)?"
    rf"(?:\s*[A-Za-z]?{_NUM}(?:室|房|号房|层|楼))?"
)
# words that lead into an address, cut off the front of a match ("请寄到北京市…" -> "北京市…")
_CN_LEAD = re.compile(r"^.*(?:地址是|地址为|地址|寄到|寄往|送到|送往|发到|住在|位于|搬到|在|到|是|为|：|:)")
_STREET_TYPES = (
    "Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Boulevard|Blvd|Court|Ct|Place|Pl|Way|Terrace|Close|"
    "Crescent|Square|Sq|Highway|Hwy|Parkway|Pkwy|Row|Mews|Gardens|Grove|Hill"
)
_EN_ADDRESS = re.compile(
    rf"\b\d{{1,5}}[A-Za-z]?,?\s+(?:[A-Z][A-Za-z'-]+\.?\s+){{1,4}}(?:{_STREET_TYPES})\b\.?"
    r"(?:,?\s*(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|#)\.?\s*#?\w{1,6})?"
    r"(?:,\s*[A-Z][a-z]+(?:\s[A-Z][a-z]+){0,2}(?=,|\s+[A-Z]{1,2}\d|\s*$|\.|\s+[A-Z]{2}\s+\d{5}))?"
    r"(?:,?\s*(?:[A-Z]{2}\s+\d{5}(?:-\d{4})?|[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}))?"
)
_PO_BOX = re.compile(r"\bP\.?\s?O\.?\s+Box\s+\d{1,6}\b", re.IGNORECASE)

# the most common Chinese surnames (two-character ones first, so they win)
_SURNAMES_2 = "欧阳|司马|诸葛|上官|东方|慕容|司徒|夏侯|皇甫|尉迟|公孙|令狐|长孙|宇文"
_SURNAMES_1 = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
    "姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施"
)
_CN_SURNAME = rf"(?:{_SURNAMES_2}|[{_SURNAMES_1}])"
_CN_NAME_AFTER_CUE = re.compile(
    rf"(?:我叫|我的名字是|名字叫|姓名|收件人|收货人|联系人|寄件人|客户名)\s*[:：是为]?\s*({_CN_SURNAME}[{_HAN}]{{1,2}})"
    rf"(?=$|[^{_HAN}]|[，。,.\s]|的|先生|女士|小姐|电话|手机|地址)"
)
_CN_NAME_TITLE = re.compile(rf"({_CN_SURNAME}[{_HAN}]{{0,2}}?)(?:先生|女士|小姐)")
_EN_NAME_CUE = re.compile(
    r"(?:\b[Mm]y name is|\b[Nn]ame\s*:|\b[Tt]his is|\b[Ii]t's|\b[Ss]igned,?)\s+"
    r"([A-Z][a-z]+(?:[ -][A-Z][a-z]+){0,2})"
)
_EN_NAME_TITLE = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.?\s+([A-Z][a-z]+(?:[ -][A-Z][a-z]+){0,2})")
_NOT_NAMES = frozenset(
    {
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "Here",
        "Urgent",
        "About",
        "Regarding",
        "The",
        "Your",
        "Our",
        "A",
        "An",
        "Not",
        "Just",
    }
)


def _cn_addresses(text: str) -> Iterator[Span]:
    for match in _CN_ADDRESS.finditer(text):
        start, end = match.start(), match.end()
        lead = _CN_LEAD.match(text, start, end)
        if lead is not None and lead.end() < end:
            start = lead.end()
        # the rest must still hold a house or room number
        if re.search(rf"{_NUM}(?:号|栋|幢|座|单元|室|房)", text[start:end]):
            yield ("address", start, end)


def find_addresses(text: str) -> list[Span]:
    """Postal addresses in text: Chinese (divisions, street, number, building, room) and English."""
    spans = list(_cn_addresses(text))
    spans += [("address", m.start(), m.end()) for m in _EN_ADDRESS.finditer(text)]
    spans += [("address", m.start(), m.end()) for m in _PO_BOX.finditer(text)]
    return spans


def find_names(text: str) -> list[Span]:
    """People's names that come with a cue: 我叫 / 收件人 / 先生 …, "my name is", Mr / Ms / Dr …"""
    spans: list[Span] = []
    for pattern in (_CN_NAME_AFTER_CUE, _CN_NAME_TITLE, _EN_NAME_CUE, _EN_NAME_TITLE):
        for match in pattern.finditer(text):
            name = match.group(1)
            if name.split()[0] in _NOT_NAMES:
                continue
            spans.append(("name", match.start(1), match.end(1)))
    return spans
