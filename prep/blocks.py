"""Stage 1 of prep: a folder of scanned pages, PDFs and HTML spec sheets -> structured blocks.

    python -m prep blocks ../shared/samples/e30-m3 --out work/ --jobs 2
    python -m prep blocks build/sample-pages --out work/sample --cache .cache/ocr

Writes work/blocks.jsonl (one record per block: kind, text, fields, context, source), work/pages.jsonl
(one record per page) and work/errors.txt (one line per file that could not be read).

Order of work, as in this file: list pages -> check that --out and --cache can be written and have
room (before any OCR) -> read each page (cached OCR, PDF text layer or HTML) -> lines in reading
order -> blocks by page kind (repair / troubleshooting, spec table, wiring, index, foreign) ->
write, sorted by path, page and reading order: the three files together or none of them.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

from prep import layout, sources
from prep.layout import CONNECTOR_RE, WIRE_RE
from prep.sources import PageRef, folder_section, list_pages

DEFAULT_CACHE = Path(__file__).resolve().parents[1] / ".cache" / "ocr"

OP_RE = re.compile(r"^(\d{2})\s?(\d{2})\s?(\d{3})\s+(.*[A-Z].*)$")
FIGURE_RE = re.compile(r"^\d{2}\s?\d{2}\s?\d{3}$")  # photo numbers like `30 34 062`, alone on a line
NOTE_LABELS = {"note": "Note", "important": "Important!", "caution": "Caution", "warning": "Caution",
               "requirement": "Requirement"}
# Sub-heads are set in italics on the scans and tesseract often loses their colon: a known label
# alone on its line counts as well.
SUBHEAD_RE = re.compile(r"^(Note|Important|Caution|Warning|Requirement|Installation|Removal|Assembly|"
                        r"Disassembly|Dismantling)\s*(?:[:!]\s*(.*)|[.,]?$)", re.I)
STEP_NUMBER_RE = re.compile(r"^(\d{1,2})[.)]\s+(.*)$")
FOOTNOTE_RE = re.compile(r"^\*\s*See\s+Specifications", re.I)
SENTENCE_END = (".", "!", "?", ":")


# ---------------------------------------------------------------------------------------------
# OCR text clean-up that is safe everywhere: tesseract reads S as $ in part numbers (`$304`) and
# glues the groups of operation numbers (`3433000`); both are put back as printed.


def clean_text(text: str) -> str:
    text = re.sub(r"(?<![\w$])\$(\d{2,3})\b", r"S\1", text)
    text = re.sub(r"[‘’`]", "'", text).replace("“", '"').replace("”", '"')
    return re.sub(r"\s+", " ", text).strip()


def operation_number(a: str, b: str, c: str) -> str:
    return f"{a} {b} {c}"


def is_upper(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(c.isupper() for c in letters) >= 0.8 * len(letters)


# ---------------------------------------------------------------------------------------------
# Repair and troubleshooting pages: a column is a run of lines; operation headers, sub-heads and
# vertical gaps start a new block. A body block becomes `steps` (instructions, one per sentence
# group) or `paragraph` (running description).


def body_units(lines: list[dict]) -> tuple[list[str], bool]:
    """Join wrapped lines into units (one instruction each). A unit ends where a line ends a
    sentence; a numbered line (`3. Remove...`) always starts one."""
    units, numbered = [], False
    for line in lines:
        text = clean_text(line["text"])
        m = STEP_NUMBER_RE.match(text)
        if m:
            numbered = True
            units.append(m.group(2))
        elif not units or units[-1].endswith(SENTENCE_END) and not text[:1].islower():
            units.append(text)
        elif re.search(r"[a-z]-$", units[-1]) and text[:1].islower():
            units[-1] = units[-1][:-1] + text  # `tan-` + `dem` -> `tandem`
        else:
            units[-1] += " " + text
    return units, numbered


def body_block(lines: list[dict]) -> dict:
    units, numbered = body_units(lines)
    # A sentence that ends mid-line, with the next one running on, is description, not a list of
    # instructions (those start each on a line of its own).
    running = any(len(re.findall(r"[.!?]\s+[A-Z]", u)) >= 1 for u in units)
    if not numbered and len(lines) >= 2 and running:
        return {"kind": "paragraph", "lines": lines, "fields": {}}
    return {"kind": "steps", "lines": lines, "fields": {"steps": units, "numbered": numbered}}


def is_drawing_label(text: str) -> bool:
    """`4 3 2 1`, `A`: callouts of a line drawing; no word of three letters."""
    return not re.search(r"[A-Za-z]{3}", text) and not re.search(r"\d[.,]\d|\d{2,}", text) or len(text) <= 2


def repair_blocks(cols: list[list[dict]]) -> list[dict]:
    """A repair page's text lines, column by column in reading order, as blocks: operation headings
    (`34 11 220 REMOVING AND INSTALLING FRONT BRAKE DISCS`), symptom headings, notes (`Note:`,
    `Important:`), numbered steps and body text, each carrying the operation, sub-head and symptom it
    stands under (`context`). Figure captions are kept aside and drawing callouts (`4 3 2 1`) dropped."""
    blocks: list[dict] = []
    figures: list[tuple[str, list[int]]] = []
    ctx = {"operation": None, "operation_title": None, "subhead": None, "symptom": None}
    for col in cols:
        ctx = {**ctx, "subhead": None}
        current: dict | None = None  # the open block: a heading, note or body being collected
        prev = None
        for line in col:
            text = clean_text(line["text"])
            height = line["bbox"][3] - line["bbox"][1]
            gap = line["bbox"][1] - prev["bbox"][3] if prev else 1e9
            prev = line
            if FIGURE_RE.match(text):
                figures.append((text, line["bbox"]))
                continue
            if is_drawing_label(text):
                continue
            op = OP_RE.match(text)
            sub = SUBHEAD_RE.match(text)
            new_para = gap > 0.9 * max(height, 10)
            if gap > 2.5 * max(height, 10):  # a new photo band: the sub-head above does not reach it
                ctx = {**ctx, "subhead": None}
            if op and is_upper(op.group(4)):
                number = operation_number(*op.group(1, 2, 3))
                ctx = {**ctx, "operation": number, "operation_title": op.group(4), "subhead": None}
                current = {"kind": "heading", "lines": [line], "fields": {"operation": number, "title": op.group(4)},
                           "context": dict(ctx)}
                blocks.append(current)
            elif current and current["kind"] == "heading" and is_upper(text) and not new_para and ":" not in text:
                current["lines"].append(line)  # the title goes on over several lines
                current["fields"]["title"] += " " + text
                current["context"]["operation_title"] = ctx["operation_title"] = current["fields"]["title"]
            elif layout.SYMPTOM_RE.search(text) and is_upper(text):
                ctx = {**ctx, "symptom": text, "subhead": None}
                current = {"kind": "heading", "lines": [line], "fields": {"operation": None, "title": text},
                           "context": dict(ctx)}
                blocks.append(current)
            elif is_upper(text) and len(text.split()) <= 6 and not re.search(r"\d", text) and (
                    current is None or new_para) and len(text) > 3:
                current = {"kind": "heading", "lines": [line], "fields": {"operation": None, "title": text},
                           "context": dict(ctx)}  # a running title (`TROUBLESHOOTING`)
                blocks.append(current)
            elif FOOTNOTE_RE.match(text):
                current = {"kind": "note", "lines": [line], "fields": {"label": "Footnote"}, "context": dict(ctx)}
                blocks.append(current)
                current = None
            elif sub or (text.endswith(":") and len(text.split()) <= 6 and text[:1].isupper()
                         and (new_para or current is None or current["kind"] == "heading"
                              or not current["lines"] or current["lines"][-1]["text"].rstrip().endswith(SENTENCE_END))):
                label = sub.group(1) if sub else text.rstrip(":").strip()
                rest = (sub.group(2) or "").strip() if sub else ""
                if label.lower() in NOTE_LABELS:
                    current = {"kind": "note", "lines": [], "fields": {"label": NOTE_LABELS[label.lower()]},
                               "context": dict(ctx)}
                    blocks.append(current)
                    if rest:
                        current["lines"].append({**line, "text": rest})
                else:
                    ctx = {**ctx, "subhead": label[:1].upper() + label[1:]}
                    current = None
                    if rest:
                        current = {"kind": "body", "lines": [{**line, "text": rest}], "context": dict(ctx)}
                        blocks.append(current)
            elif current and current["kind"] in ("body", "note") and (not new_para or (
                    current["kind"] == "body" and STEP_NUMBER_RE.match(clean_text(current["lines"][0]["text"]))
                    and gap < 2.5 * max(height, 10))):
                # a numbered list goes on across the extra space between its items
                current["lines"].append(line)
            elif current and current["kind"] == "note" and not current["lines"]:
                current["lines"].append(line)  # the line under `Note:` belongs to it
            else:
                current = {"kind": "body", "lines": [line], "context": dict(ctx)}
                blocks.append(current)
    out = []
    for b in blocks:
        if not b["lines"]:
            continue
        if b["kind"] == "heading" and b["fields"]["operation"]:
            b["text"] = "\n".join([OP_RE.sub(lambda m: f"{b['fields']['operation']} {m.group(4)}", clean_text(b["lines"][0]["text"]))]
                                  + [clean_text(l["text"]) for l in b["lines"][1:]])
        if b["kind"] == "body":
            b = {**body_block(b["lines"]), "context": b["context"]}
        elif b["kind"] == "note":
            units, _ = body_units(b["lines"])
            b["fields"]["text"] = " ".join(units)
        out.append(b)
    # A figure number belongs to the photo beside the text: give it to the nearest block in height.
    for number, box in figures:
        if out:
            near = min(out, key=lambda b: abs(block_bbox(b)[3] - box[3]))
            near.setdefault("figures", []).append(re.sub(r"^(\d\d)\s?(\d\d)\s?(\d{3})$", r"\1 \2 \3", number))
    return out


# ---------------------------------------------------------------------------------------------
# Test flow charts: boxes side by side, a `no` arrow to the box on the right, a `yes` arrow down to
# the box below. Each box becomes a block of its own, with the box each branch leads to, so that a
# reading keeps its own box's meter and condition and the chart can be told in order.

CHART_HEADING_RE = re.compile(r"^(?:(?P<section>\d{1,2}\.\)?)|(?P<chart>[a-z]\)))\s+(?P<title>[A-Z].{2,80})$")


def flowchart_blocks(lines: list[dict], width: int, height: int) -> list[dict]:
    """Headings (`5.) Checking Periphery for Warm-up Speed`, `a) Coolant Temperature Switch`) and
    one `paragraph` block a box, whose fields say its chart, its number in reading order and where
    its `yes` and `no` lead (`None`: the page draws no such arrow)."""
    pieces, arrows, markers, headings, notes = [], [], [], [], []
    for line in lines:
        if line["bbox"][1] < 0.08 * height and re.fullmatch(r"\w{1,3}\s?[-–—]\s?\d{2,4}", line["text"].strip()):
            continue      # the page number (`13 — 804`, its dash too long for the header's pattern)
        words = sorted(line.get("words") or [], key=lambda w: w["bbox"][0])
        h = max(line["bbox"][3] - line["bbox"][1], 8)
        y = (line["bbox"][1] + line["bbox"][3]) / 2
        if re.fullmatch(r"(?i)yes|no", line["text"].strip()):
            markers.append((line["bbox"][0], y, line["text"].strip().lower()))
            continue
        start = 0
        for first, last, branch in layout.arrow_spans(words):
            arrows.append((words[first]["bbox"][0], words[last]["bbox"][2], y, h, branch))
            if words[start:first]:
                pieces.append(layout.make_line(words[start:first]))
            start = last + 1
        if words[start:]:
            pieces.append(layout.make_line(words[start:]))
        elif not words:
            pieces.append(line)
    for piece in pieces:
        text = clean_text(piece["text"])
        if (CHART_HEADING_RE.match(text) or is_upper(text) and len(text.split()) >= 2) and not text.endswith(("?", ".")):
            headings.append(piece)     # `TEST LIST FOR AUTOMATIC REEL SEAT BELTS` names the test too
        elif FOOTNOTE_RE.match(text) or re.match(r"^\W\s*See\s+Specifications", text, re.I):
            notes.append(piece)       # `* See Specifications`, its star often read as a quote
    boxes_of = [p for p in pieces if not any(p is x for x in headings + notes)]
    if not boxes_of:
        return []
    # Columns: the left edges of the pieces, a gap of 3 % of the page apart.
    tol = max(20, 0.03 * width)
    lefts = sorted(p["bbox"][0] for p in boxes_of)
    cols = [lefts[0]]
    for x in lefts[1:]:
        if x - cols[-1] > tol:
            cols.append(x)
    col_of = lambda x: min(range(len(cols)), key=lambda i: abs(cols[i] - x))
    line_height = median(p["bbox"][3] - p["bbox"][1] for p in boxes_of)
    cuts = [(col_of(x), y) for x, y, _ in markers] + [(None, (h["bbox"][1] + h["bbox"][3]) / 2) for h in headings]
    boxes: list[dict] = []
    for c in range(len(cols)):
        current = None
        for p in sorted((p for p in boxes_of if col_of(p["bbox"][0]) == c), key=lambda p: p["bbox"][1]):
            cut = current and any((cc is None or cc == c) and current["bottom"] <= y <= p["bbox"][1] for cc, y in cuts)
            if current is None or cut or p["bbox"][1] - current["bottom"] > 1.2 * line_height:
                current = {"col": c, "lines": [], "top": p["bbox"][1], "bottom": p["bbox"][3]}
                boxes.append(current)
            current["lines"].append(p)
            current["bottom"] = max(current["bottom"], p["bbox"][3])
    # Reading order: rows of boxes top to bottom (a box's top within two lines of the row's first),
    # left to right in a row.
    boxes.sort(key=lambda b: b["top"])
    rows: list[list[dict]] = []
    for b in boxes:
        if rows and b["top"] - rows[-1][0]["top"] <= 2 * line_height:
            rows[-1].append(b)
        else:
            rows.append([b])
    for row in rows:
        for b in row:
            b["row_top"] = row[0]["top"]          # its row's order among the headings
    boxes = [b for row in rows for b in sorted(row, key=lambda b: b["col"])]
    for n, b in enumerate(boxes, start=1):
        b.update(n=n, yes=None, no=None)

    def box_at(col: int, y: float, slack: float):
        return next((b for b in boxes if b["col"] == col and b["top"] - slack <= y <= b["bottom"] + slack), None)

    for x0, x1, y, h, branch in arrows:      # a branch arrow: from the box it starts at to the one it points to
        src = next((b for c in reversed(range(len(cols))) if cols[c] < x0 for b in [box_at(c, y, h / 2)] if b), None)
        dst = next((b for c in range(len(cols)) if cols[c] >= x1 - tol for b in [box_at(c, y, h)] if b), None)
        if src and dst:
            src[branch] = dst["n"]
    for x, y, branch in markers:             # `yes` under a box: to the next box down the same column
        c = col_of(x)
        above = [b for b in boxes if b["col"] == c and b["bottom"] <= y]
        below = [b for b in boxes if b["col"] == c and b["top"] >= y]
        if above and below:
            max(above, key=lambda b: b["bottom"])[branch] = min(below, key=lambda b: b["top"])["n"]
    # Charts: a box belongs to the last heading above it; `5.)` names the test, `a)` the part.
    out, section, chart_title, chart = [], None, None, 0
    events = sorted([(h["bbox"][1], 0, 0, h) for h in headings] + [(b["row_top"], 1, b["col"], b) for b in boxes],
                    key=lambda e: e[:3])
    for _, is_box, _, item in events:
        if not is_box:
            m = CHART_HEADING_RE.match(clean_text(item["text"]))
            if not m or m["section"]:
                section, chart_title = (m["title"] if m else clean_text(item["text"]).capitalize()).strip(), None
            else:
                chart_title = clean_text(item["text"])
            chart += 1
            out.append({"kind": "heading", "lines": [item], "fields": {"operation": None, "title": clean_text(item["text"])},
                        "context": {"operation": None, "operation_title": section, "subhead": chart_title, "symptom": None}})
            continue
        out.append({"kind": "paragraph", "lines": item["lines"],
                    "fields": {"chart": chart, "box": item["n"], "yes": item["yes"], "no": item["no"]},
                    "context": {"operation": None, "operation_title": section, "subhead": chart_title, "symptom": None}})
    out += [{"kind": "note", "lines": [n], "fields": {"label": "Footnote"},
             "context": {"operation": None, "operation_title": None, "subhead": None, "symptom": None}} for n in notes]
    return out


def block_bbox(block: dict) -> list[int]:
    boxes = [l["bbox"] for l in block["lines"]]
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]


# ---------------------------------------------------------------------------------------------
# Spec tables: the ruled grid, cell for cell. A row with text in the first cell only and a repair
# group number (`11 12 Cylinder Head and Cover`) starts a new table block with that title.


def table_blocks(scan: dict, grid_index: int, grid: dict) -> list[dict]:
    # Cells are clean once the rules are erased: keep unsure words unless they are not word-like.
    words = [w for w in scan["words"] if w["conf"] >= layout.MIN_WORD_CONF or layout.word_like(w["text"])]
    rows = [[clean_cell(c) for c in row] for row in layout.grid_cells(grid, words)]
    ink = scan.get("cell_ink", [])
    header = [" ".join(c.replace(" - ", " ").split()) if i == 0 else c for i, c in enumerate(rows[0])]
    unit_col = next((i for i, h in enumerate(header) if h.lower() == "unit"), None)
    columns = [""] + header[1:]  # the first header cell is the page title (`11 - 4 Engine`)
    # Numbers whose readings disagree (prep/ocr.py), by grid cell, found as grid_cells finds them.
    unsure: dict[tuple[int, int], list] = {}
    for w in words:
        if w.get("unsure"):
            cx, cy = (w["bbox"][0] + w["bbox"][2]) / 2, (w["bbox"][1] + w["bbox"][3]) / 2
            r = next((i for i, (a, b) in enumerate(grid["rows"]) if a <= cy < b), None)
            c = next((i for i, (a, b) in enumerate(grid["cols"]) if a <= cx < b), None)
            unsure.setdefault((r, c), []).append([w["text"], [w["text"], w["read2"], w.get("read3")]])
    blocks, current = [], None
    for r, row in enumerate(rows[1:], start=1):
        if unit_col is not None and not row[unit_col] and grid_index < len(ink) and 0 < ink[grid_index][r][unit_col] < 40:
            row[unit_col] = "°"  # a mark too small for tesseract, in the Unit column: degrees
        if not any(row):
            continue
        group = re.match(r"^(\d{2})\s?(\d{2})\s+(.+)$", row[0])
        if group and not any(row[1:]):
            current = {"kind": "table", "rows_y": [grid["rows"][r]],
                       "fields": {"title": f"{group.group(1)} {group.group(2)} {group.group(3)}",
                                  "page_title": header[0], "columns": columns, "rows": []}}
            blocks.append(current)
            continue
        if current is None:
            current = {"kind": "table", "rows_y": [],
                       "fields": {"title": None, "page_title": header[0], "columns": columns, "rows": []}}
            blocks.append(current)
        current["fields"]["rows"].append(row)
        current["rows_y"].append(grid["rows"][r])
        for c in range(len(row)):  # [row index into fields.rows, column, text, readings]
            for text, readings in unsure.get((r, c), []):
                current["fields"].setdefault("unsure_cells", []).append([len(current["fields"]["rows"]) - 1, c, text, readings])
    for b in blocks:
        b["bbox"] = [grid["cols"][0][0], b["rows_y"][0][0], grid["cols"][-1][1], b["rows_y"][-1][1]]
        f = b["fields"]
        b["text"] = "\n".join([f["title"] or f["page_title"], " | ".join(f["columns"][1:])]
                              + [" | ".join(c.replace("\n", " / ") for c in row) for row in f["rows"]])
        cells = [w for w in words if layout.inside(w["bbox"], b["bbox"])]
        b["conf"] = round(sum(w["conf"] for w in cells) / len(cells), 1) if cells else None
    return [b for b in blocks if b["fields"]["rows"]]


def clean_cell(text: str) -> str:
    text = "\n".join(clean_text(t) for t in text.split("\n"))
    text = text.lstrip("'‘`")  # stray speck before a cell's first letter
    return re.sub(r"^(\d{2})(\d{2})(\s)", r"\1 \2\3", text)  # `1112 Cylinder` -> `11 12 Cylinder`


# ---------------------------------------------------------------------------------------------
# Wiring pages: one block per page; its fields come from regexes over the words, and fuse ratings
# from geometry (the rating is printed under the fuse name).

COMPONENT_NOUNS = {"RELAY", "SWITCH", "FAN", "HORN", "MOTOR", "SENSOR", "LIGHT", "LIGHTS", "UNIT", "BREAKER",
                   "RESISTOR", "TIMER", "INDICATOR", "CLUSTER", "COMPUTER", "BOX", "LAMP", "VALVE", "PUMP",
                   "HEATER", "MODULE", "ASSEMBLY", "BATTERY", "ALTERNATOR", "STARTER", "RADIO", "ANTENNA"}
NOT_COMPONENT = {"FUSE", "DETAILS", "PAGE", "FROM", "CONTINUED", "SEE", "NOT", "USED", "HOT", "DISTRIBUTION"}


def wiring_text(text: str) -> str:
    """Label fixes that hold on wiring diagrams: `c302` -> `C302`, `-5 GN/WT` -> `.5 GN/WT`."""
    text = re.sub(r"\b([csg])(\d{3})\b", lambda m: m.group(1).upper() + m.group(2), clean_text(text))
    return re.sub(r"(?<!\S)-(5|75)(?=\s?[A-Z]{2})", r".\1", text)


def wiring_block(lines: list[dict], words: list[dict], page_label: str | None) -> dict:
    """`words` are all the page's words: ids like `C114` are tiny and often scored low, so they are
    looked for there, not only in the lines that passed the garbage filter."""
    lines = sorted(lines, key=lambda l: (l["bbox"][1], l["bbox"][0]))
    texts = [wiring_text(l["text"]) for l in lines]
    line_words = [{**w, "text": wiring_text(w["text"])} for l in lines for w in l["words"]]
    fuses = {}
    for t in texts:  # `FUSE 17 (7.5 AMP)` written on one line
        for m in re.finditer(r"FUSE\s+(\d{1,2})\s*\(?\s*(\d{1,2}(?:\.\d)?)\s*AMP", t):
            fuses.setdefault(m.group(1), f"{m.group(2)} A")
    for i, w in enumerate(line_words):
        if w["text"] == "FUSE" and i + 1 < len(line_words) and re.fullmatch(r"\d{1,2}", line_words[i + 1]["text"]):
            fuses.setdefault(line_words[i + 1]["text"], fuse_rating_below(w, line_words))
    wires = []
    for t in texts:
        for m in WIRE_RE.finditer(t):
            if t[m.end():m.end() + 1] == "/":
                continue   # `GN/RO`, `GN/AWT`: the second colour is unreadable, and `GN` alone is another wire
            size = {"75": ".75", "5": ".5"}.get(m.group(1), m.group(1))  # the leading dot is one pixel
            wires.append({"size": size, "colour": m.group(2).replace(" ", "")})
    all_text = "\n".join(texts)
    ids = sorted(set(CONNECTOR_RE.findall(all_text + "\n" + " ".join(wiring_text(w["text"]) for w in words))))
    refs = sorted({m for m in re.findall(r"\b(\d{4}-\d{1,2})\b", all_text) if m != page_label})
    return {
        "kind": "wiring",
        "lines": lines,
        "fields": {
            "fuses": [{"id": k, "rating": v} for k, v in sorted(fuses.items(), key=lambda kv: int(kv[0]))],
            "wires": [dict(t) for t in dict.fromkeys(tuple(w.items()) for w in wires)],
            "connectors": [i for i in ids if i.startswith("C")],
            "splices": [i for i in ids if i.startswith("S")],
            "grounds": [i for i in ids if i.startswith("G")],
            "components": component_labels(lines),
            "page_refs": refs,
        },
    }


def fuse_rating_below(fuse: dict, words: list[dict]) -> str | None:
    h = fuse["bbox"][3] - fuse["bbox"][1]
    for i, w in enumerate(words):
        if w["text"].rstrip(".:") == "AMP" and i > 0:
            num = words[i - 1]
            dy = num["bbox"][1] - fuse["bbox"][3]
            if -0.3 * h < dy < 2.5 * h and abs(num["bbox"][0] - fuse["bbox"][0]) < 4 * h:
                value = num["text"].strip(".:")
                if re.fullmatch(r"\d{1,2}(\.\d)?", value):
                    return f"{value} A"
    return None


def component_labels(lines: list[dict]) -> list[str]:
    """Component names are printed in capitals, often over several stacked lines (`LEFT / FRONT
    SEAT / HEATER / SWITCH`): stack lines that share a left edge, keep stacks that name a part."""
    caps = [l for l in lines if re.fullmatch(r"[A-Z][A-Z ,/\-]*", clean_text(l["text"]).strip("()"))]
    stacks: list[list[dict]] = []
    for l in sorted(caps, key=lambda l: (l["bbox"][1], l["bbox"][0])):
        h = l["bbox"][3] - l["bbox"][1]
        for s in stacks:
            last = s[-1]
            if abs(last["bbox"][0] - l["bbox"][0]) < 1.5 * h and 0 <= l["bbox"][1] - last["bbox"][3] < 1.2 * h:
                s.append(l)
                break
        else:
            stacks.append([l])
    names = []
    for s in stacks:
        name = " ".join(clean_text(l["text"]) for l in s)
        words = set(name.split())
        if words & COMPONENT_NOUNS and not words & NOT_COMPONENT and name not in names:
            names.append(name)
    return names


# ---------------------------------------------------------------------------------------------
# Index (contents) pages: one block, entries as fields.

INDEX_LINE_RE = re.compile(r"^(?:(\d{2}\s?\d{2}\s?\d{3}|\d{2}\s?\d{2}\s?\.+|\d{3})\s+)?(.+?)[\s.…]*\s(\d{2}\s?[-–]\s?\d{1,3}\s?[a-z]?)$")


def is_leader(token: str) -> bool:
    """Dot leaders OCR to `......`, `:..ssseseeeee` or `ccsssseseseeeeeeseees`."""
    if re.search(r"[.:…]{3,}", token):
        return True
    letters = token.lower()
    return len(token) >= 8 and token.isalpha() and sum(letters.count(c) for c in "sec") >= 0.6 * len(token)


def index_block(lines: list[dict], words: list[dict]) -> dict:
    """Entries are rebuilt from all words, row by row: the dot leaders between title and page
    make tesseract split rows and score whole lines low, so the line filter would lose them."""
    rows: list[list[dict]] = []
    for w in sorted(words, key=lambda w: w["bbox"][3]):
        h = w["bbox"][3] - w["bbox"][1]
        if rows and abs(rows[-1][-1]["bbox"][3] - w["bbox"][3]) < 0.5 * max(h, 8):
            rows[-1].append(w)
        else:
            rows.append([w])
    entries = []
    for row in rows:
        tokens = [w["text"] for w in sorted(row, key=lambda w: w["bbox"][0])
                  if not is_leader(w["text"]) and (w["conf"] >= 20 or re.fullmatch(r"[A-Za-z]{3,}[.,:]?|[-–]", w["text"]))]
        m = INDEX_LINE_RE.match(clean_text(" ".join(tokens)))
        if m:
            op = re.sub(r"^(\d\d)\s?(\d\d)\s?(\d{3})$", r"\1 \2 \3", m.group(1)) if m.group(1) else None
            entries.append({"operation": op, "title": m.group(2).strip(" ."), "page": re.sub(r"\s", "", m.group(3))})
    return {"kind": "index", "lines": lines, "fields": {"entries": entries}}


def paragraph_blocks(lines: list[dict]) -> list[dict]:
    """Plain running text (PDF text layers, foreign pages): paragraphs split at vertical gaps."""
    blocks, prev = [], None
    for l in sorted(lines, key=lambda l: (l["bbox"][1], l["bbox"][0])):
        h = l["bbox"][3] - l["bbox"][1]
        if prev is None or l["bbox"][1] - prev["bbox"][3] > 0.9 * max(h, 8):
            blocks.append({"kind": "paragraph", "lines": [], "fields": {}})
        blocks[-1]["lines"].append(l)
        prev = l
    return blocks


# ---------------------------------------------------------------------------------------------
# One page -> its page record and blocks. Runs in a worker process.

WIRING_SETTINGS = {"psm": 11, "target_width": 3600}  # sparse labels, tiny print: all text, 2x


@dataclass
class Reading:
    """What one source type makes of a page, before labels and records."""
    built: list[dict]            # blocks: kind, lines, fields (and text for tables)
    lang: str
    kind: str                    # the page kind: repair, spec-table, wiring, index, foreign, other
    label: str | None = None     # the printed page label (`11-4`, `0670-3`)
    header: list[dict] = field(default_factory=list)   # the page header's lines
    scan: dict | None = None     # the OCR scan (words read twice), scanned pages only
    ocr_runs: int = 0
    ocr_seconds: float = 0.0


def read_page(src_dir: Path, ref: PageRef, cache_dir: Path) -> tuple[dict, list[dict], int]:
    """(page record, block records, number of tesseract runs): the page read by its source type,
    then labelled (page label, section), then each block made a record."""
    path = src_dir / ref.path
    if ref.method == "html":
        reading = read_html(path)
    elif ref.method == "pdf-text":
        reading = read_pdf_text(path, ref.page)
    else:
        reading = read_scan(path, ref.page, cache_dir, ref.path)
    label, section_id, section_name = page_labels(ref, reading)
    records = block_records(ref, reading, label, section_id, section_name)
    confs = [r["source"]["ocr_conf"] for r in records if r["source"]["ocr_conf"] is not None]
    numeric = [w for w in (reading.scan or {}).get("words", []) if "read2" in w]  # read twice (prep/ocr.py)
    page = {
        "path": ref.path, "page": ref.page, "page_label": label, "section_id": section_id,
        "section_name": section_name, "page_kind": reading.kind, "lang": reading.lang, "method": ref.method,
        "n_blocks": len(records), "ocr_conf": round(sum(confs) / len(confs), 1) if confs else None,
        "ocr_seconds": round(reading.ocr_seconds, 2), "cached": ref.method == "ocr" and reading.ocr_runs == 0,
        "numbers": {"read": len(numeric), **{k: sum(w[k] for w in numeric) for k in ("agreed", "corrected", "unsure")}},
    }
    return page, records, reading.ocr_runs


def read_html(path: Path) -> Reading:
    """An HTML spec sheet: its tables, each a block whose text is its title, header and rows."""
    built = [{"kind": "table", "fields": {**t, "title": " ".join(t["title"].split())}, "lines": []}
             for t in sources.html_tables(path)]
    for b in built:
        f = b["fields"]
        b["text"] = "\n".join([f["title"], " | ".join(f["columns"])] + [" | ".join(c.replace("\n", " / ") for c in r) for r in f["rows"]])
    return Reading(built, "en", "spec-table")


def read_pdf_text(path: Path, page: int) -> Reading:
    """A PDF page with a text layer: its lines as paragraphs (exact text, no OCR)."""
    lines = [{"text": t, "bbox": box, "conf": None, "words": []} for t, box in sources.pdf_page_text(path, page)]
    lang = layout.detect_lang(lines)
    return Reading(paragraph_blocks(lines), lang, "foreign" if lang != "en" else "other")


def read_scan(path: Path, page: int, cache_dir: Path, name: str) -> Reading:
    """A scanned page (an image, or a PDF page without text): OCR (cached), the page kind from its
    layout, a second pass where the kind needs one (wiring: finer; Italian), then the blocks of
    that kind. `name`: the page's path under the source folder, as the page kind reads it."""
    from prep import ocr

    file_hash = ocr.file_sha256(path)
    image = None
    runs, seconds = 0, 0.0

    def scan_with(settings):
        nonlocal image, runs, seconds
        key = ocr.cache_key(file_hash, page, settings)
        found, damaged = ocr.cached_scan(cache_dir, key)
        if found is not None:
            return found
        if damaged:
            where = f"{name} page {page}" if page > 1 else name
            print(f"note: {where}: its OCR cache entry {cache_dir / key}.json is damaged ({damaged}); "
                  "reading the page again", file=sys.stderr)
        if image is None:
            image = sources.render_pdf_page(path, page) if path.suffix.lower() == ".pdf" else sources.load_image(path)
        result = ocr.scan_page(image, settings)
        ocr.store_scan(cache_dir, key, result)
        runs += 1
        seconds += result["ocr_seconds"]
        return result

    scan = scan_with(ocr.OcrSettings())
    lines = layout.page_lines(scan)
    grids = layout.table_grids(scan)
    lang = layout.detect_lang(lines)
    label, header, lines = layout.split_header(lines, scan["height"])
    kind = layout.classify_page(lines, lang, bool(grids), name, label)
    # Second passes, only where the first one tells us they are needed (and cached as well).
    if kind == "wiring":
        scan = scan_with(ocr.OcrSettings(**WIRING_SETTINGS))
        label, header, lines = layout.split_header(layout.page_lines(scan), scan["height"])
    elif kind == "foreign" and lang == "it":
        scan = scan_with(ocr.OcrSettings(lang="ita"))
        label, header, lines = layout.split_header(layout.page_lines(scan), scan["height"])
    built = [b for i, g in enumerate(grids) for b in table_blocks(scan, i, g)] if kind == "spec-table" else []
    if kind == "spec-table" and not built:
        kind = "repair"  # ruled, but not a spec table (a boxed photo page): read it as text
    if kind == "spec-table":
        # Torque pages print their page in the table's header cell (`11 - 18 Engine`); the file
        # code in the corner (`AZD11-15.frb`) is the binder's, not the page a mechanic turns to.
        m = re.match(r"^(\d{2})\s?[-–]\s?(\d{1,3})\b", built[0]["fields"]["page_title"]) if built else None
        if m:
            label = f"{m.group(1)}-{m.group(2)}"
        outside = [l for l in lines if not any(layout.inside(l["bbox"], g["bbox"]) for g in grids)]
        built += [b for b in paragraph_blocks(outside) if not re.search(r"\.frb\b|^\d\d/\d\d/\d\d$", " ".join(l["text"] for l in b["lines"]))]
    elif kind == "wiring":
        built = [wiring_block(lines, scan["words"], label)]
    elif kind == "index":
        built = [index_block(lines, [w for w in scan["words"] if not any(layout.inside(w["bbox"], h["bbox"]) for h in header)])]
    elif kind == "foreign":
        built = paragraph_blocks(lines)
    elif kind == "troubleshooting" and layout.is_flowchart(lines):
        built = flowchart_blocks(lines, scan["width"], scan["height"])
    else:
        built = repair_blocks(layout.columns(lines, scan["width"]))
    return Reading(built, lang, kind, label, header, scan, runs, seconds)


