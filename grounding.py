"""Which of the manual's lines answer a question, and what an answer from them may say.

For a question, `find` takes the search index's best lines (prep/search_index.py, `Index.search`)
and decides whether they cover it: the kind of value it asks, the variant and the part it names,
the share of its words the best line holds. Covered, the model reads the lines laid out as
vocab/cites.py lays every grounded prompt out, and a value question is answered with one of the
values the best line prints (answer_grammar); not covered, serve.py answers NOT_COVERED without
asking the model, and evaluate.py scores that same answer. Any value an answer gives must be printed
on the line it stands on (checked_answer). It imports nothing heavy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from spec_check import ManualRow
from vocab.cites import K, LINE_CHARS, REFUSAL, ref, strip_cite
from vocab.units import QUANTITY_RE, find_quantities, number_value
from vocab.words import WORD, Phrase, phrases, query_terms

# What kind of value a question asks for, from the words a person asks it with, the strongest
# asking first: `torque angle` asks degrees, `oil temp sender, how tight?` asks a torque (the temperature names the part), `air
# temperature sensor resistance at -8 °C` a resistance (the temperature is the condition). The
# units are vocab/units.py's canonical ones. A question none of these words ask has no kind, and is
# judged as before (its words alone).
ASKED = [(re.compile(rf"\b(?:{words})\b", re.I), set(units)) for words, units in [
    # `torque angle`, `how many degrees further`: the stage in degrees, not the torque before it
    (r"torque angle|angle torque|angle of rotation|how many degrees|degrees (?:further|more)", ("°",)),
    (r"torques?|torqued|torquing|tight|tighten\w*|nm|newton[- ]?met\w+|ft[-. ]?lbs?|foot[- ]?pounds?|lb[-. ]?ft",
     ("Nm", "ft-lb", "in-lb", "°")),
    (r"resistance|ohms?|ohmmeter|k-?ohms?|kΩ|Ω", ("Ω", "kΩ")),
    (r"voltage|volts?|voltmeter|mv", ("V", "mV")),
    (r"current|amps?|amperes?|amperage|ammeter", ("A", "mA")),
    (r"capacity|capacities|litres?|liters?|quarts?|quantity|refill|volume|ml|cc|"
     r"how much(?: \w+)? (?:oil|fluid|coolant|grease|antifreeze|refrigerant)", ("L", "ml", "qt")),
    (r"pressures?|bar|psi|kpa|vacuum", ("bar", "mbar", "kPa", "MPa", "psi")),
    (r"angle|degrees", ("°",)),
    (r"gap|play|clearance|run-?out|thick|thickness|length|long|diameter|width|wide|distance|depth|deep|height|"
     r"float|wear|stroke|bore|protrusion|mm|millimet\w+|inch|inches|cm|dimensions?", ("mm", "cm", "in")),
    (r"minutes?|seconds?|hours?|time|wait", ("min", "s")),
    (r"rpm|revs|idle|speed", ("rpm",)),
    (r"weight|weigh|grams?|kg|heavy|imbalance", ("g", "kg")),
    (r"power|watts?|wattage|output|hp|bhp|kw", ("W", "kW", "PS", "hp")),
    (r"percent|percentage", ("%",)),
    (r"temperatures?|temp|hot|cold|warm|heat|celsius|fahrenheit", ("°C", "°F")),
]]


def asking(question: str) -> tuple[re.Pattern | None, set[str]]:
    """(the words that ask it, the units) of the kind of value the question asks; (None, set())
    when its words ask none. A value the question itself gives is not asked (`after the 20 Nm,
    how many degrees further?`)."""
    question = QUANTITY_RE.sub(" ", question)
    return next(((words, units) for words, units in ASKED if words.search(question)), (None, set()))


def asked_units(question: str) -> set[str]:
    """The units a value answering the question is printed in (set() when its words ask no kind)."""
    return asking(question)[1]


def holds_kind(line: str, units: set[str]) -> bool:
    """Whether the line prints a value in one of the units (spec_check reads them as it reads answers)."""
    return any(unit in units for _, _, unit, _ in find_quantities(line))


# When the model is asked, and what it may answer: measured on the dev half of the independent
# questions (tests/truth/independent/, written by readers who saw only page images), on dev2 (other
# readers' words for the same pages) and on 48 probes (parts no page holds), with the demo model;
# the figures are in docs/serving.md ("When the model answers"). The parts:
# - a question that asks a kind of value (asked_units) puts the near-best line printing it first
#   (find, RERANK_WINDOW), and only such a line covers it;
# - the best line holds at least COVERED_SHARE of the question's search terms, each weighted by its
#   rarity in the index (idf): `torque` (on every torque row) counts little, `wastegate` much;
# - it names no other variant than the question (other_variant: `S14` against `S50`) and no other
#   part (other_part: a side it names the opposite of; a word of the question's part it lacks and
#   says no other way, `sunroof` of `sunroof motor screws` on `Motor crank to wiper motor`; a part
#   it excepts);
# - a value question is answered with a value the best line prints, or the model's refusal
#   (answer_grammar); any other question's values must be printed on that line (checked_answer).
# Whatever the decision, the lines are shown with their pages.
COVERED_SHARE = 0.3
NOT_COVERED = ("The manual's lines I found do not clearly answer this, so I give no value. The closest lines "
               "are listed below with their pages: check them, they may be about another part.")
NOTHING_FOUND = ("The manual pages I have hold nothing that matches the question, so there is no value from the "
                 "manual to give. Check the part's name, or look it up in the printed manual.")


def holds(index, hit, term: str) -> bool:
    """Whether the passage's searched text holds the term, stemmed as the index stems it."""
    return index.con.execute("SELECT 1 FROM passages WHERE passages MATCH ? AND block_id = ? AND line = ? LIMIT 1",
                             (f'"{term}"', hit.block_id, hit.line)).fetchone() is not None


