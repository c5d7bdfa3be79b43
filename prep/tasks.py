"""Blocks → candidate examples of the five tasks, each one carrying the blocks it came from.

Nothing here judges quality: prep/gates.py does, so every rejection is counted in one place.
Questions are phrased from fixed templates with a seeded choice: train gets several phrasings of a
fact, validation one phrasing from a separate template set, so val measures the fact, not the wording.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from prep import spec_tables, spec_text
from vocab.units import find_quantities
from vocab.words import unread

# -------------------------------------------------------------------- shared patterns
OPERATION_VERBS = [  # repair-operation titles → the question a mechanic asks
    ("REMOVING AND INSTALLING", "remove and install"), ("REMOVING AND REFITTING", "remove and refit"),
    ("DISASSEMBLING AND ASSEMBLING", "disassemble and assemble"), ("REPLACING", "replace"),
    ("CHECKING AND ADJUSTING", "check and adjust"), ("CHECKING", "check"), ("ADJUSTING", "adjust"),
    ("BLEEDING", "bleed"), ("OVERHAULING", "overhaul"), ("REMOVING", "remove"), ("INSTALLING", "install"),
]


@dataclass
class Example:
    task: str
    question: str          # without the [TASK] prefix
    answer: str
    fact_id: str           # all phrasings of one fact share it (dedupe and split keep them together)
    blocks: list[dict]     # the source blocks: provenance and the answer-in-source check
    group: str             # split unit: the page the fact comes from (all its tasks go to one side)
    spec: dict | None = None  # SPEC: the structured fact(s) behind the answer
    phrasing: int = 0
    checks: list[str] = field(default_factory=list)


# -------------------------------------------------------------------- templates
TEMPLATES = {
    "spec": {
        "train": ["What is the {measure} for the {component}{variant}?",
                  "{Measure} of the {component}{variant}?",
                  "Give me the {measure} for the {component}{variant}.",
                  "What {measure} does the manual give for the {component}{variant}?",
                  "Tell me the {measure} of the {component}{variant}."],
        "val": ["I need the {measure} for the {component}{variant}: what does the manual say?"],
    },
    "procedure": {
        "train": ["How do I {action}?", "What are the steps to {action}?", "Walk me through how to {action}.",
                  "Procedure {operation}: how do I {action}?"],
        "val": ["I have to {action}. What is the procedure, step by step?"],
    },
    "explanation": {
        "train": ["What does the manual say about {topic}?", "Explain {topic}.", "Tell me about {topic}."],
        "val": ["Can you explain {topic} to me?"],
    },
    "wiring": {
        "train": ["{question}", "Wiring page {page}: {question_lc}", "On the {title} diagram, {question_lc}"],
        "val": ["Looking at wiring diagram {page} ({title}): {question_lc}"],
    },
    "troubleshooting": {
        "train": ["{symptom}: what should I check?", "How do I troubleshoot {symptom_lc}?",
                  "What are the checks, in order, for {symptom_lc}?"],
        "val": ["The customer reports {symptom_lc}. Which checks do I make, in order?"],
    },
    "test chart": {         # a test flow chart: the part it tests, and the test it belongs to
        "train": ["How do I test the {part}?", "What are the test steps for the {part}, in order?",
                  "{Purpose}: how do I check the {part}?", "Walk me through the test chart for the {part}."],
        "val": ["The {part} may be faulty. How do I test it, step by step?"],
    },
}


def phrasings(task: str, slots: dict, split: str, count: int, rng: random.Random) -> list[str]:
    pool = TEMPLATES[task]["val" if split == "val" else "train"]
    chosen = pool[:1] if split == "val" else rng.sample(pool, min(count, len(pool)))
    return [tidy(t.format(**slots)) for t in chosen]


def tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text[0].upper() + text[1:] if text else text


# -------------------------------------------------------------------- SPEC
def spec_facts(block: dict, header_variants: list[str] | None = None, page_text: str = "") -> tuple[list[dict], list[dict]]:
    """(facts, skipped rows) from a table block or from the values in a text block."""
    if block["kind"] == "table":
        return spec_tables.table_facts(block, header_variants or [], page_text)
    left: list[dict] = []
    return spec_text.text_facts(block, left), left


def spec_answer(facts: list[dict]) -> str:
    """Value and unit as printed; every stage of a multi-stage spec, in order."""
    def one(f):
        if f["value"] is None:             # an instruction stage: "loosen all bolts 1/2 turn"
            return ""
        text = f["value"] if f.get("whole_cell") else f"{f['value']} {f['unit']}".strip()
        text = text.replace(" °", "°")
        return text + (f" ({f['alt']})" if f.get("alt") else "")
    if len(facts) == 1:
        return one(facts[0])
    return "; ".join(f"stage {i}: {f['measure']} {one(f)}".rstrip() for i, f in enumerate(facts, 1))


# Engine codes (M20, S50 US, M60/1, K25) are engines; chassis codes (E30, E36 comp, E39/2) and body
# styles are models: "for the M51 engine", "on the E36", never "the E36 engine".
ENGINE_CODE = r"[A-DF-Z]\d{2}(?:/\d\b)?(?:\s(?:US|B\d\d))?"
ENGINES = re.compile(rf"^(?P<codes>{ENGINE_CODE}(?:\s?(?:/|,|and)\s?{ENGINE_CODE})*)(?P<rest>(?:\s+[A-Za-z].*)?)$")
MODEL = re.compile(r"(?i)^E\d{2}\b|\b(?:coup[eé]|cabrio(?:let)?|convertible|touring|sedan|saloon|compact|comp)\b")


def variant_phrase(fact: dict, siblings: list[dict]) -> str:
    """How a question names the fact's variant: ` for the M51 engine`, ` on the E36 comp/touring`,
    ` (M8 screw)`, ` for all other engines`; "" for `All` (every type)."""
    type_ = (fact.get("type") if "type" in fact else fact.get("variant")) or ""
    screw = fact.get("screw") or ""
    phrase = ""
    if type_.lower() == "all others":
        others = [s.get("type") or s.get("variant") or "" for s in siblings]
        kind = "engines" if any(ENGINES.match(o) for o in others) else \
            "models" if any(MODEL.search(o) for o in others) else "types"
        phrase = f" for all other {kind}"
    elif type_ and type_.lower() != "all":
        engines = ENGINES.match(type_)
        if engines:
            many = len(re.findall(ENGINE_CODE, engines["codes"])) > 1
            phrase = f" for the {engines['codes']} engine{'s' if many else ''}{engines['rest'].lower()}"
        elif MODEL.search(type_):
            phrase = f" on the {type_}"
        elif re.search(r"[a-z]{3,}", type_):
            phrase = f" ({type_})"
        else:
            phrase = f" (type {type_})"
    if screw:
        # the part's own fastener where the row names one (`Fuel tank to body, nut`: "M8 nut")
        noun = re.search(r",\s(screw|nut|bolt|stud)s?$", fact.get("component") or "")
        noun = noun[1] if noun else "screw"
        phrase += f", {screw} {noun}" if phrase else f" ({screw} {noun})"
    return phrase


def sentence_case(text: str) -> str:
    """`Temperature switch (5.5 °C / 17 °C)` → `temperature switch (5.5 °C / 17 °C)`: a question
    lower-cases the part's plain words, never its codes and units (`°C`, `B-pillar`, `DME`)."""
    return " ".join(w.lower() if w.isalpha() and w[:1].isupper() and w[1:].islower() else w for w in text.split(" "))


