"""Quick-reply buttons on messaging platforms: cleaning, fitting, numbered lines, and answers.

A quick reply is `{"title", "payload"}` (bot/actions.py): the title is shown, the payload is what
the customer "says" by choosing it. Platforms without buttons get numbered lines; a customer who
then answers "1" (or a button's exact title, which is what a Telegram reply keyboard sends back)
means that button of the bot's last reply: `resolve_choice` is the one place that decides.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

Button = dict[str, str]
ELLIPSIS = "…"
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
NUMBER = re.compile(r"^#?\s*(\d{1,2})\s*[.)。、:]?$")


def clean(raw: Any) -> list[Button]:
    """The well-formed buttons of a stored reply's `trace.quick_replies` (others are dropped)."""
    if not isinstance(raw, list):
        return []
    out = []
    for item in raw:
        if isinstance(item, str) and item.strip():
            item = {"title": item, "payload": item}
        if not isinstance(item, dict) or not isinstance(item.get("title"), str):
            continue
        title = item["title"].strip()
        payload = item.get("payload")
        payload = payload.strip() if isinstance(payload, str) and payload.strip() else title
        if title:
            out.append({"title": title, "payload": payload})
    return out


def fit(text: str, limit: int) -> str:
    """Text cut to `limit` characters, ending with "…" when cut (button labels)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def is_cjk(text: str) -> bool:
    """Whether the text has Chinese, Japanese or Korean characters (to pick the option wording)."""
    return bool(CJK.search(text))


def numbered_lines(buttons: list[Button], reply_text: str = "") -> str:
    """The buttons as lines to answer by number: "Reply 1 for …" (or "回复 1：…" after a CJK reply)."""
    if is_cjk(reply_text):
        return "\n".join(f"回复 {i}：{b['title']}" for i, b in enumerate(buttons, 1))
    return "\n".join(f"Reply {i} for {b['title']}" for i, b in enumerate(buttons, 1))


def normalise(text: str) -> str:
    """NFKC (full-width digits become ASCII), trimmed and case-folded, for comparing answers."""
    return unicodedata.normalize("NFKC", text).strip().casefold()


def resolve_choice(text: str, buttons: list[Button]) -> str | None:
    """The payload a customer's answer picks from the last reply's buttons, or None.

    "2", "2.", "#2" or "２" pick the second button; an answer equal to a button's title (ignoring
    case) picks that button. Anything else is ordinary text.
    """
    if not buttons:
        return None
    answer = normalise(text)
    number = NUMBER.match(answer)
    if number and 1 <= int(number.group(1)) <= len(buttons):
        return buttons[int(number.group(1)) - 1]["payload"]
    for button in buttons:
        if normalise(button["title"]) == answer:
            return button["payload"]
    return None


def ids(buttons: list[Button], max_len: int) -> list[str]:
    """Button ids for platforms that echo an id back: the payload when all fit and are distinct,
    else the button numbers ("1", "2", …), which `resolve_choice` maps back to the payloads."""
    payloads = [b["payload"] for b in buttons]
    if len(set(payloads)) == len(payloads) and all(0 < len(p) <= max_len for p in payloads):
        return payloads
    return [str(i) for i in range(1, len(buttons) + 1)]