# The words a torque row need not repeat: it names the joint (`Wiper arm to wiper shaft`), the
# question often the fastener (`wiper arm nut`).
FASTENERS = set("bolt bolts screw screws nut nuts stud studs fastener fasteners fixing fixings".split())
# Words that count or order, never a part's name: `two` of `two-pin sender`, `first` of `first balance`.
COUNTING = set("one two three four five six seven eight nine ten twelve first second third fourth both each "
               "single double".split())


def misnamed(runs: list, held: set[str]) -> list[str]:
    """The question's words that make the part it asks about another than the passage's, in a
    phrase (vocab.words.phrases) the passage partly holds:
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
    A wrong part's value is worse than none (other_part excuses a word the line says otherwise)."""
    wrong: list[str] = []
    for words, closed in runs:
        found = [term in held for term in words]
        if not any(found):
            continue
        last = max(i for i, hit in enumerate(found) if hit)
        wrong += [term for term, hit in zip(words[:last], found) if not hit and term not in FASTENERS | COUNTING]
        head = words[-1]
        if (closed and not found[-1] and head not in FASTENERS
                and not any(ch.isdigit() for term in words for ch in term)):
            wrong.append(head)
    return wrong


# Two words of the manual's own vocabulary that name opposite sides: a question about one and a line
# about the other are about two parts (`rear subframe` and the row `Front subframe to body`).
OPPOSITES = {a: b for pair in ("front rear", "left right", "lh rh", "upper lower", "inner outer", "inlet outlet",
                               "intake exhaust", "top bottom") for a, b in (pair.split(), pair.split()[::-1])}
# A question's word the line lacks is excused when a word of the line means nearly the same (the
# embedding model's cosine of the two words): `speedo` on `speedometer`, `conrod` on `connecting rod`,
# `hood` on `Bonnet`. Measured on the dev questions with the best-line check (docs/serving.md): at 0.5,
# 15 of 105 single-line questions answered right, 0 wrong, 0 of 48 probes answered (the exact-word
# rule: 7, 0, 0; opposite sides only: 22, 1, 3).
SAME_WORD = 0.5
SAME_WORD_PRINTED = 0.6
_word_vectors: dict = {}


def word_vectors(words: list[str]):
    """The embedding model's vectors of single words, kept for the process (a manual's words recur)."""
    import numpy as np

    from prep.embed import embed

    new = [w for w in dict.fromkeys(words) if w not in _word_vectors]
    if new:
        if len(_word_vectors) > 50_000:
            _word_vectors.clear()
        _word_vectors.update(zip(new, embed(new)))
    return np.array([_word_vectors[w] for w in words])


def part_phrases(question: str) -> list:
    """vocab.words.phrases, each cut after a word that asks the question's kind of value
    (ASKED): the words before `runout` in `maximum allowable axial runout for the flywheel`, or
    before `torque` in `max torque for an M8 bolt`, qualify the value asked, not the part."""
    asks = asking(question)[0]
    out = []
    for words, closed in phrases(question):
        run: list[str] = []
        for word in words:
            if asks is not None and asks.fullmatch(word):
                if run:
                    out.append(Phrase(run, False))
                run = []
            else:
                run.append(word)
        if run:
            out.append(Phrase(run, closed))
    return out


