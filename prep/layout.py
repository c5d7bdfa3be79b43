"""OCR words -> lines in reading order, table grids, and what kind of page this is.

Order of work: words -> lines (photo words and low-confidence garbage dropped) -> page header
(label like `34-15`) -> page language and kind -> columns in reading order, or a table grid.

Everything here works on the cached scan (word boxes, photo rectangles, ruling lines), never on the
image, so a cached re-run is pure Python.
"""

from __future__ import annotations

import re
from statistics import mean, median

# Tesseract's confidence alone is a poor judge on these scans: real words in a clean line can score
# 0 (`line3` on 34-15) and drawing residue can score 90 (`A`). So a line is kept when at least a
# third of its tokens are word-like and read with GOOD_CONF, and inside a kept line a token is
# dropped only when it is both unsure and not word-like (`|`, `—`, `\\`).
GOOD_CONF = 60
MIN_WORD_CONF = 30


def word_like(text: str) -> bool:
    return sum(c.isalnum() for c in text) >= max(1, 0.5 * len(text))


WIRE_COLOURS = "BK|BR|RD|OR|YL|GN|BU|VI|GY|WT|PK|LTGN|LT GN|DKGN"
WIRE_RE = re.compile(rf"(?<![\w.])(\.5|\.75|0\.5|0\.75|75|1|1\.5|2\.5|4|6|10|16|25|35)\s?((?:{WIRE_COLOURS})(?:/(?:{WIRE_COLOURS}))?)\b")
CONNECTOR_RE = re.compile(r"\b[CSG]\d{3}\b")
# A page label stands alone: `34-15`, `0670-3`; never inside a file code (`AZD11-15.frb`) or a date.
PAGE_LABEL_RE = re.compile(r"(?<![\w.])(\d{2,4})\s?[-–]\s?(\d{1,3}[a-z]?)(?![\d/]|\.[A-Za-z])")
INDEX_ENTRY_RE = re.compile(r"(\d{2})\s?[-–]\s?(\d{1,3}[a-z]?)\s*$")
SYMPTOM_RE = re.compile(r"\b(INOPERATIVE|DOES NOT WORK|NOT WORKING|FAILS TO|ALWAYS ON|STAYS ON)\b")

STOPWORDS = {
    "en": {"the", "and", "of", "to", "with", "on", "is", "for", "at", "from", "not", "be", "or", "by", "check"},
    "it": {"di", "della", "il", "la", "e", "del", "con", "per", "dei", "alla", "delle", "sono", "nel", "una",
           "da", "che", "lo", "dalla", "sul", "nei", "va", "minore", "maggiore"},
    "de": {"der", "die", "das", "und", "mit", "von", "für", "ist", "nicht", "den", "dem", "auf", "bei", "ein"},
}


# ---------------------------------------------------------------------------------------------
# Words -> lines


def inside(box, rect, margin=0) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return rect[0] - margin <= cx <= rect[2] + margin and rect[1] - margin <= cy <= rect[3] + margin


def make_line(words: list[dict]) -> dict:
    words = sorted(words, key=lambda w: w["bbox"][0])
    return {
        "text": " ".join(w["text"] for w in words),
        "bbox": [min(w["bbox"][0] for w in words), min(w["bbox"][1] for w in words),
                 max(w["bbox"][2] for w in words), max(w["bbox"][3] for w in words)],
        "conf": round(mean(w["conf"] for w in words), 1),
        "words": words,
        # numbers whose readings disagree (prep/ocr.py): [page tesseract, rapidocr, crop tesseract]
        "unsure": [{"text": w["text"], "readings": [w["text"], w["read2"], w.get("read3")]}
                   for w in words if w.get("unsure")],
    }


