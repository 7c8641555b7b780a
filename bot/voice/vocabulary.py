"""A bot's own words for the speech model: customers ask a bot about its business, so tell Whisper that business.

From a bot's intent examples, knowledge titles, section headings (FAQ questions) and passages, pick per
language the terms that are frequent in the bot's texts and rare in general language (jieba's word
frequencies for Chinese; stop words and capitalised names for English). `WhisperTranscriber` passes the
terms of the detected language as faster-whisper `hotwords`, trimmed to a token budget.
`VocabularyCache` keeps one vocabulary per bot and rebuilds it when a fingerprint of its data changes.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from knowledge.keyword import STOPWORDS, ZH_STOPWORDS, _jieba

log = logging.getLogger(__name__)

CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
LATIN_WORD = re.compile(r"[A-Za-z](?:[A-Za-z'’&-]*[A-Za-z])?(?![\w-])")
ADDRESS = re.compile(r"\S+@\S+|\w+://\S+|\bwww\.\S+|\S+\.(?:com|org|net|example)\S*", re.IGNORECASE)
ZH_RARITY_POWER = 3  # jieba rarity is 0.4 for 时间 and 0.8 for 退货: cube it so distinctive words lead
# Weight of one text of each kind: a title or FAQ question names what customers ask about.
WEIGHTS = {"titles": 3.0, "headings": 2.0, "examples": 2.0, "passages": 1.0}
MAX_PASSAGES = 3000  # passages read per build: enough for term statistics, bounded for large bots
_MORE_EN_STOPWORDS = (
    "about after all also am any been before being but could did doesn't don't each every get go had has have "
    "here hi his her into its just know let like make may more most much must need new no not now off once only "
    "other out over please same see should so some such than thank thanks that their them then there these they "
    "those through too under until up very want way were what's would yes yet i'm i'd i'll i've you're can't "
    "won't isn't one two three within without"
)
_MORE_ZH_STOPWORDS = "没有 已经 还是 如果 因为 所以 但是 以及 或者 需要 时候 我的 您的 可能 这些 那些 然后 之后 之前"
EN_STOPWORDS = STOPWORDS | ENGLISH_STOP_WORDS | frozenset(_MORE_EN_STOPWORDS.split())
ZH_EXTRA_STOPWORDS = frozenset(_MORE_ZH_STOPWORDS.split())


@dataclass(frozen=True)
class DomainTexts:
    """What a bot talks about: the texts a vocabulary is built from."""

    examples: tuple[str, ...] = ()  # intent example utterances
    titles: tuple[str, ...] = ()  # knowledge document titles
    headings: tuple[str, ...] = ()  # section headings (FAQ questions are usually headings)
    passages: tuple[str, ...] = ()  # knowledge passages


@dataclass(frozen=True)
class Vocabulary:
    """Per language ('zh', 'en'), the bot's terms, best first."""

    terms: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def terms_for(self, language: str) -> tuple[str, ...]:
        """The terms for a language (none when the bot has no text in it)."""
        return self.terms.get(language, ())

    def hotwords(self, language: str, fits: Callable[[str], bool] | None = None) -> str | None:
        """The terms as one hotwords string, as many as `fits` accepts (best first); None when there are none.

        Args:
            language: the detected language.
            fits: whether a candidate string is within the model's budget (token count); all terms when None.
        """
        terms = self.terms_for(language)
        separator = "、" if language == "zh" else ", "
        chosen: list[str] = []
        for term in terms:
            candidate = separator.join([*chosen, term])
            if fits is not None and not fits(candidate):
                break
            chosen.append(term)
        return separator.join(chosen) or None


EMPTY = Vocabulary()


