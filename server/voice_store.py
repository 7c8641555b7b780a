"""Where voice audio lives and what is recorded about it on the stored messages.

Files sit in `DATA_DIR/voice/{bot_id}/{conversation_id}/{message_id}.{ext}`: the customer's audio
as it arrived, the bot's spoken reply as it was sent. A conversation's folder goes when the
conversation goes (`purge_orphans`, run after deletions and by the retention loop).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from server.tables import Conversation, Message

VOICE_DIR = "voice"
PLACEHOLDER = "[voice]"  # a customer's voice message until it is transcribed
_SAFE = re.compile(r"[A-Za-z0-9_]+")
# container signatures -> file extension (for the operator; decoding never trusts it)
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"OggS", 0, ".ogg"), (b"\x1aE\xdf\xa3", 0, ".webm"), (b"#!AMR-WB", 0, ".awb"), (b"#!AMR", 0, ".amr"),
    (b"RIFF", 0, ".wav"), (b"ID3", 0, ".mp3"), (b"fLaC", 0, ".flac"), (b"ftyp", 4, ".m4a"),
    (b"#!SILK", 0, ".silk"), (b"\x02#!SILK", 0, ".silk"),
)


def extension(data: bytes) -> str:
    """A file extension for audio bytes, from their first bytes ('.audio' when unknown)."""
    for signature, offset, suffix in _SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            return suffix
    if data[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return ".mp3"
    return ".audio"


def folder(data_dir: Path, bot_id: str, conversation_id: str) -> Path:
    """A conversation's voice folder (ids are checked: they become path parts)."""
    for part in (bot_id, conversation_id):
        if not _SAFE.fullmatch(part):
            raise ValueError(f"unsafe id {part!r}")
    return data_dir / VOICE_DIR / bot_id / conversation_id


def save(data_dir: Path, bot_id: str, conversation_id: str, message_id: str, data: bytes, suffix: str) -> str:
    """Write audio for a message; returns the file name (relative to the conversation's folder)."""
    if not _SAFE.fullmatch(message_id):
        raise ValueError(f"unsafe id {message_id!r}")
    target = folder(data_dir, bot_id, conversation_id)
    target.mkdir(parents=True, exist_ok=True)
    name = f"{message_id}{suffix}"
    temp = target / f".{name}.tmp"
    temp.write_bytes(data)
    temp.replace(target / name)
    return name


def find(data_dir: Path, bot_id: str, conversation_id: str, name: str) -> Path | None:
    """A stored audio file by name, or None (names with path parts are refused)."""
    if Path(name).name != name or name.startswith("."):
        return None
    try:
        path = folder(data_dir, bot_id, conversation_id) / name
    except ValueError:
        return None
    return path if path.is_file() else None


def merge_trace(
    session: Session, message_id: str, voice: dict[str, Any], text: str | None = None, status: str | None = None
) -> Message:
    """Merge `voice` into the message's trace["voice"] (and set its text and status when given); commit."""
    message = session.get(Message, message_id, populate_existing=True)
    if message is None:
        raise LookupError(f"no message {message_id!r}")
    trace = dict(message.trace or {})
    trace["voice"] = {**(trace.get("voice") or {}), **voice}
    message.trace = trace
    if text is not None:
        message.text = text
        trace.pop("error", None)  # a retry that was heard clears the earlier failure
    if status is not None:
        message.status = status
    session.add(message)
    session.commit()
    return message


def mark_failed(session: Session, message_id: str, error: str, voice: dict[str, Any]) -> None:
    """The customer's voice message could not be heard: status failed, the reason on the trace."""
    message = merge_trace(session, message_id, {**voice, "error": error[:300]})
    message.status = "failed"
    message.trace = {**(message.trace or {}), "error": error[:300]}
    session.add(message)
    session.commit()


def purge_orphans(engine: Engine, data_dir: Path) -> int:
    """Delete the voice folders of conversations that no longer exist; returns how many went."""
    root = data_dir / VOICE_DIR
    if not root.is_dir():
        return 0
    folders = [c for b in root.iterdir() if b.is_dir() for c in b.iterdir() if c.is_dir()]
    if not folders:
        return 0
    with Session(engine) as session:
        alive = set(
            session.exec(select(Conversation.id).where(col(Conversation.id).in_([f.name for f in folders]))).all()
        )
    gone = [f for f in folders if f.name not in alive]
    for f in gone:
        shutil.rmtree(f, ignore_errors=True)
    return len(gone)