def page_lines(scan: dict, split_gap: float = 4.0) -> list[dict]:
    """Tesseract's lines, split where a gap is wider than `split_gap` line heights (two columns or
    two table cells read as one line), without words inside photos and without garbage."""
    by_line: dict[tuple, list[dict]] = {}
    for w in scan["words"]:
        if not any(inside(w["bbox"], r, margin=8) for r in scan["photos"]):  # edge specks too
            by_line.setdefault(tuple(w["line"]), []).append(w)
    lines = []
    for words in by_line.values():
        words.sort(key=lambda w: w["bbox"][0])
        height = median(w["bbox"][3] - w["bbox"][1] for w in words)
        pieces, current = [], [words[0]]
        for prev, w in zip(words, words[1:]):
            if w["bbox"][0] - prev["bbox"][2] > split_gap * max(height, 8):
                pieces.append(current)
                current = []
            current.append(w)
        pieces.append(current)
        for piece in pieces:
            good = sum(w["conf"] >= GOOD_CONF and word_like(w["text"]) for w in piece)
            kept = [w for w in piece if w["conf"] >= MIN_WORD_CONF or word_like(w["text"])]
            text = " ".join(w["text"] for w in kept)
            step_number = re.fullmatch(r"\d{1,2}[.)]", text)  # tiny, often unsure; attached below
            if (good >= len(piece) / 3 or step_number) and re.search(r"[A-Za-z]{3}|\d", text):
                lines.append(make_line(kept))
    return attach_step_numbers(sorted(lines, key=lambda l: (l["bbox"][1], l["bbox"][0])))


def attach_step_numbers(lines: list[dict]) -> list[dict]:
    """A step number set apart in the margin (`3.`) comes out as a line of its own: put it back in
    front of the text on its row."""
    out = []
    for l in lines:
        if re.fullmatch(r"\d{1,2}[.)]", l["text"]):
            h = l["bbox"][3] - l["bbox"][1]
            row = [m for m in lines if m is not l and abs(m["bbox"][1] - l["bbox"][1]) < 0.7 * max(h, 8)
                   and 0 <= m["bbox"][0] - l["bbox"][2] < 6 * max(h, 8)]
            if row:
                target = min(row, key=lambda m: m["bbox"][0])
                target.update(make_line(l["words"] + target["words"]))
                continue
        out.append(l)
    return out


# ---------------------------------------------------------------------------------------------
# Page header, language, kind


# ---------------------------------------------------------------------------------------------
# Flow charts (test pages: `Connect voltmeter ... ? —— no ——» Replace sensor.`, a `yes` under a box).
# OCR reads one line across the boxes that sit side by side; the branch arrow between them is its
# word `no` (or `yes`) set between dashes and an arrow head, which tesseract reads as `—__`, `__»`,
# `——+».`, `NO»`, or not at all (then the word stands alone in a wide gap).

ARROW_PART = re.compile(r"^[-—–_~+»>→.,']+$")
BRANCH_WORD = re.compile(r"^(?i:no|yes)[-—–_~+»>→.,']*$")


def arrow_spans(words: list[dict], strong: bool = False) -> list[tuple[int, int, str]]:
    """(first word, last word, branch) of each branch arrow in a line's words (sorted by x);
    `strong`: only arrows with a dash or a head read beside the word."""
    spans, i = [], 0
    h = max(median(w["bbox"][3] - w["bbox"][1] for w in words), 8) if words else 8   # the text's, not the arrow's
    while i < len(words):
        w = words[i]
        if BRANCH_WORD.match(w["text"]):
            before = words[i - 1] if i else None
            after = words[i + 1] if i + 1 < len(words) else None
            dashed_before = before is not None and ARROW_PART.match(before["text"])
            dashed_after = after is not None and ARROW_PART.match(after["text"])
            headed = re.search(r"[»>→+]", w["text"]) is not None
            alone = (before is None or w["bbox"][0] - before["bbox"][2] > 2 * h) and \
                    (after is None or after["bbox"][0] - w["bbox"][2] > 2 * h)
            if dashed_before or dashed_after or headed or (alone and after is not None and not strong):
                first = i - 1 if dashed_before else i
                last = i + 1 if dashed_after else i
                spans.append((first, last, re.match(r"(?i)no|yes", w["text"])[0].lower()))
                i = last + 1
                continue
        i += 1
    return spans


