"""Stream multipart file uploads to temporary files, refusing any file over a size limit.

Starlette's own form parser spools every file before the route runs; this one writes each
file part to its own temporary file as the request body arrives and stops reading as soon as
one file passes the limit, so an oversized upload costs at most `limit` bytes of disk.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from server.errors import BadRequest, FrontdeskError


class UploadTooLarge(FrontdeskError):
    """A file is bigger than the upload limit."""

    code = "too_large"
    status = 413


@dataclass
class UploadedFile:
    """One uploaded file, on disk until the caller deletes it."""

    name: str
    path: Path
    size: int = 0


@dataclass
class _State:
    folder: Path
    limit: int
    max_files: int
    files: list[UploadedFile] = field(default_factory=list)
    header_name: bytes = b""
    header_value: bytes = b""
    disposition: bytes = b""
    current: UploadedFile | None = None
    handle: BinaryIO | None = None
    handles: list[BinaryIO] = field(default_factory=list)
    # Writes waiting for flush(): (file, bytes), or (file, None) to close it. One parser.write
    # can span several parts, so each write names its own file.
    pending: list[tuple[BinaryIO, bytes | None]] = field(default_factory=list)

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
        name = Path(filename.decode("utf-8", "replace").replace("\\", "/")).name or "upload"
        self.current = UploadedFile(name, self.folder / f"{len(self.files)}{Path(name).suffix}")
        self.files.append(self.current)
        self.handle = self.current.path.open("wb")
        self.handles.append(self.handle)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.current is None or self.handle is None:
            return
        self.current.size += end - start
        if self.current.size > self.limit:
            raise UploadTooLarge(
                f"{self.current.name}: larger than the upload limit of {self.limit / 2**20:g} MiB"
            )
        self.pending.append((self.handle, data[start:end]))

    def on_part_end(self) -> None:
        if self.handle is not None:
            self.pending.append((self.handle, None))

    async def flush(self) -> None:
        """Write what arrived since the last call, off the event loop."""
        writes, self.pending = self.pending, []
        for handle, chunk in writes:
            if chunk is None:
                handle.close()
            else:
                await run_in_threadpool(handle.write, chunk)

    def close_all(self) -> None:
        """Close every file (after an error, or to be safe)."""
        for handle in self.handles:
            handle.close()


async def receive_files(
    content_type: str, body: AsyncIterator[bytes], limit: int, max_files: int
) -> tuple[tempfile.TemporaryDirectory[str], list[UploadedFile]]:
    """Read a multipart body into a temporary folder, one file per part.

    Args:
        content_type: the request's Content-Type (must be multipart/form-data).
        body: the request body as it arrives.
        limit: the most bytes one file may have; beyond it UploadTooLarge (413).
        max_files: the most files one request may carry.

    Returns:
        The temporary folder (the caller cleans it up) and the files in upload order.
    """
    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data" or b"boundary" not in params:
        raise BadRequest("send the files as multipart/form-data", code="bad_upload")
    folder = tempfile.TemporaryDirectory(prefix="frontdesk-upload-")
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
