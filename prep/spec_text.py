"""Values in running text -> spec facts: spec lines in steps, notes and paragraphs.

`Minimum thickness: K20 20.4 mm, K25 22.4 mm.` / `Tighten Torx screw (1) to 16 Nm.` Facts have the
same shape as prep/spec_tables.py's, plus the manual's own `line`.
"""

from __future__ import annotations

import re

from prep.tasks import NUMBER, UNIT


TEXT_SPEC = re.compile(
    # the rest runs to the sentence's end: a full stop or semicolon, but not a decimal point ("22.4 mm")
    rf"(?P<label>[A-Z][A-Za-z0-9 ()/,'-]{{3,70}}?)\s*(?P<sep>[:=]|\bto\b)\s*(?P<rest>(?:[A-Z]\d\d\s+)?{NUMBER}\s*(?:{UNIT})(?:[^.;]|\.(?=\d))*)")


def text_facts(block: dict) -> list[dict]:
    """`Minimum thickness: K20 20.4 mm, K25 22.4 mm.` / `Tighten Torx screw (1) to 16 Nm.`"""
    facts = []
    # A steps block has each step whole in fields.steps; its text keeps the page's line breaks,
    # which can fall inside a spec ("K20 20.4 mm,\nK25 22.4 mm").
    steps = (block.get("fields") or {}).get("steps")
    text = "\n".join(steps) if steps else block.get("text", "")
    for line in re.split(r"(?<=[.;])\s+|\n", text):
        match = TEXT_SPEC.search(line)
        if not match:
            continue
        label = re.sub(r"^(?:Tighten|Tightening|Adjust|Set)\s+", "", match["label"]).strip(" ,")
        if label.lower() in ("tightening torque", "torque"):
            label = "tightening torque"
        # A part's name, not a clause: "A), pull down slightly (linkage play) and then tighten screw
        # to 2 Nm" or a range "both 3 to 4 cm" would make a question naming no part.
        if label.count("(") != label.count(")") or len(label.split()) > 8 or \
                (match["sep"] == "to" and re.search(r"\d$", label)):
            continue
        parts = list(re.finditer(rf"(?:(?P<variant>[A-Z]\d\d)\s+)?(?P<value>{NUMBER})\s*(?P<unit>{UNIT})(?:\s*\((?P<alt>[^)]*)\))?",
                                 match["rest"]))
        # Several values belong to the label only as its variants ("K20 20.4 mm, K25 22.4 mm");
        # otherwise the later ones are other things ("A = 181 mm - front pin B = 159 mm").
        if not all(part["variant"] for part in parts):
            parts = parts[:1]
        for part in parts:
            facts.append({"component": label, "measure": measure_word(label, part["unit"]), "variant": part["variant"],
                          "screw": None, "value": part["value"].replace(" ", ""), "unit": part["unit"],
                          "alt": part["alt"], "stage": None, "group": None, "line": line.strip()})
    return facts


def measure_word(label: str, unit: str) -> str:
    lowered = label.lower()
    for word in ("torque", "thickness", "clearance", "pressure", "distance", "play", "gap", "capacity", "voltage"):
        if word in lowered:
            return word if word != "torque" else "tightening torque"
    return {"Nm": "tightening torque", "bar": "pressure", "psi": "pressure", "mm": "dimension",
            "°": "angle", "V": "voltage"}.get(unit.replace(" ", ""), "value")
