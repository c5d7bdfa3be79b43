"""The grounded prompt: the manual's own lines a search found for a question, placed before it.

One format for every stage that builds or reads such a prompt: prep (training examples that carry
context, data.context_fraction), train (it trains on prep's rows as they are), evaluate (grounded
runs) and serve (chat, ask, api). A model taught on one layout and asked in another reads neither,
so nothing else may build this prompt.

    Manual lines:
    [11-4] 11 13 Oil Sump · Oil drain plug · K20, K25 · M14x1.5 · 35 Nm (26 ft-lb)
    [00-3] 00 Torque Specs · Coolant drain plug on cylinder block · Nm (ft. lbs.): 30 (22)

    [SPEC] What is the tightening torque for the oil drain plug?

The answer names the page it read in the same brackets: `35 Nm (26 ft-lb) [11-4]`. The hits are
prep/search_index.py's (`Index.search`); this file lays them out, and says when they do not cover a
question at all (covered_share): then serve.py answers NOT_COVERED without asking the model, and
evaluate.py scores that same answer. It imports nothing heavy.
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


# A question is covered when the best of the K passages holds at least this share of its search
# terms, each weighted by its rarity in the index (idf). Measured (docs/serving.md) on the
# hf_val + hf_recall questions of the sample manual and the E30 pages against 16 questions about
# parts neither holds: at 0.5, 149/150 and 157/157 questions pass and 15/16 probes are refused on
# each manual. A share, unlike a bm25 score, reads the same on a manual of any size.
COVERED_SHARE = 0.5
NOT_COVERED = ("The manual pages I have do not cover this: nothing in them matches the question, so "
               "there is no value from the manual to give. Check the part's name, or look it up in the "
               "printed manual.")


def covered_share(index, question: str, hits: list) -> float:
    """The largest share of the question's search terms one passage holds, each term weighted by
    its idf in this index: `torque` (on every torque row) counts little, `wastegate` (on none) much.
    A question about a part the manual never names keeps its rarest words unmatched."""
    import math

    from prep.search_index import query_terms

    terms = query_terms(question)
    if not terms or not hits:
        return 0.0
    n = int(index.meta.get("passages") or 1)
    weight = {}
    for term in terms:
        df = index.con.execute("SELECT count(*) FROM passages WHERE passages MATCH ?", (f'"{term}"',)).fetchone()[0]
        weight[term] = math.log((n + 1) / (df + 0.5))
    best = 0.0
    for hit in hits:
        held = sum(w for term, w in weight.items() if index.con.execute(
            "SELECT 1 FROM passages WHERE passages MATCH ? AND block_id = ? AND line = ? LIMIT 1",
            (f'"{term}"', hit.block_id, hit.line)).fetchone())
        best = max(best, held / sum(weight.values()))
    return best