def other_part(index, question: str, hit) -> list[str]:
    """The question's words that make the part it asks about another than the line's: misnamed's
    words that no word of the line means nearly the same as (SAME_WORD), and a side the line names
    the opposite of. [] when the line is about the question's part."""
    said = set(WORD.findall(hit.text.lower()))
    asked = set(query_terms(question))
    wrong = [w for w in asked if w in OPPOSITES and w not in said and OPPOSITES[w] in said and OPPOSITES[w] not in asked]
    held = {t for t in asked if holds(index, hit, t)}
    # `Door hinge to A-pillar, except for upper hinge` is not the row of `upper door hinge bolts`
    for m in EXCEPT.finditer(hit.line):
        left_out = [w for w in query_terms(m[1]) if not w.isdigit()]
        if left_out and set(left_out) <= asked:
            wrong += left_out
    lacking = [w for w in misnamed(part_phrases(question), held) if w not in wrong]
    # The words the line prints (not the page's heading the index adds to it), less those that ask
    # a kind of value: `fuel` of `fuel pump pulley` was excused by the heading's `engine`.
    line_words = sorted(w for w in set(WORD.findall(hit.line.lower()))
                        if not w.isdigit() and not any(words.fullmatch(w) for words, _ in ASKED))
    if lacking and line_words:
        similar = word_vectors(lacking) @ word_vectors(line_words).T
        for word, row in zip(lacking, similar):
            best = line_words[int(row.argmax())]
            if row.max() < SAME_WORD or OPPOSITES.get(word) == best or (
                    row.max() < SAME_WORD_PRINTED and in_manual(index, word)):
                wrong.append(word)
    return wrong


EXCEPT = re.compile(r"\b(?:except(?: for)?|other than|apart from|excluding)\s+([^·;:,.()]{1,40})", re.I)


def in_manual(index, word: str) -> bool:
    """Whether the manual prints the word somewhere: then it names what the manual means by it, and
    only a close word of the line stands for it (`fuel` is not the `water` of `Water pump pulley
    bolts`, 0.54); a word the manual never prints is the asker's own (`hood` for `Bonnet`, 0.57)."""
    return index.con.execute("SELECT 1 FROM passages WHERE passages MATCH ? LIMIT 1", (f'"{word}"',)).fetchone() is not None


def coverage(index, question: str, hits: list) -> float:
    """The largest share of the question's search terms one of the lines holds (stemmed as the index
    stems), each term weighted by its idf in this index."""
    import math

    terms = query_terms(question)
    if not terms or not hits:
        return 0.0
    n = int(index.meta.get("passages") or 1)
    weight = {}
    for term in terms:
        df = index.con.execute("SELECT count(*) FROM passages WHERE passages MATCH ?", (f'"{term}"',)).fetchone()[0]
        weight[term] = math.log((n + 1) / (df + 0.5))
    return max(sum(weight[t] for t in terms if holds(index, hit, t)) / sum(weight.values()) for hit in hits)


# ---------------------------------------------------------------------------------------------
# What serve shows for a question, and whether the model is asked from it


@dataclass
class Found:
    """The lines the search found for a question (always shown, with their pages) and whether they
    cover it: covered, the model reads them and answers; not covered, the answer says so and the
    same lines are listed as the closest matches to check, the model not asked for a number."""
    hits: list                    # prep.search_index.Hit, best first, at most K
    covered: bool
    share: float                  # the idf-weighted share of the question's terms the best line holds
    procedure: bool = False       # the lines are one operation's, in the page's order (a procedure question)
    choices: list[str] = field(default_factory=list)   # a value question's answers, as its best line prints them (value_choices)

    def sources(self) -> list[dict]:
        """The lines as serve lists them (API `sources`, `ask --json`): `closest` marks lines shown
        although they were not judged to answer the question."""
        return [{"page": ref(h), "page_label": h.page_label, "section": h.section, "line": source_line(h),
                 "file": h.source_path, "page_number": h.page, "kind": h.kind, "score": round(h.score, 4),
                 "cosine": round(h.cosine, 3), "closest": not self.covered} for h in self.hits]

    def rows(self) -> list:
        return [ManualRow(ref(h), h.section, h.line) for h in self.hits]


def source_line(hit) -> str:
    """`21-1 · 21 11 Bell housing · Clutch housing to crankcase · M8 · 27 Nm`: the manual's line,
    led by its page (prep writes the label first; a page without one gets its file and page)."""
    line = " ".join(hit.line.split())
    if len(line) > 2 * LINE_CHARS:
        line = line[:2 * LINE_CHARS].rsplit(" ", 1)[0] + " …"
    return line if hit.page_label else f"{ref(hit)} · {line}"


