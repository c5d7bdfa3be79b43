"""Spec tables -> spec facts, read the way the manual prints them.

A fact is one value the manual prints for one part: {component, measure, type, screw, variant,
value, unit, alt, stage, group, line, cells}. `variant` is what tells two facts of one part apart
(the Type and Screw cells: an engine, a model, a gearbox, a thread size), `line` is the manual's own
row as a mechanic would quote it, `cells` the (row, column) cells the fact was read from (so a number
whose two OCR readings disagree can be left out: prep/tasks.py). prep/tasks.py phrases facts into
SPEC examples and the spec index.

Three kinds of table, each read by its header:

- Torque tables `Type | Screw | Measure | Unit` (the BMW binder pages; `Dimension` for Measure).
  A row that names a part is a part of its own, with or without a row code (`1AZ`); a row whose
  first cell is blank, or a remark, with a Type or Screw is another variant of the part above; a
  row named `Torque`, `Torque angle`, `Application torque`, `Loosen …`, or left blank under a part,
  is the next stage of that part and variant.
- Thread tables: thread sizes down the side (`M4` … `M18x1.5`), strength grades across the top
  (`8.8 | 10.9 | 12.9`). The page checks itself: torque rises with the grade along every row.
- Label/value tables: spec sheets (`Displacement: | 2302 cc`) and US tables that print
  `Nm (ft. lbs.)`, checked against each other (1 Nm = 0.7376 ft-lb, within rounding).

A table whose header cannot be read gives no facts: its rows are reported, never guessed.
Everything left out is returned as `skipped` rows with a reason, for qa_report.md.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from prep.ocr import look_alike
from vocab.units import QUANTITY_RE
from vocab.words import dictionary


def table_facts(block: dict, header_variants: list[str], page_text: str = "") -> tuple[list[dict], list[dict]]:
    """(facts, skipped rows) of one table block. `page_text` is the page's text outside the table
    (a thread table prints its unit in the title above it)."""
    fields = block.get("fields") or {}
    columns = fields.get("columns", [])
    rows = [[c or "" for c in row] for row in fields.get("rows", [])]
    roles = header_roles(columns)
    if "value" in roles and "unit" in roles:
        return torque_table_facts(block, roles, rows)
    if thread_grades(columns, rows):
        return thread_table_facts(block, columns, rows, page_text)
    if rows and thread_grades(rows[0], rows[1:]):     # a ruled title band above the grade header
        facts, skipped = thread_table_facts(block, rows[0], rows[1:], page_text + " " + " ".join(columns))
        for f in facts:      # cells count from the block's first row, the header band included
            f["cells"] = [(r + 1, c) for r, c in f["cells"]]
        return facts, [{**x, "row": x["row"] + 1} for x in skipped]
    if block.get("source", {}).get("method") == "ocr" and not any(
            QUANTITY_RE.search(c) for c in columns) and torque_like(rows):
        # A scanned torque table whose header row was not read (`Mcasure`, a lost rule): the
        # columns cannot be told apart, and a value in the wrong column is a wrong number.
        return [], [skip(block, r, row, "table header unread") for r, row in enumerate(rows) if any(row[1:])]
    return label_value_facts(block, columns, rows, header_variants)


def header_roles(columns: list[str]) -> dict[str, int]:
    """Column roles from the header: `Dimensio\\nn` is Dimension, `—_ Unit` is Unit."""
    roles: dict[str, int] = {}
    for i, header in enumerate(columns):
        word = re.sub(r"[^a-z]", "", header.lower())
        for role, names in (("type", ("type", "model", "engine", "version")),
                            ("screw", ("screw", "bolt", "thread", "size")),
                            ("value", ("measure", "dimension", "value", "torque", "setting")),
                            ("unit", ("unit", "units"))):
            if word in names and role not in roles:
                roles[role] = i
    return roles


def torque_like(rows: list[list[str]]) -> bool:
    return sum(bool(re.search(r"\b\d+\s?AZ\b|^(?:torque|torque angle)$", row[0], re.I)) for row in rows if row) >= 1


def skip(block: dict, row_index: int, row: list[str], reason: str) -> dict:
    return {"page": page_cite(block), "source": block.get("source", {}).get("path"), "row": row_index,
            "text": " | ".join(c.replace("\n", " / ") for c in row), "reason": reason}


def page_cite(block: dict) -> str:
    src = block.get("source", {})
    return str(src.get("page_label") or src.get("path"))


# ---------------------------------------------------------------------------------------------
# Torque tables

ROW_CODE = re.compile(r"^\d{1,2}\s?[A-Z]{1,3}[\s\W_]+(?=[A-Za-z0-9])")   # `1AZ `, `2AZ_ `, `2AZ '`
# A stage row's name: what is done at this stage, never a part. Matched whole ("Torque converter
# to drive plate" is a part, "Torque" a stage).
STAGE_NAME = re.compile(
    r"(?i)^(?:(?:application|joining|jointing|initial|pre-?tightening|final|tightening|fitting|seating)\s+)?"
    r"(?:torque(?:\s+angle)?|(?:tightening\s+)?angle(?:\s+of\s+rotation)?|rotation angle|torx angle)"
    r"(?:\s*\(?(?:stage\s*)?\d\)?)?[\s.:*]*$"
    r"|^(?:stage\s*(?:\d|[IVX]+)|\d(?:st|nd|rd|th)\s+stage|pre-?tighten(?:ing)?|final tightening)[\s.:*]*$")
# An instruction between two stages: a step of the procedure, shown in order, never a value.
INSTRUCTION = re.compile(r"(?i)^(?:loosen|slacken|release|back off|undo|unscrew|turn back|retighten|re-tighten|"
                         r"run|wait|warm up|start|drive)\b|(?:running|settling|warm-up|waiting) time\b")
# A remark beside a variant ("For repair work, only use screws with Torx head | M20 | M10"): it
# qualifies the variant, it names no part.
REMARK = re.compile(r"(?i)^(?:for|only|use|using|replace|renew|fit|do not|don't|note|always|never|with|without|if|"
                    r"when|clean|coat|apply|observe|important|lightly|no|new|(?:bolts?|screws?|nuts?) with)\b"
                    r"|^engine\s+[A-Z]\d")   # "Engine K20, bolts with 12-point head | K20 | M10": the variant's remark
# A row that names only a fastener: the fastener of the part above it (a sub-row), or, as a second
# line of the part's own cell (`Fuel tank to body` / `Screw`), the one this row is for.
FASTENER = re.compile(r"(?i)^(?:screw|nut|bolt|stud)s?[\s.:]*$")
KNOWN_UNITS = {"nm": "Nm", "n·m": "Nm", "°": "°", "º": "°", "min": "min", "mm": "mm", "s": "s", "kg": "kg",
               "ft-lb": "ft-lb", "bar": "bar", "%": "%"}


def torque_table_facts(block: dict, col: dict[str, int], rows: list[list[str]]) -> tuple[list[dict], list[dict]]:
    group_title = (block.get("fields") or {}).get("title") or ""
    facts: list[dict] = []
    skipped: list[dict] = []
    component: str | None = None
    part = ""                    # the last row that named a part: a fastener row below is its fastener
    variant: tuple[str, str] = ("", "")
    remark = ""
    unreadable = ""   # why the current variant cannot be read: its rows are left out, not guessed
    broken: set[tuple] = set()   # (part, variant) with a row left out: none of its stages is taught
    unknown_variant: set[str] = set()   # parts with a variant whose Type or Screw is unreadable
    # (prep/tasks.py leaves out a variant whose readings disagree by the same rules)
    variant_row = 0              # the row that printed the current variant's Type and Screw

    def cell(row, role):
        return row[col[role]] if role in col and col[role] < len(row) else ""

    settled = column_settled(block, col, rows)
    for (r, c), text in settled.items():
        rows[r][c] = text
    for r, row in enumerate(rows):
        row = row + [""] * (max(col.values()) + 1 - len(row))
        label_lines = [l.strip() for l in row[0].splitlines() if l.strip()]
        first = label_lines[0] if label_lines else ""
        code = ROW_CODE.match(first)
        type_, screw = wrapped(cell(row, "type")), cell(row, "screw")
        values = [v.strip() for v in cell(row, "value").splitlines() if v.strip()]
        units = [u.strip() for u in cell(row, "unit").splitlines() if u.strip()]
        if not any(c.strip() for c in row):
            continue
        names_part = bool(code) or (first and not STAGE_NAME.match(first) and not INSTRUCTION.search(first)
                                    and not REMARK.match(first))
        if names_part:
            name = strip_code(first)
            fastener = next((l for l in label_lines[1:] if FASTENER.match(l)), "")
            if FASTENER.match(name) and not code and part:
                # `Nut | E24 | M8 | 45` under `Fuel tank to body / Screw`: the part's nut, not a
                # part of its own ("the nut on the E24": which nut?)
                component = f"{part}, {fastener_name(name)}"
            else:
                part = name
                component = f"{name}, {fastener_name(fastener)}" if fastener else name
            variant, remark, variant_row = (type_, screw), "", r
            unreadable = unreadable_variant(type_, screw)
            label_lines = []          # the rest of the cell is a note on the part, not a stage name
        elif type_ or screw:
            if component is None:
                skipped.append(skip(block, r, row, "variant row before any part"))
                continue
            variant, remark, variant_row = (type_, screw), first, r
            unreadable = unreadable_variant(type_, screw)
            label_lines = []
        elif not values:
            if first and INSTRUCTION.search(first) and component and not unreadable:
                # "Loosen all bolts 1/2 turn" between two torque stages: a stage with no value
                facts.append(fact(component, variant, first[0].lower() + first[1:], None, "", None,
                                  group_title, [(r, 0)], remark, block))
            elif first and component and REMARK.match(first):
                remark = first
            continue
        elif component is None:
            skipped.append(skip(block, r, row, "value row before any part"))
            continue
        if not values:
            continue
        if unreadable:   # this row's variant, or the variant its stages belong to
            skipped.append(skip(block, r, row, unreadable))
            broken.add((component, variant))
            unknown_variant.add(component)
            continue

        # One value, or several aligned with the lines of the cell that tells them apart.
        screws = [s.strip() for s in screw.splitlines() if s.strip()]
        stage_names = [l for l in label_lines if STAGE_NAME.match(l) or INSTRUCTION.search(l)]
        if len(values) == 1:
            cases = [(variant, (label_lines[0] if label_lines else None), values[0], units[0] if units else "")]
        elif len(screws) == len(values):
            cases = [((variant[0], s), None, v, units[i] if len(units) == len(values) else (units[0] if units else ""))
                     for i, (s, v) in enumerate(zip(screws, values))]
        elif len(stage_names) == len(values) == len(label_lines):
            cases = [(variant, n, v, units[i] if len(units) == len(values) else (units[0] if units else ""))
                     for i, (n, v) in enumerate(zip(stage_names, values))]
        else:
            skipped.append(skip(block, r, row, "several values in one cell, not aligned with their variants"))
            broken.add((component, variant))
            unknown_variant.add(component)     # which variants the values were for is not known
            continue
        for case_variant, name, value, unit in cases:
            if not re.fullmatch(r"[<>≤≥~≈]?\s?\d+(?:[.,]\d+)?(?:\s*(?:\.{2,3}|…|-|–|to)\s*\d+(?:[.,]\d+)?)?", value):
                skipped.append(skip(block, r, row, f"value unreadable: {value!r}"))
                broken.add((component, case_variant))
                continue
            main, alt = split_alt_unit(unit)
            unit_name = known_unit(main, name)
            if unit_name is None:
                skipped.append(skip(block, r, row, f"unit unread: {unit!r}"))
                broken.add((component, case_variant))
                continue
            measure = name or default_measure(unit_name)
            # The cells a fact's numbers come from must read the same twice; a torque angle's unit
            # is its label's, whatever the scan made of the `°`.
            cells = [(r, col["value"])] + ([] if unit_name == "°" and name and "angle" in name.lower() else
                                           [(r, col["unit"])]) + [(variant_row, col[k]) for k in ("type", "screw") if k in col]
            facts.append(fact(component, case_variant, measure[0].lower() + measure[1:], value, unit_name, alt,
                              group_title, cells, remark, block, named=bool(name)))
    for f in facts:   # prep/tasks.py: these cells' readings disagree no more; qa_report.md says how they read
        f["settled_cells"] = [[*c, settled[tuple(c)]] for c in f["cells"] if tuple(c) in settled]
    # A tightening sequence with a stage missing is a wrong procedure (the last torque angle
    # forgotten): a part and variant with any row left out is left out whole.
    for f in facts:
        if (f["component"], f["variant_key"]) in broken:
            skipped.append({"page": page_cite(block), "source": block.get("source", {}).get("path"), "row": f["cells"][0][0],
                            "text": f["line"], "reason": "another row of this part and variant is unreadable"})
    facts = [f for f in facts if (f["component"], f["variant_key"]) not in broken]
    # A part that lost a variant (its Type or Screw unreadable, or a row of it): a sibling that
    # names no variant (`All`, no screw) would be taught as the whole part (`Oil drain plug | All |
    # 50 Nm`, then `K25 | 5? Nm`: "50 Nm" for every engine, the K25's own torque lost; `All` on
    # these pages means every type not listed), so it is left out. A named sibling (`M10`, `K20`)
    # stays, and that is safe: it is asked and answered only under its own name ("… (M10 screw)?"
    # -> "M10: 47 Nm"), it is marked so that prep/tasks.py asks no question about the whole part
    # (whose answer would read as every variant), and the lost variant is asked nowhere, so no
    # question naming it is answered by a sibling.
    lost = unknown_variant | {name for name, _ in broken}
    generic = [f for f in facts if f["component"] in lost and not f["variant"]]
    for f in generic:
        skipped.append({"page": page_cite(block), "source": block.get("source", {}).get("path"),
                        "row": f["cells"][0][0], "text": f["line"],
                        "reason": "another variant of this part is unreadable: this row names no variant of its own"})
    facts = [f for f in facts if not any(f is g for g in generic)]
    for f in facts:
        f["variants_incomplete"] = f["component"] in lost
    # Stages only mean something where a part and variant have more than one row.
    counts: dict[tuple, int] = {}
    for f in facts:
        counts[(f["component"], f["variant"])] = counts.get((f["component"], f["variant"]), 0) + 1
    seen: dict[tuple, int] = {}
    for f in facts:
        key = (f["component"], f["variant"])
        seen[key] = seen.get(key, 0) + 1
        f["stage"] = seen[key] if counts[key] > 1 else None
    return facts, skipped


def column_settled(block: dict, col: dict[str, int], rows: list[list[str]]) -> dict[tuple[int, int], str]:
    """{(row, column): text} for the Type and Screw cells whose OCR readings disagree (prep/ocr.py)
    but where the column's grammar leaves one reading: the cell as the column prints it.

    A Screw cell holds a thread size (`M6`, `M14x1.5`), a digit after the `M`. Tesseract reads `M8`
    as `ms`/`Ms` and `M5` as `MS`: a letter where the column prints a digit, a reading that is no
    thread size at all, so it does not compete with the second engine's. That reading is taken when
    it is a thread size, tesseract's reading is it letter for letter but for look-alikes (`s` for 8
    or 5) in the places of its digits, and the crop reading says nothing else (blank, or the same
    kind of look-alike). A digit read as another digit (`M82`/`M52`) is never settled: both readings
    are thread sizes. `s` being 5 or 8, which one rests on the second engine alone; on the E30 scans
    it read every M5 and M8 that a third reading confirmed as printed.
    A Type cell holds codes, never `$`: tesseract's `$` is an S (`S$6S560G`, crop `$6S560G`). With
    it read as S, the crop reading and the second engine agree (`S6S560G`): two readings, as in
    prep/ocr.py. A cell is settled only when every disputed word in it is."""
    thread_col, type_col = col.get("screw"), col.get("type")
    words: dict[tuple[int, int], list] = {}
    for r, c, text, readings in (block.get("fields") or {}).get("unsure_cells", []):
        words.setdefault((r, c), []).append((text, readings))
    out = {}
    for (r, c), disputed in words.items():
        if r >= len(rows) or c >= len(rows[r]) or c not in (thread_col, type_col):
            continue
        cell = rows[r][c]
        for text, (first, second, third) in disputed:
            second = " ".join((second or "").split())
            if c == thread_col:
                ok = bool(THREAD.match(second)) and letters_for_digits(first, second) and (
                    not third or letters_for_digits(third, second) or same_code(third, second))
            else:
                ok = bool(re.search(r"\d", second)) and "$" not in second and any(
                    same_code(x.replace("$", "S"), second) for x in (first, third or "") if "$" in x)
            if not ok or cell.count(text) != 1:
                break
            cell = cell.replace(text, second)
        else:
            out[(r, c)] = cell
    return out


def letters_for_digits(reading: str, printed: str) -> bool:
    """Is `reading` the thread size `printed` with letters in the place of some of its digits,
    each a letter the engines take for that digit (`ms` for `M8`)?"""
    a, b = "".join(reading.split()), "".join(printed.split())
    return look_alike(a, b) and all(x.isalpha() for x, y in zip(a.casefold(), b.casefold()) if x != y)


def same_code(a: str, b: str) -> bool:
    return "".join(a.split()).casefold() == "".join(b.split()).casefold()


def fastener_name(text: str) -> str:
    return text.strip().rstrip(".:").strip().lower()


def unreadable_variant(type_: str, screw: str) -> str:
    """A thread size always has a digit (`ms` is a misread `M8`); a type code never holds `$`
    (`S$6S560G`): the row's value would go to the wrong variant."""
    if screw.strip() and not re.search(r"\d", screw):
        return f"screw size unreadable: {screw!r}"
    if re.search(r"[$§@#%&*{}<>|\\]", type_):
        return f"type unreadable: {type_!r}"
    # A word of a Type cell is a code (`M52`, `EH`) or a word (`with cast iron engine block`,
    # `touring`); `compitouring` is `comp/touring` with its slash misread: the variant is unknown.
    words = dictionary()
    for word in re.findall(r"[^\W\d_]{4,}", type_):
        if word.lower() not in words and word.lower() not in BODY_WORDS and not word.isupper() and words:
            return f"type unreadable: {type_!r}"
    return ""


