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
question at all (coverage): then serve.py answers NOT_COVERED without asking the model, and
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
# terms, each weighted by its rarity in the index (idf), and names no other part than the question
# (misnamed). Measured (docs/serving.md) on the hf_val + hf_recall questions of the sample manual
# and the E30 pages against probe questions about parts neither holds: at 0.5 every hf_val and
# hf_recall question of either manual but one passes and every probe is refused. A share, unlike a
# bm25 score, reads the same on a manual of any size.
COVERED_SHARE = 0.5
NOT_COVERED = ("The manual pages I have do not cover this: nothing in them matches the question, so "
               "there is no value from the manual to give. Check the part's name, or look it up in the "
               "printed manual.")


def holds(index, hit, term: str) -> bool:
    """Whether the passage's searched text holds the term, stemmed as the index stems it."""
    return index.con.execute("SELECT 1 FROM passages WHERE passages MATCH ? AND block_id = ? AND line = ? LIMIT 1",
                             (f'"{term}"', hit.block_id, hit.line)).fetchone() is not None


# The words a torque row need not repeat: it names the joint (`Wiper arm to wiper shaft`), the
# question often the fastener (`wiper arm nut`).
FASTENERS = set("bolt bolts screw screws nut nuts stud studs fastener fasteners fixing fixings".split())


def misnamed(runs: list, held: set[str]) -> list[str]:
    """The question's words that make the part it asks about another than the passage's, in a
    phrase (prep.search_index.phrases) the passage partly holds:
    - a word the passage lacks before one it holds qualifies the thing otherwise: `power steering`
      of `power steering pump pulley bolt` on the row `Water pump pulley bolts`, `rear` of `rear
      strut top mount` on a row that names no side (a fastener is no such word: `flywheel bolts
      torqued` on the row `Flywheel to crankshaft`);
    - the thing itself, the last word of a phrase the question closes with a mark (`glow plugs?`),
      lacking: `plugs` on the row `Temperature sensor to water flange (glow time/coolant temperature
      gage)`. Not a fastener (`nut` of `wiper arm nut?` on the row `Wiper arm to wiper shaft`: rows
      name the joint), not a phrase with a number (`K20 engine`, `M10 screw`, `fuse 17` name a
      variant, a size, a fuse the row need not spell out), and not a phrase a verb or a stop word
      ends (`how much oil does the engine take`: the noun before a verb may be the subject).
    A wrong part's value is worse than none, so a passage that misnames the part covers nothing."""
    wrong: list[str] = []
    for words, closed in runs:
        found = [term in held for term in words]
        if not any(found):
            continue
        last = max(i for i, hit in enumerate(found) if hit)
        wrong += [term for term, hit in zip(words[:last], found) if not hit and term not in FASTENERS]
        head = words[-1]
        if (closed and not found[-1] and head not in FASTENERS
                and not any(ch.isdigit() for term in words for ch in term)):
            wrong.append(head)
    return wrong


def coverage(index, question: str, hits: list) -> tuple[float, list]:
    """(the largest share of the question's search terms one passage holds, each term weighted by
    its idf in this index; the passages that do not misname the question's part, best first).
    `torque` (on every torque row) counts little, `wastegate` (on none) much: a question about a
    part the manual never names keeps its rarest words unmatched. A passage that names another part
    (misnamed) holds nothing for the question, and is not shown to the model nor under the answer."""
    import math

    from prep.search_index import phrases, query_terms

    terms = query_terms(question)
    if not terms or not hits:
        return 0.0, []
    n = int(index.meta.get("passages") or 1)
    weight = {}
    for term in terms:
        df = index.con.execute("SELECT count(*) FROM passages WHERE passages MATCH ?", (f'"{term}"',)).fetchone()[0]
        weight[term] = math.log((n + 1) / (df + 0.5))
    runs = phrases(question)
    best, named = 0.0, []
    for hit in hits:
        held = {term for term in terms if holds(index, hit, term)}
        if not misnamed(runs, held):
            named.append(hit)
            best = max(best, sum(weight[t] for t in held) / sum(weight.values()))
    return best, named