def page_labels(ref: PageRef, reading: Reading) -> tuple[str | None, str | None, str | None]:
    """(page label, section id, section name): the folder's section, a torque page's header cell,
    an electrical page's header; the file name (`51-163.jpg`) where the OCR'd label is missing or
    does not belong to the section (`91-163`: a 5 read as 9)."""
    section_id, section_name = folder_section(ref.path)
    label, built, kind, header = reading.label, reading.built, reading.kind, reading.header
    if kind == "spec-table" and built and built[0]["fields"].get("page_title"):
        # a torque page files its rows under the section printed in its header (`11 - 4 Engine`)
        m = re.match(r"^(\d{2})\s?[-–]?\s?\d+\s+([A-Za-z][\w ,&/]*?)[\s\-–]*$", " ".join(built[0]["fields"]["page_title"].split()))
        if m:
            section_id, section_name = m.group(1), m.group(2)
    if section_id is None and label:  # electrical manual: `POWER DISTRIBUTION 0670-3`
        section_id = label.split("-")[0]
        title = re.sub(layout.PAGE_LABEL_RE, "", header[0]["text"]).strip() if header else ""
        section_name = title.title() or None
    m = re.match(r"^(\d{2,4})-0*(\d{1,3}[a-z]?)", Path(ref.path).stem)
    stem_label = f"{m.group(1)}-{m.group(2)}" if m else None
    if stem_label and (label is None or (section_id and kind != "spec-table" and not label.startswith(section_id + "-"))):
        label = stem_label
    return label, section_id, section_name


