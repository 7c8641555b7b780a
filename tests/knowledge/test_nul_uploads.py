"""NUL and other control characters in uploaded documents and intent CSVs are dropped, the rest kept.

PostgreSQL refuses U+0000 in text ("A string literal cannot contain NUL"): before the cleaning in
knowledge/loaders/registry.py a text file, HTML page, PDF page or FAQ cell with a NUL failed its
ingestion on PostgreSQL, and a DOCX or XLSX whose XML held one was unreadable everywhere. These tests
upload such files through the real HTTP upload and ingestion path, on the real PostgreSQL at 127.0.0.1
and on SQLite, and check that each reaches `ready`, is searchable, and that no row holds a control
character; the intent CSV import is checked the same way.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from bot.intents.data import read_csv
from knowledge.config import KnowledgeSettings
from knowledge.loaders import load_bytes
from knowledge.loaders.registry import clean_text
from server.app import create_app
from server.ratelimit import RateLimitSettings
from server.tables import Chunk, Document, Intent, IntentExample
from tests.conftest import console_auth, make_settings
from tests.fakes import HashEmbedder
from tests.knowledge.office_files import csv_file, docx_file, pdf_with_text, xlsx_file
from tests.server.accounts_helpers import add_user

CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def patch_zip(data: bytes, member: str, old: bytes, new: bytes) -> bytes:
    """The package with `old` replaced by `new` in one member (as a careless generator would write it)."""
    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == member:
                assert old in content, (member, old)
                content = content.replace(old, new)
            target.writestr(info, content)
    return out.getvalue()


def docx_with_nul() -> bytes:
    """The test DOCX with a raw NUL in a paragraph and a '&#1;' reference in its title paragraph."""
    data = patch_zip(docx_file(), "word/document.xml", b"within 30 days", b"within 30\x00 zeebo days")
    return patch_zip(data, "word/document.xml", b"Returns policy", b"Returns&#1; policy")


def xlsx_with_nul() -> bytes:
    """An XLSX FAQ whose sheet XML holds a raw NUL in the question and '&#0;' in the answer."""
    data = xlsx_file(["question", "answer"], [["Do you take yoink cards?", "Yes, yoink cards work."]])
    data = patch_zip(data, "xl/worksheets/sheet1.xml", b"yoink cards?", b"yoink\x00 cards?")
    return patch_zip(data, "xl/worksheets/sheet1.xml", b"cards work.", b"cards&#0; work.")


MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
DOC_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
SHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def excel_xlsx(rows: list[list[str]]) -> bytes:
    """A one-sheet XLSX whose cells are shared strings written as given, escapes and all, as Excel writes them."""
    from xml.sax.saxutils import escape

    strings = [text for row in rows for text in row]
    cells = iter(range(len(strings)))
    sheet_rows = "".join(
        f'<row r="{r}">' + "".join(f'<c r="{"AB"[c]}{r}" t="s"><v>{next(cells)}</v></c>' for c in range(len(row)))
        + "</row>"
        for r, row in enumerate(rows, 1)
    )
    parts = {
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{SHEET_TYPE}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{SHEET_TYPE}.worksheet+xml"/>'
            f'<Override PartName="/xl/sharedStrings.xml" ContentType="{SHEET_TYPE}.sharedStrings+xml"/></Types>'
        ),
        "_rels/.rels": (
            f'<Relationships xmlns="{RELS}"><Relationship Id="rId1" Type="{DOC_RELS}/officeDocument" '
            'Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<workbook xmlns="{MAIN}" xmlns:r="{DOC_RELS}"><sheets>'
            '<sheet name="FAQ" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{RELS}">'
            f'<Relationship Id="rId1" Type="{DOC_RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{DOC_RELS}/sharedStrings" Target="sharedStrings.xml"/></Relationships>'
        ),
        "xl/worksheets/sheet1.xml": f'<worksheet xmlns="{MAIN}"><sheetData>{sheet_rows}</sheetData></worksheet>',
        "xl/sharedStrings.xml": (
            f'<sst xmlns="{MAIN}" count="{len(strings)}" uniqueCount="{len(strings)}">'
            + "".join(f'<si><t xml:space="preserve">{escape(text)}</t></si>' for text in strings)
            + "</sst>"
        ),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        for name, xml in parts.items():
            package.writestr(name, '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + xml)
    return out.getvalue()


# name -> (bytes, a query that must find it, text its chunks must hold once cleaned)
FILES: dict[str, tuple[bytes, str, str]] = {
    "glorp-notes.txt": (b"The glorp\x00 warranty covers moon\x00dust\x01 for 7 years.\x0bEnd.", "glorp warranty",
                        "moondust for 7 years."),
    "zorblax-guide.md": (b"# Zorblax\x00 guide\n\nThe zorblax\x00 ships by llama.\x1f", "zorblax llama",
                         "The zorblax ships by llama."),
    "quux-page.html": (b"<html><head><title>Quux</title></head><body><main><h1>Quux\x00 parcels</h1>"
                       b"<p>Quux parcels arrive on tuesday\x00s.</p></main></body></html>", "quux parcels tuesdays",
                       "arrive on tuesdays."),
    "wumpus-faq.csv": (
        csv_file(["question", "answer"], [["Can I pay with wumpus\x00 coins?", "Yes,\x00 wumpus coins."]]),
        "pay with wumpus coins", "Yes, wumpus coins.",
    ),
    "frobnicate.pdf": (pdf_with_text(["Frobnicate \x00kits ship from Oslo."]), "frobnicate kits Oslo",
                       "Frobnicate kits ship from Oslo."),
    "zeebo-returns.docx": (docx_with_nul(), "return within 30 zeebo days", "within 30 zeebo days"),
    "yoink-cards.xlsx": (xlsx_with_nul(), "yoink cards", "Yes, yoink cards work."),
    "snorkel-faq.xlsx": (  # Excel's own escapes: `_x0000_` is a NUL once decoded, then dropped
        excel_xlsx([["Question", "Answer"], ["Do snorkels_x0000_ float?", "Snorkel_x0000_ fins float_x0007_."]]),
        "snorkels float", "Snorkel fins float.",
    ),
}


def test_clean_text_drops_nul_controls_and_lone_surrogates_and_keeps_the_rest() -> None:
    assert clean_text("moon\x00dust") == "moondust"
    assert clean_text("tab\tnew\nline\r\n") == "tab\tnew\nline\r\n"
    assert clean_text("page one\x0cpage two\x0bline") == "page one\npage two\nline"
    assert clean_text("bell\x07 esc\x1b[0m unit\x1f") == "bell esc[0m unit"
    assert clean_text("lone \ud800 surrogate \udfff") == "lone  surrogate "
    assert clean_text("中文 émoji 😀 \x7f") == "中文 émoji 😀 \x7f"  # DEL is no C0 control; PostgreSQL takes it
    same = "nothing to clean"
    assert clean_text(same) is same


@pytest.mark.parametrize("name", sorted(FILES))
def test_every_loader_gives_clean_text(name: str) -> None:
    data, _, expected = FILES[name]
    document = load_bytes(data, name)
    parts = list(document.iter_parts())
    for text in [document.title, document.text, *[p.text for p in parts], *[p.title or "" for p in parts]]:
        assert not CONTROL.search(text), (name, text)
    assert expected in "\n".join(p.text for p in parts)


def test_excel_escapes_in_xlsx_cells_are_decoded_then_cleaned() -> None:
    """`_xHHHH_` is the UTF-16 unit HHHH (Excel's ST_Xstring escape): CR and tab kept, NUL and bell dropped,
    an escaped surrogate pair is one character, and `_x005F_` (an escaped underscore) keeps the text after it."""
    shared = excel_xlsx([
        ["Question", "Answer"],
        ["Do snorkels_x0000_ float?", "Line one_x000D_\nline two_x0007_."],
        ["Tabs_x0009_too?", "Yes _xD83D__xDE00_, lower-case _x000d_ hex, no _x12_ short ones."],
    ])
    inline = xlsx_file(["question", "answer"], [["Literal?", "Type _x005F_x000D_ to get _x000D_ written."]])

    shared_parts = list(load_bytes(shared, "faq.xlsx").iter_parts())
    inline_parts = list(load_bytes(inline, "literal.xlsx").iter_parts())

    assert [p.title for p in shared_parts] == ["Do snorkels float?", "Tabs too?"]  # a title is one line
    assert shared_parts[0].text.endswith("Line one\r\nline two.")
    assert shared_parts[1].text.endswith("Yes \U0001f600, lower-case \r hex, no _x12_ short ones.")
    assert inline_parts[0].text.endswith("Type _x000D_ to get \r written.")


def test_a_document_of_only_control_characters_has_no_text() -> None:
    from knowledge.errors import CorruptDocument

    with pytest.raises(CorruptDocument, match="no text found"):
        load_bytes(b"\x00\x01\x00\x02", "noise.txt")


def test_a_title_of_only_control_characters_falls_back_to_the_file_name() -> None:
    document = load_bytes(b"# \x00\x00\n\nBody text.", "shipping-times.md")
    assert document.title == "Shipping times"


def test_a_docx_with_broken_xml_is_a_corrupt_document_not_a_crash() -> None:
    from knowledge.errors import CorruptDocument

    broken = patch_zip(docx_file(), "word/document.xml", b"</w:body>", b"</w:bodyy>")
    with pytest.raises(CorruptDocument, match="not a readable DOCX"):
        load_bytes(broken, "broken.docx")


def test_an_xlsx_with_broken_sheet_xml_is_a_corrupt_document_not_a_crash() -> None:
    from knowledge.errors import CorruptDocument

    data = xlsx_file(["question", "answer"], [["Q?", "A."]])
    broken = patch_zip(data, "xl/worksheets/sheet1.xml", b"</sheetData>", b"</sheetDatum>")
    with pytest.raises(CorruptDocument, match="not a readable XLSX"):
        list(load_bytes(broken, "broken.xlsx").iter_parts())


def test_read_csv_drops_control_characters_and_keeps_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "examples.csv"
    path.write_bytes(
        b"te\x00xt,intent\nwhere is my\x00 parcel,track\x00\nrefund \x01please,refund\n\x00\x00,track\n"
    )
    examples = read_csv(path)
    assert examples.texts == ["where is my parcel", "refund please"]  # the NUL-only row is blank: skipped
    assert examples.labels == ["track", "refund"]


# --- the real upload path, on PostgreSQL and on SQLite ---------------------------------------------------


@pytest.fixture(params=["postgresql", "sqlite"])
def services(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Services with bot 'shop' (fake embedder, no re-ranker) and its owner, on either database."""
    from server.context import Services
    from server.seed import create_bot
    from server.tables import Tenant

    settings = make_settings(tmp_path / "data", knowledge=KnowledgeSettings(reranker="none"))
    if request.param == "postgresql":
        settings = settings.model_copy(update={"database_url": request.getfixturevalue("postgres_url")})
    services = Services.open(settings)
    services.embedders._models[(settings.knowledge.embedding_model, settings.knowledge.device)] = HashEmbedder()
    with Session(services.engine) as session:
        tenant = Tenant(name="Shop")
        session.add(tenant)
        session.commit()
        create_bot(session, tenant.id, "shop", "Shop")
        tenant_id = tenant.id
    add_user(services, tenant_id, "owner@shop.example", "owner")
    yield services
    services.close()


@pytest.fixture()
def client(services: Any) -> Iterator[TestClient]:
    settings = services.settings.model_copy(update={"rate_limits": RateLimitSettings(enabled=False)})
    with TestClient(create_app(settings, services)) as test_client:
        yield test_client


def test_uploaded_documents_with_nul_become_ready_and_searchable(services: Any, client: TestClient) -> None:
    auth = console_auth(services, "owner@shop.example")
    files = [("files", (name, data, "application/octet-stream")) for name, (data, _, _) in FILES.items()]

    response = client.post("/api/v1/bots/shop/documents", params={"wait": "true"}, files=files, auth=auth)

    assert response.status_code == 200, response.text[:500]
    results = response.json()["results"]
    assert [(r["file"], r["status"], r["error"]) for r in results] == [(n, "ready", None) for n in FILES]
    assert all(r["chunks"] >= 1 for r in results)
    with Session(services.engine) as session:
        documents = session.exec(select(Document)).all()
        chunks = session.exec(select(Chunk)).all()
    assert len(documents) == len(FILES)
    for row in [*documents, *chunks]:
        for value in (getattr(row, f, None) for f in ("title", "text", "section", "source")):
            assert not CONTROL.search(value or ""), (type(row).__name__, value)
    stored = "\n".join(c.text for c in chunks)
    knowledge = services.runtimes.knowledge("shop")
    for name, (_, query, expected) in FILES.items():
        assert expected in stored, name
        hits = knowledge.search(query, 3).hits
        slug = name.rsplit(".", 1)[0]
        assert any(h.chunk.url.startswith(f"/kb/shop/{slug}") for h in hits), (name, [h.chunk.url for h in hits])


def test_an_intent_csv_with_nul_is_imported_with_the_nul_dropped(services: Any, client: TestClient) -> None:
    auth = console_auth(services, "owner@shop.example")
    content = b"text,intent\nwhere is my\x00 parcel,track\ncan I get a refund\x00,refund\n"

    response = client.post(
        "/admin/bots/shop/intents/upload", files={"file": ("examples.csv", content, "text/csv")},
        auth=auth, follow_redirects=False,
    )

    assert response.status_code == 303, response.text[:500]
    assert "uploaded" in response.headers["location"]
    with Session(services.engine) as session:
        rows = session.exec(
            select(Intent.name, IntentExample.text).join(Intent).where(IntentExample.source == "csv")
        ).all()
    assert sorted(rows) == [("refund", "can I get a refund"), ("track", "where is my parcel")]


def test_a_nul_in_an_uploaded_file_name_is_dropped_before_it_is_stored() -> None:
    """A raw multipart body whose file name holds NUL and a control character: the name comes out clean."""
    import asyncio

    from server.uploads import receive_files

    boundary = "xyzzy"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="files"; filename="po\x00li\x07cy.md"\r\n'
        "Content-Type: text/markdown\r\n\r\n# Policy\r\n"
        f"--{boundary}--\r\n"
    ).encode()

    async def chunks():  # type: ignore[no-untyped-def]
        yield body

    async def receive():  # type: ignore[no-untyped-def]
        return await receive_files(f"multipart/form-data; boundary={boundary}", chunks(), 1 << 20, 4)

    folder, files = asyncio.run(receive())
    try:
        assert [f.name for f in files] == ["policy.md"]
    finally:
        folder.cleanup()
