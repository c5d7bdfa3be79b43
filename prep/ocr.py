"""Page image -> words with boxes and confidences, cached.

Order of work on one page image:
  grayscale -> upscale small scans -> find photos and ruling lines -> paint them white -> tesseract
  -> words (boxes back in original pixels) -> cache.

What tesseract sees is the page without photos and without table rules: photos OCR to garbage
(`30 34 062`, `|||`), and rules are read as `|` or glue neighbouring cells together. The photo
rectangles and the rules are kept in the result, because layout needs them (reading order, table
grids) and a cached re-run must not open the image again.

    from prep.ocr import scan_page, OcrSettings
    scan = scan_page(Image.open("34-15.jpg"), OcrSettings())
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

# Bump when preprocessing changes what tesseract sees: it is part of every cache key.
PREPROCESS_VERSION = 9


@dataclass(frozen=True)
class OcrSettings:
    lang: str = "eng"
    psm: int = 3  # automatic layout: tesseract finds the text blocks; we order them ourselves
    target_width: int = 1800  # scans narrower than this are upscaled (x-height ~10 px reads badly)
    max_upscale: float = 2.0

    def key(self) -> str:
        return json.dumps({**asdict(self), "v": PREPROCESS_VERSION, "tess": tesseract_version()})


_TESS_VERSION: str | None = None


def tesseract_version() -> str:
    global _TESS_VERSION
    if _TESS_VERSION is None:
        import pytesseract

        _TESS_VERSION = str(pytesseract.get_tesseract_version())
    return _TESS_VERSION


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


def cached_scan(cache_dir: Path, key: str) -> dict | None:
    path = cache_dir / f"{key}.json"
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def store_scan(cache_dir: Path, key: str, scan: dict) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(scan, f)
    os.replace(tmp, cache_dir / f"{key}.json")


# ---------------------------------------------------------------------------------------------
# Image analysis with numpy only (no opencv): window sums over an integral image stand in for
# morphological erosion, run lengths for line detection.


def window_sum(mask: np.ndarray, kh: int, kw: int) -> np.ndarray:
    """Sum of `mask` over the kh x kw window centred on each pixel."""
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
    merged: list[list[int]] = []
    for pos, a, b in sorted(lines):
        for m in merged:
            if abs(m[0] - pos) <= 4 and a < m[2] and b > m[1]:
                m[1], m[2] = min(m[1], a), max(m[2], b)
                break
        else:
            merged.append([pos, a, b])
    return merged


# ---------------------------------------------------------------------------------------------
# The page scan itself.


def scan_page(image: Image.Image, settings: OcrSettings) -> dict:
    import pytesseract

    # Tesseract's OpenMP threads fight the process pool, and even alone they are slower on pages
    # this size (34-15: 7.3 s with 4 threads on 2 cores, 1.3 s with one).
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
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
    return {
        "width": width, "height": height, "scale": round(scale, 3), "words": words,
        "photos": photos, "hlines": hlines, "vlines": vlines, "cell_ink": cell_ink, "lang": settings.lang,
        "ocr_seconds": round(time.time() - t0, 2),
    }


def cell_words(cell: np.ndarray, left: int, top: int, settings: OcrSettings, line_key: list[int]) -> list[dict]:
    import pytesseract

    if cell.size == 0:
        return []
    pad = 10  # tesseract reads glyphs that touch the image edge badly (`41` for `11`)
    img = Image.fromarray(np.pad(cell, pad, constant_values=255))
    img = img.resize((img.width * 2, img.height * 2), Image.LANCZOS)
    data = pytesseract.image_to_data(img, lang=settings.lang, config="--psm 6", output_type=pytesseract.Output.DICT)
    out = []
    for i, text in enumerate(data["text"]):
        if text.strip() and float(data["conf"][i]) >= 0:
            x, y, w, h = (data[k][i] // 2 - (pad if k in ("left", "top") else 0) for k in ("left", "top", "width", "height"))
            out.append({"text": text.strip(), "conf": round(float(data["conf"][i]), 1),
                        "bbox": [left + x, top + y, left + x + w, top + y + h],
                        "line": [*line_key[:2], line_key[2] * 100 + data["line_num"][i]]})
    return out