def read_twice_problems(block: dict, facts: list[dict]) -> tuple[list[dict], list[dict]]:
    """(facts kept, facts left out with the reason). A number is taught only when two independent
    OCR readings agree (prep/ocr.py), and where the page prints a value twice, in Nm and ft-lb,
    when both say the same torque."""
    fields = block.get("fields") or {}
    unsure_cells = {(r, c): readings for r, c, _, readings in fields.get("unsure_cells", [])}
    unsure_words = [u for u in fields.get("unsure", [])]
    kept, left = [], []
    for f in facts:
        cells = [tuple(c) for c in f.get("cells", [])]
        settled = {(r, c) for r, c, _ in f.get("settled_cells", [])}   # the column's grammar read them (spec_tables)
        bad = [unsure_cells[c] for c in cells if c in unsure_cells and c not in settled]
        if not bad and not cells and unsure_words:
            said = set(re.findall(r"\d+(?:[.,]\d+)?", " ".join(str(f.get(k) or "") for k in ("value", "alt", "variant"))))
            bad = [u["readings"] for u in unsure_words if said & set(re.findall(r"\d+(?:[.,]\d+)?", u["text"]))]
        if bad:
            left.append({**f, "reason": "readings disagree: " + "; ".join(" / ".join(str(x) for x in b if x) for b in bad)})
            continue
        alt = re.match(r"^\s*(\d+(?:[.,]\d+)?)\s*ft", f.get("alt") or "")
        if alt and f.get("unit") == "Nm" and f.get("value") and re.fullmatch(r"\d+(?:[.,]\d+)?", f["value"]):
            nm, ft = float(f["value"].replace(",", ".")), float(alt[1].replace(",", "."))
            if abs(nm * 0.7376 - ft) > max(1.0, 0.05 * ft):
                left.append({**f, "reason": f"cross-check failed: {f['value']} Nm is not {alt[1]} ft-lb"})
                continue
        kept.append(f)
    # A tightening sequence with one stage left out would be taught as complete: leave it out whole.
    broken = {(f["component"], f["variant"], f.get("condition")) for f in left if f.get("stage")}
    left += [{**f, "reason": "another stage of this part and variant is left out"}
             for f in kept if (f["component"], f["variant"], f.get("condition")) in broken]
    kept = [f for f in kept if (f["component"], f["variant"], f.get("condition")) not in broken]
    # A part that lost a variant here (as prep/spec_tables.py does for an unreadable Type or Screw):
    # a sibling that names no variant would be taught as the whole part, so it is left out; a named
    # sibling is marked, so no answer claims to give every variant.
    lost: dict[tuple, set] = {}
    for f in left:
        lost.setdefault((f["component"], f.get("condition")), set()).add(f["variant"])
    still = []
    for f in kept:
        others = lost.get((f["component"], f.get("condition")), set()) - {f["variant"]}
        if others and not f["variant"]:
            left.append({**f, "reason": "another variant of this part is left out: this row names no variant"})
            continue
        still.append({**f, "variants_incomplete": True} if others else f)
    return still, left


