"""Decoding any customer audio to 16 kHz mono float32, and encoding replies for channels and browsers.

PyAV (the `av` wheels bundle FFmpeg) reads what platforms and browsers send: OGG/Opus (Telegram,
WhatsApp), AMR-NB/WB and Speex (WeChat), WebM/Opus and MP4/AAC (the browser's MediaRecorder), MP3,
WAV and FLAC. WeChat's SILK (personal accounts, mini programs) is not an FFmpeg format and is refused.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from typing import Literal

import numpy as np

from bot.voice.errors import AudioInvalid, AudioTooLong, VoiceOff

RATE = 16_000  # what speech-to-text models take
OutputFormat = Literal["ogg", "mp3", "wav"]
MEDIA_TYPES: dict[str, str] = {"ogg": "audio/ogg", "mp3": "audio/mpeg", "wav": "audio/wav"}
# encoder, container, sample rate: Opus only runs at 48 kHz (and 8/12/16/24)
_ENCODERS: dict[str, tuple[str, str, int]] = {"ogg": ("libopus", "ogg", 48_000), "mp3": ("libmp3lame", "mp3", 22_050)}


@dataclass(frozen=True)
class Audio:
    """Mono float32 samples in [-1, 1] at `rate` Hz."""

    samples: np.ndarray
    rate: int = RATE

    @property
    def seconds(self) -> float:
        """The duration."""
        return len(self.samples) / self.rate if self.rate else 0.0


def _av():  # type: ignore[no-untyped-def]
    try:
        import av
    except ImportError as exc:  # pragma: no cover - av is a dependency of faster-whisper
        raise VoiceOff("audio decoding needs PyAV: pip install av") from exc
    return av


def decode(data: bytes, max_seconds: float | None = None, rate: int = RATE) -> Audio:
    """Decode audio of any supported format to mono float32 at `rate` Hz.

    Args:
        data: the file's bytes (the container is recognised from the bytes, never from a name).
        max_seconds: refuse audio longer than this (decoding stops as soon as it is exceeded).
        rate: the output sample rate.

    Returns:
        The decoded audio.

    Raises:
        AudioInvalid: empty, unknown or corrupt audio, or a file without an audio stream.
        AudioTooLong: longer than max_seconds.
    """
    if not data:
        raise AudioInvalid("the audio is empty")
    av = _av()
    pieces: list[np.ndarray] = []
    total = 0
    limit = int(max_seconds * rate) if max_seconds else None
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise AudioInvalid("the file holds no audio")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    total += _collect(out, pieces)
                if limit is not None and total > limit:
                    raise AudioTooLong(f"the audio is longer than {max_seconds:g} seconds")
            for out in resampler.resample(None):
                total += _collect(out, pieces)
    except (AudioInvalid, AudioTooLong):
        raise
    except Exception as exc:  # av.error.* (FFmpegError), codec and container failures
        raise AudioInvalid(f"the audio could not be decoded ({type(exc).__name__})") from exc
    if limit is not None and total > limit:
        raise AudioTooLong(f"the audio is longer than {max_seconds:g} seconds")
    if total == 0:
        raise AudioInvalid("the audio holds no samples")
    return Audio(np.concatenate(pieces).astype(np.float32, copy=False), rate)


def _collect(frame, pieces: list[np.ndarray]) -> int:  # type: ignore[no-untyped-def]
    samples = frame.to_ndarray().reshape(-1)
    pieces.append(samples)
    return len(samples)


def encode(audio: Audio, fmt: OutputFormat) -> bytes:
    """Encode audio as OGG/Opus (messaging apps' voice notes), MP3 or 16-bit WAV.

    Raises:
        AudioInvalid: an unknown format, or the encoder failed.
    """
    if fmt == "wav":
        return _wav(audio)
    if fmt not in _ENCODERS:
        raise AudioInvalid(f"unknown audio format {fmt!r}; valid: ogg, mp3, wav")
    codec, container_format, out_rate = _ENCODERS[fmt]
    av = _av()
    buffer = io.BytesIO()
    try:
        with av.open(buffer, mode="w", format=container_format) as container:
            stream = container.add_stream(codec, rate=out_rate, layout="mono")
            if fmt == "ogg":
                stream.bit_rate = 32_000
            resampler = av.AudioResampler(format=stream.codec_context.format, layout="mono", rate=out_rate)
            frame = av.AudioFrame.from_ndarray(_clip(audio.samples).reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate = audio.rate
            for resampled in [*resampler.resample(frame), *resampler.resample(None)]:
                container.mux(stream.encode(resampled))
            container.mux(stream.encode(None))
    except Exception as exc:
        raise AudioInvalid(f"could not encode {fmt} audio ({type(exc).__name__}: {exc})") from exc
    return buffer.getvalue()


def _clip(samples: np.ndarray) -> np.ndarray:
    return np.clip(samples.astype(np.float32, copy=False), -1.0, 1.0)


def _wav(audio: Audio) -> bytes:
    pcm = (_clip(audio.samples) * 32767).astype("<i2").tobytes()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(audio.rate)
        out.writeframes(pcm)
    return buffer.getvalue()


def read_wav(data: bytes) -> Audio:
    """A 16-bit PCM WAV (what espeak-ng writes) as float32 audio, without FFmpeg.

    Raises:
        AudioInvalid: not a 16-bit PCM WAV.
    """
    try:
        with wave.open(io.BytesIO(data), "rb") as src:
            width, channels, rate = src.getsampwidth(), src.getnchannels(), src.getframerate()
            frames = src.readframes(src.getnframes())
    except (wave.Error, EOFError) as exc:
        raise AudioInvalid(f"not a WAV file ({exc})") from exc
    if width != 2:
        raise AudioInvalid(f"expected 16-bit samples, got {8 * width}-bit")
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    return Audio(samples, rate)