# Body styles as the type cells print them; no dictionary lists them.
BODY_WORDS = {"comp", "coupe", "coupé", "cabrio", "cabriolet", "touring", "compact", "saloon", "sedan", "limousine",
              "convertible", "roadster", "others"}


def fact(component, variant, measure, value, unit, alt, group, cells, remark, block, named=True) -> dict:
    """One value of one part and variant; `line` quotes the row as printed
    (`Clutch housing to crankcase · M8 · 27 Nm`, `Cylinder head bolts · M20, M10 · torque angle 90°`)."""
    type_, screw = variant
    shown = variant_text(type_, screw)
    said = f"{value} {unit}" if value is not None else ""
    if named:
        said = f"{measure} {said}".strip()
    quoted = [component, shown, remark, said + (f" ({alt})" if alt else "")]
    return {"component": component, "measure": measure, "type": type_, "screw": screw, "variant": shown or None,
            "variant_key": variant,
            "value": value, "unit": unit, "alt": alt, "stage": None, "group": group,
            "line": " · ".join(q.replace(" °", "°") for q in quoted if q), "cells": cells, "remark": remark or None}


def variant_text(type_: str, screw: str) -> str:
    """What tells this fact from the part's others: `M20, M10`; `All` names no engine."""
    shown = "" if type_.strip().lower() == "all" else type_
    return ", ".join(x for x in (shown, screw) if x)