@dataclass
class SpecResult:
    examples: list[Example]
    index: list[dict]        # every fact with its page: data/spec_index.jsonl
    left_out: list[dict]     # rows and values not taught, each with its page and why
    coverage: dict           # per page kind: value rows seen on the pages, rows turned into facts
    answers: list[dict] = field(default_factory=list)
    """Each SPEC answer once, with its part and block: the search index's one-line facts."""
    settled: list[dict] = field(default_factory=list)
    """Table cells whose readings disagree, taught as their column's grammar reads them: {block, row, col, text}."""


def spec_examples(blocks: list[dict], split_of, count: int, rng: random.Random) -> SpecResult:
    """SPEC examples, the spec index and what was left out, from tables and values in text. A part
    with several variants (engines, screw sizes) is asked once without naming one, answered with
    every variant, and once per variant."""
    examples, index, left_out, answers, settled = [], [], [], [], []
    coverage: dict[str, dict[str, int]] = {}
    header_variants: dict[str, list[str]] = {}
    page_text: dict[str, list[str]] = {}
    page_blocks: dict[str, list[dict]] = {}
    for block in blocks:
        if block["kind"] != "table":
            page_text.setdefault(page_key(block), []).append(block.get("text") or "")
            page_blocks.setdefault(page_key(block), []).append(block)
    for block in blocks:
        src = block["source"]
        if block["kind"] == "table":
            cols = [c for c in (block.get("fields") or {}).get("columns", [])[1:] if c.strip()]
            if cols and "measure" not in [c.lower() for c in cols]:
                header_variants[src["path"]] = cols
        if block["kind"] not in ("table", "steps", "paragraph", "note", "list"):
            continue
        facts, skipped = spec_facts(block, header_variants.get(src["path"]), " ".join(page_text.get(page_key(block), [])))
        facts, disagree = read_twice_problems(block, facts)
        settled += [dict(zip(("block", "row", "col", "text"), (block["id"], *c)))
                    for c in {tuple(c) for f in facts if f["value"] is not None for c in f.get("settled_cells", [])}]
        seen = coverage.setdefault(block.get("page_kind") or "other", {"rows": 0, "facts": 0})
        seen["rows"] += value_rows(block)
        seen["facts"] += len({f["cells"][0][0] for f in facts if f.get("cells") and f["value"] is not None}) \
            if block["kind"] == "table" else sum(f["value"] is not None for f in facts)
        left_out += skipped + [{"page": src.get("page_label") or src["path"], "source": src["path"],
                                "text": f.get("line") or f"{f['component']} {f['value']} {f['unit']}",
                                "reason": f["reason"]} for f in disagree]
        groups: dict[tuple, list[dict]] = {}
        for fact in facts:
            # A value in text can hold only under a condition ("with ignition on"): part of the fact.
            groups.setdefault((fact["component"], fact["variant"], fact.get("condition"),
                               fact["measure"] if fact["stage"] is None else "stages"), []).append(fact)
        parts: dict[tuple, list[list[dict]]] = {}
        for (component, variant, condition, _), group in groups.items():
            parts.setdefault((component, condition), []).append(group)
        operation_title = (block.get("context") or {}).get("operation_title")
        where = f" ({operation_title.lower()})" if operation_title and block["kind"] != "table" else ""
        group_key = page_key(block)

        # A thread table prints its unit above the table: those blocks are part of the example's source.
        unit_blocks = [b for b in page_blocks.get(group_key, []) if b is not block]

        def ask(component, condition, variant_text, group, answer, fact_id, staged):
            measure = "tightening torque (all stages)" if staged else group[0]["measure"]
            slots = {"measure": measure, "Measure": measure.capitalize(),
                     "component": sentence_case(component or "") + where,
                     "variant": variant_text + (f" {condition}" if condition else "")}
            sources = [block] + (unit_blocks if any(f.get("unit_printed") == "page" for f in group) else [])
            answers.append({"block": block["id"], "component": component, "condition": condition, "answer": answer})
            for i, question in enumerate(phrasings("spec", slots, split_of(group_key), count, rng)):
                examples.append(Example("spec", question, answer, fact_id, sources, group_key,
                                        spec={"component": component, "variant": group[0]["variant"], "facts": group},
                                        phrasing=i))

        for (component, condition), variant_groups in parts.items():
            all_facts = [f for g in variant_groups for f in g]
            for group in variant_groups:
                for fact in group:
                    if fact["value"] is None:  # an instruction stage has no value to check answers against
                        continue
                    index.append({"component": component, "measure": fact["measure"], "variant": fact["variant"],
                                  "type": fact.get("type"), "screw": fact.get("screw"),
                                  "value": fact["value"], "unit": fact["unit"], "alt": fact.get("alt"),
                                  "stage": fact["stage"], "condition": condition, "line": fact.get("line"),
                                  "group": fact.get("group"), "text": spec_answer([fact]),
                                  "section_id": src.get("section_id"), "section_name": src.get("section_name"),
                                  "source": src["path"], "page": src.get("page_label") or src.get("page"),
                                  "block": block["id"]})
                phrase = variant_phrase(group[0], facts)
                if len(variant_groups) > 1 and not phrase:
                    continue  # `All` beside other types: the question naming no variant answers it
                variant = group[0]["variant"]
                answer = spec_answer(group)
                if variant and not group[0].get("whole_cell"):
                    answer = f"{variant}: {answer}"   # the answer says what it is for
                ask(component, condition, phrase, group, answer,
                    f"spec|{src['path']}|{component}|{variant}|{condition or ''}|{group[0]['measure']}", len(group) > 1)
            if len(variant_groups) > 1 and not any(f.get("variants_incomplete") for f in all_facts):
                # Asked without a variant: every variant, each with its own values (not where one of
                # the part's variants could not be read: the answer would not be every variant).
                staged = any(len(g) > 1 for g in variant_groups)
                answer = ("\n" if staged else "; ").join(
                    f"{g[0]['variant'] or 'All'}: {spec_answer(g)}" for g in variant_groups)
                ask(component, condition, "", all_facts, answer, f"spec|{src['path']}|{component}|*|{condition or ''}",
                    staged)
    return SpecResult(examples, index, left_out, coverage, answers, sorted(settled, key=lambda x: (x["block"], x["row"], x["col"])))


