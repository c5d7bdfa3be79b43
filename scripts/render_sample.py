"""Render the sample service manual (sample_manual/manual.py) to scan-like pages and truth.json.

    python scripts/render_sample.py --out build/sample-pages
    tesseract "build/sample-pages/00 - Torque Specs/11-04.png" - --psm 4

Writes one PNG per page at the path the manual gives it (`NN - Section Name/NN-PP.png`, like the
real scans), the gearbox notes as two PDFs (page images only, and the same with an invisible text
layer as an OCR'd scan has), a copy of the HTML spec sheet, and OUT.truth.json beside the folder: for every page what it
says as structured data, every printed line with its pixel box, and the photo and text-column boxes.

Deterministic: the scan noise is seeded from each page's path, so two runs give byte-identical
files. Needs only Pillow, numpy and the DejaVu fonts (Debian: fonts-dejavu-core).
"""

import argparse
import io
import json
import math
import re
import shutil
import sys
import zlib
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from sample_manual import manual  # noqa: E402  (the manual lives beside scripts/, not installed)
from files import write_atomic  # noqa: E402

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_FILES = {False: FONT_DIR / "DejaVuSans.ttf", True: FONT_DIR / "DejaVuSans-Bold.ttf"}

LANDSCAPE = (1700, 1300)  # ~155 dpi for an 11 x 8.5 in page, the real scans' shape
PORTRAIT = (1275, 1650)  # 150 dpi US letter, for the PDF pages
PDF_DPI = 150

# ---------------------------------------------------------------------------------------------
# Drawing: a blank sheet that remembers every line of text it prints, so truth.json can say
# exactly what is on the page and where.


@lru_cache(maxsize=None)
def font(size, bold=False):
    # BASIC layout: raqm may or may not be in a given Pillow build, and it shifts glyphs a pixel,
    # which would make renders differ between machines for no reason.
    return ImageFont.truetype(str(FONT_FILES[bold]), size, layout_engine=ImageFont.Layout.BASIC)


# A space next to a digit is printed 0.15 em wider. Set tight, tesseract reads "34 11 220" as
# "3411220" and "1 GN/RD" as "1GN/RD"; the real manuals space their number groups visibly too.
NUMBER_GAP = 0.15
NUMBER_SPACE = re.compile(r"(?<=\d) | (?=\d)")
UNITS = {"mm", "Nm", "V", "°", "°C", "km", "AMP", "ohm", "litres"}


def text_width(text, size, bold=False):
    gaps = len(NUMBER_SPACE.findall(text))
    return font(size, bold).getlength(text) + NUMBER_GAP * size * gaps


def wrap(text, size, width, bold=False):
    """Greedy word wrap of `text` into lines no wider than `width` pixels (explicit \\n kept)."""
    lines = []
    for paragraph in text.split("\n"):
        # Keep a number with the number or unit after it ("34 1 050", "22.4 mm") on one line: a
        # split tool number or value reads as two different numbers.
        words = []
        for word in paragraph.split(" "):
            follows_number = words and words[-1][-1:].isdigit()
            if follows_number and (word[:1].isdigit() or word.rstrip(".,;:)") in UNITS):
                words[-1] += " " + word
            else:
                words.append(word)
        line = ""
        for word in words:
            candidate = f"{line} {word}" if line else word
            if line and text_width(candidate, size, bold) > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines


