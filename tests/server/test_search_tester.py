"""The console's search tester (admin/search_page.py): the chat's own knowledge search, shown to the business."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ConsoleTestClient, console_auth

URL = "/admin/bots/demo/knowledge/search"


@pytest.fixture()
def tester(demo_services) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """The demo app with the search tester's routes (added here until server/app.py includes them)."""
    from admin.search_page import router
    from server.app import create_app

    app = create_app(demo_services.settings, demo_services)
    if not any(getattr(route, "path", "") == URL.replace("demo", "{slug}") for route in app.routes):
        app.include_router(router)
    with ConsoleTestClient(app) as client:
        yield client


def test_search_shows_the_passages_the_bot_answers_from(tester: TestClient, demo_services) -> None:  # type: ignore[no-untyped-def]
    auth = console_auth(demo_services, demo_services.seeded.admin_email)
    page = tester.get(URL, params={"q": "How long does standard shipping take?", "k": 3}, auth=auth)
    assert page.status_code == 200, page.text[:500]
    assert page.text.count("<tr data-document=") == 3
    assert "Shipping times" in page.text and "3-5 business days" in page.text
    assert 'class="search-verdict confident"' in page.text


def test_search_escapes_the_query_and_refuses_bad_input(tester: TestClient, demo_services) -> None:  # type: ignore[no-untyped-def]
    auth = console_auth(demo_services, demo_services.seeded.admin_email)
    page = tester.get(URL, params={"q": "<script>alert(1)</script>"}, auth=auth)
    assert page.status_code == 200 and "<script>alert(1)" not in page.text and "&lt;script&gt;" in page.text
    empty = tester.get(URL, auth=auth)
    assert empty.status_code == 200 and "search-hits" not in empty.text  # the form alone
    assert tester.get(URL, params={"q": "x" * 501}, auth=auth).status_code == 422
    assert tester.get(URL, params={"q": "shipping", "k": 0}, auth=auth).status_code == 422
    assert tester.get("/admin/bots/nope/knowledge/search", params={"q": "x"}, auth=auth).status_code == 404


def test_search_needs_a_signed_in_user(tester: TestClient) -> None:
    page = tester.get(URL, params={"q": "shipping"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/admin/login?next=")