def value_rows(block: dict) -> int:
    """The values a page prints in this block: table rows with a number beside their first cell,
    or numbers with a unit in running text."""
    rows = (block.get("fields") or {}).get("rows")
    if block["kind"] == "table":
        return sum(any(re.search(r"\d", c or "") for c in row[1:]) for row in rows or [])
    return len(find_quantities(block.get("text") or ""))


# -------------------------------------------------------------------- PROCEDURE
def procedure_examples(blocks: list[dict], split_of, count: int, rng: random.Random) -> list[Example]:
    """One example per repair operation: its steps in page order, notes and sub-heads kept."""
    operations: dict[tuple, list[dict]] = {}
    for block in blocks:
        ctx = block.get("context") or {}
        if ctx.get("operation") and block["page_kind"] == "repair":
            operations.setdefault((block["source"]["path"], ctx["operation"]), []).append(block)
    examples = []
    for (path, operation), group in operations.items():
        title = group[0]["context"].get("operation_title") or ""
        lines, number, subhead = [], 0, None
        for block in group:
            ctx = block["context"]
            if ctx.get("subhead") and ctx["subhead"] != subhead:
                subhead = ctx["subhead"]
                lines.append(f"{subhead}:")
            if block["kind"] == "steps":
                for step in (block.get("fields") or {}).get("steps", []):
                    number += 1
                    lines.append(f"{number}. {step.strip()}")
            elif block["kind"] == "note":
                fields = block.get("fields") or {}
                label = fields.get("label") or "Note"
                text = fields.get("text") or block["text"].replace("\n", " ")
                lines.append(text if label == "Footnote" else f"{label.rstrip(':!')}: {text}")
        if number < 2:
            continue
        action = operation_action(title)
        slots = {"action": action, "operation": operation}
        group_key = page_key(group[0])  # the page, not the operation: its notes and specs travel with it
        fact_id = f"procedure|{path}|{operation}"
        answer = f"{operation} {title.title()}\n" + "\n".join(lines)
        for i, question in enumerate(phrasings("procedure", slots, split_of(group_key), count, rng)):
            examples.append(Example("procedure", question, answer, fact_id, group, group_key, phrasing=i))
    return examples