def block_records(ref: PageRef, reading: Reading, label: str | None, section_id: str | None,
                  section_name: str | None) -> list[dict]:
    """Each block as blocks.jsonl holds it: id, kind, text, fields, context and its source."""
    records = []
    for n, b in enumerate(reading.built, start=1):
        lines_ = b.get("lines") or []
        confs = [l["conf"] for l in lines_ if l.get("conf") is not None]
        text = b.get("text") or "\n".join(clean_text(l["text"]) for l in lines_)
        fields = b.get("fields", {})
        if b.get("figures"):
            fields = {**fields, "figures": b["figures"]}
        # OCR'd lines only: PDF text is exact. The word as the block's text writes it (`“0”` → `"0"`),
        # so that the index and the tasks find it there to mark it `(unread)`.
        unsure = [{**u, "text": clean_text(u["text"])} for l in lines_ for u in l.get("unsure", [])]
        if unsure and b["kind"] != "table":
            fields = {**fields, "unsure": unsure}
        records.append({
            "id": f"{ref.path}#p{ref.page}#b{n}",
            "kind": b["kind"],
            "text": text,
            "fields": fields,
            "context": b.get("context") or {"operation": None, "operation_title": None, "subhead": None, "symptom": None},
            "source": {
                "path": ref.path, "page": ref.page, "page_label": label,
                "section_id": section_id, "section_name": section_name,
                "bbox": b.get("bbox") or (block_bbox(b) if lines_ else None),
                "ocr_conf": b.get("conf", round(sum(confs) / len(confs), 1) if confs else None),
                "method": ref.method,
            },
            "page_kind": reading.kind,
            "lang": reading.lang,
        })
    return records