def wrapped(cell: str) -> str:
    """A Type cell wraps inside its column (`M40/M42/…/S50 US/` + `S52/M52 With cast iron engine` +
    `block`): one value, its lines joined."""
    out = ""
    for line in (l.strip() for l in cell.splitlines() if l.strip()):
        if not out:
            out = line
        elif out.endswith(("/", "-", ",")) or line[:1].islower():
            out += ("" if out.endswith(("/", "-")) else " ") + line
        else:
            out += " / " + line
    return joined_words(clean_code(out))


def joined_words(type_: str) -> str:
    """Two words of a Type cell that the scan ran together, where no other reading is possible:
    `Allothers` is the tables' own `All others`; `compitouring` is `comp/touring`, two body styles
    with the slash read as `i` or `l` (no word is two body styles with a letter between them)."""
    type_ = re.sub(r"(?i)\ball\s*others\b", "All others", type_)

    def slash(m):
        word = m[0]
        for i, ch in enumerate(word):
            if ch in "ilI" and word[:i].lower() in BODY_WORDS and word[i + 1:].lower() in BODY_WORDS:
                return f"{word[:i]}/{word[i + 1:]}"
        return word
    return re.sub(r"[^\W\d_]{6,}", slash, type_)


def known_unit(unit: str, name: str | None) -> str | None:
    """The unit as printed, when it is one. A torque angle is in degrees whatever single glyph the
    scan made of its Unit cell's `°`, a three-pixel ring (blank, `o`, `e`, `5`); a real unit there
    (`Nm`) contradicts the label and is not taken."""
    if name and re.search(r"(?i)angle", name):
        printed = KNOWN_UNITS.get(unit.strip().lower())
        return "°" if printed == "°" or (printed is None and len(unit.strip()) <= 1) else None
    return KNOWN_UNITS.get(unit.strip().lower().replace(" ", "").replace("ft.lbs.", "ft-lb"))


