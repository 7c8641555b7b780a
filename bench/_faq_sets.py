"""Public FAQ retrieval sets built from Debian packages: question heading -> answer body.

Sources (installed by `apt-get install debian-faq debian-faq-zh-cn python3-doc`; never by us):
  debian-faq         /usr/share/doc/debian/FAQ/*.en.html            The Debian GNU/Linux FAQ, GPL-2+
  debian-faq-zh-cn   /usr/share/doc/debian/FAQ/zh-cn/*.zh-cn.html   its Simplified Chinese translation, GPL-2+
  python3-doc        /usr/share/doc/python3*/html/faq/*.html        the Python FAQ, PSF License

Each FAQ entry is a leaf section of the HTML: its heading is the question, its body (heading
removed, sub-sections excluded) is the answer. Every entry with a non-trivial answer goes into the
corpus; only entries whose (English) heading is a question become queries. The Debian FAQ keeps
the same section ids (`<a id="...">`) in both languages, so zh and en entries pair by id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from bs4 import BeautifulSoup, Tag

DEBIAN_FAQ = Path("/usr/share/doc/debian/FAQ")
PYTHON_DOCS = Path("/usr/share/doc")
APT_PACKAGES = "debian-faq debian-faq-zh-cn python3-doc"
MIN_ANSWER_CHARS = 40  # shorter bodies are pointers ("see section 4.2"), not answers
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
NUMBERING = re.compile(r"^\s*(?:\d+\.)+\s*")
BLOCKS = ["p", "div", "li", "tr", "td", "th", "pre", "dt", "dd", "table", "ul", "ol", "blockquote"]


@dataclass
class Entry:
    """One FAQ entry: the question is a query, the answer is the passage to find."""

    id: str
    question: str
    answer: str
    page: str  # the page (chapter) title: the document title the answer is indexed under
    number: str = ""  # the section number printed in the heading ("7.1."), to check zh/en pairing


@dataclass
class FaqSet:
    """A corpus of answers plus the questions that ask for them."""

    name: str
    lang: str  # language of the queries
    corpus: dict[str, Entry]  # document id -> entry (its answer is the document)
    queries: list[tuple[str, str]]  # (question, expected document id)
    dropped: dict[str, int] = field(default_factory=dict)
    source: str = ""


class MissingData(RuntimeError):
    """The FAQ files are not installed."""


def _text(node: Tag) -> str:
    """Block-aware text of an element: paragraphs separated by blank lines (Markdown-like)."""
    for br in node.find_all("br"):
        br.replace_with("\n")
    for block in node.find_all(BLOCKS):
        block.insert_before("\n\n")
        block.insert_after("\n\n")
    paragraphs = []
    for para in re.split(r"\n\s*\n", node.get_text()):
        line = " ".join(para.split())
        # the zh HTML breaks lines inside sentences: no space belongs between two CJK characters
        line = re.sub(r"(?<=[\u3400-\u9fff，。、；：？！）（“”]) (?=[\u3400-\u9fff，。、；：？！（）“”])", "", line)
        if line:
            paragraphs.append(line)
    return "\n\n".join(paragraphs)


def _heading(node: Tag) -> tuple[str, str]:
    """(section number, heading text without the number and the permalink sign)."""
    text = " ".join(node.get_text(" ").replace("¶", " ").split())
    number = NUMBERING.match(text)
    return (number.group(0).strip() if number else ""), NUMBERING.sub("", text).strip()


def _debian_page(path: Path) -> tuple[str, list[Entry]]:
    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    title_tag = soup.find("h1")
    page = " ".join(title_tag.get_text(" ").split()) if title_tag else path.stem
    entries = []
    for section in soup.find_all("div", class_="section"):
        if section.find("div", class_="section"):
            continue  # not a leaf: its sub-sections are the entries
        head = section.find(["h2", "h3", "h4", "h5"], class_="title")
        anchor = head.find("a", id=True) if head else None
        if head is None or anchor is None:
            continue
        entry_id, (number, question) = str(anchor["id"]), _heading(head)
        section.find("div", class_="titlepage").decompose()
        entries.append(Entry(entry_id, question, _text(section), page, number))
    return page, entries


def debian_entries(lang: str) -> dict[str, Entry]:
    """Every leaf entry of the Debian FAQ in 'en' or 'zh', by section id."""
    if lang == "en":
        files = sorted(DEBIAN_FAQ.glob("*.en.html"))
    else:
        files = sorted((DEBIAN_FAQ / "zh-cn").glob("*.zh-cn.html"))
    files = [f for f in files if not f.name.startswith("index.")]
    if not files:
        package = "debian-faq" if lang == "en" else "debian-faq-zh-cn"
        raise MissingData(f"the Debian FAQ ({lang}) is not installed: apt-get install {package}")
    entries: dict[str, Entry] = {}
    for path in files:
        for entry in _debian_page(path)[1]:
            entries.setdefault(entry.id, entry)
    return entries


def python_faq_folder() -> Path:
    """The installed Python FAQ HTML folder (python3-doc)."""
    for candidate in sorted(PYTHON_DOCS.glob("python3*/html/faq"), reverse=True):
        if (candidate / "general.html").is_file():
            return candidate
    raise MissingData("the Python FAQ is not installed: apt-get install python3-doc")


def python_entries() -> dict[str, Entry]:
    """Every leaf entry of the Python FAQ, by page and section id."""
    entries: dict[str, Entry] = {}
    for path in sorted(python_faq_folder().glob("*.html")):
        if path.name == "index.html":
            continue
        soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
        h1 = soup.find("h1")
        page = _heading(h1)[1] if h1 else path.stem
        for section in soup.find_all("section", id=True):
            if section.find("section"):
                continue
            head = section.find(["h2", "h3", "h4", "h5"])
            if head is None:
                continue
            entry_id, question = f"{path.stem}#{section['id']}", _heading(head)[1]
            head.decompose()
            entries[entry_id] = Entry(entry_id, question, _text(section), page)
    return entries


def _is_question(text: str) -> bool:
    """A heading that asks something ('How do I delete a file? (And other file questions...)')."""
    return "?" in text or "？" in text


def build_set(name: str, lang: str, corpus_entries: dict[str, Entry], query_entries: dict[str, Entry],
              english: dict[str, Entry], source: str) -> FaqSet:
    """Keep answers long enough to be answers; ask the questions whose English heading is one.

    Args:
        name: the set's name.
        lang: the language of the questions.
        corpus_entries: the entries whose answers form the corpus, by id.
        query_entries: the entries whose headings are asked, by id (pairs with the corpus by id).
        english: the English entries, by id (decide what counts as a question).
        source: where the data comes from and its license.

    Returns:
        The set, with the counts of what was dropped and why.
    """
    dropped = {"heading not a question": 0, "answer under 40 chars": 0, "no counterpart": 0,
               "untranslated (no CJK)": 0, "section numbers differ": 0}
    corpus = {i: e for i, e in corpus_entries.items() if len(e.answer) >= MIN_ANSWER_CHARS}
    queries = []
    for entry_id, entry in query_entries.items():
        if entry_id not in english or entry_id not in corpus_entries:
            dropped["no counterpart"] += 1
        elif entry.number != english[entry_id].number:
            dropped["section numbers differ"] += 1
        elif not _is_question(english[entry_id].question):
            dropped["heading not a question"] += 1
        elif entry_id not in corpus:
            dropped["answer under 40 chars"] += 1
        elif lang == "zh" and not (CJK.search(entry.question) and CJK.search(corpus[entry_id].answer[:200] + (
            entry.question if corpus_entries is not query_entries else ""))):
            dropped["untranslated (no CJK)"] += 1
        else:
            queries.append((entry.question, entry_id))
    return FaqSet(name, lang, corpus, queries, {k: v for k, v in dropped.items() if v}, source)


def load_sets(names: list[str]) -> list[FaqSet]:
    """The named sets among debian-en, python-en, debian-zh, debian-zh-en."""
    sets = []
    debian = "The Debian GNU/Linux FAQ (debian-faq, GPL-2+)"
    debian_zh = "its zh-cn translation (debian-faq-zh-cn, GPL-2+)"
    en = debian_entries("en") if any(n.startswith("debian") for n in names) else {}
    zh = debian_entries("zh") if any(n.startswith("debian-zh") for n in names) else {}
    for name in names:
        if name == "debian-en":
            sets.append(build_set(name, "en", en, en, en, debian))
        elif name == "python-en":
            py = python_entries()
            sets.append(build_set(name, "en", py, py, py, "The Python FAQ (python3-doc, PSF License)"))
        elif name == "debian-zh":
            sets.append(build_set(name, "zh", zh, zh, en, debian_zh))
        elif name == "debian-zh-en":
            sets.append(build_set(name, "zh", en, zh, en, f"zh questions from {debian_zh}, en answers from {debian}"))
        else:
            raise ValueError(f"unknown set {name!r}; known: debian-en, python-en, debian-zh, debian-zh-en")
    return sets