def operation_action(title: str) -> str:
    upper = " ".join(title.upper().split())
    for prefix, verb in OPERATION_VERBS:
        if upper.startswith(prefix):
            rest = upper[len(prefix):].strip().lower()
            return f"{verb} the {rest}" if rest else verb
    return f"carry out '{title.lower()}'"


# -------------------------------------------------------------------- EXPLANATION
def explanation_examples(blocks: list[dict], split_of, count: int, rng: random.Random) -> list[Example]:
    """Descriptive paragraphs and notes/cautions, asked about by their operation or heading."""
    examples = []
    for block in blocks:
        if block["page_kind"] not in ("repair", "other") or block["kind"] not in ("paragraph", "note"):
            continue
        ctx = block.get("context") or {}
        fields = block.get("fields") or {}
        text = " ".join((fields.get("text") or block["text"]).split())
        if fields.get("label") == "Footnote" or len(text) < 40:
            continue
        title = ctx.get("operation_title")
        if block["kind"] == "note":
            if not title:
                continue
            topic = f"what to watch out for when you {operation_action(title)}"
        else:
            sentences = re.split(r"(?<=[.!?])\s+", text)
            if len(sentences) < 2:
                continue
            topic = f"how the {title.lower()} works" if title else first_subject(sentences[0])
            if not topic:
                continue
        group_key = page_key(block)
        fact_id = f"explanation|{block['id']}"
        for i, question in enumerate(phrasings("explanation", {"topic": topic}, split_of(group_key), count, rng)):
            examples.append(Example("explanation", question, text, fact_id, [block], group_key, phrasing=i))
    return examples