def build_vocabulary(texts: DomainTexts, max_terms: int = 40) -> Vocabulary:
    """Pick each language's most frequent, most distinctive terms from a bot's texts.

    Args:
        texts: the bot's intent examples, titles, headings and passages.
        max_terms: terms kept per language.

    Returns:
        The vocabulary ('zh' from Chinese runs and the Latin names used among them, 'en' from the rest).
    """
    zh: Counter[str] = Counter()
    en: Counter[str] = Counter()
    surface: dict[str, Counter[str]] = {}
    for kind, weight in WEIGHTS.items():
        items = getattr(texts, kind)
        for text in items[:MAX_PASSAGES] if kind == "passages" else items:
            cased = kind in ("examples", "passages")  # titles and headings are often in Title Case
            if CJK_RUN.search(text):
                zh.update(dict.fromkeys(_zh_terms(text, surface, cased), weight))
            else:
                en.update(dict.fromkeys(_en_terms(text, surface, cased), weight))
    terms = {}
    if zh:
        terms["zh"] = _best(zh, surface, _zh_rarity, max_terms)
    if en:
        terms["en"] = _best(en, surface, _en_rarity, max_terms)
    return Vocabulary(terms)


def _zh_terms(text: str, surface: dict[str, Counter[str]], cased: bool = True) -> set[str]:
    """Chinese words of two or more characters (jieba), and the brand names written in Latin letters."""
    words = set()
    for run in CJK_RUN.findall(text):
        words.update(w for w in _jieba().lcut(run, HMM=False) if len(w) >= 2 and CJK_RUN.fullmatch(w))
    words -= ZH_STOPWORDS | ZH_EXTRA_STOPWORDS
    names = {w for w in _en_terms(text, surface, cased) if " " not in w and _looks_like_a_name(surface.get(w))}
    return words | names


def _en_terms(text: str, surface: dict[str, Counter[str]], cased: bool = True) -> set[str]:
    """Lower-cased content words and the two-word phrases they form ('gift card'), counted once per text.

    With `cased`, how each word is written inside a sentence is counted into `surface` (names keep
    their capitals in the prompt).
    """
    found: set[str] = set()
    previous = ""
    text = ADDRESS.sub(" . ", text)  # e-mail and web addresses are read out rarely and split oddly
    for match in LATIN_WORD.finditer(text):
        word = match.group(0)
        key = word.lower().replace("’", "'")
        if key in EN_STOPWORDS or len(key) < 3 and not word.isupper():
            previous = ""
            continue
        if cased:
            starts_sentence = text[: match.start()].rstrip()[-1:] in ("", ".", "!", "?", ":", "\n")
            surface.setdefault(key, Counter())[key if starts_sentence else word] += 1
        found.add(key)
        if previous:
            found.add(f"{previous} {key}")
        previous = key
    return found


def _looks_like_a_name(forms: Counter[str] | None) -> bool:
    """Written with a capital inside a sentence (PayPal, DHL, Northwind) more often than not."""
    if not forms:
        return False
    capitalised = sum(n for form, n in forms.items() if form != form.lower())
    return capitalised * 2 > sum(forms.values())


def _zh_rarity(term: str, surface: dict[str, Counter[str]]) -> float:
    """0–1: how rare the word is in general Chinese (jieba's dictionary frequencies); unknown words are 1."""
    if not CJK_RUN.fullmatch(term):
        return 1.0  # a Latin name inside Chinese speech: what Whisper spells worst
    dictionary = _jieba().dt
    dictionary.check_initialized()
    total = float(dictionary.total)
    return (math.log(total / (dictionary.FREQ.get(term, 0) + 1.0)) / math.log(total)) ** ZH_RARITY_POWER


def _en_rarity(term: str, surface: dict[str, Counter[str]]) -> float:
    """Names and phrases count fully; other words a little less (no general English frequencies here)."""
    if " " in term:
        return 0.9
    return 1.0 if _looks_like_a_name(surface.get(term)) else 0.7