def default_measure(unit: str) -> str:
    return {"°": "torque angle", "min": "time", "s": "time", "mm": "dimension"}.get(unit, "tightening torque")


def clean_code(cell: str) -> str:
    """A Type cell as printed, without the specks a scan leaves around it (`|K20`, `'k25`)."""
    text = re.sub(r"^[\W_]+|[^\w)\"']+$", "", " ".join(cell.split()))   # `K2 coupé` keeps its é
    return re.sub(r"\b([a-z])(\d\d)\b", lambda m: m[1].upper() + m[2], text)


def strip_code(text: str) -> str:
    """`1AZ Cylinder head bolts` / `2AZ_ Oil sump` / `2AZ 'Transmission` (a speck) → the part's
    name without the table's row code."""
    return ROW_CODE.sub("", text).strip()


def split_alt_unit(unit: str) -> tuple[str, str | None]:
    """`Nm (26 ft-lb)` -> (`Nm`, `26 ft-lb`). A bracket without a number names a unit, not a value:
    a Unit cell `Nm (ft. lbs.)` over rows that print no ft-lb value is Nm alone, never
    `45 Nm (ft. Ibs.)` in an answer."""
    match = re.match(r"^(?P<main>[^(]+?)\s*\((?P<alt>[^)]+)\)\s*$", unit)
    if not match:
        return unit, None
    return match["main"], (match["alt"] if re.search(r"\d", match["alt"]) else None)


