"""Errors of the voice package; each message is safe to show to the customer or operator."""

from bot.errors import BotError


class VoiceError(BotError):
    """Base class: something about voice input or output went wrong."""

    code = "voice_error"


class VoiceOff(VoiceError):
    """Voice is not configured on this server (the message says what to install or set)."""

    code = "voice_off"


class AudioInvalid(VoiceError):
    """The audio could not be decoded (unknown format, empty, corrupt)."""

    code = "bad_audio"


class AudioTooLong(VoiceError):
    """The audio is longer than the configured maximum."""

    code = "audio_too_long"


class TranscriptionFailed(VoiceError):
    """The speech-to-text model failed or heard nothing."""

    code = "transcription_failed"


class SynthesisFailed(VoiceError):
    """The text-to-speech engine failed."""

    code = "synthesis_failed"