def first_subject(sentence: str) -> str | None:
    """`The thermostat sits in a housing …` → `the thermostat`: the grammatical subject of the first sentence."""
    match = re.match(r"^(The|A|An)\s+((?:[a-z][a-z-]+\s){0,3}?[a-z][a-z-]+)\s+(?:is|are|sits|has|keeps|opens|"
                     r"closes|controls|works|stays|must|should|can|consists)\b", sentence)
    return f"the {match[2]}" if match else None


# -------------------------------------------------------------------- WIRING
def wiring_examples(blocks: list[dict], split_of, count: int, rng: random.Random) -> list[Example]:
    """Fuse ratings, wire sizes and colours, connectors, and where the diagram continues."""
    examples = []
    for block in blocks:
        if block["kind"] != "wiring":
            continue
        fields = block.get("fields") or {}
        page = block["source"].get("page_label") or "?"
        title = (fields.get("title") or block["source"].get("section_name") or "wiring").strip()
        facts = []
        for fuse in fields.get("fuses", []):
            if fuse.get("rating"):
                facts.append((f"fuse-{fuse['id']}", f"What is the rating of fuse {fuse['id']}?",
                              f"Fuse {fuse['id']} is rated {fuse['rating']} (wiring page {page})."))
        connectors, splices = fields.get("connectors", []), fields.get("splices", [])
        if connectors or splices:
            parts = []
            if connectors:
                parts.append("connectors " + ", ".join(connectors))
            if splices:
                parts.append("splices " + ", ".join(splices))
            facts.append(("connectors", "which connectors and splices are shown?",
                          f"Page {page} shows " + "; ".join(parts) + "."))
        wires = fields.get("wires", [])
        if wires:
            listed = ", ".join(dict.fromkeys(f"{w['size']} {w['colour']}" for w in wires))
            facts.append(("wires", "which wire sizes and colours are used?",
                          f"Wires on page {page} (size in mm², colour): {listed}."))
        if fields.get("page_refs"):
            refs = ", ".join(fields["page_refs"])
            facts.append(("refs", "where does the circuit continue?", f"It continues on page(s) {refs}."))
        group_key = page_key(block)
        for key, question, answer in facts:
            slots = {"question": question[0].upper() + question[1:], "question_lc": question[0].lower() + question[1:],
                     "page": page, "title": title}
            fact_id = f"wiring|{block['id']}|{key}"
            for i, q in enumerate(phrasings("wiring", slots, split_of(group_key), count, rng)):
                examples.append(Example("wiring", q, answer, fact_id, [block], group_key, phrasing=i))
    return examples