# ---------------------------------------------------------------------------------------------
# Thread tables: maximum torque by thread size and strength grade

GRADE = re.compile(r"^\d{1,2}\.\d$")
THREAD = re.compile(r"^M\s?(\d{1,2})(?:\s?[x×]\s?\d(?:[.,]\d{1,2})?)?$")


def thread_grades(columns: list[str], rows: list[list[str]]) -> list[str]:
    """The grade columns' headers (`8.8`, `10.9`, `12.9`) when the table is a thread table."""
    grades = [c.strip() for c in columns[1:] if GRADE.match(c.strip())]
    threads = sum(bool(THREAD.match(row[0].strip())) for row in rows if row)
    return grades if len(grades) >= 2 and threads >= 2 else []


def thread_table_facts(block: dict, columns: list[str], rows: list[list[str]], page_text: str):
    fields = block.get("fields") or {}
    heading = " ".join([fields.get("title") or "", fields.get("page_title") or "", page_text])
    units = {u for u in ("Nm", "ft-lb") if re.search({"Nm": r"\bN\s?·?m\b", "ft-lb": r"\bft\.?[-\s]?lbs?\b"}[u], heading)}
    if len(units) != 1:
        return [], [skip(block, r, row, "table header unread (no unit printed)") for r, row in enumerate(rows)]
    unit = units.pop()
    measure = "maximum tightening torque" if re.search(r"(?i)\bmax", heading) else "tightening torque"
    grade_cols = [(i, c.strip()) for i, c in enumerate(columns) if i and GRADE.match(c.strip())]
    facts, skipped = [], []
    for r, row in enumerate(rows):
        thread = " ".join(row[0].split()) if row else ""
        if not THREAD.match(thread):
            if any(row[1:]):
                skipped.append(skip(block, r, row, "no thread size"))
            continue
        values = [(i, g, row[i].strip()) for i, g in grade_cols if i < len(row) and row[i].strip()]
        unreadable = [v for _, _, v in values if number(v) is None]
        if unreadable:      # `Sz` for 5.7: that cell is left out, the row's others still checked
            skipped.append(skip(block, r, row, f"value unreadable: {', '.join(map(repr, unreadable))}"))
        values = [(i, g, v) for i, g, v in values if number(v) is not None]
        numbers = [number(v) for _, _, v in values]
        if not values:
            continue
        # The page's own cross-check: a stronger grade takes more torque, along every row.
        if any(b <= a for a, b in zip(numbers, numbers[1:])):
            skipped.append(skip(block, r, row, "cross-check failed: torque does not rise with the strength grade"))
            continue
        for i, grade, value in values:
            facts.append({"component": f"{thread} thread", "measure": measure, "type": f"strength grade {grade}",
                          "screw": "", "thread": thread, "variant": f"strength grade {grade}", "value": value,
                          "unit": unit, "alt": None, "stage": None, "group": fields.get("title") or "",
                          "line": f"{thread} · {grade} · {value} {unit}", "cells": [(r, 0), (r, i)], "remark": None,
                          "unit_printed": "page"})   # the unit is printed above the table, not in it
    # Down each column, by nominal diameter: a value that does not rise with the thread is misread.
    by_grade: dict[str, list[dict]] = {}
    for f in facts:
        by_grade.setdefault(f["type"], []).append(f)
    bad = set()
    for column in by_grade.values():
        coarse = sorted((f for f in column if "x" not in f["thread"].lower()),
                        key=lambda f: int(THREAD.match(f["thread"]).group(1)))
        for a, b in zip(coarse, coarse[1:]):
            if number(b["value"]) <= number(a["value"]):
                bad |= {id(a), id(b)}
    for f in facts:
        if id(f) in bad:
            skipped.append({**skip(block, f["cells"][0][0], rows[f["cells"][0][0]],
                                   "cross-check failed: torque does not rise with the thread size"),
                            "text": f["line"]})
    return [f for f in facts if id(f) not in bad], skipped