def is_flowchart(lines: list[dict]) -> bool:
    """Branch arrows read with their dashes or head (`—__ no __»`), two with a `yes` (or `no`) alone
    under a box or three without (tesseract may miss the small `yes`): a test flow chart. Running
    text says `no` between words, never between dashes, nor alone on a line."""
    arrows = sum(len(arrow_spans(sorted(l["words"], key=lambda w: w["bbox"][0]), strong=True))
                 for l in lines if l.get("words"))
    alone = sum(bool(re.fullmatch(r"(?i)yes|no", l["text"].strip())) for l in lines)
    return arrows >= 3 or (arrows >= 2 and alone >= 1)


def split_header(lines: list[dict], height: int) -> tuple[str | None, list[dict], list[dict]]:
    """The page label (`34-15`, `0670-3`) from a line in the top tenth of the page, the header lines
    and the body lines. Header lines carry the label and the running title, not content."""
    for line in lines:
        if line["bbox"][1] > 0.12 * height:
            break
        m = PAGE_LABEL_RE.search(line["text"])
        if m:
            label = f"{m.group(1)}-{m.group(2)}"
            return label, [line], [l for l in lines if l is not line]
    return None, [], lines


def detect_lang(lines: list[dict]) -> str:
    tokens = [t.lower().strip(".,:;()") for l in lines for t in l["text"].split()]
    hits = {lang: sum(t in words for t in tokens) for lang, words in STOPWORDS.items()}
    best = max((lang for lang in hits if lang != "en"), key=hits.get)
    # English pages quote the odd foreign word; a foreign page is mostly foreign.
    return best if hits[best] >= 3 and hits[best] > hits["en"] else "en"


def classify_page(lines: list[dict], lang: str, has_table: bool, rel_path: str, label: str | None) -> str:
    text = "\n".join(l["text"] for l in lines)
    if lang != "en":
        return "foreign"
    index_lines = sum(bool(INDEX_ENTRY_RE.search(l["text"])) and len(l["text"]) > 20 for l in lines)
    if "index" in rel_path.lower() or index_lines >= 4:
        return "index"
    if SYMPTOM_RE.search(text) or re.search(r"test conditions", text, re.I) or is_flowchart(lines):
        return "troubleshooting"
    wiring_hits = len(WIRE_RE.findall(text)) + len(CONNECTOR_RE.findall(text))
    # Electrical-manual pages are numbered by circuit (`0670-3`); their tiny labels mostly escape
    # the first OCR pass, so the page number is the better witness than the words.
    if (label and re.fullmatch(r"\d{4}-\d{1,2}", label)) or (
            wiring_hits >= 4 and mean(len(l["text"].split()) for l in lines) < 5):
        return "wiring"
    if has_table:
        return "spec-table"
    return "repair" if lines else "other"


# ---------------------------------------------------------------------------------------------
# Reading order: columns are found from the gaps no body line crosses. A line wider than half the
# page (a title across both columns) does not take part in finding them.


def columns(lines: list[dict], width: int) -> list[list[dict]]:
    if not lines:
        return []
    narrow = [l for l in lines if l["bbox"][2] - l["bbox"][0] < 0.5 * width]
    covered = [False] * (width + 1)
    for l in narrow:
        for x in range(max(0, l["bbox"][0]), min(width, l["bbox"][2])):
            covered[x] = True
    spans, start, gap = [], None, 0
    min_gutter = max(20, int(0.04 * width))
    for x, c in enumerate(covered):
        if c:
            if start is None:
                start = x
            elif gap >= min_gutter:
                spans.append((start, x - gap))
                start = x
            gap = 0
        elif start is not None:
            gap += 1
    if start is not None:
        spans.append((start, width))
    cols: list[list[dict]] = [[] for _ in spans] or [[]]
    for l in lines:
        x = l["bbox"][0]
        i = next((i for i, (a, b) in enumerate(spans) if x < b), len(cols) - 1)
        cols[i].append(l)
    return [sorted(c, key=lambda l: l["bbox"][1]) for c in cols if c]


