"""Check the numbers in an answer against the manual's spec tables.

Every number with a unit in an answer ("54 Nm", "90°", "0,8-1,1 mm") is looked up in the spec
index that prep writes (`data/spec_index.jsonl`, one fact per line) among the facts for the part
the question is about. A number whose value and unit equal such a fact is a match, shown with the
fact's section and page; anything else is "unmatched": never shown as checked.

serve.py also passes the manual's lines its search found for the question (`ManualRow`). A number
the facts do not vouch for is then compared with the row of the part asked: the same value is a
match with that row's page, another value is "differs" and is shown beside the manual's own
(`✗ 86 Nm — the manual: 27 Nm (M8), page 21-1`).

    python spec_check.py data/spec_index.jsonl "Cylinder head bolt torque?" "Tighten to 54 Nm, then 90°."
    python -m pytest tests/test_spec_check.py

serve.py imports this file; it is pure Python (no model) so the checker is tested on its own.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from vocab.cites import strip_cite
from vocab.units import (NUMBER_PATTERN, RANGE_SEP, UNIT_PATTERN, canonical_unit, find_quantities, number_value,
                         value_text)

# -----------------------------------------------------------------------------
# the index: one fact per line, written by prep

@dataclass
class SpecFact:
    component: str
    measure: str
    value: str                # normalised, see value_text
    unit: str                 # canonical, see canonical_unit
    variant: str | None
    stage: int | None
    section_id: str
    section_name: str
    page: str
    source: str               # the scanned page or file the fact was read from
    words: frozenset[str] = field(default_factory=frozenset)   # the component's content words


def load_spec_index(path: Path) -> list[SpecFact]:
    """Read data/spec_index.jsonl into facts, one per value the manual gives.

    prep writes a number with its unit ("value": "54", "unit": "Nm"), optionally an alternative
    in other units ("alt": "40 ft-lb"), or, from spec sheets, a whole cell with the unit inside
    and "unit" empty ("1.2 litres SAE 75W-90", "172 Nm @ 4300 rpm", "86.0 x 86.0 mm"). Every
    number with a unit found there becomes a fact; a tolerance also accepts its nominal value.
    A row with no number is skipped: the checker can only ever match numbers.
    """
    from files import read_jsonl

    facts = []
    for line_no, row in read_jsonl(path):   # RowError (a ValueError) names a line that is not JSON
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{line_no}: expected an object, not {type(row).__name__}")
        value, unit = str(row.get("value") or "").strip(), str(row.get("unit") or "").strip()
        values: list[tuple[str, str]] = []
        parsed = _parse_value(value) if unit else None
        if parsed is not None:
            values.append((value_text(*parsed), canonical_unit(unit)))
        else:
            values += [(v, u) for _, v, u, _ in find_quantities(f"{value} {unit}".strip())]
        values += [(v, u) for _, v, u, _ in find_quantities(str(row.get("alt") or ""))]
        values += [(re.split(r"[±+]", v)[0], u) for v, u in values if re.search(r"\d[±+]", v)]
        for v, u in dict.fromkeys(values):
            facts.append(SpecFact(
                component=row.get("component") or "", measure=row.get("measure") or "",
                value=v, unit=u, variant=row.get("variant"), stage=row.get("stage"),
                section_id=str(row.get("section_id") or ""), section_name=row.get("section_name") or "",
                page=str(row.get("page") or ""), source=row.get("source") or "",
                words=content_words(row.get("component") or ""),
            ))
    return facts


def _parse_value(text: str) -> tuple[Decimal, Decimal | None, Decimal | None, Decimal | None] | None:
    m = re.fullmatch(rf"\s*({NUMBER_PATTERN})\s*(?:(?:{RANGE_SEP})\s*({NUMBER_PATTERN})|(?:±|\+/-)\s*({NUMBER_PATTERN})"
                     rf"|\+\s*(0[.,]\d+))?\s*", text)
    if not m:
        return None
    parts = [number_value(g) if g else None for g in m.groups()]
    if any(g and p is None for g, p in zip(m.groups(), parts)):
        return None
    return parts[0], parts[1], parts[2], parts[3]


# -----------------------------------------------------------------------------
# relevance: which facts is a number in the answer allowed to match?

_STOPWORDS = frozenset(
    "a an the of for to on in at by with and or is are what which how much many does do should "
    "i my me it its this that be value spec specs specification torque tighten tightening "
    "please tell give".split())


def content_words(text: str) -> frozenset[str]:
    """Lower-case words minus stopwords, with a plural "s" dropped so "bolts" meets "bolt"."""
    words = set()
    for w in re.findall(r"[a-z0-9]+", text.lower()):
        if w in _STOPWORDS or len(w) < 2:
            continue
        words.add(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w)
    return frozenset(words)


def relevant_facts(facts: list[SpecFact], context: str) -> list[SpecFact]:
    """The facts about the part named in `context` (the question plus the answer's sentence that
    holds the number).

    Rule: a fact counts when at least half of its component's content words are in the context,
    and only the facts of the best-named part count: most component words found, then the
    largest share of them. "Most words" keeps "cylinder head bolts on the K20 engine" on the head
    bolts (3 words) rather than the spec sheet's "Engine" (1 word, but all of it); "largest share"
    keeps "cylinder head bolts" off "cylinder head cover bolts" (3 of 4). When the context names
    a variant the index knows ("K20"), facts for other variants drop out. A number with no
    relevant fact stays unmatched: the checker would rather warn than vouch for a number that
    belongs to another part.
    """
    words = content_words(context)
    scored = []
    for f in facts:
        if not f.words:
            continue  # a component with only generic words ("tightening torque") names no part
        hits = len(f.words & words)
        if hits / len(f.words) >= 0.5:
            scored.append(((hits, hits / len(f.words)), f))
    if not scored:
        return []
    best = max(score for score, _ in scored)
    chosen = [f for score, f in scored if score == best]
    said = set(re.findall(r"\w+", context.lower()))
    named = {t for f in chosen for t in _variant_tokens(f)} & said
    if named:
        chosen = [f for f in chosen if not f.variant or _variant_tokens(f) & named]
    return chosen


def _variant_tokens(f: SpecFact) -> set[str]:
    # prep writes "K20", "K20, K25", or OCR leftovers such as "|k25"
    return set(re.findall(r"\w+", (f.variant or "").lower()))


# -----------------------------------------------------------------------------
# the check

@dataclass
class Quantity:
    text: str                 # as written in the answer
    value: str                # normalised
    unit: str                 # canonical
    status: str               # "match" | "unmatched" | "differs" (the retrieved row of the part says otherwise)
    fact: SpecFact | None
    rows: list[tuple[str, str, "ManualRow"]] = field(default_factory=list)
    # (value, unit, row): the manual's values for the part asked, from the retrieved rows; for a
    # "match" without a fact, the row that prints the same value
    wrong_cite: str | None = None
    # a match, and the answer's closing `[page]` is not a page that prints it (nor any retrieved line
    # of that page): the value is right, the page the answer names is not

    def as_json(self) -> dict:
        """The API's `spec_check` item: source is null unless the value is matched."""
        source = None
        if self.fact is not None:
            f = self.fact
            source = {"component": f.component, "measure": f.measure, "variant": f.variant,
                      "stage": f.stage, "section_id": f.section_id, "section_name": f.section_name,
                      "page": f.page, "file": f.source}
        manual = [{"value": v, "unit": u, "variant": row.variant(), "page": row.page, "line": row.line}
                  for v, u, row in self.rows]
        return {"value": self.value, "unit": self.unit, "text": self.text, "status": self.status,
                "source": source, "manual": manual, "wrong_cite": self.wrong_cite}

    def line(self) -> str:
        """One line for the terminal: ✓ with section and page, or ⚠. Never ✓ without a fact."""
        if self.status == "match" and self.fact is not None:
            f = self.fact
            what = f"{f.component} ({f.measure}{', stage ' + str(f.stage) if f.stage else ''})"
            section = f"section {f.section_id} {f.section_name}".strip() if f.section_id or f.section_name else f.source
            page = f", page {f.page}" if f.page else ""
            return f"✓ {self.value} {self.unit} — {what}, {section}{page}{self.cite_note()}"
        if self.status == "match" and self.rows:
            _, _, row = self.rows[0]
            variant = f" ({row.variant()})" if row.variant() else ""
            return f"✓ {self.value} {self.unit} — {row.part()}{variant}, page {row.page}{self.cite_note()}"
        if self.status == "differs":
            said = "; ".join(f"{v} {u}{f' ({row.variant()})' if row.variant() else ''}, page {row.page}"
                             for v, u, row in self.rows)
            return f"✗ {self.value} {self.unit} — the manual: {said}"
        return f"⚠ {self.value} {self.unit} — not in the manual's tables"

    def cite_note(self) -> str:
        return f" (✗ the answer cites [{self.wrong_cite}]: the wrong page)" if self.wrong_cite else ""


