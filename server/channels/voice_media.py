"""Voice notes on messaging platforms: find them in webhooks, download them, send audio back.

Telegram: a `voice` (OGG/Opus) or `audio` message; getFile + /file/bot<token>/<path>; sendVoice.
WhatsApp Cloud API: an `audio` message; GET /{media-id} -> url, GET url; POST /{phone-id}/media,
then a message of type `audio`. WeChat Official Account: MsgType `voice` (AMR or Speex) with
`MediaId` and, when the account turned it on, `Recognition`; /cgi-bin/media/get; upload with
/cgi-bin/media/upload?type=voice, then a customer-service message of msgtype `voice`.
Every function takes the channel's httpx client and retry policy, so tests run them against a
local fake server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from server.channels.delivery import RetryPolicy, SendError, call

AUDIO_FORMAT: dict[str, str] = {"telegram": "ogg", "meta": "ogg", "wechat": "mp3"}  # what each platform plays
TokenGetter = Callable[..., Awaitable[str]]


class MediaError(SendError):
    """A platform would not hand over a voice note (or refused the audio we sent)."""

    code = "voice_media_failed"


# ---- finding voice notes in webhook payloads ---------------------------------------------------
def telegram_audio(message: dict[str, Any]) -> dict[str, Any] | None:
    """The voice note (or audio file) of a Telegram message, as InboundMessage.audio; None if none."""
    for key in ("voice", "audio"):
        item = message.get(key)
        if isinstance(item, dict) and isinstance(item.get("file_id"), str):
            return {"platform": "telegram", "file_id": item["file_id"], "seconds": item.get("duration")}
    return None


def whatsapp_audio(message: dict[str, Any]) -> dict[str, Any] | None:
    """The audio of a WhatsApp Cloud API message (`type: audio`); None if none."""
    audio = message.get("audio")
    if message.get("type") == "audio" and isinstance(audio, dict) and isinstance(audio.get("id"), str):
        return {"platform": "whatsapp", "media_id": audio["id"], "voice": bool(audio.get("voice"))}
    return None


def wechat_voice(fields: dict[str, str]) -> dict[str, Any] | None:
    """The voice of a WeChat message (MsgType voice): its MediaId, format and any Recognition."""
    if fields.get("MsgType") != "voice" or not fields.get("MediaId"):
        return None
    return {
        "platform": "wechat", "media_id": fields["MediaId"], "format": fields.get("Format", ""),
        "recognition": (fields.get("Recognition") or "").strip(),
    }


# ---- downloads ---------------------------------------------------------------------------------
async def fetch(
    http: httpx.AsyncClient, url: str, max_bytes: int, what: str, retry: RetryPolicy,
    headers: dict[str, str] | None = None, params: dict[str, str] | None = None,
) -> bytes:
    """GET a file with retries, refusing more than max_bytes and JSON error answers."""
    response = await call(http, "GET", url, headers=headers or {}, params=params, policy=retry, what=what)
    if int(response.headers.get("content-length") or 0) > max_bytes or len(response.content) > max_bytes:
        raise MediaError(f"{what}: the audio is larger than {max_bytes // 1024} KiB")
    if response.headers.get("content-type", "").startswith(("application/json", "text/plain")):
        raise MediaError(f"{what} refused: {response.text[:200]}")
    return response.content


async def download_telegram(
    http: httpx.AsyncClient, api_base: str, bot_token: str, file_id: str, max_bytes: int, retry: RetryPolicy
) -> bytes:
    """getFile, then the file itself (the Bot API serves files up to 20 MB)."""
    meta = await call(
        http, "GET", f"{api_base}/bot{bot_token}/getFile", params={"file_id": file_id}, policy=retry,
        what="telegram getFile",
    )
    result = (meta.json() or {}).get("result") or {}
    if not meta.json().get("ok") or not isinstance(result.get("file_path"), str):
        raise MediaError(f"telegram getFile refused: {meta.text[:200]}")
    if int(result.get("file_size") or 0) > max_bytes:
        raise MediaError(f"telegram voice note is larger than {max_bytes // 1024} KiB")
    url = f"{api_base}/file/bot{bot_token}/{result['file_path']}"
    return await fetch(http, url, max_bytes, "telegram file download", retry)


async def download_whatsapp(
    http: httpx.AsyncClient, api_base: str, version: str, access_token: str, media_id: str, max_bytes: int,
    retry: RetryPolicy,
) -> bytes:
    """GET /{version}/{media-id} for the media URL, then the bytes (both with the bearer token)."""
    headers = {"Authorization": f"Bearer {access_token}"}
    meta = await call(http, "GET", f"{api_base}/{version}/{media_id}", headers=headers, policy=retry,
                      what="whatsapp media lookup")
    info = meta.json() or {}
    if not isinstance(info.get("url"), str):
        raise MediaError(f"whatsapp media lookup gave no url: {meta.text[:200]}")
    if int(info.get("file_size") or 0) > max_bytes:
        raise MediaError(f"whatsapp audio is larger than {max_bytes // 1024} KiB")
    return await fetch(http, info["url"], max_bytes, "whatsapp media download", retry, headers=headers)


async def download_wechat(
    http: httpx.AsyncClient, api_base: str, access_token: str, media_id: str, max_bytes: int, retry: RetryPolicy
) -> bytes:
    """/cgi-bin/media/get (temporary media, kept 3 days by WeChat); errors come back as JSON."""
    params = {"access_token": access_token, "media_id": media_id}
    return await fetch(http, f"{api_base}/cgi-bin/media/get", max_bytes, "wechat media/get", retry, params=params)


# ---- sending audio -----------------------------------------------------------------------------
async def send_telegram_voice(
    http: httpx.AsyncClient, api_base: str, bot_token: str, chat_id: Any, ogg: bytes, retry: RetryPolicy
) -> None:
    """sendVoice with an OGG/Opus file (shown as a voice note)."""
    response = await call(
        http, "POST", f"{api_base}/bot{bot_token}/sendVoice", data={"chat_id": str(chat_id)},
        files={"voice": ("reply.ogg", ogg, "audio/ogg")}, policy=retry, what="telegram sendVoice",
    )
    if not response.json().get("ok"):
        raise MediaError(f"telegram sendVoice refused: {response.text[:200]}")


async def send_whatsapp_audio(
    http: httpx.AsyncClient, api_base: str, version: str, access_token: str, phone_number_id: str, to: str,
    ogg: bytes, retry: RetryPolicy,
) -> None:
    """Upload the OGG/Opus as media, then send an `audio` message with its id."""
    headers = {"Authorization": f"Bearer {access_token}"}
    base = f"{api_base}/{version}/{phone_number_id}"
    uploaded = await call(
        http, "POST", f"{base}/media", headers=headers, data={"messaging_product": "whatsapp", "type": "audio/ogg"},
        files={"file": ("reply.ogg", ogg, "audio/ogg")}, policy=retry, what="whatsapp media upload",
    )
    media_id = (uploaded.json() or {}).get("id")
    if not isinstance(media_id, str):
        raise MediaError(f"whatsapp media upload gave no id: {uploaded.text[:200]}")
    body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "audio",
            "audio": {"id": media_id}}
    await call(http, "POST", f"{base}/messages", headers=headers, json=body, policy=retry, what="whatsapp audio send")


async def send_wechat_voice(
    http: httpx.AsyncClient, api_base: str, token: TokenGetter, openid: str, mp3: bytes, retry: RetryPolicy
) -> None:
    """Upload temporary voice media (MP3/AMR, at most 2 MB and 60 s), then a voice customer-service message."""
    access_token = await token()
    uploaded = await call(
        http, "POST", f"{api_base}/cgi-bin/media/upload", params={"access_token": access_token, "type": "voice"},
        files={"media": ("reply.mp3", mp3, "audio/mpeg")}, policy=retry, what="wechat media/upload",
    )
    media_id = (uploaded.json() or {}).get("media_id")
    if not isinstance(media_id, str):
        raise MediaError(f"wechat media/upload refused: errcode {(uploaded.json() or {}).get('errcode')}")
    body = {"touser": openid, "msgtype": "voice", "voice": {"media_id": media_id}}
    sent = await call(
        http, "POST", f"{api_base}/cgi-bin/message/custom/send", params={"access_token": access_token}, json=body,
        policy=retry, what="wechat custom/send voice",
    )
    if (sent.json() or {}).get("errcode", 0) != 0:
        raise MediaError(f"wechat custom/send voice refused: errcode {sent.json().get('errcode')}")


# ---- per channel -------------------------------------------------------------------------------
def _wechat_token(channel: Any) -> TokenGetter:
    getter = getattr(channel, "access_token", None) or getattr(channel, "_token", None)
    if getter is None:
        raise MediaError("this WeChat channel cannot fetch an access token")
    return getter


async def download(channel: Any, audio: dict[str, Any], max_bytes: int) -> bytes:
    """The voice note an InboundMessage.audio names, fetched with the channel's credentials.

    Args:
        channel: the BaseChannel the message came on (its config, http client and retry policy).
        audio: the dict `telegram_audio` / `whatsapp_audio` / `wechat_voice` made.
        max_bytes: the largest audio accepted.

    Raises:
        MediaError / SendError: the platform refused or kept failing.
    """
    config, http, retry = channel.config, channel.http, channel.retry
    platform = audio.get("platform")
    if platform == "telegram":
        token = config["bot_token"]
        return await download_telegram(http, config["api_base"], token, audio["file_id"], max_bytes, retry)
    if platform == "whatsapp":
        return await download_whatsapp(
            http, config["api_base"], config["graph_version"], config["access_token"], audio["media_id"], max_bytes,
            retry,
        )
    if platform == "wechat":
        token = await _wechat_token(channel)()
        return await download_wechat(http, config["api_base"], token, audio["media_id"], max_bytes, retry)
    raise MediaError(f"voice notes from {platform!r} are not supported")


async def send_audio(channel: Any, address: dict[str, Any], data: bytes) -> None:
    """Send encoded audio (AUDIO_FORMAT[channel.kind]) to the customer an InboundMessage.address names."""
    config, http, retry = channel.config, channel.http, channel.retry
    if channel.kind == "telegram":
        await send_telegram_voice(http, config["api_base"], config["bot_token"], address["chat_id"], data, retry)
    elif channel.kind == "meta" and address.get("product") == "whatsapp":
        await send_whatsapp_audio(
            http, config["api_base"], config["graph_version"], config["access_token"], address["phone_number_id"],
            address["to"], data, retry,
        )
    elif channel.kind == "wechat":
        await send_wechat_voice(http, config["api_base"], _wechat_token(channel), address["openid"], data, retry)
    else:
        raise MediaError(f"sending audio on {channel.kind} is not supported")


def can_send_audio(kind: str, address: dict[str, Any]) -> bool:
    """Whether audio can be sent back on this channel (Messenger, Slack, LINE, generic: not yet)."""
    return kind in ("telegram", "wechat") or (kind == "meta" and address.get("product") == "whatsapp")
