"""The grounded prompt and the cite: the manual's own lines a search found, laid out before a
question, and the page an answer names in brackets (`35 Nm (26 ft-lb) [11-4]`).

One format for every stage that builds or reads such a prompt: prep (training examples that carry
context), train (it trains on prep's rows as they are), evaluate and serve. A model taught on one
layout and asked in another reads neither, so nothing else may build this prompt.

    Manual lines:
    [11-4] 11 13 Oil Sump · Oil drain plug · K20, K25 · M14x1.5 · 35 Nm (26 ft-lb)
    [00-3] 00 Torque Specs · Coolant drain plug on cylinder block · Nm (ft. lbs.): 30 (22)

    [SPEC] What is the tightening torque for the oil drain plug?

Standard library only (the ground floor: every other module may import it, it imports nothing of
the kit).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol

HEADER = "Manual lines:"
# Passages per prompt: the right row was in the top 3 for 96-100 % of held-out questions
# (docs/benchmarks.md, Retrieval); a fourth costs ~40 tokens and catches most of the rest.
K = 4
# A paragraph is cut at this many characters: a 384-token demo model cannot take four whole pages.
LINE_CHARS = 240
CITE = re.compile(r"\s*\[([^\[\]\n]{1,40})\]\s*$")


class PassageLike(Protocol):
    page_label: str | None
    source_path: str
    page: int | None
    line: str


def ref(hit: PassageLike) -> str:
    """What an answer cites: the printed page label, else the file and page number."""
    if hit.page_label:
        return hit.page_label
    name = Path(hit.source_path).name
    return f"{name} p.{hit.page}" if hit.page else name


def context_line(hit: PassageLike) -> str:
    """`[ref] the manual's line`, the page label not repeated, long paragraphs cut at a word."""
    body = hit.line
    if hit.page_label and body.startswith(hit.page_label):
        body = body[len(hit.page_label):].lstrip(" ·")
    body = " ".join(body.split())
    if len(body) > LINE_CHARS:
        body = body[:LINE_CHARS].rsplit(" ", 1)[0] + " …"
    return f"[{ref(hit)}] {body}"


def grounded_turn(question: str, hits: list[PassageLike]) -> str:
    """The user turn with the manual's lines before the question; the question alone when none."""
    if not hits:
        return question
    return "\n".join([HEADER, *(context_line(h) for h in hits), "", question])


def cited(answer: str, hit: PassageLike) -> str:
    """An answer with the page it comes from: `35 Nm (26 ft-lb) [11-4]`."""
    return f"{answer.rstrip()} [{ref(hit)}]"


def strip_cite(answer: str) -> tuple[str, str | None]:
    """(the answer without its closing `[page]`, that page) — (answer, None) when it cites none."""
    found = CITE.search(answer)
    if not found:
        return answer, None
    return answer[:found.start()].rstrip(), found[1]


# What a model taught on prep's rows answers when the lines it is given do not hold the part asked
# (prep teaches it on REFUSAL_SHARE of the grounded SPEC rows; serve offers it beside the values).
REFUSAL = "The manual lines given do not cover this."