def read_page_safely(src_dir: Path, ref: PageRef, cache_dir: Path):
    """Worker entry: a page that fails becomes an error line, never a dead run."""
    try:
        return ref, *read_page(src_dir, ref, cache_dir), None
    except Exception as e:  # noqa: BLE001
        return ref, None, [], 0, f"{ref.path}{f' page {ref.page}' if ref.page > 1 else ''}: {type(e).__name__}: {e}"


# ---------------------------------------------------------------------------------------------
# The run: list, read in parallel with a progress bar, write sorted.


def start_worker(parent: int) -> None:
    """Each reading process, as it starts: it ends when prep ends, however prep ends, and it leaves
    Ctrl-C to prep. A worker waits for pages on a pipe whose writing end it holds itself (fork), so
    it never sees prep die: a SIGKILLed prep left both workers reading (or waiting) forever."""
    # The terminal sends Ctrl-C to the whole process group: prep stops its workers itself, where
    # they would each print a KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        # The kernel kills the worker the moment its parent goes, even while it is deep in
        # onnxruntime or numpy, where a Python watcher thread waits for the GIL. The signal follows
        # the thread that forked it: ProcessPoolExecutor forks all workers at once from the thread
        # that submits the first page, which here waits for the results until the pool is done.
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # prep died before the line above: no signal will come
            os._exit(1)
        return
    import threading

    def watch():  # elsewhere (macOS): an orphan is handed to another parent; look once a second
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def stop_workers(pool) -> None:
    """Ctrl-C or an error: the pages not yet started are dropped and the workers ended now, not
    after reading every page queued (what leaving the `with ProcessPoolExecutor` block did)."""
    workers = list((getattr(pool, "_processes", None) or {}).values())  # the executor has no public handle on them
    pool.shutdown(wait=False, cancel_futures=True)
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.join(timeout=5)


