"""Quality gates: each candidate example passes every check or is rejected with a named reason.

The original pipeline reported "0 validation errors" while half its rows were junk; these checks
are what a mechanic would check by hand: is the answer on the page, does a spec have a number and
a unit, does the question name a part, is the text words or OCR noise.
"""

from __future__ import annotations

import re
import unicodedata

from prep.tasks import JUMPS, Example
from vocab.cites import ref, strip_cite
from vocab.units import UNIT_PATTERN, find_quantities
from vocab.words import dictionary

# Words that name no part: a SPEC question made only of these is "the torque for section 12".
GENERIC = {"tightening", "torque", "angle", "engine", "section", "value", "spec", "specification", "the", "for",
           "of", "on", "a", "an", "and", "stage", "stages", "all", "measure", "unit", "type", "screw", "group"}
# Tokens of the trade that no dictionary lists: units, wire colours, connector/splice ids, codes.
TRADE = re.compile(rf"^(?:{UNIT_PATTERN}|[A-Z]{{1,3}}\d{{1,4}}[A-Z]?|[A-Z]{{2}}(?:/[A-Z]{{2}})?|\d.*|torx|nm|ohm)$", re.I)
DISAGREE = "numbers read twice disagree"
MIN_CHARS = {"spec": 2, "procedure": 60, "explanation": 40, "wiring": 10, "troubleshooting": 40}
MAX_CHARS = {"spec": 800, "procedure": 2500, "explanation": 1200, "wiring": 600, "troubleshooting": 2500}


def normalise(text: str) -> str:
    """For comparisons only: case, unicode forms, hyphenation at line ends, spacing, unit spellings."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"-\s*\n\s*", "", text)            # "tan-\ndem" → "tandem"
    text = text.replace("n·m", "nm").replace("n m", "nm").replace("º", "°").replace("˚", "°")
    text = re.sub(r"\s*°\s*", "° ", text)
    text = re.sub(r"([(:=<>≤≥⩽⩾]\s*)[-—–−]\s?(?=\d)", r"\1-", text)   # a scan's dash is a minus: "— 0.35 bar"
    text = re.sub(r"(\d)\s+(?=nm\b|mm\b|bar\b|°)", r"\1 ", text)
    text = re.sub(r"[\"“”]\s?(\d[\d.,]*)\s?[\"“”]", r"\1", text)   # `approximately "0" volt`: the number in quotes
    return re.sub(r"\s+", " ", text).strip()


def is_garbage(text: str) -> bool:
    """More than a fifth of the tokens unknown, and at least two of them: one rare trade word
    ("hypoid") in a short answer is not noise."""
    share, bad = garbage_share(text, with_count=True)
    return share > 0.2 and bad >= 2


def garbage_share(text: str, with_count: bool = False):
    """Share of tokens that are neither dictionary words, trade tokens nor numbers."""
    words = dictionary()
    tokens = re.findall(r"[A-Za-z][A-Za-z'/-]*|\d[\d.,]*", text)
    if not tokens:
        return (1.0, 1) if with_count else 1.0
    bad = 0
    for token in tokens:
        plain = token.strip("'-/").lower()
        if TRADE.match(token) or not plain:
            continue
        if re.search(r"(.)\1\1", plain) or (len(plain) > 3 and not re.search(r"[aeiouy]", plain)):
            bad += 1                         # "sssess", "cccst": scanner noise
        elif words and plain not in words and plain.rstrip("s") not in words and len(plain) > 2:
            bad += 1
    return (bad / len(tokens), bad) if with_count else bad / len(tokens)


def text_junk(task: str, question: str, answer: str) -> str | None:
    """The gates that need only the text of an example: they judge our rows and the original
    pipeline's rows alike (scripts/junk_check.py prints both side by side)."""
    if not (MIN_CHARS[task] <= len(answer) <= MAX_CHARS[task]):
        return "answer length out of bounds"
    if is_garbage(question) or is_garbage(answer):
        return "OCR garbage"
    if task == "spec":
        if not find_quantities(answer):     # spec_check's grammar: volts, k-ohms, minutes …
            return "spec answer has no number with a unit"
        asked = re.sub(r"(?i)\b(?:what|is|the|does|manual|give|say|tell|me|need|spec|of|for|on|in|engine|section|"
                       r"tightening|torque|angle|value|stages?|all|how|much|which|with)\b|\d+", " ", question)
        if not re.search(r"[A-Za-z]{3,}", asked):
            return "spec question names no specific part"
    return None


