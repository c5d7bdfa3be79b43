"""Spec tables -> spec facts: torque tables (Type / Screw / Measure / Unit) and spec sheets.

A fact is one value the manual prints for one part: {component, measure, variant, screw, value,
unit, alt, stage, group}. prep/tasks.py phrases facts into SPEC examples and the spec index.
"""

from __future__ import annotations

import re

from prep.tasks import VALUE_UNIT


def table_facts(block: dict, header_variants: list[str]) -> list[dict]:
    fields = block.get("fields") or {}
    columns = [c.strip().lower() for c in fields.get("columns", [])]
    rows = fields.get("rows", [])
    if "measure" in columns and "unit" in columns:
        return torque_table_facts(block, columns, rows)
    return label_value_facts(block, columns, rows, header_variants)


def torque_table_facts(block: dict, columns: list[str], rows: list[list[str]]) -> list[dict]:
    """Type / Screw / Measure / Unit tables: a component row, optional variant rows, stage rows."""
    col = {name: columns.index(name) for name in ("type", "screw", "measure", "unit")}
    facts, component, variant, stage = [], None, None, 0
    group_title = (block.get("fields") or {}).get("title") or ""
    for row in rows:
        cells = [c.strip() for c in row] + [""] * (len(columns) - len(row))
        label_lines = [l.strip() for l in cells[0].splitlines() if l.strip()]
        measures = [m.strip() for m in cells[col["measure"]].splitlines() if m.strip()]
        units = [u.strip() for u in cells[col["unit"]].splitlines() if u.strip()]
        type_ = clean_code(cells[col["type"]])
        type_ = "" if type_.lower() == "all" else type_     # "All" engines: no variant to name
        screw = cells[col["screw"]].replace("\n", " ").strip()
        if not measures:
            if not label_lines and not type_:
                continue
            first = label_lines[0] if label_lines else ""
            if INSTRUCTION.match(first) and not type_ and not screw and component and stage:
                # "Loosen all bolts 1/2 turn" between two torque stages: a stage of the procedure
                stage += 1
                facts.append({"component": component, "measure": first[0].lower() + first[1:], "variant": variant,
                              "screw": None, "value": None, "unit": "", "alt": None, "stage": stage,
                              "group": group_title})
                continue
            coded = strip_code(first) != first    # "5AZ Cylinder head bolts": the table's row code
            if re.match(r"(?i)engine\b", first) or (type_ and (not first or component and not coded)):
                # "Engine K20, bolts with 12-point head" / Type "K20" / a remark beside a type:
                # "For repair work, only use screws with Torx head | M20 | M10"
                variant = type_ or first
            else:
                component = strip_code(first)  # drop "2AZ " codes
                variant = type_ or None           # "5AZ Cylinder head bolts | M51/M41 | M11": both
            stage = 0
            continue
        # One stage per line when a cell holds several (a scan can merge rows).
        for i, value in enumerate(measures):
            # One label line per value, or a label with a remark under it ("torque angle / Engine cold.")
            label = label_lines[i] if len(label_lines) == len(measures) else \
                (label_lines[0] if len(measures) == 1 and label_lines else "")
            unit = units[i] if i < len(units) else (units[-1] if units else "")
            if re.match(r"(?i)engine\b", label):   # "Engine K20 | M10 | 65 | Nm": a variant with one value
                variant, label = label, ""
            elif label and component is None or (label and re.match(r"^\d*\s*[A-Z]{1,3}\d*\s+[A-Z][a-z]", label)):
                component = strip_code(label)
                label = ""
            stage += 1
            main_unit, alt = split_alt_unit(unit)
            facts.append({
                "component": component or group_title, "measure": (label or "tightening torque").lower(),
                "variant": type_ or variant, "screw": screw or None, "value": value, "unit": main_unit,
                "alt": alt, "stage": stage, "group": group_title,
            })
    # Stages only mean something where a component+variant has more than one row.
    counts: dict[tuple, int] = {}
    for f in facts:
        counts[(f["component"], f["variant"])] = counts.get((f["component"], f["variant"]), 0) + 1
    for f in facts:
        if counts[(f["component"], f["variant"])] == 1:
            f["stage"] = None
    return facts


# A table row that tells the mechanic to do something between two values, not a part's name.
INSTRUCTION = re.compile(r"(?i)(?:loosen|slacken|release|back off|undo|unscrew|turn back|run|wait|warm up|start)\b")


def clean_code(cell: str) -> str:
    """A Type cell as printed, without the specks a scan leaves around it (`|K20`, `'k25`)."""
    text = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9)]+$", "", " ".join(cell.split()))
    return re.sub(r"\b([a-z])(\d\d)\b", lambda m: m[1].upper() + m[2], text)


def strip_code(text: str) -> str:
    """`1AZ Cylinder head bolts` / `2AZ_ Oil sump` / `2AZ 'Transmission` (a speck) → the component's
    name without the table's row code."""
    return re.sub(r"^\d?\s*[A-Z]{1,3}\d*[\s\W_]+(?=[A-Z][a-z])", "", text).strip()


def label_value_facts(block: dict, columns: list[str], rows: list[list[str]], header_variants: list[str]) -> list[dict]:
    """Spec-sheet tables: `Label: | value (variant 1) | value (variant 2)`."""
    variants = [c for c in columns[1:] if c] or header_variants
    title = (block.get("fields") or {}).get("title") or ""
    facts = []
    for row in rows:
        if not row or not row[0].strip():
            continue
        if not any(cell.strip() for cell in row[1:]):
            title = row[0].strip().rstrip(":")   # a section row inside the table ("Capacities")
            continue
        label = row[0].strip().rstrip(":")
        values = [v.replace("\n", " ").strip() for v in row[1:] if v.strip()]
        for i, cell in enumerate(values):
            match = VALUE_UNIT.search(cell)
            if not match:
                continue
            variant = variants[i].upper() if len(values) > 1 and i < len(variants) else None
            variant = None if variant in ("ALL", "") else variant
            # "Capacities | Rear axle: 1.1 litres" asks for the rear axle's capacity;
            # "Engine | Displacement: 1996 cc" asks for the engine's displacement.
            category = CATEGORY_MEASURE.get(title.strip().lower())
            component, measure = (label, category) if category else (title, label.lower())
            facts.append({"component": component, "measure": measure, "variant": variant, "screw": None,
                          "value": cell, "unit": "", "alt": None, "stage": None, "group": title, "whole_cell": True})
    return facts


CATEGORY_MEASURE = {"capacities": "capacity", "dimensions": "dimension", "weights": "weight",
                    "electrical system": "rating", "tyres": "size", "tires": "size"}


def split_alt_unit(unit: str) -> tuple[str, str | None]:
    match = re.match(r"^(?P<main>[^(]+?)\s*\((?P<alt>[^)]+)\)\s*$", unit)
    return (match["main"], match["alt"]) if match else (unit, None)