# ---------------------------------------------------------------------------------------------
# Tables: rows are the bands between horizontal rules, columns the vertical rules of the header row
# (the first band). Inner rules that only some rows have (the indent of tightening stages) are not
# columns: their words stay in the first cell.


def table_grids(scan: dict) -> list[dict]:
    """Ruled tables: [{"bbox", "rows": [(y0, y1)], "cols": [(x0, x1)]}]."""
    hl = sorted(scan["hlines"])
    if len(hl) < 3:
        return []
    # Rules of one table share their right end (the outer border); rows of tightening stages are
    # ruled from their indent, so the left ends differ.
    right = max(l[2] for l in hl)
    x0 = min(l[1] for l in hl if abs(l[2] - right) < 0.03 * scan["width"])
    rules = [l for l in hl if abs(l[2] - right) < 0.03 * scan["width"] and l[2] - l[1] > 0.4 * (right - x0)]
    if len(rules) < 3:
        return []
    ys = [l[0] for l in rules]
    x1 = right
    bands = [(a, b) for a, b in zip(ys, ys[1:]) if b - a > 8]
    if not bands:
        return []
    hy0, hy1 = bands[0]
    xs = sorted({v[0] for v in scan["vlines"] if v[1] <= hy0 + 5 and v[2] >= hy1 - 5 and x0 - 5 <= v[0] <= x1 + 5})
    xs = [x for i, x in enumerate(xs) if i == 0 or x - xs[i - 1] > 10]
    inner = [x for x in xs if x0 + 10 < x < x1 - 10]
    if not inner:  # one inner rule is a table too: `Component | Nm (ft. lbs.)` lists have two columns
        return []
    edges = [x0] + inner + [x1]
    cols = list(zip(edges, edges[1:]))
    # The bottom border of a table page sits far below the last row: that band is only empty space.
    return [{"bbox": [x0, ys[0], x1, ys[-1]], "rows": bands, "cols": cols}]


def grid_cells(grid: dict, words: list[dict]) -> list[list[str]]:
    """Words to cells by their centres; inside a cell, words to lines by their vertical position."""
    cells: dict[tuple[int, int], list[dict]] = {}
    for w in words:
        cx, cy = (w["bbox"][0] + w["bbox"][2]) / 2, (w["bbox"][1] + w["bbox"][3]) / 2
        r = next((i for i, (a, b) in enumerate(grid["rows"]) if a <= cy < b), None)
        c = next((i for i, (a, b) in enumerate(grid["cols"]) if a <= cx < b), None)
        if r is not None and c is not None:
            cells.setdefault((r, c), []).append(w)
    rows = []
    for r in range(len(grid["rows"])):
        row = []
        for c in range(len(grid["cols"])):
            ws = sorted(cells.get((r, c), []), key=lambda w: (w["bbox"][3], w["bbox"][0]))
            text_lines: list[list[dict]] = []
            for w in ws:
                # same line when the baselines agree (tall capitals and specks shift box centres)
                h = w["bbox"][3] - w["bbox"][1]
                first = text_lines[-1][0]["bbox"] if text_lines else None
                if first and abs(w["bbox"][3] - first[3]) < 0.5 * max(h, first[3] - first[1]):
                    text_lines[-1].append(w)
                else:
                    text_lines.append([w])
            row.append("\n".join(" ".join(x["text"] for x in sorted(tl, key=lambda w: w["bbox"][0])) for tl in text_lines))
        rows.append(row)
    return rows
