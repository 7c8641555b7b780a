"""Stream multipart file uploads to temporary files, refusing any file over a size limit.

Starlette's own form parser spools every file before the route runs; this one writes each
file part to its own temporary file as the request body arrives, hashing it on the way. A file
that passes the limit is dropped (its bytes are read and discarded, it is marked refused) so
the rest of the batch still arrives; a body whose files pass `limit * max_files` in all is
refused whole (413). Disk use is bounded by what is kept.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from knowledge.loaders.registry import clean_text
from server.errors import BadRequest, FrontdeskError


class UploadTooLarge(FrontdeskError):
    """A file is bigger than the upload limit."""

    code = "too_large"
    status = 413


@dataclass
class UploadedFile:
    """One uploaded file, on disk until the caller deletes it (no file when refused)."""

    name: str
    path: Path
    size: int = 0
    refused: str | None = None  # why it was not kept (too large)
    hasher: hashlib._Hash = field(default_factory=hashlib.sha256, repr=False)

    @property
    def sha256(self) -> str:
        """The SHA-256 of the content (complete once the upload is received)."""
        return self.hasher.hexdigest()


@dataclass
class _State:
    folder: Path
    limit: int
    max_files: int
    total: int = 0
    files: list[UploadedFile] = field(default_factory=list)
    header_name: bytes = b""
    header_value: bytes = b""
    disposition: bytes = b""
    current: UploadedFile | None = None
    handle: BinaryIO | None = None
    handles: list[BinaryIO] = field(default_factory=list)
    # Writes waiting for flush(): (file, handle, bytes), or (file, handle, None) to close it.
    # One parser.write can span several parts, so each write names its own file.
    pending: list[tuple[UploadedFile, BinaryIO, bytes | None]] = field(default_factory=list)

    def on_part_begin(self) -> None:
        self.disposition, self.current, self.handle = b"", None, None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        if self.header_name.lower() == b"content-disposition":
            self.disposition = self.header_value
        self.header_name, self.header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.disposition)
        filename = options.get(b"filename")
        if filename is None:
            return  # a plain form field: ignored
        if len(self.files) >= self.max_files:
            raise BadRequest(f"at most {self.max_files} files per upload", code="too_many_files")
        # a NUL or other control character in the sent name would be refused by PostgreSQL later
        name = Path(clean_text(filename.decode("utf-8", "replace")).replace("\\", "/")).name or "upload"
        self.current = UploadedFile(name, self.folder / str(len(self.files)))  # the sent name never reaches the disk
        self.files.append(self.current)
        self.handle = self.current.path.open("wb")
        self.handles.append(self.handle)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.current is None or self.handle is None:
            return
        self.current.size += end - start
        self.total += end - start
        if self.total > self.limit * self.max_files:
            raise UploadTooLarge(
                f"the upload is larger than {self.limit * self.max_files / 2**20:g} MiB in all; send fewer files"
            )
        if self.current.refused:
            return
        if self.current.size > self.limit:
            self.current.refused = f"{self.current.name}: larger than the upload limit of {self.limit / 2**20:g} MiB"
            self.pending.append((self.current, self.handle, None))
            return
        self.pending.append((self.current, self.handle, data[start:end]))

    def on_part_end(self) -> None:
        if self.current is not None and self.handle is not None and not self.current.refused:
            self.pending.append((self.current, self.handle, None))

    async def flush(self) -> None:
        """Write what arrived since the last call, off the event loop."""
        writes, self.pending = self.pending, []
        for upload, handle, chunk in writes:
            if chunk is None:
                handle.close()
                if upload.refused:
                    upload.path.unlink(missing_ok=True)
            else:
                await run_in_threadpool(_write, upload, handle, chunk)

    def close_all(self) -> None:
        """Close every file (after an error, or to be safe)."""
        for handle in self.handles:
            handle.close()


def _write(upload: UploadedFile, handle: BinaryIO, chunk: bytes) -> None:
    handle.write(chunk)
    upload.hasher.update(chunk)


async def receive_files(
    content_type: str, body: AsyncIterator[bytes], limit: int, max_files: int, parent: Path | None = None
) -> tuple[tempfile.TemporaryDirectory[str], list[UploadedFile]]:
    """Read a multipart body into a temporary folder, one file per part.

    Args:
        content_type: the request's Content-Type (must be multipart/form-data).
        body: the request body as it arrives.
        limit: the most bytes one file may have; a bigger file is marked `refused` and not kept.
            Files over `limit * max_files` bytes in all: UploadTooLarge (413).
        max_files: the most files one request may carry.
        parent: the folder to make the temporary folder in (default: the system's); use one
            on the same disk as the files' final place, so moving them there is a rename.

    Returns:
        The temporary folder (the caller cleans it up) and the files in upload order.
    """
    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data" or b"boundary" not in params:
        raise BadRequest("send the files as multipart/form-data", code="bad_upload")
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    folder = tempfile.TemporaryDirectory(prefix="frontdesk-upload-", dir=parent)
    state = _State(Path(folder.name), limit, max_files)
    callbacks = {
        name: getattr(state, name)
        for name in (
            "on_part_begin", "on_header_field", "on_header_value", "on_header_end",
            "on_headers_finished", "on_part_data", "on_part_end",
        )
    }
    try:
        parser = MultipartParser(params[b"boundary"], callbacks)  # type: ignore[arg-type]
        async for chunk in body:
            parser.write(chunk)
            await state.flush()
        parser.finalize()
        await state.flush()
    except FormParserError as exc:
        folder.cleanup()
        raise BadRequest("malformed multipart body", code="bad_upload") from exc
    except BaseException:
        folder.cleanup()
        raise
    finally:
        state.close_all()
    if not state.files:
        folder.cleanup()
        raise BadRequest("no files in the upload (use the field name 'files')", code="bad_upload")
    return folder, state.files
