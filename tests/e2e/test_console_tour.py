"""A tour of the console as a business would take it, in Chromium against a real `frontdesk serve`.

An admin signs in, reads the bot's metrics, uploads a document and waits until it is ingested,
finds it with the search tester, adds intent examples and trains a new intent model (seeing its
evaluation table), then chats as a customer in the demo page's widget: the answer quotes the new
document with a citation, the customer gives it a thumb up and the conversation five stars. Back on the metrics page the
conversation, message, CSAT and thumb figures have moved by exactly that one conversation. Last, a
question nobody answers gets the fallback, and its "add as intent example" link on the metrics page
opens the intents page's add-an-example form with the question already typed in.
Every step leaves a full-page screenshot in the artifacts folder (see `artifacts_dir`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ServerProcess, restartable_server, screenshot_dir
from tests.e2e.test_widget_browser import CHROMIUM, FLAGS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
REPO = Path(__file__).resolve().parents[2]
DOCUMENT = "showroom-pets.md"
DOC_SLUG = "showroom-pets"
DOC_TEXT = """# Pets in the showroom

## Dogs at the Harbor Street showroom

Well-behaved dogs on a leash are welcome in the Harbor Street showroom every day except Sunday.
Fresh water bowls wait by the entrance, and staff keep a jar of dog treats at the front desk.
"""
QUESTION = "Can I bring my dog to the Harbor Street showroom?"
ANSWER_FACT = "dogs on a leash are welcome"
NEW_INTENT = "showroom_visit"
NEW_EXAMPLES = (
    "can I visit your showroom",
    "where is the Harbor Street showroom",
    "is the showroom open on sunday",
    "may I bring my dog to the showroom",
)
BOT_REPLY = ".fd-msg.fd-bot[data-final='true']:not(.fd-greeting)"
UNANSWERED = "Zorblax qwvert snoffle plimb?"  # nothing in the demo knowledge, intents or rules: the fallback
FIGURES = ("conversations", "customer_messages", "csat_average", "thumbs")


def artifacts_dir() -> Path:
    """Where the tour's screenshots go (see tests.e2e.conftest.screenshot_dir)."""
    return screenshot_dir()


class Tour:
    """One browser page on the server, taking a numbered full-page screenshot at each step."""

    def __init__(self, page: Any, base: str, shots: Path) -> None:
        self.page, self.base, self.shots, self.step = page, base, shots, 0

    def shot(self, name: str) -> Path:
        """Save a full-page screenshot named after the step, e.g. console-tour-03-knowledge-ready.png."""
        self.step += 1
        path = self.shots / f"console-tour-{self.step:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def nav(self, label: str) -> None:
        """Follow a link of the bot's navigation bar, as a person would."""
        self.page.locator("header .bot-nav a", has_text=label).first.click()
        self.page.wait_for_load_state()

    def figures(self) -> dict[str, str]:
        """The metrics page's figures this test relies on, as shown."""
        return {name: self.page.locator(f"td[data-metric='{name}']").inner_text().strip() for name in FIGURES}


def thumbs(shown: str) -> tuple[int, int]:
    """'3 / 1 (75.0% up)' -> (3, 1)."""
    found = re.match(r"(\d+) / (\d+)", shown)
    assert found, f"unexpected thumbs figure {shown!r}"
    return int(found.group(1)), int(found.group(2))


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A fresh server of the tour's own, training intents the fast way."""
    with restartable_server(tmp_path, FRONTDESK_INTENT_METHOD="frozen") as process:
        yield process


def sign_in(tour: Tour, email: str, password: str) -> None:
    """Open the console signed out, and sign in through the form."""
    page = tour.page
    page.goto(tour.base + "/admin/")
    assert "/admin/login" in page.url
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(tour.base + "/admin/")
    assert page.locator("header .who").inner_text() == email
    tour.shot("home")
    page.locator("a[href='/admin/bots/demo/metrics']").first.click()
    page.wait_for_load_state()


