"""Office Open XML packages (DOCX, XLSX) with control characters their XML may not hold.

XML 1.0 forbids NUL and most other C0 control characters, raw or as character references
('&#0;'), yet some generators write them into a cell or a paragraph. python-docx and openpyxl
then fail on the whole file. Such a package is copied with those characters removed from its
XML parts, block by block (never the whole part in memory), and the copy is read instead.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from typing import BinaryIO

BLOCK = 1 << 20
SPOOL_BYTES = 16 << 20  # a cleaned copy stays in memory up to this size, then goes to a temporary file
# Raw C0 controls but tab, LF and CR (single bytes in UTF-8, never inside a multi-byte character).
_RAW = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# The same characters as decimal or hex character references.
_REFS = re.compile(rb"&#(?:0*(?:[0-8]|1[124-9]|2[0-9]|3[01])|[xX]0*(?:[0-8bBcCeEfF]|1[0-9a-fA-F]));")


def _xml(info: zipfile.ZipInfo) -> bool:
    return info.filename.lower().endswith((".xml", ".rels"))


def _clean_block(data: bytes) -> bytes:
    return _REFS.sub(b"", _RAW.sub(b"", data))


def _blocks(package: zipfile.ZipFile, info: zipfile.ZipInfo):  # type: ignore[no-untyped-def]
    """The member's bytes in blocks that end at a '>' (a character reference never spans one)."""
    carry = b""
    with package.open(info) as member:
        while block := member.read(BLOCK):
            data = carry + block
            end = data.rfind(b">") + 1
            carry = data[end:]
            if end:
                yield data[:end]
    if carry:
        yield carry


def needs_cleaning(handle: BinaryIO) -> bool:
    """Whether any XML part of the package holds a forbidden control character (raw or a reference)."""
    with zipfile.ZipFile(handle) as package:
        for info in package.infolist():
            if _xml(info) and any(_RAW.search(b) or _REFS.search(b) for b in _blocks(package, info)):
                return True
    handle.seek(0)
    return False


def cleaned_copy(handle: BinaryIO) -> BinaryIO:
    """A copy of the package whose XML parts hold no forbidden control characters (the caller closes it)."""
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115  (returned open)
    try:
        with zipfile.ZipFile(handle) as package, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as copy:
            for info in package.infolist():
                with copy.open(info.filename, "w", force_zip64=True) as target:
                    if _xml(info):
                        for block in _blocks(package, info):
                            target.write(_clean_block(block))
                    else:
                        with package.open(info) as member:
                            shutil.copyfileobj(member, target, BLOCK)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out  # type: ignore[return-value]


def readable(handle: BinaryIO) -> BinaryIO:
    """The package itself when its XML is clean, else a cleaned copy (the caller closes what it gets).

    Raises:
        zipfile.BadZipFile: not a ZIP package (the loaders report it as a corrupt document).
    """
    if not needs_cleaning(handle):
        return handle
    handle.seek(0)
    copy = cleaned_copy(handle)
    handle.close()
    return copy
