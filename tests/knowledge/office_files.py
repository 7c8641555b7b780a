"""Tiny PDF, DOCX, XLSX and CSV files built in memory for loader and upload tests."""

from __future__ import annotations

import csv
import io


def pdf_with_text(pages: list[str], title: str | None = None) -> bytes:
    """A minimal valid PDF (hand-written objects, Helvetica) with one line of text per page."""
    objects: list[bytes] = []
    n_pages = len(pages)
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n_pages))
    font_id = 3 + 2 * n_pages
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    for i, text in enumerate(pages):
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    info = None
    if title:
        objects.append(f"<< /Title ({title}) >>".encode())
        info = len(objects)
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    trailer = f"<< /Size {len(objects) + 1} /Root 1 0 R" + (f" /Info {info} 0 R" if info else "") + " >>"
    out.write(f"trailer\n{trailer}\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def blank_pdf(pages: int = 2) -> bytes:
    """A PDF with pages but no text layer (like a scan), written by pypdf."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=612, height=792)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_file() -> bytes:
    """A DOCX with a title, headings, a list item and a table."""
    import docx

    document = docx.Document()
    document.add_heading("Returns policy", level=0)
    document.add_paragraph("You can return any item within 30 days.")
    document.add_heading("Refund timing", level=1)
    document.add_paragraph("Refunds reach your card in five working days.")
    document.add_heading("Damaged parcels", level=2)
    document.add_paragraph("Send us a photo of the box.", style="List Bullet")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Country", "Days"
    table.cell(1, 0).text, table.cell(1, 1).text = "France", "3"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def xlsx_file(header: list[str], rows: list[list[object]], sheets_before: int = 0) -> bytes:
    """An XLSX whose last sheet holds header + rows (after `sheets_before` unrelated sheets)."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    for n in range(sheets_before):
        sheet.title = f"Notes{n}"
        sheet.append(["note", "owner"])
        sheet = book.create_sheet("FAQ")
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_file(header: list[str], rows: list[list[str]], encoding: str = "utf-8", delimiter: str = ",") -> bytes:
    """A CSV table."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)