def upload_document(tour: Tour, folder: Path) -> None:
    """Upload a Markdown file on the knowledge page and wait until it is ingested."""
    page = tour.page
    source = folder / DOCUMENT
    source.write_text(DOC_TEXT, encoding="utf-8")
    tour.nav("Knowledge")
    assert page.locator(f"#documents tr[data-slug='{DOC_SLUG}']").count() == 0
    page.set_input_files("input[type=file][name=files]", str(source))
    page.click("form[enctype='multipart/form-data'] button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".upload-error").count() == 0
    assert DOCUMENT in page.locator("table.upload-results").inner_text()
    tour.shot("knowledge-uploaded")
    # the page polls the documents API and reloads itself once nothing is pending
    row = page.locator(f"#documents tr[data-slug='{DOC_SLUG}']")
    row.locator(".doc-status span.ready").wait_for(timeout=120_000)
    assert int(row.locator(".doc-chunks").inner_text()) >= 1
    assert row.locator(".doc-error").inner_text().strip() == ""
    tour.shot("knowledge-ready")


def search_for_it(tour: Tour) -> None:
    """Ask the knowledge page's search tester the customer's question: the new document comes first."""
    page = tour.page
    link = page.locator("a[href$='/knowledge/search']")
    if link.count():
        link.first.click()
        page.wait_for_load_state()
    else:  # until the knowledge page links to it (admin/templates/knowledge.html)
        page.goto(tour.base + "/admin/bots/demo/knowledge/search")
    form = page.locator("form.search-tester")
    assert form.count() == 1, "the console has no search tester: server/app.py must include admin.search_page.router"
    form.locator("input[name=q]").fill(QUESTION)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    first = page.locator("table.search-hits tr[data-document]").first
    assert "Pets in the showroom" in first.locator(".hit-source").inner_text(), page.locator("main").inner_text()
    assert ANSWER_FACT in first.locator(".hit-text").inner_text()
    assert page.locator(".search-verdict.confident").count() == 1
    tour.shot("knowledge-search")


def train_intents(tour: Tour) -> None:
    """Add examples of a new intent one by one, train a new version and see its evaluation table."""
    page = tour.page
    tour.nav("Intents")
    versions_before = page.locator("section.versions tr", has=page.locator("td")).count()
    form = page.locator("form[action='/admin/bots/demo/intents/examples']")
    for text in NEW_EXAMPLES:
        form.locator("input[name=intent]").fill(NEW_INTENT)
        form.locator("input[name=text]").fill(text)
        form.locator("button[type=submit]").click()
        page.wait_for_load_state()
        assert page.locator(".error[role=alert]").count() == 0
    row = page.locator("section.examples tr.intent", has=page.locator("td", has_text=NEW_INTENT))
    assert row.locator("td").nth(1).inner_text() == str(len(NEW_EXAMPLES))
    tour.shot("intents-examples")
    page.locator("form[action='/admin/bots/demo/intents/train'] button[type=submit]").click()
    page.wait_for_load_state()
    # the page refreshes itself while the job runs; wait for the finished state
    page.locator(".job-status[data-state='done'], .job-status[data-state='failed']").wait_for(timeout=180_000)
    status = page.locator(".job-status")
    assert status.get_attribute("data-state") == "done", status.inner_text()
    assert page.locator("section.versions tr", has=page.locator("td")).count() == versions_before + 1
    scores = page.locator("table.per-intent")
    scores.wait_for(timeout=10_000)
    assert scores.locator("td", has_text=NEW_INTENT).count() == 1, scores.inner_text()
    tour.shot("intents-trained")


def chat_and_rate(tour: Tour) -> None:
    """As a customer on the demo page: ask, see the cited answer, thumb it up, give five stars."""
    page = tour.page
    page.goto(tour.base + "/")
    page.click(".nw-chat-button")
    page.wait_for_selector("#fd-status:text('connected')", timeout=30_000)
    page.fill("#fd-input", QUESTION)
    page.click("#fd-send")
    answer = page.locator(BOT_REPLY).first
    answer.wait_for(timeout=60_000)
    assert ANSWER_FACT in answer.inner_text(), answer.inner_text()
    citation = answer.locator(".fd-citations li a").first
    assert "Pets in the showroom" in citation.inner_text(), answer.inner_text()
    tour.shot("widget-answer")
    answer.locator(".fd-thumb[aria-label='Helpful']").click()
    answer.locator(".fd-feedback-thanks").wait_for(timeout=10_000)
    page.locator(".fd-close").click()  # closing after a bot reply asks for a rating first
    page.locator(".fd-csat").wait_for(timeout=10_000)
    page.locator(".fd-csat-score[data-score='5']").click()
    page.locator(".fd-csat-send").click()
    page.locator(".fd-csat", has_text="Thanks for your rating").wait_for(timeout=10_000)
    tour.shot("widget-rated")


def fix_from_metrics(tour: Tour) -> None:
    """A question gets the fallback; on the metrics page "add as intent example" opens its form, prefilled."""
    page = tour.page
    reply = page.request.post(tour.base + "/api/v1/bots/demo/messages", data={"text": UNANSWERED})
    assert reply.ok and reply.json()["reply"]["fallback"] is True, reply.text()
    page.goto(tour.base + "/admin/bots/demo/metrics")
    row = page.locator("tr", has=page.locator("td > a", has_text=UNANSWERED)).last  # "Latest unanswered"
    row.locator("a", has_text="add as intent example").click()
    page.wait_for_load_state()
    assert page.url.endswith("#add-example"), page.url
    form = page.locator("form#add-example")
    assert form.locator("input[name=text]").input_value() == UNANSWERED
    assert form.locator("input[name=intent]").input_value() == ""  # the intent is the person's choice
    tour.shot("metrics-fix-intent-example")


def test_console_tour_upload_train_chat_rate_and_see_the_metrics(server: ServerProcess, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    email, password = server.demo_login()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(30_000)
        tour = Tour(page, server.base, artifacts_dir())

        sign_in(tour, email, password)
        before = tour.figures()
        assert before["csat_average"] == "—", before  # a fresh server: nobody has rated yet
        tour.shot("metrics-before")

        upload_document(tour, tmp_path)
        search_for_it(tour)
        train_intents(tour)
        chat_and_rate(tour)

        page.goto(server.base + "/admin/bots/demo/metrics")
        assert "/admin/login" not in page.url
        after = tour.figures()
        tour.shot("metrics-after")
        fix_from_metrics(tour)  # after the figures: its fallback conversation is not the rated one
        browser.close()

    assert int(after["conversations"]) == int(before["conversations"]) + 1, (before, after)
    assert int(after["customer_messages"]) == int(before["customer_messages"]) + 1, (before, after)
    assert after["csat_average"] == "5.00", after
    up, down = thumbs(before["thumbs"])
    assert thumbs(after["thumbs"]) == (up + 1, down), (before, after)
    shots = sorted(p.name for p in artifacts_dir().glob("console-tour-*.png"))
    assert len(shots) >= 10 and all((artifacts_dir() / name).stat().st_size > 0 for name in shots)
    assert "Traceback" not in server.log()