class Sheet:
    """A white page in greyscale; `lines` records every printed line and its box."""

    def __init__(self, size):
        self.image = Image.new("L", size, 255)
        self.draw = ImageDraw.Draw(self.image)
        self.lines = []  # {"text", "box"} in drawing order

    def text(self, xy, text, size, bold=False, anchor="la", underline=False):
        """Print one line; `anchor` as in Pillow (l/m/r, then a/t/m/s/b); returns its box."""
        f = font(size, bold)
        width = text_width(text, size, bold)
        x = xy[0] - {"l": 0, "m": width / 2, "r": width}[anchor[0]]
        boxes = []
        for piece in NUMBER_SPACE.split(text):  # drawn apart to widen the gaps at digits
            self.draw.text((x, xy[1]), piece, font=f, fill=0, anchor="l" + anchor[1])
            boxes.append(self.draw.textbbox((x, xy[1]), piece, font=f, anchor="l" + anchor[1]))
            x += f.getlength(piece + " ") + NUMBER_GAP * size
        box = [int(min(b[0] for b in boxes)), int(min(b[1] for b in boxes)),
               int(max(b[2] for b in boxes)), int(max(b[3] for b in boxes))]
        if underline:  # the wiring manual underlines every component and connector name
            self.draw.line([(box[0], box[3] + 4), (box[2], box[3] + 4)], fill=0, width=2)
        self.lines.append({"text": text, "box": box})
        return box

    def paragraph(self, x, y, text, size, width, bold=False, leading=1.3):
        """Wrapped text from (x, y); returns the y below its last line."""
        for line in wrap(text, size, width, bold):
            self.text((x, y), line, size, bold)
            y += round(size * leading)
        return y

    def dashed_rect(self, box, dash=10, width=2):
        x0, y0, x1, y1 = box
        for x in range(x0, x1, 2 * dash):
            self.draw.line([(x, y0), (min(x + dash, x1), y0)], fill=0, width=width)
            self.draw.line([(x, y1), (min(x + dash, x1), y1)], fill=0, width=width)
        for y in range(y0, y1, 2 * dash):
            self.draw.line([(x0, y), (x0, min(y + dash, y1))], fill=0, width=width)
            self.draw.line([(x1, y), (x1, min(y + dash, y1))], fill=0, width=width)

    def photo(self, box, figure, seed):
        """A stand-in for a halftone photo: grey shapes and grain, figure number bottom right."""
        x0, y0, x1, y1 = box
        w, h = x1 - x0, y1 - y0
        rng = np.random.default_rng(seed)
        # drawn on its own image so the shapes are clipped at the photo's edge
        photo = Image.new("L", (w, h), int(rng.integers(150, 190)))
        draw = ImageDraw.Draw(photo)
        for _ in range(6):  # a few part-like shapes: discs, blocks, a hose
            cx, cy = rng.integers(0, w), rng.integers(0, h)
            r = int(rng.integers(20, 70))
            shade = int(rng.integers(60, 230))
            if rng.random() < 0.5:
                draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=shade, outline=40, width=3)
            else:
                draw.rectangle([cx - r, cy - r // 2, cx + r, cy + r // 2], fill=shade)
        draw.line([(int(rng.integers(0, w)), int(rng.integers(0, h))) for _ in range(3)],
                  fill=50, width=9)
        # grain so the photo reads as a photo to OCR and layout code, not as a flat grey box
        grain = np.asarray(photo, dtype=np.int16) + rng.normal(0, 18, (h, w)).astype(np.int16)
        self.image.paste(Image.fromarray(grain.clip(0, 255).astype(np.uint8)), (x0, y0))
        self.draw.rectangle(box, outline=0, width=2)
        if figure:
            lw, lh = int(text_width(figure, 15)) + 12, 26
            self.draw.rectangle([x1 - lw, y1 - lh, x1, y1], fill=255)
            self.text((x1 - lw + 6, y1 - lh + 3), figure, 15)


# ---------------------------------------------------------------------------------------------
# Page kinds. Each returns (sheet, content, boxes): the drawn page, its structured truth, and the
# photo / text-column boxes (before scan noise; main() moves them with the page's rotation).


def torque_table_page(page):
    sheet = Sheet(LANDSCAPE)
    # Column edges: description (with a code sub-column and an indent for stages), then the four
    # narrow value columns, in the proportions of the real binder pages.
    x0, x_stage, x_type, x_screw, x_measure, x_unit, x1 = 14, 200, 720, 960, 1120, 1240, 1440
    size, lh, pad = 20, 26, page.get("pad", 9)  # a long table is set tighter to fit the frame
    sheet.text((20, 36), page["stamp"], 16)
    sheet.text((250, 36), page["date"], 16)

    y_top = y = 80
    sheet.text((36, y + 14), page["title"][0], 28, bold=True)
    name_x = max(150, round(36 + text_width(page["title"][0], 28, True) + 16))  # `41 - 12` is wider
    sheet.text((name_x, y + 14), page["title"][1], 28, bold=True)
    for label, (a, b) in zip(page["header"], [(x_type, x_screw), (x_screw, x_measure),
                                               (x_measure, x_unit), (x_unit, x1)]):
        sheet.text(((a + b) // 2, y + 12), label, 20, bold=True, anchor="ma")
        sheet.draw.line([(a, y), (a, y + 58)], fill=0, width=3)
    y += 58
    sheet.draw.line([(x0, y), (x1, y)], fill=0, width=3)

    rows = []
    for row in page["rows"]:
        cells = {k: row.get(k, "") for k in ("code", "text", "type", "screw", "measure", "unit")}
        n_lines = max(len(v.split("\n")) for v in cells.values())
        height = n_lines * lh + 2 * pad
        ty = y + pad
        bold = row["level"] == "group"
        text_x = {"group": 20, "component": 110, "line": 110, "stage": x_stage + 8}[row["level"]]
        if cells["code"]:
            sheet.text((40, ty), cells["code"], size)
        # A cell may hold several lines: a note under a name, or one screw size / value per line
        # (each line a variant of its own). A variant row leaves the first cell blank.
        for i, line in enumerate(cells["text"].split("\n")):
            if line:
                sheet.text((text_x, ty + i * lh), line, size, bold=bold)
        for i, line in enumerate(cells["type"].split("\n")):
            if line:
                sheet.text((x_type + 8, ty + i * lh), line, size)
        for key, (a, b) in [("screw", (x_screw, x_measure)), ("measure", (x_measure, x_unit)),
                            ("unit", (x_unit, x1))]:
            for i, line in enumerate(cells[key].split("\n")):
                if line:
                    sheet.text(((a + b) // 2, ty + i * lh), line, size, anchor="ma")
        # Each printed cell's area inside the rules, for table-structure checks and cell OCR.
        spans = {"code": (x0, 100), "text": (text_x - 8, x_type), "type": (x_type, x_screw),
                 "screw": (x_screw, x_measure), "measure": (x_measure, x_unit),
                 "unit": (x_unit, x1)}
        cell_boxes = {k: [spans[k][0] + 3, y + 3, spans[k][1] - 3, y + height - 3]
                      for k, v in cells.items() if v}
        # A group heading spans all value columns; other rows show every column rule.
        rules = [x_type] if row["level"] == "group" else [x_type, x_screw, x_measure, x_unit]
        if row["level"] == "stage":
            rules.append(x_stage)
        for x in rules:
            sheet.draw.line([(x, y), (x, y + height)], fill=0, width=2)
        y += height
        # a stage's rule stops at the indent, so its stages read as one block under the variant
        rule_start = x_stage if row["level"] == "stage" else x0
        sheet.draw.line([(rule_start, y), (x1, y)], fill=0, width=2)
        rows.append({"level": row["level"], **cells, "box": [x0, y - height, x1, y],
                     "cell_boxes": cell_boxes})

    y_bottom = 1240  # the real pages draw the frame to the foot of the page, empty below the rows
    sheet.draw.rectangle([x0, y_top, x1, y_bottom], outline=0, width=4)
    content = {
        "stamp": page["stamp"], "date": page["date"], "page_number": page["title"][0],
        "title": " ".join(page["title"]), "header": list(page["header"]), "rows": rows,
    }
    return sheet, content, {"table_box": [x0, y_top, x1, y_bottom]}


def thread_table_page(page):
    """The binder's general table: title and unit above a ruled grid, thread x strength grade."""
    sheet = Sheet(LANDSCAPE)
    sheet.text((20, 36), page["stamp"], 16)
    sheet.text((250, 36), page["date"], 16)
    number, title = page["title"]
    end = sheet.text((36, 84), number, 28, bold=True)[2]
    sheet.text((end + 40, 84), title, 28, bold=True)
    sheet.text((36, 140), page["note"], 20)
    edges = [200, 520, 800, 1080, 1360]  # thread, then one column per strength grade
    header, rows = ruled_grid(sheet, edges, 200, page["header"], page["rows"],
                              align=["l"] + ["m"] * (len(edges) - 2))
    content = {"stamp": page["stamp"], "date": page["date"], "page_number": number,
               "title": f"{number} {title}", "note": page["note"], "unit": page["unit"],
               "header": header, "rows": rows}
    return sheet, content, {"table_box": [edges[0], 200, edges[-1], rows[-1]["box"][3]]}


def torque_list_page(page):
    """A US-market table: component, then Nm with ft-lb in brackets in the same cell."""
    sheet = Sheet(LANDSCAPE)
    number, title = page["title"]
    end = sheet.text((36, 40), number, 28, bold=True)[2]
    sheet.text((end + 40, 40), title, 28, bold=True)
    sheet.text((200, 140), page["caption"], 20, bold=True)
    edges = [200, 1000, 1360]
    header, rows = ruled_grid(sheet, edges, 180, page["header"], page["rows"], align=["l", "m"])
    content = {"page_number": number, "title": f"{number} {title}", "caption": page["caption"],
               "header": header, "rows": rows}
    return sheet, content, {"table_box": [edges[0], 180, edges[-1], rows[-1]["box"][3]]}


def ruled_grid(sheet, edges, y, header, rows, align, size=20, lh=26, pad=9):
    """A fully ruled table from `y`: a bold header row, then one row per line of cells; `align`
    per column, l(eft) or m(iddle). Returns the header and the rows' truth (cells as printed)."""
    top = y
    for label, a, b, how in zip(header, edges, edges[1:], align):
        x = a + 12 if how == "l" else (a + b) // 2
        sheet.text((x, y + 16), label, size, bold=True, anchor=how + "a")
    y += 58
    sheet.draw.line([(edges[0], y), (edges[-1], y)], fill=0, width=3)
    truth = []
    for cells in rows:
        height = lh + 2 * pad
        for cell, a, b, how in zip(cells, edges, edges[1:], align):
            x = a + 12 if how == "l" else (a + b) // 2
            sheet.text((x, y + pad), cell, size, anchor=how + "a")
        truth.append({"cells": list(cells), "box": [edges[0], y, edges[-1], y + height],
                      "cell_boxes": [[a + 3, y + 3, b - 3, y + height - 3]
                                     for a, b in zip(edges, edges[1:])]})
        y += height
        sheet.draw.line([(edges[0], y), (edges[-1], y)], fill=0, width=2)
    for x in edges[1:-1]:
        sheet.draw.line([(x, top), (x, y)], fill=0, width=2)
    sheet.draw.rectangle([edges[0], top, edges[-1], y], outline=0, width=4)
    return list(header), truth


def repair_page(page):
    sheet = Sheet(LANDSCAPE)
    width, height = LANDSCAPE
    sheet.text((width // 2, 10), page["page_number"], 40, bold=True, anchor="ma")
    fs, lh = 20, 26
    col_width = (width - 90) // 2  # 20 px outer margins, 20 between, 30 spare on the right
    operations, photos, text_columns = [], [], []
    for c, column in enumerate(page["columns"]):
        cx = 20 + c * (col_width + 20)
        tx, tx_end = cx + 325, cx + col_width  # photos on the left, text on the right
        y, text_top = 80, None
        for band in column:
            if band["figure"]:
                box = [cx, y, cx + 305, y + band["photo_height"]]
                sheet.photo(box, band["figure"], zlib.crc32(band["figure"].encode()))
                photos.append({"figure": band["figure"], "box": box})
            ty = y
            text_top = ty if text_top is None else text_top
            for item in band["text"]:
                ty = repair_item(sheet, item, tx, ty, tx_end - tx, fs, lh, operations)
            y = max(y + band["photo_height"], ty) + 22
        text_columns.append([tx, text_top, tx_end, y - 22])
    if page["footnote"]:
        sheet.text((width - 360, height - 50), page["footnote"], 18, bold=True)
    for op in operations:  # tool numbers look like "34 1 050": group, tool group, serial
        texts = [b["text"] for b in op["blocks"]]
        op["tools"] = sorted({t for text in texts for t in re.findall(r"\b\d\d \d \d{3}\b", text)})
    content = {"page_number": page["page_number"], "operations": operations,
               "figures": [p["figure"] for p in photos], "footnote": page["footnote"]}
    return sheet, content, {"photos": photos, "text_column_boxes": text_columns}


def repair_item(sheet, item, x, y, width, fs, lh, operations):
    """Draw one text item of a repair page at (x, y); record it in `operations`; return new y."""
    kind = item[0]
    if kind == "op":
        _, number, title = item
        sheet.text((x, y), number, fs, bold=True)
        indent = int(text_width(number, fs, True)) + 16
        lines = wrap(title, fs, width - indent, bold=True)
        for i, line in enumerate(lines):
            sheet.text((x + indent, y + i * lh), line, fs, bold=True)
        operations.append({"number": number, "title": title, "blocks": []})
        return y + len(lines) * lh + lh // 2
    if not operations:  # text continued from an earlier page, before any header
        operations.append({"number": None, "title": None, "blocks": []})
    blocks = operations[-1]["blocks"]
    if kind == "sub":
        sheet.text((x, y), item[1], fs, bold=True)
        blocks.append({"kind": "subhead", "text": item[1]})
        return y + lh
    if kind == "step":  # number in the margin, text hanging
        _, n, text = item
        sheet.text((x, y), f"{n}.", fs)
        blocks.append({"kind": "step", "n": n, "text": text})
        return sheet.paragraph(x + 30, y, text, fs, width - 30, leading=lh / fs)
    if kind == "para":
        blocks.append({"kind": "paragraph", "text": item[1]})
        return sheet.paragraph(x, y, item[1], fs, width, leading=lh / fs) + lh // 2
    if kind == "line":
        blocks.append({"kind": "line", "text": item[1]})
        return sheet.paragraph(x, y, item[1], fs, width, leading=lh / fs)
    raise ValueError(f"unknown repair item {kind!r}; expected op, sub, step, para or line")


def wiring_page(page):
    sheet = Sheet(LANDSCAPE)
    d = sheet.draw
    d.line([(20, 10), (1680, 10)], fill=0, width=2)
    number = sheet.text((1650, 42), page["page_number"], 30, bold=True, anchor="ra")
    sheet.text((number[0] - 40, 42), page["title"], 30, bold=True, anchor="ra")
    d.line([(60, 88), (1650, 88)], fill=0, width=4)

    box = [150, 140, 1640, 640]
    sheet.dashed_rect(box)
    sheet.text((1630, 114), page["box_label"], 17, bold=True, anchor="ra", underline=True)
    bus_y = {"30": 200, "15": 270}
    for bus, y in bus_y.items():
        d.line([(box[0], y), (box[2], y)], fill=0, width=2)
        sheet.text((box[0] + 8, y - 24), bus, 17, bold=True)
        sheet.text((box[2] - 8, y - 24), bus, 17, bold=True, anchor="ra")

    truth = {"title": page["title"], "page_number": page["page_number"], "fuses": [], "wires": [],
             "connectors": [], "splices": [], "components": [], "cross_refs": [], "edges": []}

    # Feed from the previous page: a flag with the page reference, a wire into the box's bus.
    feed = page["feed"]
    y = bus_y[feed["bus"]]
    d.polygon([(30, y - 22), (30, y + 22), (62, y)], fill=0)
    d.line([(62, y), (box[0], y)], fill=0, width=6)
    sheet.text((70, y - 30), feed["wire"], 17, bold=True)
    sheet.text((80, y + 10), feed["connector"], 17, bold=True, underline=True)
    ref = f"FROM PAGE {feed['from_page']}"
    sheet.text((20, y + 40), "FROM PAGE", 17, bold=True)
    sheet.text((20, y + 60), feed["from_page"], 17, bold=True)
    truth["cross_refs"].append(ref)
    truth["connectors"].append({"id": feed["connector"], "pin": None})
    truth["wires"].append(wire_truth(feed["wire"], ref, feed["connector"]))
    truth["edges"].append({"from": feed["connector"], "to": f"BUS {feed['bus']}", "wire": None})

    for circuit in page["circuits"]:
        x, y0 = circuit["x"], bus_y[circuit["bus"]]
        d.ellipse([x - 5, y0 - 5, x + 5, y0 + 5], fill=0)
        fuse_kind, fuse_id, rating = circuit["path"][0]
        assert fuse_kind == "fuse", "every circuit starts at its fuse"
        # bus to fuse inside the box, thin; the fuse itself as a small S-bend
        d.line([(x, y0), (x, 450)], fill=0, width=2)
        d.arc([x - 9, 450, x + 9, 468], 270, 90, fill=0, width=3)
        d.arc([x - 9, 468, x + 9, 486], 90, 270, fill=0, width=3)
        sheet.text((x + 16, 444), fuse_id, 17, bold=True, underline=True)
        sheet.text((x + 16, 470), rating, 15, bold=True)
        truth["fuses"].append({"id": fuse_id, "rating": rating, "bus": circuit["bus"]})
        truth["edges"].append({"from": f"BUS {circuit['bus']}", "to": fuse_id, "wire": None})
        d.line([(x, 486), (x, 660)], fill=0, width=5)
        wiring_path(sheet, circuit["path"][1:], x, 660, fuse_id, truth)
    return sheet, truth, {"diagram_box": box}


def wiring_path(sheet, path, x, y, previous, truth):
    """Draw a circuit's items downward from (x, y); `previous` is the node the path leaves from."""
    d = sheet.draw
    pending_wire = None
    for item in path:
        kind = item[0]
        if kind == "wire":
            pending_wire = item[1]
            d.line([(x, y), (x, y + 110)], fill=0, width=5)
            sheet.text((x - 12, y + 44), item[1], 17, bold=True, anchor="ra")
            y += 110
            continue
        if kind == "branch":
            split = 170  # wide enough that each branch's component name clears the other wire
            d.line([(x - split, y), (x + split, y)], fill=0, width=5)
            for sub, bx in zip(item[1], (x - split, x + split)):
                wiring_path(sheet, sub, bx, y, previous, truth)
            return
        node = item[1]
        if pending_wire is not None:
            truth["wires"].append(wire_truth(pending_wire, previous, node))
            truth["edges"].append({"from": previous, "to": node, "wire": pending_wire})
        if kind == "connector":  # two chevrons: the mating halves
            _, cid, pin = item
            for dy in (0, 10):
                d.line([(x - 10, y + dy), (x, y + dy + 10), (x + 10, y + dy)], fill=0, width=3)
            sheet.text((x + 26, y + 2), cid, 17, bold=True, underline=True)
            sheet.text((x - 26, y + 2), pin, 17, bold=True, anchor="ra")
            truth["connectors"].append({"id": cid, "pin": pin})
            d.line([(x, y + 20), (x, y + 40)], fill=0, width=5)
            y += 40
        elif kind == "splice":
            d.ellipse([x - 8, y - 8, x + 8, y + 8], fill=0)
            sheet.text((x + 16, y - 22), item[1], 17, bold=True, underline=True)
            truth["splices"].append(item[1])
        elif kind == "component":  # a dashed box with its name beside it, stacked in lines
            sheet.dashed_rect([x - 40, y, x + 40, y + 70], dash=6)
            words = wrap(item[1], 17, 160, bold=True)
            for i, line in enumerate(words):
                sheet.text((x + 62, y + 4 + i * 25), line, 17, bold=True, underline=True)
            truth["components"].append(item[1])
            y += 70
        elif kind == "ref":  # arrow to a detail page
            d.polygon([(x - 11, y), (x + 11, y), (x, y + 22)], fill=0)
            sheet.text((x, y + 30), item[1], 17, bold=True, anchor="ma")
            truth["cross_refs"].append(item[1])
        else:
            raise ValueError(f"unknown wiring item {kind!r}")
        previous, pending_wire = node, None


def wire_truth(label, start, end):
    gauge, colour = label.split(" ")  # ".75 GN/BK": cross-section in mm², colour / stripe
    return {"label": label, "size": gauge, "colour": colour, "from": start, "to": end}


def troubleshooting_page(page):
    sheet = Sheet(LANDSCAPE)
    sheet.draw.line([(20, 10), (1680, 10)], fill=0, width=2)
    number = sheet.text((80, 40), page["page_number"], 30, bold=True)
    sheet.text((number[2] + 40, 40), page["title"], 30, bold=True)
    sheet.draw.line([(60, 88), (1650, 88)], fill=0, width=4)
    sheet.text((80, 110), "TROUBLESHOOTING", 22, bold=True)
    sheet.text((80, 170), page["symptom"], 30, bold=True)
    y = sheet.paragraph(80, 240, page["conditions"], 21, 1500) + 20
    top = y
    for n, check in enumerate(page["checks"], start=1):
        sheet.text((80, y), f"{n}.", 21, bold=True)
        y = sheet.paragraph(130, y, check, 21, 1420) + 18
    content = {"page_number": page["page_number"], "title": page["title"],
               "symptom": page["symptom"], "conditions": page["conditions"],
               "checks": [{"n": n, "text": t} for n, t in enumerate(page["checks"], start=1)],
               "connectors": page["connectors"]}
    return sheet, content, {"text_column_boxes": [[80, top, 1550, y]]}


def index_page(page):
    sheet = Sheet(LANDSCAPE)
    number, name = page["heading"]
    sheet.text((430, 150), number, 64, bold=True)
    sheet.text((590, 150), name, 64, bold=True)
    sheet.text((545, 330), page["models"], 20)
    y = 390
    dot = font(20).getlength(".")
    for op_number, title, ref in page["entries"]:
        if op_number:
            sheet.text((530, y), op_number, 20, anchor="ra")
        end = sheet.text((545, y), title, 20)[2]
        # dot leaders to the page column, as the binders print them
        n_dots = int((1250 - 30 - end - 10) // dot)  # a clear gap before the page reference
        sheet.draw.text((end + 10, y), "." * n_dots, font=font(20), fill=0)
        sheet.text((1250, y), ref, 20)
        y += 34
    content = {"heading": f"{number} {name}", "models": page["models"],
               "entries": [{"number": n or None, "title": t, "page": r}
                           for n, t, r in page["entries"]]}
    return sheet, content, {"text_column_boxes": [[330, 390, 1340, y]]}


def foreign_page(page):
    sheet = Sheet(LANDSCAPE)
    sheet.draw.rectangle([30, 40, 1670, 1240], outline=0, width=3)
    sheet.text((70, 80), page["title"], 22, bold=True)
    y = 140
    for line in page["lines"]:
        sheet.text((70, y), line, 20)
        y += 32
    edges = [70, 180, 310, 650, 1090, 1630]
    y0 = y = y + 30
    for r, row in enumerate([page["header"], *page["rows"]]):
        for cell, a in zip(row, edges):
            sheet.text((a + 10, y + 14), cell, 20, bold=r == 0)
        y += 56
        sheet.draw.line([(edges[0], y), (edges[-1], y)], fill=0, width=2 if r else 3)
    for a in edges:
        sheet.draw.line([(a, y0), (a, y)], fill=0, width=2)
    sheet.draw.line([(edges[0], y0), (edges[-1], y0)], fill=0, width=2)
    content = {"title": page["title"], "lines": page["lines"], "header": list(page["header"]),
               "rows": [list(r) for r in page["rows"]]}
    return sheet, content, {"table_box": [edges[0], y0, edges[-1], y]}


def rebuild_notes_page(items, seed):
    """One portrait page of the gearbox notes: title, paragraphs, figures, sub-heads, steps."""
    sheet = Sheet(PORTRAIT)
    x, width, fs, lh = 110, PORTRAIT[0] - 220, 20, 27
    y, blocks, photos = 110, [], []
    for item in items:
        kind = item[0]
        if kind == "title":
            y = sheet.paragraph(x, y, item[1], 32, width, bold=True) + 20
            blocks.append({"kind": "title", "text": item[1]})
        elif kind == "figure":
            _, caption, height = item
            box = [x, y, x + width, y + height]
            sheet.photo(box, None, seed + len(photos))
            sheet.text((x, y + height + 10), caption, 17)
            photos.append({"figure": caption, "box": box})
            blocks.append({"kind": "figure", "text": caption})
            y += height + 60
        elif kind == "sub":
            sheet.text((x, y + 6), item[1], 22, bold=True)
            blocks.append({"kind": "subhead", "text": item[1]})
            y += 42
        elif kind == "step":
            _, n, text = item
            sheet.text((x, y), f"{n}.", fs)
            y = sheet.paragraph(x + 34, y, text, fs, width - 34, leading=lh / fs) + 8
            blocks.append({"kind": "step", "n": n, "text": text})
        elif kind == "para":
            y = sheet.paragraph(x, y, item[1], fs, width, leading=lh / fs) + 16
            blocks.append({"kind": "paragraph", "text": item[1]})
        else:
            raise ValueError(f"unknown rebuild-notes item {kind!r}")
    boxes = {"photos": photos, "text_column_boxes": [[x, 110, x + width, y]]}
    return sheet, {"blocks": blocks}, boxes


# ---------------------------------------------------------------------------------------------
# Scan noise: slight skew, grey paper, grain, dust, blur and a JPEG round trip -- mild enough that
# tesseract still reads the text, so an OCR miss in the pipeline is the pipeline's fault.


def scan(sheet, seed, max_skew=0.5):
    """Return the scanned RGB image and a function moving clean-page points onto it."""
    rng = np.random.default_rng(seed)
    angle = float(rng.uniform(-max_skew, max_skew))
    image = sheet.image.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255)
    ink = np.asarray(image, dtype=np.float32) / 255.0
    grey = 28 + ink * (246 - 28)  # toner is never black, paper never white
    grey += rng.normal(0, 3.0, grey.shape)
    h, w = grey.shape
    # dust: sparse single-pixel specks. Denser or larger specks make tesseract invent characters
    # next to the text, which tests the noise and not the pipeline.
    n = int(w * h * 0.00004)
    grey[rng.integers(0, h, n), rng.integers(0, w, n)] = rng.integers(60, 180, n)
    scanned = Image.fromarray(grey.clip(0, 255).astype(np.uint8))
    scanned = scanned.filter(ImageFilter.GaussianBlur(0.5))
    # a warm paper tint, as the real scans are RGB JPEGs of yellowed pages
    rgb = Image.merge("RGB", [scanned.point(lambda v, k=k: int(v * k)) for k in (1.0, 0.985, 0.95)])
    buffer = io.BytesIO()
    rgb.save(buffer, "JPEG", quality=88)
    rgb = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")

    cx, cy = w / 2, h / 2
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))

    def move(box):
        # PIL turns the page counter-clockwise by `angle` about its centre; box -> bounding box
        corners = [(box[0], box[1]), (box[2], box[1]), (box[0], box[3]), (box[2], box[3])]
        moved = [(cx + (x - cx) * cos + (y - cy) * sin, cy - (x - cx) * sin + (y - cy) * cos)
                 for x, y in corners]
        return [round(min(p[0] for p in moved)), round(min(p[1] for p in moved)),
                round(max(p[0] for p in moved)), round(max(p[1] for p in moved))]

    return rgb, angle, move


def moved(truth, move):
    """Copy of `truth` with every box moved onto the scanned page. Naming rule: a key ending in
    "box" holds one [x0, y0, x1, y1]; one ending in "boxes" holds a list or dict of them."""
    if isinstance(truth, list):
        return [moved(v, move) for v in truth]
    if not isinstance(truth, dict):
        return truth
    out = {}
    for key, value in truth.items():
        if key.endswith("box"):
            out[key] = move(value)
        elif key.endswith("boxes"):
            out[key] = ({k: move(b) for k, b in value.items()} if isinstance(value, dict)
                        else [move(b) for b in value])
        else:
            out[key] = moved(value, move)
    return out


# ---------------------------------------------------------------------------------------------
# PDF: written by hand so the bytes are ours (no creation dates): each page is one JPEG image,
# optionally with invisible text (render mode 3) over each printed line, like an OCR'd scan.


def write_pdf(path, pages, title):
    """pages: [(jpeg_bytes, (w_px, h_px), lines or None)], lines: [{"text", "box"}] in pixels."""
    scale = 72 / PDF_DPI
    objects = []  # object i+1 is objects[i]

    def add(body):
        objects.append(body)
        return len(objects)

    catalog, pages_obj = add(None), add(None)
    font_obj = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
                   b"/Encoding /WinAnsiEncoding >>")
    kids = []
    for jpeg, (w, h), lines in pages:
        wpt, hpt = w * scale, h * scale
        image = add(b"<< /Type /XObject /Subtype /Image /Width %d /Height %d "
                    b"/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode "
                    b"/Length %d >>\nstream\n"
                    % (w, h, len(jpeg)) + jpeg + b"\nendstream")
        ops = [b"q %.2f 0 0 %.2f 0 0 cm /Im0 Do Q" % (wpt, hpt)]
        for line in lines or []:
            x0, y0, x1, y1 = line["box"]
            size = (y1 - y0) * scale * 1.15  # glyph box height to font size, roughly
            text = line["text"].encode("cp1252").replace(b"\\", b"\\\\")
            text = text.replace(b"(", b"\\(").replace(b")", b"\\)")
            ops.append(b"BT 3 Tr /F1 %.2f Tf %.2f %.2f Td (%s) Tj ET"
                       % (size, x0 * scale, hpt - y1 * scale, text))
        stream = b"\n".join(ops)
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        kids.append(add(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %.2f %.2f] "
                        b"/Resources << /XObject << /Im0 %d 0 R >> /Font << /F1 %d 0 R >> >> "
                        b"/Contents %d 0 R >>" % (pages_obj, wpt, hpt, image, font_obj, content)))
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_obj
    objects[pages_obj - 1] = (b"<< /Type /Pages /Kids [%s] /Count %d >>"
                              % (b" ".join(b"%d 0 R" % k for k in kids), len(kids)))
    info = add(b"<< /Title (%s) /Producer (scripts/render_sample.py) >>" % title.encode("cp1252"))

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += (b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(objects) + 1, catalog, info, xref))
    path.write_bytes(bytes(out))


# ---------------------------------------------------------------------------------------------
# The HTML spec sheet is copied as written; its truth is its table, read back cell by cell.


class TableRows(HTMLParser):
    """Rows of the page's table as [{"text", "colspan"}], <br> kept as a newline."""

    def __init__(self):
        super().__init__()
        self.rows, self.cell, self.colspan = [], None, 1

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self.cell, self.colspan = "", int(dict(attrs).get("colspan") or 1)
        elif tag == "br" and self.cell is not None:
            self.cell += "\n"

    def handle_endtag(self, tag):
        if tag == "td":
            lines = [" ".join(line.split()) for line in self.cell.split("\n")]
            self.rows[-1].append({"text": "\n".join(lines).strip(), "colspan": self.colspan})
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


# ---------------------------------------------------------------------------------------------


# truth.json: {"vehicle": str, "pages": [entry, ...]}, one entry per page image (a PDF gives one
# entry per page, the HTML sheet one entry). Every entry has the same keys:
#   path, kind, format (png / pdf / html), section {id, name}, page_id (file stem),
#   printed_page_id (as printed on the page, or None), language, size [w, h] or None,
#   pdf_page (1-based, or None), text_layer (bool for PDFs, else None), skew_degrees,
#   content (per kind, below), boxes {photos [{figure, box}], text_column_boxes [box],
#   + table_box / diagram_box where there is one}, printed_lines [{text, box}] in drawing order.
# Boxes are [x0, y0, x1, y1] pixels on the scanned (skewed) page.
# content by kind:
#   torque_table  stamp, date, page_number, title, header, rows [{level, code, text, type, screw, measure,
#                 unit, box, cell_boxes {column: box}}]   (a cell with "\n" where printed so)
#   thread_table  stamp, date, page_number, title, note, unit, header (thread, then strength
#                 grades), rows [{cells (as printed, in header order), box, cell_boxes [box]}]
#   torque_list   page_number, title, caption, header, rows [{cells, box, cell_boxes [box]}]
#                 (the value cell as printed: "25 (18)", Nm then ft-lb)
#   repair        page_number, operations [{number, title, blocks [{kind: line / subhead /
#                 step (+ n) / paragraph, text}], tools}], figures, footnote
#   wiring        title, page_number, fuses [{id, rating, bus}], wires [{label, size, colour,
#                 from, to}], connectors [{id, pin}], splices, components, cross_refs,
#                 edges [{from, to, wire}]
#   troubleshooting  page_number, title, symptom, conditions, checks [{n, text}], connectors
#   index         heading, models, entries [{number (None for a continuation), title, page}]
#   foreign       title, lines, header, rows (cells as printed)
#   rebuild_notes blocks [{kind: title / paragraph / figure / subhead / step (+ n), text}]
#   spec_sheet    rows [[{text, colspan}]]


def page_truth(page, path, kind, content, boxes, lines, size, language="en", **extra):
    section_id, section_name = page["section"]
    return {
        "path": path, "kind": kind, "format": Path(path).suffix.lstrip("."),
        "section": {"id": section_id, "name": section_name},
        "page_id": Path(path).stem, "printed_page_id": content.get("page_number"),
        "language": language, "size": list(size) if size else None,
        "pdf_page": None, "text_layer": None, **extra,
        "content": content, "boxes": {"photos": [], "text_column_boxes": [], **boxes},
        "printed_lines": lines,
    }


def truth_path(out: Path) -> Path:
    """build/sample-pages → build/sample-pages.truth.json"""
    return out.with_name(out.name + ".truth.json")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "build" / "sample-pages",
                        help="folder for the renders (default: build/sample-pages)")
    parser.add_argument("--truth", type=Path, default=None,
                        help="where truth.json goes (default: beside the folder, OUT.truth.json: inside it, "
                             "prep would read it as a page and report it as a bad file)")
    args = parser.parse_args(argv)
    missing = [str(p) for p in FONT_FILES.values() if not p.is_file()]
    if missing:
        sys.exit(f"render_sample: font not found: {', '.join(missing)} "
                 f"(install it: apt-get install fonts-dejavu-core)")

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "truth.json").unlink(missing_ok=True)  # where renders before 2026-11-25 put it
    renderers = {"torque_table": torque_table_page, "thread_table": thread_table_page,
                 "torque_list": torque_list_page, "repair": repair_page, "wiring": wiring_page,
                 "troubleshooting": troubleshooting_page, "index": index_page,
                 "foreign": foreign_page}
    truth = []

    for page in manual.PAGES:
        sheet, content, boxes = renderers[page["kind"]](page)
        seed = zlib.crc32(page["path"].encode())  # not hash(): that is salted per process
        image, angle, move = scan(sheet, seed, page.get("max_skew", 0.5))
        target = out / page["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        image.save(target)
        truth.append(page_truth(page, page["path"], page["kind"], moved(content, move),
                                moved(boxes, move), moved(sheet.lines, move), image.size,
                                page.get("language", "en"), skew_degrees=round(angle, 4)))

    # Gearbox notes: the same scanned pages written twice, without and with a text layer.
    notes = manual.GEARBOX_PDF
    scanned = []
    for number, items in enumerate(notes["pages"], start=1):
        seed = zlib.crc32(f"{notes['path']}#{number}".encode())
        sheet, content, boxes = rebuild_notes_page(items, seed)
        image, angle, move = scan(sheet, seed)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=85)
        scanned.append((buffer.getvalue(), image.size, moved(sheet.lines, move), content,
                        moved(boxes, move), angle))
    for path, text_layer in [(notes["path"], False), (notes["text_layer_path"], True)]:
        write_pdf(out / path, [(jpeg, size, lines if text_layer else None)
                               for jpeg, size, lines, *_ in scanned], title=Path(path).stem)
        for number, (_, size, lines, content, boxes, angle) in enumerate(scanned, start=1):
            truth.append(page_truth(notes, path, "rebuild_notes", content, boxes, lines, size,
                                    pdf_page=number, text_layer=text_layer,
                                    skew_degrees=round(angle, 4)))

    html = REPO / "sample_manual" / manual.SPEC_HTML
    shutil.copyfile(html, out / manual.SPEC_HTML)
    table = TableRows()
    table.feed(html.read_text(encoding="utf-8"))
    truth.append(page_truth({"section": (None, "Technical Data")}, manual.SPEC_HTML, "spec_sheet",
                            {"rows": table.rows}, {}, [], None, skew_degrees=None))

    document = {"vehicle": manual.VEHICLE, "pages": truth}
    truth_file = args.truth or truth_path(out)
    write_atomic(truth_file, json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    print(f"rendered {len(truth)} pages to {out}")


if __name__ == "__main__":
    main()
