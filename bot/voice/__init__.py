"""Voice: speech-to-text for customers who speak, text-to-speech for replies (docs/voice.md).

Nothing here imports the server: `VoiceEngine` turns audio bytes into a transcript and a reply
text into encoded audio; the server decides where the audio comes from and goes to.
"""

from bot.voice.config import VoiceSettings
from bot.voice.engine import VoiceEngine
from bot.voice.errors import (
    AudioInvalid,
    AudioTooLong,
    SynthesisFailed,
    TranscriptionFailed,
    VoiceError,
    VoiceOff,
)
from bot.voice.stt import Transcriber, Transcript, create_transcriber
from bot.voice.tts import Speech, Synthesizer, create_synthesizer

__all__ = [
    "AudioInvalid",
    "AudioTooLong",
    "Speech",
    "SynthesisFailed",
    "Synthesizer",
    "Transcriber",
    "Transcript",
    "TranscriptionFailed",
    "VoiceEngine",
    "VoiceError",
    "VoiceOff",
    "VoiceSettings",
    "create_synthesizer",
    "create_transcriber",
]