def check(example: Example) -> str | None:
    """The first failed gate's reason, or None when the example passes them all."""
    for block in example.blocks:
        if block.get("page_kind") in ("foreign", "index") or block.get("lang", "en") != "en":
            return "page is another language or an index"
    answer, question = example.answer, example.question
    reason = text_junk(example.task, question, answer)
    if reason:
        return reason
    if example.task != "spec" and unsure_number_in(example):
        return DISAGREE      # (SPEC facts are filtered cell by cell before they are phrased)
    source = normalise(" ".join(page_text(block) for block in example.blocks))
    if example.task == "spec":
        spec = example.spec or {}
        named = f"{spec.get('component') or ''} {spec['facts'][0]['measure']}".lower()
        part_words = [w for w in re.findall(r"[a-z]{3,}", named) if w not in GENERIC]
        if not part_words:
            return "spec question names no specific part"
        if re.search(r"[$§@#%&*{}<>|\\]", spec.get("variant") or ""):   # "S$6S560G": a misread engine code
            return "OCR garbage"
        for fact in example.spec["facts"]:
            if fact["value"] is None:  # an instruction stage: its words are on the page
                if normalise(fact["measure"]) not in source:
                    return "answer not found in its source block"
                continue
            # A torque angle is in degrees even where the scan lost the tiny `°` (prep/spec_tables.py).
            unit_seen = not fact["unit"] or normalise(fact["unit"]) in source or (
                fact["unit"] == "°" and "angle" in fact["measure"])
            if normalise(fact["value"]) not in source or not unit_seen:
                return "answer not found in its source block"
    else:
        for line in answer.splitlines()[1 if example.task == "procedure" else 0:]:
            body = re.sub(r"^\d+\.\s*|^(?:Note|Important|Caution|Warning|Requirement):\s*", "", JUMPS.sub("", line)).strip()
            if example.task == "wiring":
                if not all(normalise(code) in source for code in re.findall(r"\b[CS]\d{3,4}\b|\d?\.\d+ [A-Z/]+", body)):
                    return "answer not found in its source block"
                continue
            if body.endswith(":") or not body:
                continue
            # `(unread)` stands where the page's number was read two ways: the words around it are the page's
            if not all(normalise(piece) in source for piece in body.split("(unread)") if piece.strip()):
                return "answer not found in its source block"
    return None


def unsure_number_in(example: Example) -> bool:
    """Does the answer print a number whose two OCR readings disagreed on its page? Line by line:
    a line found in blocks without such a number says their numbers as read (a test chart's box
    with a doubtful `0` does not stop another box's sure `0 volt`); a line found in no single block
    answers for every block's doubts."""
    def doubts(block: dict) -> set[str]:
        fields = block.get("fields") or {}
        texts = [u["text"] for u in fields.get("unsure", [])] + [c[2] for c in fields.get("unsure_cells", [])]
        return {n for t in texts for n in re.findall(r"\d+(?:[.,]\d+)?", t)}

    texts = [normalise(page_text(block)) for block in example.blocks]
    for line in example.answer.splitlines():
        said = set(re.findall(r"(?<![\d.,])\d+(?:[.,]\d+)?(?![\d.,]?\d)", JUMPS.sub("", line)))
        if not said:
            continue
        body = re.sub(r"^\d+\.\s*", "", JUMPS.sub("", line))
        pieces = [normalise(p) for p in body.split("(unread)") if p.strip()]
        owners = [b for b, text in zip(example.blocks, texts) if pieces and all(p in text for p in pieces)]
        if said & set().union(*map(doubts, owners or example.blocks)):
            return True
    return False


def page_text(block: dict) -> str:
    """What the page says in this block: its text, plus each table cell as printed (the text joins
    a cell's lines with ' / ', the cell keeps them)."""
    rows = (block.get("fields") or {}).get("rows") or []
    return " ".join([block["text"], *(cell for row in rows for cell in row if isinstance(cell, str))])


def near_duplicate_key(example: Example) -> str:
    """Same task, same normalised question and answer: one of them is enough."""
    return f"{example.task}|{normalise(example.question)}|{normalise(example.answer)}"


def prints_value(line: str, value: str) -> bool:
    """Does the line print this number as a number (`35` is not in `135` nor in `3.5`)?"""
    return bool(re.search(rf"(?<![\d.,]){re.escape(normalise(value))}(?![\d]|[.,]\d)", normalise(line)))


def check_grounded(example: Example, lines: list, right: list, answer: str) -> str | None:
    """A grounded row: its own line(s) are among the lines shown, they come from its page, every
    value of a SPEC answer is printed in them (what the model is taught to copy is there to copy),
    and the answer cites that page."""
    page = (example.blocks[0]["source"]["path"], example.blocks[0]["source"].get("page"))
    if not right or not all(any(r.line == l.line and r.block_id == l.block_id for l in lines) for r in right):
        return "answer's line not among its context lines"
    if any((r.source_path, r.page) != page for r in right):
        return "answer's line not from its page"
    if example.task == "spec":
        shown = " ".join(r.line for r in right)
        if not all(prints_value(shown, f["value"]) for f in example.spec["facts"] if f["value"] is not None):
            return "answer not in its context lines"
    plain, cite = strip_cite(answer)
    if plain != example.answer.rstrip() or cite != ref(right[0]):
        return "answer does not cite its page"
    return None


def check_refusal(example: Example, lines: list, answer: str) -> str | None:
    """A refusal row: no line from the example's page, none printing its value, and an answer
    that gives no number with a unit."""
    page = (example.blocks[0]["source"]["path"], example.blocks[0]["source"].get("page"))
    if any((l.source_path, l.page) == page for l in lines):
        return "refusal lines hold its page"
    if find_quantities(answer):
        return "refusal answer gives a value"
    return None
