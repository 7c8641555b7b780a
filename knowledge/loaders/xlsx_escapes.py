"""Excel's escapes in cell text (ST_Xstring): `_xHHHH_` stands for the UTF-16 code unit HHHH.

Excel writes characters an XML file cannot hold, and carriage returns, as `_x0000_`, `_x000D_` and so
on, and an underscore that would start such a sequence as `_x005F_`. openpyxl hands the escapes over
as they are, so a FAQ answer read "Line one_x000D_ two". Decoded here; the control characters that
come out are then dropped (tab, newline and CR kept) by registry.clean_text, like any loader's.

Known limit: openpyxl itself turns `_x005F_` into `_` in the shared-string table, so shared-string text
that literally holds an escape (Excel writes `_x005F_x000D_` for the text "_x000D_") is decoded too;
inline strings keep it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_SURROGATE = re.compile("[\ud800-\udfff]")


def decode(value: object) -> object:
    """A cell value with its `_xHHHH_` escapes decoded; other values (numbers, dates, None) unchanged.

    Escaped surrogate pairs (`_xD83D__xDE00_`) become the one character they encode; a lone surrogate
    stays for clean_text to drop.
    """
    if not isinstance(value, str) or "_x" not in value:
        return value
    text = _ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), value)
    if _SURROGATE.search(text):
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return text


def decode_row(row: Sequence[object]) -> tuple[object, ...]:
    """A worksheet row with every text cell decoded."""
    return tuple(decode(value) for value in row)