def _sentence_at(text: str, pos: int) -> str:
    # A decimal point is not a sentence end: split on ". " / newline, not on "0.8".
    start = max(text.rfind(". ", 0, pos), text.rfind("\n", 0, pos), text.rfind("? ", 0, pos))
    ends = [i for i in (text.find(". ", pos), text.find("\n", pos), text.find("? ", pos)) if i != -1]
    return text[start + 1: min(ends) if ends else len(text)]


def check_answer(facts: list[SpecFact], question: str, answer: str,
                 rows: list[ManualRow] = ()) -> list[Quantity]:
    """Every number with a unit in `answer`, in the order written: a match with a fact of the
    part asked; else, when `rows` (the manual's lines found for the question) print the part's
    value in that unit, a match with that row or "differs" with the manual's values beside it;
    else unmatched. A match whose page the answer's closing `[page]` does not name is marked
    wrong_cite, unless a retrieved line of the cited page prints the value too."""
    out = []
    cite = strip_cite(answer)[1]
    for text, value, unit, pos in find_quantities(answer):
        context = question + "\n" + _sentence_at(answer, pos)
        candidates = relevant_facts(facts, context)
        matching = [f for f in candidates if f.unit == unit and f.value == value]
        if matching:
            q = Quantity(text, value, unit, "match", matching[0])
            pages = {fact_ref(f) for f in matching}
        else:
            said = row_values(rows, context, unit)
            same = [(v, u, row) for v, u, row in said if v == value]
            q = Quantity(text, value, unit, "match" if same else "differs" if said else "unmatched", None, same or said)
            pages = {row.page for _, _, row in same}
        if cite and pages and cite not in pages and not any(
                row.page == cite and (value, unit) in [x for f in row.fields() for x in field_quantities(f)]
                for row in rows):
            q.wrong_cite = cite
        out.append(q)
    return out


