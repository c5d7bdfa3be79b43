"""The manual's words and a question's: how text splits into the words the search index holds
and a question is searched with, the phrases that name a part, the page label and the decimal
number as one word each, and Debian's English dictionary. Standard library only (the ground floor:
every other module may import it, it imports nothing of the kit)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

PAGE_LABEL = re.compile(r"(?<![\w.-])(\d{2,4})-(\d{1,4}[a-z]?)(?![\w-])")


def label_word(label: str | None) -> str:
    m = PAGE_LABEL.fullmatch(label or "")
    return f"pg{m[1]}x{m[2]}" if m else ""


# A decimal number as one word (`12.9` → `n12d9`): the tokenizer splits `12.9` into `12` and `9`, so
# a question about grade 12.9 found the 10.9 line as well as its own (both hold `9`), and a wire of
# `2.5` the `2` and `5` anywhere on a page.
DECIMAL = re.compile(r"(?<![\w.,])(\d*)[.,](\d+)(?![\d.,]*\d)")


def number_words(text: str) -> list[str]:
    return list(dict.fromkeys(f"n{m[1] or '0'}d{m[2]}" for m in DECIMAL.finditer(text)))


def unread(text: str, words: list[str]) -> str:
    for word in words:
        text = re.sub(rf"(?<![\w.]){re.escape(word)}(?![\w])", "(unread)", text)
    return text


# English function words, and the words every templated question carries ("what does the manual
# say", "step by step"): they match everywhere and rank nothing.
STOP_WORDS = set("""
a about above after again all am an and any are as at be been before being below between both but by can
could did do does doing done down during each few for from further had has have having he her here hers
how i if in into is it its itself just let me more most my no nor not now of off on once only or other our
out over own please same she should so some such than that the their them then there these they this those
through to too under until up very was we were what when where which while who whom why will with would you
your yours i'm it's what's don't can't shall may might must also tell give show need want find explain
manual manuals say says said procedure step steps page work works much many
""".split())
WORD = re.compile(r"[^\W_]+(?:[.,]\d+)*", re.UNICODE)
TAG = re.compile(r"^\s*\[[A-Z]+\]\s*")
# Verbs a person asks with ("what pressures do I run front and rear", "what does the gearbox take"):
# still searched, but they end a phrase, so they never read as a word naming the part.
ASKING_VERBS = set("run runs use uses used fit fits fitted take takes put puts set go goes hold holds get gets".split())
# A word, or one mark between words. A hyphen or a slash joins (`anti-roll bar`, `M51/M41`);
# any other mark ends a phrase (`…pulley bolt: what…`, `(type A5S 560Z)`).
TOKEN = re.compile(r"[^\W_]+(?:[.,]\d+)*|[^\s\w/-]", re.UNICODE)


def query_terms(question: str) -> list[str]:
    """The question's words worth searching, lower-cased, in order, once each. The task tag
    (`[SPEC]`) and FTS5's own syntax (quotes, `*`, `NEAR`, `-`, `:`) never reach the query."""
    question = TAG.sub("", question)
    terms = [label_word(m[0]) for m in PAGE_LABEL.finditer(question)] + number_words(question)
    for word in WORD.findall(question.lower()):
        # `m14x1.5` is indexed as `m14x1` and `5` (the tokenizer splits at the dot): search the same.
        for part in re.split(r"[.,]", word):
            if part and part not in STOP_WORDS and part not in terms:
                terms.append(part)
    return terms


class Phrase(NamedTuple):
    words: list[str]
    closed: bool       # ended by a mark or the question's end, not by a stop word or a verb


def phrases(question: str) -> list[Phrase]:
    """The question's search terms in the runs no stop word or mark breaks, each run a thing named
    with the words that qualify it: `the power steering pump pulley bolt: what…` gives
    [power, steering, pump, pulley, bolt], closed by the colon. Split as query_terms splits
    (`m14x1.5` → m14x1, 5)."""
    runs: list[Phrase] = [Phrase([], False)]
    for token in TOKEN.findall(TAG.sub("", question).lower()):
        parts = [p for p in re.split(r"[.,]", token) if p] if WORD.fullmatch(token) else []
        for part in parts or [None]:
            if part is None or part in STOP_WORDS or part in ASKING_VERBS:
                runs[-1] = runs[-1]._replace(closed=part is None)
                runs.append(Phrase([], False))
            else:
                runs[-1].words.append(part)
    runs[-1] = runs[-1]._replace(closed=True)
    return [run for run in runs if run.words]


@lru_cache(maxsize=1)
def dictionary() -> frozenset[str]:
    """English words from Debian's `wamerican`/`wbritish` (the Makefile installs them); empty if missing, and
    then the garbage check falls back to its letter-shape rules alone."""
    words: set[str] = set()
    for name in ("american-english", "british-english", "words"):  # manuals spell "litres" and "liters"
        path = Path("/usr/share/dict") / name
        if path.is_file():
            words.update(w.strip().lower() for w in path.read_text(errors="ignore").splitlines() if w.strip())
    return frozenset(words)
