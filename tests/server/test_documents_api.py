"""Document upload API: sign-in, per-file results, search sees uploads and deletes, size limit."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.append(str(Path(__file__).resolve().parents[2]))
from tests.knowledge.office_files import csv_file, docx_file, pdf_with_text  # noqa: E402

URL = "/api/v1/bots/demo/documents"


@pytest.fixture()
def auth(demo_services) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    seeded = demo_services.seeded
    return (seeded.admin_email, seeded.admin_password)


def search(demo_services, query: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Document sources of the hits, as `frontdesk kb search` would find them."""
    hits = demo_services.runtimes.knowledge("demo").search(query, 5).hits
    return [h.chunk.url for h in hits]


def test_upload_makes_documents_searchable_and_delete_removes_them(client, demo_services, auth) -> None:
    pdf = pdf_with_text(["The zorblax warranty covers moon dust for 7 years."], "Zorblax warranty")
    faq = csv_file(["question", "answer"], [["Do you ship to Quuxland?", "Quuxland orders ship by llama."]])
    files = [
        ("files", ("zorblax-warranty.pdf", pdf, "application/pdf")),
        ("files", ("quux-faq.csv", faq, "text/csv")),
        ("files", ("returns-guide.docx", docx_file(), "application/octet-stream")),
    ]

    response = client.post(URL, files=files, auth=auth)

    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["ok"] for r in results] == [True, True, True], [r["error"] for r in results]
    assert [r["slug"] for r in results] == ["zorblax-warranty", "quux-faq", "returns-guide"]
    assert search(demo_services, "zorblax warranty moon dust")[0].startswith("/kb/demo/zorblax-warranty#page-1")
    assert any(u.startswith("/kb/demo/quux-faq") for u in search(demo_services, "ship to Quuxland llama"))
    listed = {d["slug"]: d for d in client.get(URL, auth=auth).json()}
    assert listed["zorblax-warranty"]["status"] == "ready" and listed["zorblax-warranty"]["chunks"] == 1
    assert listed["quux-faq"]["media_type"] == "text/csv"

    again = client.post(URL, files=files[:1], auth=auth).json()["results"]
    assert again[0]["unchanged"] is True

    assert client.delete(f"{URL}/zorblax-warranty", auth=auth).status_code == 204
    assert all("zorblax" not in u for u in search(demo_services, "zorblax warranty moon dust"))
    assert "zorblax-warranty" not in {d["slug"] for d in client.get(URL, auth=auth).json()}
    for slug in ("quux-faq", "returns-guide"):
        client.delete(f"{URL}/{slug}", auth=auth)


def test_bad_files_get_their_own_error_and_the_rest_is_kept(client, demo_services, auth) -> None:
    files = [
        ("files", ("broken.pdf", b"%PDF-1.4 not really", "application/pdf")),
        ("files", ("prices.csv", csv_file(["product", "price"], [["mug", "5"]]), "text/csv")),
        ("files", ("slides.pptx", b"PK..", "application/octet-stream")),
        ("files", ("glorp-hours.md", b"# Glorp hours\n\nThe glorp desk opens at nine.", "text/markdown")),
    ]

    results = client.post(URL, files=files, auth=auth).json()["results"]

    assert [r["ok"] for r in results] == [False, False, False, True]
    assert "broken.pdf" in results[0]["error"] and "PDF" in results[0]["error"]
    assert "'product', 'price'" in results[1]["error"]
    assert "unsupported file type .pptx" in results[2]["error"]
    assert any("glorp-hours" in u for u in search(demo_services, "glorp desk opens"))
    client.delete(f"{URL}/glorp-hours", auth=auth)


def test_documents_require_sign_in(client) -> None:
    files = [("files", ("a.md", b"# A\n\ntext", "text/markdown"))]

    for response in (
        client.post(URL, files=files),
        client.get(URL),
        client.delete(f"{URL}/shipping-times"),
        client.get(URL, auth=("admin@demo.local", "wrong")),
    ):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"


def test_unknown_bot_and_document_are_404(client, auth) -> None:
    assert client.get("/api/v1/bots/nope/documents", auth=auth).status_code == 404
    response = client.delete(f"{URL}/no-such-doc", auth=auth)
    assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_document"


def test_other_tenants_bots_are_not_visible(client, demo_services, auth) -> None:
    from sqlmodel import Session

    from server.tables import Bot, Tenant

    with Session(demo_services.engine) as session:
        tenant = Tenant(name="Other shop")
        session.add(tenant)
        session.flush()
        session.add(Bot(tenant_id=tenant.id, slug="other-shop", name="Other"))
        session.commit()

    response = client.get("/api/v1/bots/other-shop/documents", auth=auth)

    assert response.status_code == 404


def test_upload_over_the_size_limit_is_413(demo_services, auth) -> None:
    from server.app import create_app

    settings = demo_services.settings.model_copy(update={"max_upload_mb": 0.01})  # about 10 KB
    app = create_app(settings, demo_services)
    big = b"# Big\n\n" + b"Lots of words here. " * 2000
    with TestClient(app) as small_client:
        response = small_client.post(URL, files=[("files", ("big.md", big, "text/markdown"))], auth=auth)

    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "too_large" and "big.md" in error["message"]


def test_upload_without_files_is_a_clear_400(client, auth) -> None:
    response = client.post(URL, data={"note": "x"}, files=[], auth=auth)

    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_upload"


def test_console_upload_form_shows_results(client, auth) -> None:
    page = client.get("/admin/bots/demo/knowledge", auth=auth)
    assert 'enctype="multipart/form-data"' in page.text and ".pdf" in page.text

    files = [
        ("files", ("console-note.txt", b"The console note mentions flibbertigibbet.", "text/plain")),
        ("files", ("scan.pdf", b"\x00\x01", "application/pdf")),
    ]
    result = client.post("/admin/bots/demo/knowledge", files=files, auth=auth)

    assert result.status_code == 200
    assert "added, 1 chunks" in result.text and "failed: scan.pdf" in result.text
    assert "console-note.txt" in result.text
    client.delete(f"{URL}/console-note", auth=auth)
