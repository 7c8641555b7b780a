"""HTML loader: the page's own content as Markdown-like text, site boilerplate stripped.

Help-center pages wrap a short article in navigation, headers, footers, sidebars, cookie
banners, search forms and scripts. Those are dropped; headings become Markdown headings so
sections (and citation anchors) survive.
"""

from __future__ import annotations

import re

from knowledge.loaders.registry import LoadedDocument, Source, loader, title_from_name
from knowledge.loaders.text import decode

# Never content: code, media, widgets and the page's own chrome.
DROP_TAGS = [
    "script", "style", "noscript", "template", "svg", "canvas", "iframe", "object", "embed",
    "nav", "aside", "form", "button", "select", "input", "textarea", "dialog",
]
# Chrome only when they belong to the page, not to the article (<article><header><h1>...).
PAGE_CHROME = ["header", "footer"]
# ARIA landmarks that are chrome whatever their tag.
DROP_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "dialog", "alertdialog"}
# class/id words of boilerplate blocks, matched as whole words ("site_sidebar", "share-buttons";
# not "shared-content"). Widget words count anywhere; banner words only outside <main>/<article>,
# so that an article about cookies (class="cookies-policy-text") is kept.
_WORD = r"(?:^|[-_\s])({})(?:$|[-_\s])"
WIDGET_WORDS = re.compile(
    _WORD.format(
        "breadcrumbs?|navbar|sidebar|newsletter|social|share|sharing|skip|toc|related|feedback|rating|"
        "pagination|pager|popup|modal"
    ),
    re.I,
)
BANNER_WORDS = re.compile(_WORD.format("cookies?|consent|gdpr|banner"), re.I)
# HTML elements that end a line; inline ones (b, a, span...) stay inside their sentence.
BLOCKS = [
    "p", "div", "li", "tr", "td", "th", "section", "article", "blockquote", "pre",
    "dt", "dd", "table", "ul", "ol", "main", "figure", "figcaption", "details", "summary",
]


def _hidden(tag) -> bool:  # type: ignore[no-untyped-def]
    style = (tag.get("style") or "").replace(" ", "").lower()
    return tag.has_attr("hidden") or tag.get("aria-hidden") == "true" or "display:none" in style


def _is_boilerplate(tag) -> bool:  # type: ignore[no-untyped-def]
    """A landmark, hidden block or class/id-named block of site chrome (never <main> or <body>)."""
    if tag.name in ("html", "body", "main", "article") or tag.attrs is None:
        return False
    if (tag.get("role") or "").lower() in DROP_ROLES or _hidden(tag):
        return True
    words = " ".join([*tag.get("class", []), tag.get("id") or ""]).strip()
    if not words:
        return False
    if WIDGET_WORDS.search(words):
        return True
    return BANNER_WORDS.search(words) is not None and tag.find_parent(["main", "article"]) is None


def _content_root(soup):  # type: ignore[no-untyped-def]
    """<main> (or role=main), else the only <article>, else <body>: the page's own content."""
    main = soup.find("main") or soup.find(attrs={"role": "main"})
    if main is not None:
        return main
    articles = soup.find_all("article")
    if len(articles) == 1:
        return articles[0]
    return soup.body or soup


def _strip(soup) -> None:  # type: ignore[no-untyped-def]
    for tag in soup(DROP_TAGS):
        tag.decompose()
    for tag in soup(PAGE_CHROME):
        if tag.find_parent(["article", "main"]) is None:
            tag.decompose()
    for tag in soup.find_all(_is_boilerplate):
        if not tag.decomposed:
            tag.decompose()


def _to_text(root) -> str:  # type: ignore[no-untyped-def]
    for level in range(1, 7):
        for heading in root.find_all(f"h{level}"):
            heading.replace_with(f"\n\n{'#' * level} {heading.get_text(' ', strip=True)}\n\n")
    for br in root.find_all("br"):
        br.replace_with("\n")
    for item in root.find_all("li"):
        item.insert(0, "- ")
    for block in root.find_all(BLOCKS):
        block.insert_before("\n\n")
        block.insert_after("\n\n")
    lines = (" ".join(line.split()) for line in root.get_text().split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


@loader(".html", ".htm")
def load_html(source: Source) -> LoadedDocument:
    """HTML: the main content without navigation, banners, sidebars, forms and scripts.

    The title is the content's first h1, else the <title> element, else the file name.
    """
    from bs4 import BeautifulSoup

    name = source.name
    soup = BeautifulSoup(decode(source.read_bytes(), name), "html.parser")
    page_title = soup.title.get_text(" ", strip=True) if soup.title else ""
    _strip(soup)
    root = _content_root(soup)
    heading = root.find("h1") or soup.find("h1")
    title = heading.get_text(" ", strip=True) if heading else page_title
    return LoadedDocument(title or title_from_name(name), _to_text(root), name, "text/html")