def fact_ref(fact: SpecFact) -> str:
    """The page of a fact as an answer cites it (grounding.ref's form): its label, else file and page."""
    return f"{Path(fact.source).name} p.{fact.page}" if str(fact.page).isdigit() else str(fact.page)


# -----------------------------------------------------------------------------
# the manual's retrieved lines: what the page prints for the part asked

@dataclass(frozen=True)
class ManualRow:
    """A line of the manual a search found for the question (serve.py's hits): its page as an
    answer cites it, its section and the manual's line, `page · section · part · variant · value`
    for a table row (prep/search_index.py writes it so)."""
    page: str
    section: str
    line: str

    def fields(self) -> list[str]:
        fields = [f.strip() for f in self.line.split(" · ")]
        for known in (self.page, self.section):
            if fields and fields[0] == known:
                fields = fields[1:]
        return fields

    def part(self) -> str:
        return self.fields()[0] if self.fields() else ""

    def variant(self) -> str:
        """The fields between the part and the values (`M8`, `K20 · M10`): what tells the rows of
        one part apart."""
        return " · ".join(f for f in self.fields()[1:] if not field_quantities(f) and f.lower() != "(unread)")


# A header cell quoted before its value (prep writes `Nm (ft. lbs.): 25 (18)`): the first unit of
# the header is the value's.
_HEADER_VALUE = re.compile(rf"^\s*(?P<unit>{UNIT_PATTERN})(?![\w·⋅])[^:]*:\s*(?P<value>{NUMBER_PATTERN})(?!\d)", re.IGNORECASE)


def field_quantities(text: str) -> list[tuple[str, str]]:
    """(value, unit) of every number with a unit in one field of a manual's line."""
    found = [(v, u) for _, v, u, _ in find_quantities(text)]
    m = _HEADER_VALUE.match(text)
    if m and (n := number_value(m["value"])) is not None:
        found.append((value_text(n), canonical_unit(m["unit"])))
    return found


def row_values(rows: list[ManualRow], context: str, unit: str) -> list[tuple[str, str, ManualRow]]:
    """The values in `unit` that the rows of the part named in `context` print.

    The same rule as relevant_facts, on the row's part (its first field after page and section):
    at least half of its content words in the context, then only the best-named part's rows; a
    variant named in the context (`M8`, `K20`) keeps its own rows. A paragraph is its own "part"
    and rarely has half its words in a question: its numbers are never held against an answer.
    """
    words = content_words(context)
    scored = []
    for row in rows:
        values = [(v, u) for f in row.fields()[1:] for v, u in field_quantities(f) if u == unit]
        part = content_words(row.part())
        if not values or not part:
            continue
        hits = len(part & words)
        if hits / len(part) >= 0.5:
            scored.append(((hits, hits / len(part)), row, values))
    if not scored:
        return []
    best = max(score for score, _, _ in scored)
    chosen = [(row, values) for score, row, values in scored if score == best]
    said = set(re.findall(r"\w+", context.lower()))
    named = [(row, values) for row, values in chosen if set(re.findall(r"\w+", row.variant().lower())) & said]
    out = []
    for row, values in named or chosen:
        out += [(v, u, row) for v, u in dict.fromkeys(values)]
    return list(dict.fromkeys(out))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__.strip().splitlines()[0] + "\nusage: python spec_check.py INDEX.jsonl QUESTION ANSWER",
              file=sys.stderr)
        raise SystemExit(2)
    for q in check_answer(load_spec_index(Path(sys.argv[1])), sys.argv[2], sys.argv[3]):
        print(q.line())
