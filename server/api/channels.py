"""Messaging-platform webhooks: GET|POST /webhooks/{kind}/{bot}/{channel_id} (docs/channels.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Request, Response

from server.channels.base import WebhookRequest
from server.channels.service import ChannelService
from server.errors import FrontdeskError
from server.voice_turns import ChannelVoice, voice_service

MAX_BODY_BYTES = 1024 * 1024


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Build the channel service (and its HTTP client) after the app's services; close it after."""
    app.state.channels = ChannelService(app.state.chat, voice=ChannelVoice(voice_service(app)))
    try:
        yield
    finally:
        await app.state.channels.aclose()


router = APIRouter(tags=["channels"], lifespan=lifespan)


def get_channels(request: Request) -> ChannelService:
    """The channel service, built in the lifespan."""
    return request.app.state.channels


ChannelsDep = Annotated[ChannelService, Depends(get_channels)]


async def read_body(request: Request) -> bytes:
    """The raw body (signatures are over these exact bytes), at most MAX_BODY_BYTES."""
    if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
        raise FrontdeskError("webhook body too large", code="too_large", status=413)
    body = b""
    async for piece in request.stream():
        body += piece
        if len(body) > MAX_BODY_BYTES:
            raise FrontdeskError("webhook body too large", code="too_large", status=413)
    return body


PATH = "/webhooks/{kind}/{bot_slug}/{channel_id}"


async def _webhook(
    kind: str,
    bot_slug: str,
    channel_id: str,
    request: Request,
    background: BackgroundTasks,
    channels: ChannelService,
) -> Response:
    incoming = WebhookRequest(
        request.method, dict(request.headers), dict(request.query_params), await read_body(request)
    )
    answer = await channels.handle(kind, bot_slug, channel_id, incoming, background)
    return Response(
        answer.body, status_code=answer.status, media_type=answer.media_type, background=background
    )


@router.get(PATH)
async def webhook_setup(
    kind: str,
    bot_slug: str,
    channel_id: str,
    request: Request,
    background: BackgroundTasks,
    channels: ChannelsDep,
) -> Response:
    """Answer a platform's setup handshake (Meta hub.challenge, WeChat echostr)."""
    return await _webhook(kind, bot_slug, channel_id, request, background, channels)


@router.post(PATH)
async def webhook(
    kind: str,
    bot_slug: str,
    channel_id: str,
    request: Request,
    background: BackgroundTasks,
    channels: ChannelsDep,
) -> Response:
    """Receive a platform's webhook: verify, persist, answer 2xx now, reply later."""
    return await _webhook(kind, bot_slug, channel_id, request, background, channels)
