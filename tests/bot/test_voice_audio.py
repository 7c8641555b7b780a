"""Audio decoding and encoding (PyAV's bundled FFmpeg): every format customers' apps send."""

from __future__ import annotations

import io

import numpy as np
import pytest

from bot.voice import AudioInvalid, AudioTooLong
from bot.voice.audio import RATE, Audio, decode, encode, read_wav

av = pytest.importorskip("av")


def tone(seconds: float = 1.0, rate: int = RATE, hz: float = 440.0) -> Audio:
    """A sine tone at half scale."""
    t = np.arange(int(seconds * rate)) / rate
    return Audio((0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32), rate)


def encode_with(audio: Audio, container: str, codec: str, rate: int) -> bytes:
    """Encode with an arbitrary FFmpeg codec (to fake what a platform sends)."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        resampler = av.AudioResampler(format=stream.codec_context.format, layout="mono", rate=rate)
        frame = av.AudioFrame.from_ndarray(audio.samples.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = audio.rate
        for piece in [*resampler.resample(frame), *resampler.resample(None)]:
            out.mux(stream.encode(piece))
        out.mux(stream.encode(None))
    return buffer.getvalue()


@pytest.mark.parametrize("fmt,magic", [("ogg", b"OggS"), ("mp3", b"ID3"), ("wav", b"RIFF")])
def test_encode_then_decode_keeps_duration_and_signal(fmt: str, magic: bytes) -> None:
    data = encode(tone(1.0), fmt)  # type: ignore[arg-type]
    assert data.startswith(magic)
    back = decode(data)
    assert back.rate == RATE and back.samples.dtype == np.float32
    assert abs(back.seconds - 1.0) < 0.08
    assert 0.2 < float(np.abs(back.samples).max()) <= 1.0


@pytest.mark.parametrize(
    "container,codec,rate",
    [("webm", "libopus", 48_000), ("amr", "libopencore_amrnb", 8_000), ("ogg", "libopus", 48_000)],
    ids=["browser-webm-opus", "wechat-amr-nb", "telegram-ogg-opus"],
)
def test_decodes_what_platforms_send(container: str, codec: str, rate: int) -> None:
    back = decode(encode_with(tone(2.0, 48_000), container, codec, rate))
    assert back.rate == RATE
    assert abs(back.seconds - 2.0) < 0.1


def test_too_long_is_refused_while_decoding() -> None:
    with pytest.raises(AudioTooLong, match="longer than 1 seconds"):
        decode(encode(tone(3.0), "wav"), max_seconds=1.0)


@pytest.mark.parametrize("data", [b"", b"not audio at all" * 50, b"#!SILK_V3" + bytes(200)])
def test_garbage_empty_and_silk_are_refused_clearly(data: bytes) -> None:
    with pytest.raises(AudioInvalid):
        decode(data)


def test_read_wav_without_ffmpeg_mixes_channels_down() -> None:
    stereo = np.stack([tone(0.5).samples, tone(0.5).samples], axis=1)
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((stereo * 32767).astype("<i2").tobytes())
    audio = read_wav(buffer.getvalue())
    assert audio.rate == RATE and audio.samples.ndim == 1 and abs(audio.seconds - 0.5) < 0.01
    with pytest.raises(AudioInvalid):
        read_wav(b"RIFF0000WAVEjunk")


def test_unknown_output_format_is_refused() -> None:
    with pytest.raises(AudioInvalid, match="unknown audio format"):
        encode(tone(0.1), "flac")  # type: ignore[arg-type]
