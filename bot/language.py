"""A light language guess for rule conditions: the writing system first, then common words.

No model and no dependency. Non-Latin scripts are told apart by their characters (Chinese,
Japanese, Korean, Russian/Cyrillic, Arabic, Hebrew, Greek, Thai, Hindi/Devanagari); Latin-script
text is scored against short lists of very common words of English, Spanish, French, German,
Portuguese, Italian and Dutch. Short Latin messages with none of those words ("NW-123456", "ok")
carry no signal: the guess is then the conversation's locale, else English, and the reason says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# (language, character ranges); Han is handled apart because Japanese mixes it with kana.
_SCRIPTS: list[tuple[str, str]] = [
    ("ja", "\u3040-\u30ff\u31f0-\u31ff"),  # hiragana, katakana
    ("ko", "\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"),  # hangul
    ("ru", "\u0400-\u04ff"),  # Cyrillic, reported as Russian
    ("ar", "\u0600-\u06ff\u0750-\u077f"),
    ("he", "\u0590-\u05ff"),
    ("el", "\u0370-\u03ff"),
    ("th", "\u0e00-\u0e7f"),
    ("hi", "\u0900-\u097f"),  # Devanagari, reported as Hindi
]
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[a-zA-Z\u00c0-\u024f]")
_SCRIPT_RES = [(lang, re.compile(f"[{ranges}]")) for lang, ranges in _SCRIPTS]
_WORD = re.compile(r"[a-zA-Z\u00c0-\u024f']+")


def _words(text: str) -> set[str]:
    return set(text.split())


_COMMON: dict[str, set[str]] = {
    "en": _words(
        "the is are was my i you your it this that what where when how why can could would do does did "
        "not have has with for and to of in on please hi hello thanks thank want need order help me"
    ),
    "es": _words(
        "el la los las es son está estoy mi mis tu qué dónde cuándo cómo por para con y de en un una "
        "no sí quiero necesito pedido hola gracias ayuda puedo tengo"
    ),
    "fr": _words(
        "le la les est sont je tu vous mon ma mes ton quoi où quand comment pourquoi pour avec et de "
        "en un une pas oui veux besoin commande bonjour merci aide puis suis ai"
    ),
    "de": _words(
        "der die das ist sind ich du sie mein meine dein was wo wann wie warum für mit und zu von in "
        "ein eine nicht ja will brauche bestellung hallo danke hilfe kann habe"
    ),
    "pt": _words(
        "o a os as é são está estou meu minha você que onde quando como por para com e de em um uma "
        "não sim quero preciso pedido olá obrigado obrigada ajuda posso tenho"
    ),
    "it": _words(
        "il lo la gli le è sono sto mio mia tuo che dove quando come perché per con e di in un una "
        "non sì voglio ho bisogno ordine ciao grazie aiuto posso"
    ),
    "nl": _words(
        "de het een is zijn ik jij u mijn wat waar wanneer hoe waarom voor met en te van in niet ja "
        "wil nodig bestelling hallo dank bedankt hulp kan heb"
    ),
}
_MARKS: dict[str, str] = {"es": "ñ¿¡", "de": "ßäöü", "fr": "çèêëœ", "pt": "ãõ"}


@dataclass(frozen=True)
class Detection:
    """A language guess (ISO 639-1 code, or "und") and why."""

    language: str
    reason: str


def primary(tag: str | None) -> str | None:
    """The language part of a locale tag: 'pt-BR' -> 'pt', 'zh_Hans' -> 'zh'."""
    if not tag:
        return None
    return re.split(r"[-_]", tag.strip().lower(), maxsplit=1)[0] or None


@lru_cache(maxsize=512)  # every rule with this condition asks about the same message
def detect(text: str, hint: str | None = None) -> Detection:
    """Guess the language of a customer message.

    Args:
        text: the message.
        hint: the conversation's locale (e.g. "fr-CA"), used when the text itself says nothing.

    Returns:
        The language code and a one-line reason.
    """
    han = len(_HAN.findall(text))
    counts = {lang: len(rx.findall(text)) for lang, rx in _SCRIPT_RES}
    latin = len(_LATIN.findall(text))
    letters = han + latin + sum(counts.values())
    if letters == 0:
        fallback = primary(hint) or "und"
        return Detection(fallback, f"no letters; {'locale ' + repr(hint) if hint else 'unknown'}")
    if counts["ja"] and counts["ja"] + han >= 0.3 * letters:
        return Detection("ja", f"{counts['ja']} kana characters")
    if han >= 0.3 * letters:
        return Detection("zh", f"{han} of {letters} letters are Chinese characters")
    script, best = max(counts.items(), key=lambda item: item[1])
    if best > latin:
        return Detection(script, f"{best} of {letters} letters are in the {script} script")
    return _latin(text, hint)


def _latin(text: str, hint: str | None) -> Detection:
    lowered = text.lower()
    words = _WORD.findall(lowered)
    scores = {lang: sum(w in common for w in words) for lang, common in _COMMON.items()}
    for lang, marks in _MARKS.items():
        scores[lang] += sum(lowered.count(m) for m in marks)
    top = max(scores.values())
    hinted = primary(hint)
    if top == 0:
        guess = hinted or "en"
        return Detection(guess, f"no common words recognised; assumed {guess!r} ({'locale' if hinted else 'default'})")
    tied = [lang for lang, score in scores.items() if score == top]
    guess = hinted if hinted in tied else ("en" if "en" in tied else tied[0])
    return Detection(guess, f"{top} common {guess!r} word(s)" + (f", tied with {tied}" if len(tied) > 1 else ""))
