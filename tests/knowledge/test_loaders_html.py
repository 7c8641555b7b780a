"""The HTML loader on a realistic help-center page: site chrome out, the article and its headings in."""

from __future__ import annotations

from knowledge.chunking import split_sections
from knowledge.loaders import load_bytes

HELP_CENTER_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>How do I return an item? – Northwind Help Center</title>
  <link rel="stylesheet" href="/assets/help.css">
  <style>.hero { background: url(/img/hero.jpg) }</style>
  <script>window.dataLayer = [{"event": "pageview", "user": "tracking-id-123"}];</script>
</head>
<body class="article-page">
  <a class="skip-link" href="#main">Skip to main content</a>
  <div id="cookie-banner" class="cookie-consent">
    <p>We use cookies to improve your experience. <a href="/privacy">Privacy policy</a></p>
    <button>Accept all</button><button>Reject</button>
  </div>
  <header class="site-header">
    <a href="/" class="logo">Northwind</a>
    <nav aria-label="Main"><ul><li><a href="/shop">Shop</a></li><li><a href="/help">Help Center</a></li>
    <li><a href="/account">My account</a></li></ul></nav>
    <form class="search" action="/search"><input type="search" placeholder="Search articles"></form>
  </header>
  <div class="hero-banner"><h2>How can we help you today?</h2></div>
  <ol class="breadcrumbs"><li><a href="/help">Help Center</a></li><li><a href="/help/orders">Orders</a></li></ol>
  <div class="layout">
    <div class="sidebar" role="complementary">
      <h3>In this section</h3>
      <ul><li><a href="/help/track">Track my order</a></li><li><a href="/help/cancel">Cancel an order</a></li></ul>
    </div>
    <main id="main">
      <article>
        <header class="article-header">
          <h1>How do I return an item?</h1>
          <p class="meta">Updated 3 days ago</p>
        </header>
        <p>You can return most items within <strong>30 days</strong> of delivery for a full refund.</p>
        <h2>Start a return</h2>
        <ol>
          <li>Open <a href="/account/orders">Your orders</a>.</li>
          <li>Choose the item and select <em>Return</em>.</li>
          <li>Print the prepaid label and drop the parcel at any post office.</li>
        </ol>
        <h2>Refund timing</h2>
        <p>Refunds reach your original payment method within five working days<br>after we receive the parcel.</p>
        <h3>Damaged items</h3>
        <p>Send us a photo of the damage; we refund without asking for the item back.</p>
        <table><tr><th>Country</th><th>Return window</th></tr><tr><td>France</td><td>30 days</td></tr></table>
        <div class="article-feedback"><p>Was this article helpful?</p><button>Yes</button><button>No</button></div>
        <section class="related-articles"><h3>Related articles</h3><ul><li>Exchange an item</li></ul></section>
        <div class="share-buttons">Share on Facebook · Share on X</div>
      </article>
    </main>
  </div>
  <div class="newsletter-signup"><p>Get 10% off: subscribe to our newsletter</p></div>
  <footer class="site-footer"><p>© 2026 Northwind Ltd · Terms · Privacy</p></footer>
  <div hidden>Hidden survey markup</div>
  <div aria-hidden="true">Screen-reader-hidden decoration</div>
  <div role="dialog" class="chat-launcher">Chat with us</div>
  <script src="/assets/chat-widget.js"></script>
  <noscript>Please enable JavaScript</noscript>
</body>
</html>
""".encode()

BOILERPLATE = [
    "Skip to main content", "We use cookies", "Accept all", "Shop", "My account", "Search articles",
    "How can we help you today", "Orders", "In this section", "Track my order", "Was this article helpful",
    "Related articles", "Share on Facebook", "newsletter", "© 2026", "Hidden survey", "Screen-reader-hidden",
    "Chat with us", "enable JavaScript", "dataLayer", "tracking-id", "background: url",
]


def test_help_center_page_keeps_only_the_article() -> None:
    doc = load_bytes(HELP_CENTER_PAGE, "returns.html")

    assert doc.title == "How do I return an item?"
    for gone in BOILERPLATE:
        assert gone not in doc.text, gone
    assert "You can return most items within 30 days of delivery for a full refund." in doc.text
    assert "- Print the prepaid label and drop the parcel at any post office." in doc.text
    assert "Send us a photo of the damage" in doc.text and "France" in doc.text


def test_help_center_headings_become_sections() -> None:
    doc = load_bytes(HELP_CENTER_PAGE, "returns.html")

    sections = split_sections(doc.text, doc.title)

    assert [s.path for s in sections] == [
        [], ["Start a return"], ["Refund timing"], ["Refund timing", "Damaged items"],
    ]
    refund = next(s for s in sections if s.path == ["Refund timing"])
    assert "five working days\nafter we receive the parcel" in refund.text


def test_page_without_main_uses_the_body_minus_its_chrome() -> None:
    page = b"""<html><head><title>Store hours</title></head><body>
    <div role="navigation">Home | Help</div>
    <div class="gdpr-notice">Cookies!</div>
    <h1>Store hours</h1><p>We open at nine.</p>
    <footer>Contact</footer></body></html>"""

    doc = load_bytes(page, "hours.html")

    assert doc.title == "Store hours"
    assert doc.text == "# Store hours\n\nWe open at nine."


def test_classes_that_only_contain_a_boilerplate_word_are_kept() -> None:
    page = b"""<main><h1>Cookies policy</h1><div class="shared-content cookies-policy-text">
    <p>We store a session cookie.</p></div></main>"""

    doc = load_bytes(page, "cookies.html")

    assert "We store a session cookie." in doc.text and doc.title == "Cookies policy"