def number(text: str) -> Decimal | None:
    try:
        return Decimal(text.strip().replace(",", "."))
    except InvalidOperation:
        return None


# ---------------------------------------------------------------------------------------------
# Label/value tables: spec sheets and `Nm (ft. lbs.)` tables

FT_LB_PER_NM = Decimal("0.7376")
NM_FT = re.compile(r"^(?P<nm>\d+(?:[.,]\d+)?)\s*(?:N\s?·?m\s*)?\(\s*(?P<ft>\d+(?:[.,]\d+)?)\s*(?:ft\.?[-\s]?lbs?\.?)?\s*\)$")


def label_value_facts(block: dict, columns: list[str], rows: list[list[str]], header_variants: list[str]):
    """Spec-sheet tables: `Label: | value (variant 1) | value (variant 2)`; a column headed
    `Nm (ft. lbs.)` holds `35 (26)`."""
    variants = [c for c in columns[1:] if c] or header_variants
    nm_ft_cols = {i for i, c in enumerate(columns) if re.search(r"\bN\s?·?m\b", c) and re.search(r"(?i)\bft", c)}
    title = (block.get("fields") or {}).get("title") or ""
    facts, skipped = [], []
    parent = None    # "Fuel consumption (DIN litres/100 km):" with its values on the rows under it
    for r, row in enumerate(rows):
        if not row or not row[0].strip():
            continue
        if len(row) > max(len(columns), 1) + 1:
            skipped.append(skip(block, r, row, "row wider than its table's header"))
            continue
        label = " ".join(row[0].split()).rstrip(":").strip()
        cells = [(i, v.replace("\n", " ").strip()) for i, v in enumerate(row) if i and v.strip()]
        if not cells:
            parent = label      # a section row, or one that names what the rows under it measure
            continue
        # Rows under a section row ("Capacities") or a named quantity ("Fuel consumption:"): the
        # quantity's rows print no colon ("City | 11.6"); a row that does starts afresh.
        category = CATEGORY_MEASURE.get((parent or "").lower())
        under = parent is not None and (category is not None or not row[0].strip().endswith(":"))
        if not under:
            parent = None
        unnamed = [i for i, _ in cells if i not in nm_ft_cols and not (i - 1 < len(variants) and variants[i - 1])]
        if len(cells) > 1 and unnamed:
            # `Weight: | 1200 kg | ??? kg` under no header: the E30 sheet's two columns are the coupé
            # and the convertible, named only in its `Model Code` row. A value taught without the
            # column it stands in would be answered for both.
            skipped.append(skip(block, r, row, f"{len(cells)} values in columns the table does not name"))
            continue
        for i, value in cells:
            if i in nm_ft_cols:
                m = NM_FT.match(value)
                if not m:
                    skipped.append(skip(block, r, row, f"value unreadable: {value!r}"))
                    continue
                nm, ft = number(m["nm"]), number(m["ft"])
                # The page's own cross-check: the two units must say the same torque.
                if abs(nm * FT_LB_PER_NM - ft) > max(Decimal(1), ft * Decimal("0.05")):
                    skipped.append(skip(block, r, row, f"cross-check failed: {m['nm']} Nm is not {m['ft']} ft-lb"))
                    continue
                facts.append({"component": label, "measure": "tightening torque", "type": "", "screw": "",
                              "variant": None, "value": m["nm"], "unit": "Nm", "alt": f"{m['ft']} ft-lb",
                              "stage": None, "group": title, "line": f"{label} · {m['nm']} Nm ({m['ft']} ft-lb)",
                              "cells": [(r, 0), (r, i)], "remark": None})
                continue
            if not QUANTITY_RE.search(value):
                continue
            variant = variants[i - 1].upper() if len(cells) > 1 and i - 1 < len(variants) else None
            variant = None if variant in ("ALL", "") else variant
            # "Capacities | Rear axle: 1.1 litres" asks for the rear axle's capacity.
            component = f"{parent} {label}" if under and not category else label
            facts.append({"component": component, "measure": category or "specification", "type": variant or "",
                          "screw": "", "variant": variant, "value": value, "unit": "", "alt": None, "stage": None,
                          "group": title, "whole_cell": True, "line": f"{component}: {value}",
                          "cells": [(r, 0), (r, i)], "remark": None})
    return facts, skipped


CATEGORY_MEASURE = {"capacities": "capacity", "dimensions": "dimension", "weights": "weight",
                    "electrical system": "rating", "tyres": "size", "tires": "size"}
