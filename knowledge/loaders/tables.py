"""FAQ tables (CSV, XLSX): one question/answer entry per row, each chunked on its own."""

from __future__ import annotations

import csv
import io
import os
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import BinaryIO

from knowledge.errors import CorruptDocument
from knowledge.loaders import ooxml
from knowledge.loaders.registry import LoadedDocument, Part, Source, loader, title_from_name
from knowledge.loaders.xlsx_escapes import decode_row

QUESTION_COLUMNS = ("question", "questions", "q", "title", "问题", "问", "标题")
ANSWER_COLUMNS = ("answer", "answers", "a", "body", "答案", "回答", "答", "内容")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _cell(value: object) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def find_columns(header: Sequence[object], name: str) -> tuple[int, int]:
    """Indexes of the question and answer columns, or CorruptDocument naming the columns found."""
    names = [_cell(h).lower() for h in header]
    question = next((i for i, n in enumerate(names) if n in QUESTION_COLUMNS), None)
    answer = next((i for i, n in enumerate(names) if n in ANSWER_COLUMNS), None)
    if question is None or answer is None:
        found = ", ".join(repr(_cell(h)) for h in header if _cell(h)) or "none"
        raise CorruptDocument(
            f"{name}: a FAQ table needs a question column ({'/'.join(QUESTION_COLUMNS[:4])}/问题) "
            f"and an answer column ({'/'.join(ANSWER_COLUMNS[:4])}/答案); columns found: {found}"
        )
    return question, answer


def entries(
    rows: Iterator[Sequence[object]], name: str, done: Callable[[], float | None] = lambda: None
) -> Iterator[Part]:
    """Parts from table rows whose first row is the header; rows without both cells are skipped.

    Args:
        rows: the table's rows, header first.
        name: the file name, for error messages.
        done: the fraction of the file read so far, if known (for progress).
    """
    header = next(rows, None)
    if header is None:
        raise CorruptDocument(f"{name}: the table is empty")
    qi, ai = find_columns(header, name)
    for row in rows:
        question = _cell(row[qi]) if qi < len(row) else ""
        answer = str(row[ai]).strip() if ai < len(row) and row[ai] is not None else ""
        if question and answer:
            yield Part(f"## {question}\n\n{answer}", title=question, done=done())


def _size(handle: BinaryIO) -> int:
    try:
        return os.fstat(handle.fileno()).st_size
    except (OSError, io.UnsupportedOperation):  # in memory
        return len(handle.getbuffer()) if isinstance(handle, io.BytesIO) else 0


def _fraction_read(handle: BinaryIO) -> Callable[[], float | None]:
    """How far into the file a reader has got (its position over its size)."""
    size = _size(handle)

    def done() -> float | None:
        if not size or handle.closed:
            return None
        return min(handle.tell() / size, 1.0)

    return done


def _csv_rows(source: Source) -> tuple[Iterator[list[str]], Callable[[], float | None]]:
    """CSV rows decoded as UTF-8 (BOM or not), else GB18030, streamed from the file.

    The delimiter (comma, semicolon or tab) is the one the header line uses most.

    Returns:
        The rows, and a function giving the fraction of the file read so far.
    """
    for encoding in ("utf-8-sig", "gb18030"):
        handle = source.open()
        text = io.TextIOWrapper(handle, encoding=encoding, newline="")
        try:
            first = text.readline()
            text.read(64 * 1024)  # decode a little more before committing to the encoding
            text.seek(0)
        except UnicodeDecodeError:
            text.close()
            continue
        delimiter = max(",;\t", key=first.count)
        return _read_csv(text, delimiter, source.name), _fraction_read(handle)
    raise CorruptDocument(f"{source.name}: not valid UTF-8 or GB18030 text")


def _read_csv(text: io.TextIOWrapper, delimiter: str, name: str) -> Iterator[list[str]]:
    try:
        yield from csv.reader(text, delimiter=delimiter)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise CorruptDocument(f"{name}: not a readable CSV file ({exc})") from exc
    finally:
        text.close()


@loader(".csv")
def load_csv(source: Source) -> LoadedDocument:
    """CSV FAQ table: a question and an answer column (English or Chinese names)."""
    rows, done = _csv_rows(source)
    parts = entries(rows, source.name, done)
    return LoadedDocument(title_from_name(source.name), "", source.name, "text/csv", parts)


def _xlsx_rows(source: Source, position: list[float | None]) -> Iterator[Sequence[object]]:
    """Rows of the first worksheet whose header names question/answer columns (read-only mode).

    position[0] is kept at the fraction of the sheet's rows read, when the sheet knows its size.
    """
    import openpyxl

    handle = source.open()
    try:
        handle = ooxml.readable(handle)  # NUL and other control characters in its XML: a cleaned copy
        book = openpyxl.load_workbook(handle, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError, zlib.error, SyntaxError) as exc:
        handle.close()
        raise CorruptDocument(f"{source.name}: not a readable XLSX file ({exc})") from exc
    try:
        headers: list[Iterable[object]] = []
        for sheet in book.worksheets:
            rows = map(decode_row, sheet.iter_rows(values_only=True))  # "_x000D_" -> "\r"
            header = next(rows, None)
            if header is None:
                continue
            try:
                find_columns(header, source.name)
            except CorruptDocument:
                headers.append(header)
                continue
            yield header
            total = sheet.max_row if isinstance(sheet.max_row, int) and sheet.max_row > 1 else None
            for number, row in enumerate(rows, 2):
                position[0] = min(number / total, 1.0) if total else None
                yield row
            return
        found = [h for header in headers for h in header]
        find_columns(found, source.name)  # raises, naming every column found
        raise CorruptDocument(f"{source.name}: the workbook has no rows")
    except (SyntaxError, EOFError, zlib.error, zipfile.BadZipFile) as exc:  # a sheet's XML is malformed
        raise CorruptDocument(f"{source.name}: not a readable XLSX file ({exc})") from exc
    finally:
        book.close()
        handle.close()


@loader(".xlsx")
def load_xlsx(source: Source) -> LoadedDocument:
    """XLSX FAQ table: like CSV, from the first sheet that has question/answer columns."""
    position: list[float | None] = [None]
    parts = entries(_xlsx_rows(source, position), source.name, lambda: position[0])
    return LoadedDocument(title_from_name(source.name), "", source.name, XLSX_TYPE, parts)