# A question that asks how to do a job, not for a value: the `[PROCEDURE]` tag, or its words.
PROCEDURE = re.compile(r"^\s*\[PROCEDURE\]|\b(?:procedure|step[- ]by[- ]step|steps|how (?:do|should|can) (?:i|you|we) "
                       r"(?:remove|install|replace|renew|fit|change|fix|take off|adjust|bleed|overhaul|check))\b", re.I)


# A question that compares or adds values (`which is tighter, the M8 or the M10?`, `the difference`,
# `in total`) is not answered by one value of one line: the model answers it in its own words, and
# its values must stand on the best line (checked_answer), as for any question that asks no value.
COMPARE = re.compile(r"\b(?:which|what)\b[^?]*\b(?:more|less|higher|lower|tighter|looser|bigger|smaller|larger|"
                     r"longer|shorter|greater|heavier|lighter)\b|\bdifference\b|\bcompared?\b|\bvs\.?|\bversus\b|"
                     r"\btotal\b|\bsum\b|\baltogether\b|\bcombined\b", re.I)


# How far below the first line's fused score a line printing the kind of value asked may still be
# put first: on the dev questions and dev2, 0.1 kept what an unlimited reordering gained (dev right
# 34, dev2 19; without it 30 and 18) and no longer lifts a line the search scored far lower.
RERANK_WINDOW = 0.1


def find(index, question: str, k: int = K) -> Found:
    """serve's path for one question: the index's k best lines (bm25 and meaning fused), and the
    coverage decision on them. evaluate.py and scripts/own_words.py measure exactly this. A
    procedure question whose best text line belongs to an operation gets that operation's lines in
    the page's order: its steps, not the values printed beside them (`remove and install the front
    brake discs` once found the discs' minimum thickness and was answered with it)."""
    hits = index.search(question, k)
    units = asked_units(question)
    if units:
        # Of lines scored nearly alike, the one printing the kind of value asked first (stable): `oil
        # temp sender, how tight?` ranked `Oil temp to not exceed 130 °C` above the sender's torque row.
        top = hits[0].score if hits else 0.0
        hits.sort(key=lambda h: not (holds_kind(h.line, units) and h.score >= top - RERANK_WINDOW))
    if PROCEDURE.search(question):
        first = next((h for h in hits if h.kind in ("steps", "paragraph", "note", "list")), None)
        steps = index.operation(first, k) if first else []
        if steps:
            return Found(steps, True, 1.0, procedure=True)
    share = coverage(index, question, hits[:1])
    kind = not units or (bool(hits) and holds_kind(hits[0].line, units))
    covered = (share >= COVERED_SHARE and kind and not other_variant(question, hits[0].line)
               and not other_part(index, question, hits[0]))
    value_asked = units and not COMPARE.search(question)
    choices = [c for c in value_choices(hits[0].line, units) if not other_variant(question, c, decimals=True)] \
        if covered and value_asked else []
    if len(choices) > 1:
        # every value with its label, as the line prints them, may be the answer too: where the
        # question names no variant, the mechanic reads the list rather than the model's guess
        choices.append("; ".join(choices))
    return Found(hits, covered and bool(choices or not value_asked), share, choices=choices)


# Codes that name a variant: an engine, a body, a gearbox (`S14`, `M20`, `E34`, `K25`, `A5S`), and
# in a value's label a bolt's strength grade (`10.9`). Two codes of one shape are two variants.
CODE = re.compile(r"(?<![\w.])([a-z]{1,2}\d{2,3}[a-z]?)(?![\w.])", re.I)
# Codes a question leaves out: `other than S38/S50`, `isn't an S14`, `non-M20`.
NOT_CODES = re.compile(r"\b(?:other than|except(?: for)?|apart from|excluding|not(?: an?| the| for)?|isn'?t(?: an?)?|"
                       r"aren'?t|non)[\s-]+(?:(?:[a-z]{1,2}\d{2,3}[a-z]?)(?:\s*(?:/|,|or|and)\s*)?)+", re.I)
DECIMAL = re.compile(r"(?<![\w.,])(\d{1,2}\.\d)(?![\w.,])")


