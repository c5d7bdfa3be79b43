"""Blocks → candidate examples of the five tasks, each one carrying the blocks it came from.

Nothing here judges quality: prep/gates.py does, so every rejection is counted in one place.
Questions are phrased from fixed templates with a seeded choice: train gets several phrasings of a
fact, validation one phrasing from a separate template set, so val measures the fact, not the wording.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

# -------------------------------------------------------------------- shared patterns
UNIT = (r"N\s?·?\s?m|Nm|ft[-\s]?lbs?|lbf[·\s]?ft|in[-\s]?lbs?|°C|°F|°|deg(?:rees)?|mm|cm|in\b|bar|psi|kPa|"
        r"kW|PS|hp|rpm|V\b|mV|A\b|AMP|amps?|ohms?|Ω|kΩ|litres?|liters?|l\b|L\b|ml|cc|cm³|kg|g\b")
NUMBER = r"[-–]?\s?\d+(?:[.,]\d+)?"
VALUE_UNIT = re.compile(rf"(?P<value>{NUMBER})\s*(?P<unit>{UNIT})")
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
                  "Give me the {measure} spec for the {component}{variant}.",
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
}


def phrasings(task: str, slots: dict, split: str, count: int, rng: random.Random) -> list[str]:
    pool = TEMPLATES[task]["val" if split == "val" else "train"]
    chosen = pool[:1] if split == "val" else rng.sample(pool, min(count, len(pool)))
    return [tidy(t.format(**slots)) for t in chosen]


def tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text[0].upper() + text[1:] if text else text


# -------------------------------------------------------------------- SPEC
def spec_facts(block: dict, header_variants: list[str] | None = None) -> list[dict]:
    """Structured spec facts from a table block or from spec lines in text blocks."""
    from prep import spec_tables, spec_text  # they import this file's unit grammar

    if block["kind"] == "table":
        return spec_tables.table_facts(block, header_variants or [])
    return spec_text.text_facts(block)


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


def spec_examples(blocks: list[dict], split_of, count: int, rng: random.Random) -> tuple[list[Example], list[dict]]:
    """SPEC examples and the spec index (every fact with its page), from tables and spec lines."""
    examples, index = [], []
    header_variants: dict[str, list[str]] = {}
    for block in blocks:
        src = block["source"]
        if block["kind"] == "table":
            cols = [c for c in (block.get("fields") or {}).get("columns", [])[1:] if c.strip()]
            if cols and "measure" not in [c.lower() for c in cols]:
                header_variants[src["path"]] = cols
        if block["kind"] not in ("table", "steps", "paragraph", "note", "list"):
            continue
        facts = spec_facts(block, header_variants.get(src["path"]))
        groups: dict[tuple, list[dict]] = {}
        for fact in facts:
            # A value in text can hold only under a condition ("with ignition on"): part of the fact.
            groups.setdefault((fact["component"], fact["variant"], fact.get("condition"),
                               fact["measure"] if fact["stage"] is None else "stages"), []).append(fact)
        operation_title = (block.get("context") or {}).get("operation_title")
        for (component, variant, condition, _), group in groups.items():
            for fact in group:
                if fact["value"] is None:  # an instruction stage has no value to check answers against
                    continue
                index.append({"component": component, "measure": fact["measure"], "variant": variant,
                              "value": fact["value"], "unit": fact["unit"], "alt": fact.get("alt"),
                              "stage": fact["stage"], "condition": condition, "line": fact.get("line"),
                              "text": spec_answer([fact]),
                              "section_id": src.get("section_id"), "section_name": src.get("section_name"),
                              "source": src["path"], "page": src.get("page_label") or src.get("page"),
                              "block": block["id"]})
            measure = group[0]["measure"] if len(group) == 1 else "tightening torque (all stages)"
            where = f" ({operation_title.lower()})" if operation_title and block["kind"] != "table" else ""
            slots = {"measure": measure, "Measure": measure.capitalize(),
                     "component": (component or "").lower() + where,
                     "variant": f" on the {variant} engine" if variant and re.fullmatch(r"[A-Z]\d\d\w*", variant)
                     and not group[0].get("whole_cell")
                     else (f" ({variant})" if variant else "")}
            if condition:
                slots["variant"] += f" {condition}"
            fact_id = f"spec|{src['path']}|{component}|{variant}|{condition or ''}|{measure}"
            group_key = page_key(block)
            for i, question in enumerate(phrasings("spec", slots, split_of(group_key), count, rng)):
                examples.append(Example("spec", question, spec_answer(group), fact_id, [block], group_key,
                                        spec={"component": component, "variant": variant, "facts": group}, phrasing=i))
    return examples, index


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
    """Symptom → its checks in page order."""
    symptoms: dict[tuple, list[dict]] = {}
    for block in blocks:
        symptom = (block.get("context") or {}).get("symptom")
        if symptom and block["page_kind"] == "troubleshooting" and block["kind"] in ("steps", "paragraph", "list", "note"):
            symptoms.setdefault((block["source"]["path"], symptom), []).append(block)
    examples = []
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


def page_key(block: dict) -> str:
    src = block["source"]
    return f"{src['path']}#p{src.get('page', 1)}"
