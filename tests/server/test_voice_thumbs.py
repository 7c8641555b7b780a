"""👍/👎 on a spoken Telegram reply: the buttons go under the reply's text, which is sent before its audio.

The audio (sendVoice) carries none, so a voice reply is rated once, like a typed one.
"""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import httpx

from server.voice_turns import ChannelVoice
from tests.server.test_voice_channels import NOTE, Platform, channel_on, conversation, run_turn, shop, stored

__all__ = ["shop"]  # the fixture, imported for pytest


def test_a_spoken_reply_on_telegram_is_rated_under_its_text(shop) -> None:  # type: ignore[no-untyped-def]
    telegram = Platform(
        {
            "/getFile": httpx.Response(200, json={"ok": True, "result": {"file_path": "v/1.oga"}}),
            "/v/1.oga": httpx.Response(200, content=NOTE),
            "/sendMessage": httpx.Response(200, json={"ok": True}),
            "/sendVoice": httpx.Response(200, json={"ok": True}),
        }
    )
    channel = channel_on("telegram", {"bot_token": "123:abc", "secret_token": "s"}, telegram)
    channel.thumbs = True  # the bot's channel_thumbs setting
    conv = conversation(shop, "telegram")
    message = SimpleNamespace(
        message_id="upd-7", text="[voice]", address={"chat_id": 42}, audio={"platform": "telegram", "file_id": "F1"}
    )
    asyncio.run(
        ChannelVoice(shop.voice).answer(shop.bot, conv, channel, message, lambda b, c, m: run_turn(shop, b, c, m))
    )
    _, reply = stored(shop, conv)
    by_path = {path.rsplit("/", 1)[-1]: request for _, path, request in telegram.calls}
    text = json.loads(by_path["sendMessage"].content)
    assert text["reply_markup"]["inline_keyboard"][-1] == [
        {"text": "👍", "callback_data": f"thumb:1:{reply.id}"},
        {"text": "👎", "callback_data": f"thumb:-1:{reply.id}"},
    ]
    assert b"reply_markup" not in by_path["sendVoice"].content and reply.trace["voice"]["sent"] is True