# -------------------------------------------------------------------- TROUBLESHOOTING
def troubleshooting_examples(blocks: list[dict], split_of, count: int, rng: random.Random) -> list[Example]:
    """Symptom → its checks in page order; a test flow chart → its boxes in reading order, each
    with where its `yes` and `no` lead."""
    examples = chart_examples(blocks, split_of, count, rng)
    symptoms: dict[tuple, list[dict]] = {}
    for block in blocks:
        if "box" in (block.get("fields") or {}):
            continue
        symptom = (block.get("context") or {}).get("symptom")
        if symptom and block["page_kind"] == "troubleshooting" and block["kind"] in ("steps", "paragraph", "list", "note"):
            symptoms.setdefault((block["source"]["path"], symptom), []).append(block)
    for (path, symptom), group in symptoms.items():
        checks = []
        for block in group:
            steps = (block.get("fields") or {}).get("steps")
            # A paragraph is one check: its line breaks are the page's, not the check's.
            checks += steps if steps else [" ".join(block["text"].split())]
        checks = [c.strip() for c in checks if len(c.strip()) > 3]
        if len(checks) < 2:
            continue
        answer = "\n".join(f"{i}. {c}" for i, c in enumerate(checks, 1))
        slots = {"symptom": symptom.strip().capitalize(), "symptom_lc": symptom.strip().lower()}
        group_key = page_key(group[0])
        for i, question in enumerate(phrasings("troubleshooting", slots, split_of(group_key), count, rng)):
            examples.append(Example("troubleshooting", question, answer, f"troubleshooting|{path}|{symptom}",
                                    group, group_key, phrasing=i))
    return examples


# Where a test chart's box branches, at the end of its line: ` [yes → 4, no → 2]` (the kit's words,
# not the page's: prep/gates.py takes them off before it looks for the line on the page).
JUMPS = re.compile(r"\s*\[(?:yes|no) → \d+(?:, (?:yes|no) → \d+)?\]$")


def chart_examples(blocks: list[dict], split_of, count: int, rng: random.Random) -> list[Example]:
    """A flow chart of a test page (prep/blocks.py `flowchart_blocks`), told box by box:
    `1. Connect voltmeter ... approx. 0 volt ...? [yes → 4, no → 2]`. A number whose two
    readings disagree is written `(unread)`: the chart's other boxes still teach the test."""
    charts: dict[tuple, list[dict]] = {}
    for block in blocks:
        fields = block.get("fields") or {}
        if "box" in fields and block["page_kind"] == "troubleshooting":
            charts.setdefault((block["source"]["path"], block["source"].get("page", 1), fields["chart"]), []).append(block)
    examples = []
    for (path, _, chart), group in charts.items():
        group.sort(key=lambda b: b["fields"]["box"])
        if len(group) < 2 or not any(b["fields"].get(k) for b in group for k in ("yes", "no")):
            continue
        # boxes numbered 1.. in reading order (a footnote or page number left out shifts none of them)
        renumber = {b["fields"]["box"]: i for i, b in enumerate(group, start=1)}
        lines = []
        for n, block in enumerate(group, start=1):
            unsure = [u["text"] for u in block["fields"].get("unsure", []) if re.search(r"\d", u.get("text") or "")]
            jumps = [f"{k} → {renumber[block['fields'][k]]}" for k in ("yes", "no") if block["fields"].get(k) in renumber]
            lines.append(f"{n}. " + unread(" ".join(block["text"].split()), unsure) + (f" [{', '.join(jumps)}]" if jumps else ""))
        ctx = group[0].get("context") or {}
        title = re.sub(r"^[a-z]\)\s*", "", ctx.get("subhead") or "").strip()
        section = (ctx.get("operation_title") or "").strip()
        part = (title or re.sub(r"(?i)^(?:test list for|checking|testing)\s+", "", section)).lower()
        if not part:
            continue
        purpose = section or f"Testing the {part}"
        slots = {"part": part, "Purpose": purpose[0].upper() + purpose[1:]}
        group_key = page_key(group[0])
        for i, question in enumerate(phrasings("test chart", slots, split_of(group_key), count, rng)):
            examples.append(Example("troubleshooting", question, "\n".join(lines), f"troubleshooting|{path}|chart {chart}",
                                    group, group_key, phrasing=i))
    return examples


def page_key(block: dict) -> str:
    src = block["source"]
    return f"{src['path']}#p{src.get('page', 1)}"
