"""Page image -> words with boxes and confidences, cached.

Order of work on one page image:
  grayscale -> upscale small scans -> find photos and ruling lines -> paint them white -> tesseract
  -> words (boxes back in original pixels) -> cells re-read -> every number read twice -> cache.

What tesseract sees is the page without photos and without table rules: photos OCR to garbage
(`30 34 062`, `|||`), and rules are read as `|` or glue neighbouring cells together. The photo
rectangles and the rules are kept in the result, because layout needs them (reading order, table
grids) and a cached re-run must not open the image again.

Every number is read twice: tesseract misreads digits and codes on these scans (`34` for a printed
`31`, `29` for `2.9`, `ASS 310Z` for `A5S 310Z`, `MS` for `M5`). Each word that may hold a number is
cropped and read again by a second engine (rapidocr's recogniser); where the two disagree, tesseract
reads the crop alone and arbitrates. The readings are stored on the word, so a cached re-run needs
no OCR.

    from prep.ocr import scan_page, OcrSettings
    scan = scan_page(Image.open("34-15.jpg"), OcrSettings())
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

# Bump when preprocessing changes what tesseract sees (or what the second reading stores): it is
# part of every cache key.
PREPROCESS_VERSION = 16


@dataclass(frozen=True)
class OcrSettings:
    lang: str = "eng"
    psm: int = 3  # automatic layout: tesseract finds the text blocks; we order them ourselves
    target_width: int = 1800  # scans narrower than this are upscaled (x-height ~10 px reads badly)
    max_upscale: float = 2.0

    def key(self) -> str:
        return json.dumps({**asdict(self), "v": PREPROCESS_VERSION, "tess": tesseract_version(),
                           "second_reader": second_reader_version()})


_TESS_VERSION: str | None = None


def tesseract_version() -> str:
    global _TESS_VERSION
    if _TESS_VERSION is None:
        import pytesseract

        _TESS_VERSION = str(pytesseract.get_tesseract_version())
    return _TESS_VERSION


_SECOND_READER_VERSION: str | None = None


def second_reader_version() -> str:
    """rapidocr-onnxruntime's version (its models ship in the wheel, so the version names them) and
    onnxruntime's, which runs them: a new one of either may read a crop differently."""
    global _SECOND_READER_VERSION
    if _SECOND_READER_VERSION is None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            _SECOND_READER_VERSION = f"rapidocr-onnxruntime {version('rapidocr-onnxruntime')}, onnxruntime {version('onnxruntime')}"
        except PackageNotFoundError as e:
            raise RuntimeError(f"{e.name} is not installed: every number is read twice, the second time by "
                               "rapidocr-onnxruntime (pip install -r requirements.txt)") from None
    return _SECOND_READER_VERSION


# ---------------------------------------------------------------------------------------------
# Cache: one JSON file per (file content, page, settings). Written to a temp file and renamed, so
# a run killed mid-write leaves no half file and the next run resumes where this one stopped.


def cache_key(file_hash: str, page: int, settings: OcrSettings) -> str:
    return hashlib.sha256(f"{file_hash}|{page}|{settings.key()}".encode()).hexdigest()[:32]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cached_scan(cache_dir: Path, key: str) -> tuple[dict | None, str | None]:
    """(the stored scan, None), or (None, None) where there is none, or (None, what is wrong) where the
    entry is damaged (cut short, not JSON, or without a scan's fields: a disk fault, a hand edit). A
    damaged entry is read as missing: the page is read again and the entry written anew; trusted,
    it dropped its page on every run."""
    path = cache_dir / f"{key}.json"
    try:
        scan = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None, None
    except OSError as err:
        return None, err.strerror or str(err)
    except ValueError as err:  # not JSON, or not UTF-8
        return None, f"not JSON: {err}" if str(err) else "not JSON"
    problem = scan_problem(scan)
    return (None, problem) if problem else (scan, None)


# What layout and blocks read of a scan, with the type each must have.
SCAN_FIELDS = {"width": int, "height": int, "words": list, "photos": list, "hlines": list, "vlines": list}
WORD_FIELDS = {"text": str, "conf": (int, float), "bbox": list, "line": list}


