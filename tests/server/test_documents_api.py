"""Document upload API: background ingestion, ?wait=true, per-file results, search, deletes, size limits."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.append(str(Path(__file__).resolve().parents[2]))
from knowledge.chunking import slugify  # noqa: E402
from tests.conftest import SessionAuth, console_auth
from tests.knowledge.office_files import csv_file, docx_file, pdf_with_text  # noqa: E402

URL = "/api/v1/bots/demo/documents"


@pytest.fixture()
def auth(demo_services) -> SessionAuth:  # type: ignore[no-untyped-def]
    return console_auth(demo_services, demo_services.seeded.admin_email)


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

    response = client.post(URL, params={"wait": "true"}, files=files, auth=auth)

    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["ok"] for r in results] == [True, True, True], [r["error"] for r in results]
    assert [r["slug"] for r in results] == ["zorblax-warranty", "quux-faq", "returns-guide"]
    assert [r["status"] for r in results] == ["ready"] * 3 and results[0]["chunks"] == 1
    assert search(demo_services, "zorblax warranty moon dust")[0].startswith("/kb/demo/zorblax-warranty#page-1")
    assert any(u.startswith("/kb/demo/quux-faq") for u in search(demo_services, "ship to Quuxland llama"))
    listed = {d["slug"]: d for d in client.get(URL, auth=auth).json()}
    assert listed["zorblax-warranty"]["status"] == "ready" and listed["zorblax-warranty"]["chunks"] == 1
    assert listed["quux-faq"]["media_type"] == "text/csv"

    again = client.post(URL, files=files[:1], auth=auth)
    assert again.status_code == 202
    assert again.json()["results"][0]["unchanged"] is True and again.json()["results"][0]["status"] == "ready"

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
        ("files", ("empty.txt", b"", "text/plain")),
    ]

    accepted = client.post(URL, files=files, auth=auth)

    assert accepted.status_code == 202
    queued = accepted.json()["results"]
    # refused before reading: failed at once; the rest waits for the worker
    assert [r["status"] for r in queued] == ["queued", "queued", "failed", "queued", "failed"]
    assert "unsupported file type .pptx" in queued[2]["error"] and "empty" in queued[4]["error"]
    docs = {slug: wait_until_done(client, auth, slug) for slug in ("broken", "prices", "glorp-hours")}
    assert docs["broken"]["status"] == "failed" and "broken.pdf" in docs["broken"]["error"]
    assert "PDF" in docs["broken"]["error"] and docs["broken"]["chunks"] == 0
    assert docs["prices"]["status"] == "failed" and "'product', 'price'" in docs["prices"]["error"]
    assert docs["glorp-hours"]["status"] == "ready" and docs["glorp-hours"]["progress"] == 100
    assert any("glorp-hours" in u for u in search(demo_services, "glorp desk opens"))
    listed = {d["slug"]: d for d in client.get(URL, auth=auth).json()}
    assert listed["slides"]["status"] == "failed" and "unsupported" in listed["slides"]["error"]
    for slug in ("broken", "prices", "slides", "glorp-hours", "empty"):
        assert client.delete(f"{URL}/{slug}", auth=auth).status_code == 204


def wait_until_done(client, auth, slug: str, timeout: float = 120.0) -> dict:  # type: ignore[no-untyped-def]
    """Poll GET /documents/{slug} until the document is ready or failed, as a script would."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        doc = client.get(f"{URL}/{slug}", auth=auth).json()
        seen.append(doc["status"])
        if doc["status"] in ("ready", "failed"):
            doc["seen"] = seen
            return doc
        time.sleep(0.05)
    raise AssertionError(f"{slug} still {seen[-1]} after {timeout}s")


def test_upload_returns_at_once_and_polling_shows_the_document_become_ready(client, demo_services, auth) -> None:
    faq = csv_file(["question", "answer"], [[f"Can I pay with wumpus coin {n}?", f"Yes, wumpus coin {n}."]
                                            for n in range(40)])

    response = client.post(URL, files=[("files", ("wumpus-pay.csv", faq, "text/csv"))], auth=auth)

    assert response.status_code == 202
    assert response.json()["results"] == [
        {"file": "wumpus-pay.csv", "ok": True, "slug": "wumpus-pay", "status": "queued", "chunks": 0,
         "unchanged": False, "error": None}
    ]
    doc = wait_until_done(client, auth, "wumpus-pay")
    assert doc["status"] == "ready" and doc["chunks"] == 40 and doc["progress"] == 100 and doc["error"] is None
    assert set(doc["seen"]) <= {"queued", "processing", "ready"}
    assert any("wumpus-pay" in u for u in search(demo_services, "pay with wumpus coin"))
    stored = demo_services.settings.data_dir / "uploads"
    assert not any(p.is_file() for p in stored.rglob("*") if ".incoming" not in p.parts), "stored upload kept"
    assert client.delete(f"{URL}/wumpus-pay", auth=auth).status_code == 204