class Stopped(Exception):
    """Ctrl-C while the pages were read: what was read is in the OCR cache, nothing was written to
    --out. The CLI says so in one line and exits 130, as a shell does for Ctrl-C."""

    code = 130


@dataclass
class BlocksResult:
    pages: int = 0
    blocks: int = 0
    ocr_runs: int = 0  # tesseract calls made in this run; 0 on a fully cached re-run
    cached_pages: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)


def build_blocks(src_dir: Path, out_dir: Path, jobs: int = 1, cache_dir: Path = DEFAULT_CACHE,
                 progress: bool = True) -> BlocksResult:
    from collections import Counter
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    t0 = time.time()
    src_dir, out_dir, cache_dir = Path(src_dir), Path(out_dir), Path(cache_dir)
    refs, errors = list_pages(src_dir)
    # Before any OCR: a folder that cannot take the files would otherwise throw away the whole
    # run's reading at its very end (the probe's full disk failed after every page was read).
    ocr_pages = sum(r.method == "ocr" for r in refs)
    made = check_output({out_dir: ("--out", OUT_BYTES + PAGE_OUT_BYTES * len(refs)),
                         cache_dir: ("--cache", OUT_BYTES + PAGE_CACHE_BYTES * ocr_pages)})
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    result = BlocksResult(errors=list(errors))
    pages, records = [], []

    columns = [TextColumn("pages"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeRemainingColumn()]
    try:
        with Progress(*columns, disable=not progress, transient=False) as bar:
            task = bar.add_task("pages", total=len(refs), rate="")

            def collect(ref, page, recs, runs, error):
                if error:
                    print(f"error: {error}", file=sys.stderr)
                    result.errors.append(error)
                else:
                    pages.append(page)
                    records.extend(recs)
                    result.ocr_runs += runs
                    result.cached_pages += page["cached"]
                done = bar.tasks[0].completed + 1
                bar.update(task, advance=1, rate=f"{done / max(time.time() - t0, 1e-6):.2f} pages/s")

            if jobs <= 1:
                for ref in refs:
                    collect(*read_page_safely(src_dir, ref, cache_dir))
            else:
                # Biggest pages first (bytes of the file per page): the one read last keeps a worker busy
                # while the others idle, and a big scan takes longest (05-06, read last in path order,
                # took 8 s, as every number on it is read twice and it is read again in Italian).
                pages_in = Counter(r.path for r in refs)
                by_size = sorted(refs, key=lambda r: -(src_dir / r.path).stat().st_size / pages_in[r.path])
                pool = ProcessPoolExecutor(max_workers=jobs, initializer=start_worker, initargs=(os.getpid(),))
                try:
                    futures = [pool.submit(read_page_safely, src_dir, ref, cache_dir) for ref in by_size]
                    for fut in as_completed(futures):
                        collect(*fut.result())
                except BaseException:
                    stop_workers(pool)
                    raise
                pool.shutdown()
    except KeyboardInterrupt:
        remove_empty(made)
        read = len(pages) + len(result.errors) - len(errors)
        raise Stopped(f"stopped (Ctrl-C) after {read} of {len(refs)} pages; nothing was written to {out_dir}; "
                      f"the OCR of the pages read is kept in {cache_dir}, so a re-run reads only the others") from None

    order = {(r.path, r.page): i for i, r in enumerate(refs)}
    pages.sort(key=lambda p: order[(p["path"], p["page"])])
    records.sort(key=lambda r: (order[(r["source"]["path"], r["source"]["page"])], int(r["id"].rsplit("#b", 1)[1])))
    texts = {"blocks.jsonl": jsonl_text(records), "pages.jsonl": jsonl_text(pages),
             "errors.txt": "".join(f"{e}\n" for e in result.errors)}
    try:
        from files import write_together  # temp names of their own, then all renamed

        write_together(out_dir, texts)
    except OSError as err:
        need = sum(len(t.encode("utf-8", "backslashreplace")) for t in texts.values())
        raise OutputError(f"{out_dir}: writing the blocks failed ({err.strerror or err}); nothing was written "
                          f"there: free at least {size_text(need)} on it (or choose another --out) and run "
                          f"again; what was read is kept in the OCR cache {cache_dir}, so the re-run reads no page again",
                          code=1) from None
    result.pages, result.blocks = len(pages), len(records)
    for p in pages:
        result.kinds[p["page_kind"]] = result.kinds.get(p["page_kind"], 0) + 1
    result.seconds = round(time.time() - t0, 2)
    return result


# ---------------------------------------------------------------------------------------------
# Writing: checked before the work, all files or none after it.

# What a page costs on disk, measured on the sample manual and taken ~10x larger for dense scans:
# 2.7 KB of blocks and page records per page, 15 KB of OCR cache per scanned page.
OUT_BYTES = 1 << 20
PAGE_OUT_BYTES = 32 << 10
PAGE_CACHE_BYTES = 128 << 10


class OutputError(Exception):
    """An output folder that cannot take the files, worded for the user; the CLI exits with `code`
    (2: fix the folder and run again; 1: a write failed during the run)."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


def check_output(needs: dict[Path, tuple[str, int]]) -> list[Path]:
    """Each folder can be created and written, and its filesystem has the bytes asked of it
    (folders on one filesystem add up). `needs` maps folder -> (the option that names it, bytes).
    On a refusal the folders this check made are removed again: nothing half-made stays. Returns
    the folders it made, for the caller to remove if its run ends with nothing written there."""
    import shutil
    import tempfile

    made: list[Path] = []

    def refuse(message: str):
        remove_empty(made)
        return OutputError(message)

    on_device: dict[int, list] = {}
    for folder, (option, need) in needs.items():
        missing = [p for p in [folder, *folder.parents] if not p.exists()]
        try:
            folder.mkdir(parents=True, exist_ok=True)
            made += missing
            # Root writes through any chmod, and a read-only mount shows only on a write: try one.
            fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-check-")
            os.close(fd)
            os.unlink(probe)
        except OSError as err:
            raise refuse(f"{folder}: cannot write there ({err.strerror or err}); choose another {option}") from None
        on_device.setdefault(folder.stat().st_dev, []).append((folder, option, need))
    for entries in on_device.values():
        folder, option, _ = entries[0]
        need = sum(e[2] for e in entries)
        free = shutil.disk_usage(folder).free
        if free < need:
            raise refuse(f"{folder}: {size_text(free)} free, prep needs about {size_text(need)} there; "
                         f"free {size_text(need - free)} or choose another {option}")
    return made


def remove_empty(folders: list[Path]) -> None:
    """The folders a run made (check_output's answer), removed again where the run wrote nothing
    into them: a run that stopped or was refused leaves no empty folder behind."""
    for p in sorted(folders, key=lambda p: len(p.parts), reverse=True):  # a folder that holds something stays
        try:
            p.rmdir()
        except OSError:
            pass


def size_text(n: int) -> str:
    return f"{n / 2**10:.0f} KiB" if n < 2**20 else f"{n / 2**20:.1f} MiB" if n < 2**30 else f"{n / 2**30:.1f} GiB"


def jsonl_text(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