def scan_problem(scan) -> str | None:
    """What makes `scan` not a page scan this code wrote, in a few words; None when it is one."""
    if not isinstance(scan, dict):
        return "not a JSON object"
    for name, kind in SCAN_FIELDS.items():
        if not isinstance(scan.get(name), kind):
            return f"no {name!r}" if name not in scan else f"{name!r} is not a {kind.__name__}"
    for i, word in enumerate(scan["words"]):
        if not isinstance(word, dict) or not all(isinstance(word.get(k), t) for k, t in WORD_FIELDS.items()) \
                or len(word["bbox"]) != 4:
            return f"word {i + 1} lacks text, conf, bbox or line"
    return None


def store_scan(cache_dir: Path, key: str, scan: dict) -> None:
    from files import write_atomic  # a killed scan leaves no half entry: caches survive a kill

    write_atomic(cache_dir / f"{key}.json", json.dumps(scan))


# ---------------------------------------------------------------------------------------------
# Image analysis with numpy only (no opencv): window sums over an integral image stand in for
# morphological erosion, run lengths for line detection.


def window_sum(mask: np.ndarray, kh: int, kw: int) -> np.ndarray:
    """Sum of `mask` over the kh x kw window centred on each pixel."""
    # A window one pixel high or wide (the ruling-line searches) needs one cumulative sum, not two.
    # With merge_adjacent's look-up this took photo and rule finding on the e30 sample from 8.5 to
    # 5.6 s of CPU, the same rectangles and rules: time for the second reading of the numbers.
    if kh == 1:
        c = np.pad(mask.astype(np.int32), ((0, 0), (kw // 2 + 1, kw - kw // 2 - 1))).cumsum(1)
        return c[:, kw:] - c[:, :-kw]
    if kw == 1:
        c = np.pad(mask.astype(np.int32), ((kh // 2 + 1, kh - kh // 2 - 1), (0, 0))).cumsum(0)
        return c[kh:] - c[:-kh]
    a = np.pad(mask.astype(np.int32), ((kh // 2 + 1, kh - kh // 2 - 1), (kw // 2 + 1, kw - kw // 2 - 1)))
    c = a.cumsum(0).cumsum(1)
    return c[kh:, kw:] - c[:-kh, kw:] - c[kh:, :-kw] + c[:-kh, :-kw]


def photo_rects(gray: np.ndarray) -> list[list[int]]:
    """Rectangles of halftone photos: areas where ink is solid (survives an erosion wider than a
    text stroke) or that are mostly not paper. Text, rules and line drawings are thin, so they
    stay out."""
    cell = max(16, gray.shape[1] // 75)
    ink = gray < 140
    k = max(5, round(gray.shape[1] / 240)) | 1
    solid = window_sum(ink, k, k) == k * k
    not_paper = gray < 200
    gh, gw = gray.shape[0] // cell, gray.shape[1] // cell

    def share(m):
        return m[: gh * cell, : gw * cell].reshape(gh, cell, gw, cell).mean((1, 3))

    # Mostly-not-paper, not "mid-grey": scans print text in dark grey too, and large type on a
    # PDF render covers a third of a cell.
    grid = (share(solid) > 0.15) | (share(not_paper) > 0.6)
    # Close one-cell holes (white parts of a photo) so a photo is one component, not many.
    grid = (window_sum(window_sum(grid, 3, 3) > 0, 3, 3) == 9) | grid
    rects, seen = [], np.zeros_like(grid)
    for y0, x0 in zip(*np.nonzero(grid)):
        if seen[y0, x0]:
            continue
        stack, ys, xs = [(y0, x0)], [], []
        seen[y0, x0] = True
        while stack:
            y, x = stack.pop()
            ys.append(y)
            xs.append(x)
            for ny, nx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                if 0 <= ny < gh and 0 <= nx < gw and grid[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    stack.append((ny, nx))
        h, w = max(ys) - min(ys) + 1, max(xs) - min(xs) + 1
        # A photo is big and mostly filled; bold headings and stipple make small or sparse blobs.
        if h * cell >= 80 and w * cell >= 80 and len(ys) >= 0.4 * h * w:
            rects.append(trim_rect(gray, [int(v) * cell for v in (min(xs), min(ys), max(xs) + 1, max(ys) + 1)]))
    return rects


def trim_rect(gray: np.ndarray, rect: list[int]) -> list[int]:
    """Cells are coarse: shave rows and columns off the edges until they are photo (mostly not
    paper), so text set close beside a photo is not painted over with it."""
    x0, y0, x1, y1 = rect
    dark = gray[y0:y1, x0:x1] < 200
    cols = np.nonzero(dark.mean(0) >= 0.15)[0]
    rows = np.nonzero(dark.mean(1) >= 0.15)[0]
    if len(cols) == 0 or len(rows) == 0:
        return rect
    return [int(x0 + cols[0]), int(y0 + rows[0]), int(x0 + cols[-1] + 1), int(y0 + rows[-1] + 1)]


def runs(mask_1d: np.ndarray, min_len: int) -> list[tuple[int, int]]:
    """[start, end) of True runs at least min_len long."""
    d = np.diff(np.concatenate([[0], mask_1d.astype(np.int8), [0]]))
    starts, ends = np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]
    return [(s, e) for s, e in zip(starts, ends) if e - s >= min_len]


def ruling_lines(ink: np.ndarray) -> tuple[list[list[int]], list[list[int]]]:
    """Horizontal rules ([y, x0, x1]) at least a quarter page long, and the vertical rules
    ([x, y0, y1]) inside the area those rules span (table column separators). Vertical rules are
    only looked for there because tall glyphs of big headings would pass for short rules."""
    h, w = ink.shape
    horiz = window_sum(ink, 1, w // 4) == w // 4
    hlines = []
    for y in np.nonzero(horiz.any(1))[0]:
        for x0, x1 in runs(horiz[y], 1):
            x0, x1 = max(0, x0 - w // 8), min(w, x1 + w // 8)  # window centre -> run ends
            seg = ink[y, x0:x1]
            xs = np.nonzero(seg)[0]
            hlines.append([int(y), int(x0 + xs[0]), int(x0 + xs[-1] + 1)])
    hlines = merge_adjacent(hlines)
    vlines = []
    if len(hlines) >= 3:
        y0, y1 = min(l[0] for l in hlines), max(l[0] for l in hlines)
        x0, x1 = min(l[1] for l in hlines), max(l[2] for l in hlines)
        kv = max(15, h // 40)
        vert = window_sum(ink[y0 : y1 + 1, x0:x1], kv, 1) == kv
        for x in np.nonzero(vert.any(0))[0]:
            for a, b in runs(vert[:, x], 1):
                vlines.append([int(x0 + x), int(y0 + a - kv // 2), int(y0 + b + kv // 2)])
        vlines = merge_adjacent(vlines)
    return hlines, vlines


def merge_adjacent(lines: list[list[int]]) -> list[list[int]]:
    """Rules are a few pixels thick: merge runs on neighbouring rows/columns into one rule."""
    from bisect import bisect_left

    merged: list[list[int]] = []
    starts: list[int] = []  # merged[k][0], ascending: only rules from pos - 4 on can take this run
    for pos, a, b in sorted(lines):
        for m in merged[bisect_left(starts, pos - 4):]:
            if abs(m[0] - pos) <= 4 and a < m[2] and b > m[1]:
                m[1], m[2] = min(m[1], a), max(m[2], b)
                break
        else:
            merged.append([pos, a, b])
            starts.append(pos)
    return merged


# ---------------------------------------------------------------------------------------------
# The page scan itself.


def scan_page(image: Image.Image, settings: OcrSettings) -> dict:
    """One page read: tesseract's words, table grids, photos, each number read twice."""
    # Tesseract's OpenMP threads fight the process pool, and even alone they are slower on pages
    # this size (34-15: 7.3 s with 4 threads on 2 cores, 1.3 s with one). pytesseract passes no
    # env of its own, so the limit is set here, and only for the scan: left in the environment of a
    # process that goes on to train (prep called as a library, the tests), it reaches torch, whose
    # bf16 autocast on a CPU then computes NaN losses (torch 2.13, one OpenMP thread).
    before = os.environ.get("OMP_THREAD_LIMIT")
    os.environ["OMP_THREAD_LIMIT"] = before or "1"
    try:
        return _scan_page(image, settings)
    finally:
        if before is None:
            os.environ.pop("OMP_THREAD_LIMIT", None)


def _scan_page(image: Image.Image, settings: OcrSettings) -> dict:
    import pytesseract

    t0 = time.time()
    if image.mode in ("RGBA", "LA", "P"):  # transparent PNGs: flatten on white, not black
        image = image.convert("RGBA")
        bg = Image.new("RGBA", image.size, "white")
        image = Image.alpha_composite(bg, image)
    gray_img = image.convert("L")
    width, height = gray_img.size
    gray = np.asarray(gray_img)

    photos = photo_rects(gray)
    hlines, vlines = ruling_lines(gray < 140)
    clean = gray.copy()
    for x0, y0, x1, y1 in photos:
        clean[y0:y1, x0:x1] = 255
    for y, x0, x1 in hlines:
        clean[max(0, y - 3) : y + 4, x0:x1] = 255
    for x, y0, y1 in vlines:
        clean[y0:y1, max(0, x - 3) : x + 4] = 255

    # Ink left in each table cell after OCR, so layout can tell an empty cell from one holding a
    # mark too small for tesseract (the `°` of torque angles is a 3-pixel ring on these scans).
    from prep.layout import table_grids, word_like

    grids = table_grids({"width": width, "hlines": hlines, "vlines": vlines})
    cell_ink = [
        [[int((clean[max(0, a + 3) : b - 3, max(0, c + 4) : d - 4] < 140).sum()) for c, d in g["cols"]] for a, b in g["rows"]]
        for g in grids
    ]

    scale = min(settings.max_upscale, max(1.0, settings.target_width / width))
    ocr_img = Image.fromarray(clean)
    if scale > 1.0:
        ocr_img = ocr_img.resize((round(width * scale), round(height * scale)), Image.LANCZOS)
    # pytesseract hands the image over as a file: PNG by default, whose compression cost 0.06 s of
    # CPU a page (4.4 s on the e30 sample); PGM is written as is and reads the same.
    ocr_img.format = "PPM"
    data = pytesseract.image_to_data(
        ocr_img, lang=settings.lang, config=f"--psm {settings.psm}", output_type=pytesseract.Output.DICT
    )
    words = []
    for i, text in enumerate(data["text"]):
        text = text.strip()
        if not text or float(data["conf"][i]) < 0:
            continue
        x, y, w, h = (round(data[k][i] / scale) for k in ("left", "top", "width", "height"))
        words.append({
            "text": text,
            "conf": round(float(data["conf"][i]), 1),
            "bbox": [x, y, x + w, y + h],
            # tesseract's own grouping, used to rebuild lines; (block, par, line) is unique per page
            "line": [data["block_num"][i], data["par_num"][i], data["line_num"][i]],
        })
    # Page-level OCR skips a lone number in a wide empty table now and then (`80` in a Measure
    # cell) and misreads some bold group titles (`abs Hive` for `11 31`): a cell with ink and no
    # word, or a group title that does not start with its number, is read again on its own.
    # (Re-reading every unsure cell was tried: it turns `K20` into `'k20` as often as it helps.)
    for gi, g in enumerate(grids):
        for r, (a, b) in enumerate(g["rows"]):
            for c, (x0, x1) in enumerate(g["cols"]):
                if cell_ink[gi][r][c] < 30 or b - a > 0.2 * height:
                    continue
                mine = [w for w in words if x0 <= (w["bbox"][0] + w["bbox"][2]) / 2 < x1
                        and a <= (w["bbox"][1] + w["bbox"][3]) / 2 < b]
                # a group title row (`11 31 Camshaft Drive`: first cell only) must start with its number
                first = sorted(mine, key=lambda w: w["bbox"][0])[0]["text"] if mine else ""
                group_row = c == 0 and all(cell_ink[gi][r][k] < 30 for k in range(1, len(g["cols"])))
                suspect_group = group_row and not first[:1].isdigit()
                if mine and not suspect_group:
                    continue
                again = cell_words(gray[a + 3 : b - 3, x0 + 4 : x1 - 4], x0 + 4, a + 3, settings, [100 + gi, r, c])
                again = [w for w in again if w["conf"] >= 50 or word_like(w["text"])]
                better = bool(again)
                if suspect_group and again:
                    better = sorted(again, key=lambda w: w["bbox"][0])[0]["text"][:1].isdigit()
                if better:
                    words = [w for w in words if w not in mine] + again
    t1 = time.time()
    read_numbers_twice(clean, words, grids, settings)
    return {
        "width": width, "height": height, "scale": round(scale, 3), "words": words,
        "photos": photos, "hlines": hlines, "vlines": vlines, "cell_ink": cell_ink, "lang": settings.lang,
        "ocr_seconds": round(time.time() - t0, 2), "read_twice_seconds": round(time.time() - t1, 2),
    }


def cell_words(cell: np.ndarray, left: int, top: int, settings: OcrSettings, line_key: list[int]) -> list[dict]:
    import pytesseract

    if cell.size == 0:
        return []
    pad = 10  # tesseract reads glyphs that touch the image edge badly (`41` for `11`)
    img = Image.fromarray(np.pad(cell, pad, constant_values=255))
    img = img.resize((img.width * 2, img.height * 2), Image.LANCZOS)
    img.format = "PPM"  # not PNG: see scan_page
    data = pytesseract.image_to_data(img, lang=settings.lang, config="--psm 6", output_type=pytesseract.Output.DICT)
    out = []
    for i, text in enumerate(data["text"]):
        if text.strip() and float(data["conf"][i]) >= 0:
            x, y, w, h = (data[k][i] // 2 - (pad if k in ("left", "top") else 0) for k in ("left", "top", "width", "height"))
            out.append({"text": text.strip(), "conf": round(float(data["conf"][i]), 1),
                        "bbox": [left + x, top + y, left + x + w, top + y + h],
                        "line": [*line_key[:2], line_key[2] * 100 + data["line_num"][i]]})
    return out


# ---------------------------------------------------------------------------------------------
# Every number read twice. The words that may hold a number (in a ruled table every word but plain
# ones, since codes read `MS`/`ASS` have no digit in tesseract's reading; elsewhere the words with a
# digit) are cropped from the cleaned page and read by rapidocr's recogniser, a different engine
# (PP-OCRv4, its ONNX model shipped in the wheel). A word is numeric when either reading has a digit.
# Where the two disagree, tesseract reads the word's crop alone (no page context, upscaled): when
# that agrees with rapidocr (and has a digit), two engines agree and the word takes that text
# (`corrected`); otherwise it keeps tesseract's text and is `unsure`. Fields on each numeric word:
# read2 (rapidocr), read3 (crop tesseract, where a third reading was made), read1 (the page reading,
# where it was corrected), agreed / corrected / unsure (exactly one is true).

# A word of four letters or more, a capital at most at its start (`Torque`, `housing,`): no code or
# number misread. On the e30 sample these are 309 of the 1642 words to read (a fifth of the second
# reading's time, their crops being wide), and none of them had a digit in rapidocr's reading.
PLAIN_WORD_RE = re.compile(r"[A-Za-z][a-z]{3,}[.,:;]?")


def read_numbers_twice(clean: np.ndarray, words: list[dict], grids: list[dict], settings: OcrSettings) -> None:
    from prep.layout import inside

    chosen = [i for i, w in enumerate(words) if has_digit(w["text"])
              or not PLAIN_WORD_RE.fullmatch(w["text"]) and any(inside(w["bbox"], g["bbox"]) for g in grids)]
    if not chosen:
        return
    boxes = np.array([w["bbox"] for w in words]).reshape(-1, 4)
    crops = {i: word_crop(clean, boxes, i) for i in chosen}
    second = dict(zip(chosen, second_readings([crops[i] for i in chosen], QUICK_SHAPE)))
    # Where the quick reading disagrees, rapidocr reads again at the height its model was trained
    # on, and that reading counts: a quick read loses characters of long codes (`M40/M42/M43/M4/M50`).
    again = [i for i in chosen if (has_digit(words[i]["text"]) or has_digit(second[i]))
             and not same_reading(words[i]["text"], second[i])]
    second.update(zip(again, second_readings([crops[i] for i in again], FULL_SHAPE)))
    numeric = [i for i in chosen if has_digit(words[i]["text"]) or has_digit(second[i])]
    for i in numeric:
        words[i].update(read2=second[i], agreed=same_reading(words[i]["text"], second[i]), corrected=False, unsure=False)
    disputed = [i for i in numeric if not words[i]["agreed"]]
    for i, third in zip(disputed, crop_readings([crops[i] for i in disputed], settings.lang)):
        w = words[i]
        w["read3"] = third
        # A correction has a digit and does not merely drop digits tesseract read: a box may miss a
        # glyph of its word (on 65-101a the box of `M6` holds the `M` alone, on 0670-03 the box of
        # `2.5` the `2.`), and the crop cannot show it. There the page reading stays, unsure.
        if same_reading(third, w["read2"]) and has_digit(third) and not only_digits_dropped(w["text"], third):
            w.update(read1=w["text"], text=w["read2"], corrected=True)
        elif lone_zero(w["text"], third, w["read2"]):
            w.update(read1=w["text"], corrected=True, vouched="tesseract twice")
        else:
            w["unsure"] = True
    # A code tesseract reads with a letter for a digit every time (`ASS` for `A5S`, `MS` for `M5`:
    # page and crop alike) is taken as rapidocr reads it when the two differ only by such look-alike
    # characters and both engines read exactly that code elsewhere on this page. A number is never
    # settled this way (`31` vs `34`, `29` vs `2.9` stay unsure): the reading must keep a letter.
    vouched = {part for w in words if w.get("agreed") or w.get("corrected") for part in code_parts(w["text"])}
    for i in disputed:
        w = words[i]
        if w["unsure"] and vouched_by_page(w["text"], w["read2"], vouched):
            w.update(read1=w["text"], text=w["read2"], corrected=True, unsure=False, vouched="page")


def lone_zero(page: str, crop: str, second: str) -> bool:
    """A zero alone in its word (the test pages' `approximately "0" ohm`), read `0` by tesseract on
    the page and on the crop, and `o` by rapidocr: rapidocr reads a lone round glyph as a letter
    without the digits around it that tell it apart. The letter is no other number; only a lone
    `0` is settled this way (`10` against `1o` stays unsure)."""
    bare = lambda text: "".join(text.split()).strip("\"“”'’()[]:;,.")
    return bare(page) == "0" and bare(crop) == "0" and bare(second) in ("o", "O")


def vouched_by_page(page_reading: str, second: str, vouched: set[str]) -> bool:
    """Is rapidocr's reading a look-alike of tesseract's that keeps a letter, made of codes both
    engines read elsewhere on the page?"""
    parts = code_parts(second)
    return look_alike(page_reading, second) and bool(parts) and set(parts) <= vouched


# Letters and digits that tesseract and rapidocr take for each other on these scans.
LOOK_ALIKE = {frozenset(p) for p in ("s5", "s8", "o0", "d0", "q0", "i1", "l1", "b8", "z2", "g6", "t7")}


def look_alike(a: str, b: str) -> bool:
    """Same length, and every difference a letter/digit look-alike pair (`ASS`/`A5S`, `ms`/`M8`)."""
    a, b = "".join(a.split()).casefold(), "".join(b.split()).casefold()
    diffs = [frozenset((x, y)) for x, y in zip(a, b) if x != y]
    return len(a) == len(b) and bool(diffs) and all(d in LOOK_ALIKE for d in diffs)


def code_parts(text: str) -> list[str]:
    """The codes in a word, each with a letter and a digit: `4HP-24EH/A5S` -> [`4hp-24eh`, `a5s`]."""
    parts = re.split(r"[/,;()]+", "".join(text.split()).casefold())
    return [p for p in parts if re.search(r"\d", p) and re.search(r"[^\W\d_]", p)]


def has_digit(text: str) -> bool:
    return any(c.isdigit() for c in text)


def only_digits_dropped(page: str, crop: str) -> bool:
    """Is the crop's reading the page reading with characters taken out, a digit among them
    (`2.5` -> `2.`)?"""
    page, crop = ("".join(t.split()).casefold() for t in (page, crop))
    rest = iter(page)
    is_part = all(c in rest for c in crop)  # in order: `in` consumes the iterator
    return is_part and sum(map(str.isdigit, crop)) < sum(map(str.isdigit, page))


def same_reading(a: str, b: str) -> bool:
    """Equal but for case, spaces and a decimal comma (`6,6` is `6.6`), tesseract's `$` for the S of
    a code (`$52` is `S52`: prep.blocks.clean_text writes it back as printed) and a speck before a
    letter (`|K20`, cleaned from the cell later); nothing else:
    `29` is not `2.9`, `31` is not `34`, `MS` is not `M5`. An empty reading agrees with nothing:
    two engines that see no text have not read a number.

    Two marks rapidocr cannot see on these scans are no disagreement about the number beside them:
    quotes and brackets at a word's edge (`(0.472")` read `(0.472)`), and the degree sign, a
    three-pixel ring that it reads as a zero or not at all (`30°` read `300`, `(390°` read `(390`).
    A full stop both readings end with is the sentence's (`90°.` read `900.`, `(0.039”).` read `(0.039").`).
    The digits before the ring must agree, and the word keeps tesseract's `°`."""
    def norm(text: str) -> str:
        text = re.sub(r"(?<![\w$])\$(?=\d{2,3}\b)", "S", "".join(text.split()))
        text = re.sub(r"^[|'`‘’]+(?=[^\W\d_])", "", text)   # a speck before a letter (`|K20`); `|5` may be 15
        return re.sub(r"(?<=\d),(?=\d)", ".", text).casefold()

    a, b = norm(a), norm(b)
    if not a:
        return False
    if a == b:
        return True
    if a.endswith(".") and b.endswith("."):   # the sentence's full stop, both read it (`90°.`, `(0.039").`)
        a, b = a[:-1], b[:-1]
    a, b = (t.strip("\"“”'’()[]:;,") for t in (a, b))
    for x, y in ((a, b), (b, a)):
        m = re.fullmatch(r"(.*\d)[°º]", x)
        if m and y in (m[1], m[1] + "0", m[1] + "o"):
            return True
    return bool(a) and a == b


def word_crop(clean: np.ndarray, boxes: np.ndarray, i: int) -> np.ndarray:
    """The word's box with a margin of a quarter of its height, neighbouring words painted out:
    tesseract's boxes are tight, and a neighbour's glyph in the margin would be read as part of
    this word."""
    height, width = clean.shape
    x0, y0, x1, y1 = (int(v) for v in np.clip(boxes[i], 0, [width, height, width, height]))
    pad = max(3, round(0.25 * (y1 - y0)))
    cx0, cy0 = max(0, x0 - pad), max(0, y0 - pad)
    cx1, cy1 = min(width, x1 + pad), min(height, y1 + pad)
    crop = clean[cy0:cy1, cx0:cx1].copy()
    nested = []
    near = (boxes[:, 0] < cx1) & (boxes[:, 2] > cx0) & (boxes[:, 1] < cy1) & (boxes[:, 3] > cy0)
    near[i] = False
    for ox0, oy0, ox1, oy1 in boxes[near].tolist():
        crop[max(0, oy0 - cy0) : oy1 - cy0, max(0, ox0 - cx0) : ox1 - cx0] = 255
        # A narrow word within this one's columns (the `C` of `48° C` on 13-804, the `/` of
        # `20 /` on 17-04) is a word of its own that tesseract's box took in: it stays painted out.
        # Any other overlap is the neighbour's box reaching over this word's ink: put that back.
        inner = max(0, min(x1, ox1) - max(x0, ox0))
        if ox1 - ox0 < 0.5 * (x1 - x0) and inner >= 0.8 * (ox1 - ox0) and oy0 < y1 and oy1 > y0:
            nested.append((ox0, oy0, ox1, oy1))
    crop[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0] = clean[y0:y1, x0:x1]
    for ox0, oy0, ox1, oy1 in nested:
        crop[max(0, oy0 - cy0) : oy1 - cy0, max(0, ox0 - cx0) : ox1 - cx0] = 255
    return crop


_RECOGNISER = None


def text_recogniser():
    """rapidocr's text recogniser alone (no detection, no angle classifier), loaded once per process."""
    global _RECOGNISER
    if _RECOGNISER is None:
        # onnxruntime (1.32, Linux too) sends usage events from its native code to
        # mobile.events.data.microsoft.com some 10 s after it loads (DNS look-ups that the offline
        # test's Python audit hook cannot see), and keeps a device id and an event store under
        # ~/.cache/Microsoft. Only this variable turns that off, and only when it is set before the
        # library loads: onnxruntime.disable_telemetry_events() leaves the uploads on.
        os.environ["ORT_DISABLE_TELEMETRY"] = "1"
        import rapidocr_onnxruntime
        from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer
        from rapidocr_onnxruntime.utils import read_yaml

        root = Path(rapidocr_onnxruntime.__file__).parent
        config = read_yaml(str(root / "config.yaml"))["Rec"]
        config["model_path"] = str(root / config["model_path"])
        # One thread: pages are read one per process, a process per core (as tesseract is).
        config["intra_op_num_threads"] = 1
        config["rec_batch_num"] = 16
        _RECOGNISER = TextRecognizer(config)
    return _RECOGNISER


# The recogniser reads each crop scaled to a strip this high, padded to at least this wide. Its model
# was trained on 48 x 320; a word crop is some 100 px wide at 48 high, so 48 x 320 costs 40 ms of
# CPU a crop, 48 x 96 17 ms and 32 x 64 8 ms (e30 sample, one thread). The quick shape reads 901 of
# the sample's 1179 numeric words as tesseract does (48 x 96: 950): quick first, 48 high where the
# quick reading disagrees. Padding those to 320 agrees with tesseract no more often (62 of 278
# against 64) at 2.3x the time.
QUICK_SHAPE = (32, 64)
FULL_SHAPE = (48, 96)


def second_readings(crops: list[np.ndarray], shape: tuple[int, int]) -> list[str]:
    """rapidocr's reading of each crop, all crops of a page in one call."""
    import unicodedata

    if not crops:
        return []
    readable = [k for k, c in enumerate(crops) if c.shape[0] >= 2 and c.shape[1] >= 2]
    texts = [""] * len(crops)
    if readable:
        recogniser = text_recogniser()
        recogniser.rec_image_shape = [3, *shape]
        results, _ = recogniser([np.repeat(crops[k][:, :, None], 3, axis=2) for k in readable])
        for k, (text, _score) in zip(readable, results):
            # The model's alphabet is Chinese and English: it writes full-width forms (`（`, `，`);
            # NFKC maps them to the ASCII the page prints.
            texts[k] = unicodedata.normalize("NFKC", text).strip()
    return texts


def crop_readings(crops: list[np.ndarray], lang: str) -> list[str]:
    """Tesseract on each crop alone, as one line (--psm 7), upscaled 3x. The crops go to one
    tesseract run as the pages of a TIFF: a run per crop costs ~0.15 s of start-up each."""
    import pytesseract

    if not crops:
        return []
    pad = 10  # glyphs touching the image edge read badly (see cell_words)
    pages = []
    for c in crops:
        img = Image.fromarray(np.pad(c, pad, constant_values=255))
        pages.append(img.resize((img.width * 3, img.height * 3), Image.LANCZOS))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "crops.tif")
        pages[0].save(path, save_all=True, append_images=pages[1:])
        data = pytesseract.image_to_data(path, lang=lang, config="--psm 7", output_type=pytesseract.Output.DICT)
    texts: list[list[str]] = [[] for _ in crops]
    for k, text in enumerate(data["text"]):
        if text.strip() and float(data["conf"][k]) >= 0:
            texts[data["page_num"][k] - 1].append(text.strip())
    return [" ".join(t) for t in texts]