def test_a_failed_new_version_keeps_the_old_one_searchable(client, demo_services, auth) -> None:
    text = b"# Snorkel policy\n\nSnorkels can be returned in 14 days."
    good = [("files", ("snorkel-policy.md", text, "text/markdown"))]
    assert client.post(URL, params={"wait": "true"}, files=good, auth=auth).json()["results"][0]["status"] == "ready"

    bad = [("files", ("snorkel-policy.pdf", b"%PDF-1.4 garbage", "application/pdf"))]
    result = client.post(URL, params={"wait": "true"}, files=bad, auth=auth).json()["results"][0]

    assert result["status"] == "failed" and "snorkel-policy.pdf" in result["error"]
    assert "previous version, 1 chunks, is still searchable" in result["error"]
    assert any("snorkel-policy" in u for u in search(demo_services, "return snorkels"))
    assert client.get(f"{URL}/snorkel-policy", auth=auth).json()["chunks"] == 1
    assert client.delete(f"{URL}/snorkel-policy", auth=auth).status_code == 204
    assert all("snorkel-policy" not in u for u in search(demo_services, "return snorkels"))


def test_documents_require_sign_in(client) -> None:
    files = [("files", ("a.md", b"# A\n\ntext", "text/markdown"))]

    for response in (
        client.post(URL, files=files),
        client.get(URL),
        client.delete(f"{URL}/shipping-times"),
        client.get(URL, headers={"Cookie": "frontdesk_session=forged"}),
    ):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
    wrong_key = client.get(URL, headers={"Authorization": "Bearer fd_wrong"})
    assert wrong_key.status_code == 401 and wrong_key.json()["error"]["code"] == "invalid_api_key"


def test_unknown_bot_and_document_are_404(client, auth) -> None:
    assert client.get("/api/v1/bots/nope/documents", auth=auth).status_code == 404
    missing = client.get(f"{URL}/no-such-doc", auth=auth)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_document"
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


def test_a_file_over_the_size_limit_fails_alone(demo_services, auth) -> None:
    from server.app import create_app

    settings = demo_services.settings.model_copy(update={"max_upload_mb": 0.01})  # about 10 KB
    app = create_app(settings, demo_services)
    big = b"# Big\n\n" + b"Lots of words here. " * 2000
    small = b"# Quokka care\n\nQuokkas need shade."
    files = [("files", ("big.md", big, "text/markdown")), ("files", ("quokka-care.md", small, "text/markdown"))]
    with TestClient(app) as small_client:
        response = small_client.post(URL, params={"wait": "true"}, files=files, auth=auth)
        listed = {d["slug"]: d for d in small_client.get(URL, auth=auth).json()}
        for slug in ("big", "quokka-care"):
            small_client.delete(f"{URL}/{slug}", auth=auth)

    assert response.status_code == 200
    big_result, small_result = response.json()["results"]
    assert big_result["status"] == "failed" and "big.md: larger than the upload limit" in big_result["error"]
    assert small_result["status"] == "ready" and small_result["chunks"] == 1
    assert listed["big"]["status"] == "failed" and "upload limit" in listed["big"]["error"]


def test_an_upload_over_the_total_limit_is_413(demo_services, auth) -> None:
    from server.app import create_app

    settings = demo_services.settings.model_copy(update={"max_upload_mb": 0.01, "max_upload_files": 2})
    app = create_app(settings, demo_services)
    big = b"Lots of words here. " * 2000  # 40 KB: more than 2 files x 10 KB
    with TestClient(app) as small_client:
        response = small_client.post(URL, files=[("files", ("big.md", big, "text/markdown"))], auth=auth)

    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "too_large" and "in all" in error["message"]


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
    assert "queued: ingesting in the background" in result.text and "console-note.txt" in result.text
    assert 'data-pending="true"' in result.text and "<progress" in result.text  # the page follows them
    assert wait_until_done(client, auth, "console-note")["status"] == "ready"
    assert wait_until_done(client, auth, "scan")["status"] == "failed"
    page = client.get("/admin/bots/demo/knowledge", auth=auth).text
    assert 'data-pending="false"' in page and "scan.pdf: not a readable PDF" in page
    for slug in ("console-note", "scan"):
        client.delete(f"{URL}/{slug}", auth=auth)


def test_console_escapes_file_names_and_errors(client, auth) -> None:
    name = "<img src=x onerror=alert(1)>.pptx"
    result = client.post("/admin/bots/demo/knowledge", files=[("files", (name, b"x", "text/plain"))], auth=auth)

    assert result.status_code == 200
    assert "<img src=x" not in result.text and "&lt;img src=x onerror=alert(1)&gt;.pptx" in result.text
    page = client.get("/admin/bots/demo/knowledge", auth=auth).text
    assert "<img src=x" not in page and "unsupported file type .pptx" in page
    assert client.delete(f"{URL}/{slugify('<img src=x onerror=alert(1)>')}", auth=auth).status_code == 204