def other_variant(question: str, text: str, decimals: bool = False) -> bool:
    """Whether the text names only other variants than the question does, of a kind both name: the
    question's `S14` against a line's `S50`; with decimals, its `grade 8.8` against a label's
    `strength grade 10.9:`. A question that names none of that kind is not judged."""
    def shapes(found: list[str]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for code in found:
            out.setdefault(re.sub(r"\d", "9", code.upper()), set()).add(code.upper())
        return out
    patterns = (CODE, DECIMAL) if decimals else (CODE,)
    left_out = {c.upper() for m in NOT_CODES.finditer(question) for c in CODE.findall(m[0])}
    asked = shapes([c for p in patterns for c in p.findall(question) if c.upper() not in left_out])
    given = shapes([c for p in patterns for c in p.findall(text)])
    if left_out and any(codes and codes <= left_out for codes in given.values()):
        return True     # `anything that isn't an S38/S50` against the row `S38/S50: 13 Nm`
    return any(shape in given and not codes & given[shape] for shape, codes in asked.items())


# A value question the lines cover is answered with one of the values its best line prints in the
# unit asked, or with the model's trained refusal, the model choosing under a grammar (llama.cpp
# GBNF): a 135M model asked freely copied a sibling row's value, a screw grade as a torque, or its
# own number; held to the line, every number it says is the line's, as printed, with its label and
# conversion. Its refusal stays open to it: without it, dev right 34 and dev2 19 of 105 and 84, wrong
# 2 and 2; with it 23 and 15, wrong 1 and 0 (a wrong number is worse than a missing one).
LABEL_CHARS = 40


def value_choices(line: str, units: set[str]) -> list[str]:
    """The values the line prints in one of the units, each as printed with the short label before
    it in its cell (`K25: 5.5 litres`, `strength grade 8.8: 24 Nm`) and the conversion in brackets
    after it (`55 Nm (41 ft-lb)`); a value inside another's brackets is that one's conversion."""
    choices, taken, head = [], 0, None
    for text, _, unit, start in find_quantities(line):
        if line[start:start + len(text)] != text:      # a list's head (`86.0 x` of `86.0 x 86.0 mm`)
            head = start if head is None else head
            continue
        end = start + len(text)
        start, head = (start if head is None else head), None
        if unit not in units or start < taken:
            continue
        # its conversion: `(41 ft-lb)`, `/ 170 PS`
        if (after := re.match(r"\s*(?:\([^()]{1,40}\)|/\s*\d[\d.,]*\s?[^\W\d]+)", line[end:])) \
                and any(c.isdigit() for c in after[0]):
            end += after.end()
        cell = max(line.rfind(" · ", 0, start) + 3, line.rfind("; ", 0, start) + 2, taken)
        label = line[cell:start]
        while len(label) > LABEL_CHARS and ": " in label:     # `M20/M40: stage 1: application torque `
            label = label.split(": ", 1)[1]
        label = label if len(label) <= LABEL_CHARS else ""
        choices.append(" ".join((label + line[start:end]).split()))
        taken = end
    return list(dict.fromkeys(choices))


def answer_grammar(found: Found | None) -> str | None:
    """The llama.cpp grammar (GBNF) that holds the model to found.choices, cited with the best
    line's page, or to its trained refusal (vocab.cites.REFUSAL); None when the question is not a
    covered value question (the model answers freely)."""
    if found is None or not found.covered or not found.choices:
        return None

    def literal(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    cite = literal(" [" + ref(found.hits[0]) + "]")
    return f"root ::= ({' | '.join(literal(c) for c in found.choices)}) {cite} | {literal(REFUSAL)}\n"


# A value the model gives must be printed on the line the answer stands on: the best line found, or,
# for a procedure, any line of the operation. Otherwise it is the model's own, not the manual's (a
# screw grade read as a torque, `10.9 Nm`; a part number as a length; a sibling row's value for
# another variant; a number from its weights), and the mechanic reads the answer first: the answer
# is replaced, and the lines stay listed below it (COVERED_SHARE's note has the figures).
UNPRINTED = ("I could not read the value asked for from the best line found, so I give none: check the lines "
             "listed below with their pages, or look it up in the printed manual.")
NUMBER = re.compile(r"\d+(?:[.,]\d+)*|[.,]\d+")


def printed_numbers(text: str) -> set:
    """The numbers a text prints, as Decimals: `2,5` = `2.5`, `.75` = `0.75`, `3,000` = `3000`."""
    out = set()
    for m in NUMBER.finditer(text):
        token = "0" + m.group(0) if m.group(0)[0] in ".," else m.group(0)
        if (value := number_value(token)) is not None:
            out.add(value.normalize())
    return out


def checked_answer(answer: str, found: Found) -> str:
    """The answer as the model gave it when every value with a unit in it is printed on the line it
    stands on (the best line; any line of a procedure's operation), the conversion beside it
    included; UNPRINTED otherwise."""
    lines = [printed_numbers(h.line) for h in (found.hits if found.procedure else found.hits[:1])]
    plain, _ = strip_cite(answer)
    for text, *_ in find_quantities(plain):
        if not any(printed_numbers(text) <= line for line in lines):
            return UNPRINTED
    return answer