def _best(
    counts: Counter[str],
    surface: dict[str, Counter[str]],
    rarity: Callable[[str, dict[str, Counter[str]]], float],
    max_terms: int,
) -> tuple[str, ...]:
    """The top terms by weighted document frequency x rarity; a phrase must occur twice and replaces its words."""
    counts = _merge_plurals(counts)
    scored = sorted(
        (
            (weight * rarity(term, surface), term)
            for term, weight in counts.items()
            if " " not in term or weight >= 2 * WEIGHTS["passages"] + 1
        ),
        key=lambda pair: (-pair[0], pair[1]),
    )
    chosen: list[str] = []
    covered: set[str] = set()
    for _, term in scored:
        if term in covered:
            continue
        chosen.append(_display(term, surface))
        covered.update(term.split())
        if len(chosen) == max_terms:
            break
    return tuple(chosen)


def _merge_plurals(counts: Counter[str]) -> Counter[str]:
    """'orders' counted as 'order' when the bot writes both (Whisper hears the difference well enough)."""
    merged: Counter[str] = Counter()
    for term, weight in counts.items():
        singular = term[:-1] if term.endswith("s") and not term.endswith("ss") else term
        merged[singular if singular != term and singular in counts else term] += weight
    return merged


def _display(term: str, surface: dict[str, Counter[str]]) -> str:
    """A term as the bot writes it most often inside sentences (PayPal, DHL), lower case otherwise."""
    words = []
    for word in term.split():
        forms = surface.get(word)
        words.append(forms.most_common(1)[0][0] if forms and _looks_like_a_name(forms) else word)
    return " ".join(words)


def texts_from_chunks(chunks: Iterable[Any], examples: Iterable[str] = ()) -> DomainTexts:
    """DomainTexts from knowledge chunks (anything with title, section and text) and intent examples."""
    titles: dict[str, None] = {}
    headings: dict[str, None] = {}
    passages = []
    for chunk in chunks:
        titles[chunk.title] = None
        if chunk.section and chunk.section != chunk.title:
            headings[chunk.section] = None
        passages.append(chunk.text)
    return DomainTexts(tuple(dict.fromkeys(examples)), tuple(titles), tuple(headings), tuple(passages))


@dataclass
class _Entry:
    fingerprint: Hashable
    vocabulary: Vocabulary
    checked: float


class VocabularyCache:
    """One vocabulary per bot, rebuilt when its data's fingerprint changes (looked at every few seconds).

    Args:
        recheck_seconds: how long a vocabulary is used before its fingerprint is asked again.
        max_bots: vocabularies kept (least recently used dropped first).
        max_terms: terms per language.
        clock: monotonic seconds (tests).
    """

    def __init__(
        self,
        recheck_seconds: float = 5.0,
        max_bots: int = 1024,
        max_terms: int = 40,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.recheck_seconds = recheck_seconds
        self.max_bots = max_bots
        self.max_terms = max_terms
        self.clock = clock
        self.builds = 0
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, fingerprint: Callable[[], Hashable], texts: Callable[[], DomainTexts]) -> Vocabulary:
        """The bot's vocabulary, rebuilt from `texts()` when `fingerprint()` differs from the last build's.

        A failure to read or build is logged and yields the previous vocabulary (or none): biasing helps
        recognition but a voice message must never fail for it.
        """
        now = self.clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                if now - entry.checked < self.recheck_seconds:
                    return entry.vocabulary
        try:
            mark = fingerprint()
            if entry is not None and mark == entry.fingerprint:
                entry.checked = now
                return entry.vocabulary
            vocabulary = build_vocabulary(texts(), self.max_terms)
        except Exception as exc:  # noqa: BLE001 - see the docstring: never fail a voice message for biasing
            log.warning("speech vocabulary of %s not built: %s: %s", key, type(exc).__name__, exc)
            return entry.vocabulary if entry is not None else EMPTY
        with self._lock:
            self.builds += 1
            self._entries[key] = _Entry(mark, vocabulary, now)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_bots:
                self._entries.popitem(last=False)
        log.info("speech vocabulary of %s: %s", key, {lang: len(t) for lang, t in vocabulary.terms.items()})
        return vocabulary

    def forget(self, key: str) -> None:
        """Drop a bot's vocabulary (the next get() rebuilds it)."""
        with self._lock:
            self._entries.pop(key, None)
