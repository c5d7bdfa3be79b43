"""Input folder -> the list of pages to read, and the reading of one page's raw material.

A page is one image file, one PDF page or one HTML file. Every problem with a file (zero bytes,
not an image, encrypted PDF, unknown extension, a name that is not UTF-8, an HTML file with no
table) and every folder that cannot be listed becomes one error line, and the run goes on.

Section id and name come from folder names like `34 - Brakes`; pages elsewhere (the electrical
manual's folder) get theirs from the page header later.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff"}
PDF_SUFFIXES = {".pdf"}
HTML_SUFFIXES = {".html", ".htm"}
# Scans narrower than this (PDF pages render at 72 dpi by default) read badly; render at ~200 dpi.
PDF_RENDER_WIDTH = 1700


@dataclass(frozen=True)
class PageRef:
    path: str  # relative to the input root, with forward slashes
    page: int  # 1-based
    method: str  # "ocr" | "pdf-text" | "html"


def folder_section(rel_path: str) -> tuple[str | None, str | None]:
    """`34 - Brakes/34-15.jpg` -> ("34", "Brakes"); the innermost matching folder wins."""
    for part in reversed(Path(rel_path).parts[:-1]):
        m = re.match(r"^(\d{2,4})\s*-\s*(.+)$", part)
        if m:
            return m.group(1), m.group(2).strip()
    return None, None


def list_pages(src_dir: Path) -> tuple[list[PageRef], list[str]]:
    """All pages under src_dir in a stable order, and one error line per file that cannot be read."""
    pages, errors = [], []

    def unlisted(err: OSError) -> None:
        rel = Path(err.filename).relative_to(src_dir).as_posix()
        shown = os.fsencode(rel).decode("utf-8", "backslashreplace")
        fix = "; allow reading it (chmod u+rx) and run again" if isinstance(err, PermissionError) else ""
        errors.append(f"{shown}/: folder cannot be listed ({err.strerror}); the pages in it are not read{fix}")

    # os.walk, not Path.rglob: rglob passes over a folder it may not list (PermissionError) without
    # a word, and every page in it would be missing from the dataset unseen.
    found = [Path(folder) / name for folder, _, names in os.walk(src_dir, onerror=unlisted)
             for name in names if not name.startswith(".")]
    for path in sorted(p for p in found if p.is_file()):
        rel = path.relative_to(src_dir).as_posix()
        suffix = path.suffix.lower()
        try:
            rel.encode("utf-8")
        except UnicodeEncodeError:
            # A name in another encoding (Latin-1 from an old Windows share or zip): Python carries
            # its bytes as lone surrogates, which no UTF-8 file (blocks.jsonl, errors.txt) can hold,
            # and a page whose name cannot be written cannot be traced back to. Shown with its bytes
            # escaped, as `caf\xe9.jpg`, so the user can find it.
            shown = os.fsencode(rel).decode("utf-8", "backslashreplace")
            errors.append(f"{shown}: file name is not UTF-8 (bytes shown as \\xNN); rename the file to read this page")
            continue
        try:
            if path.stat().st_size == 0:
                raise ValueError("empty file (0 bytes)")
            if suffix in IMAGE_SUFFIXES:
                check_image(path)
                pages.append(PageRef(rel, 1, "ocr"))
            elif suffix in PDF_SUFFIXES:
                pages += [PageRef(rel, i + 1, m) for i, m in enumerate(pdf_page_methods(path))]
            elif suffix in HTML_SUFFIXES:
                # Only its tables are read: without one the file would pass as a page of no blocks.
                # Read here, as a PDF's pages are, so it is reported with the other bad files.
                if not html_tables(path):
                    raise ValueError("HTML file with no table; only spec tables (<table> with rows) "
                                     "are read from HTML")
                pages.append(PageRef(rel, 1, "html"))
            else:
                raise ValueError(f"unknown file type {suffix or '(no extension)'!r}; "
                                 "expected images (jpg, png, tif), pdf or html")
        except Exception as e:  # noqa: BLE001 - any unreadable file is reported, never fatal
            errors.append(f"{rel}: {e}")
    return pages, errors


def check_image(path: Path) -> None:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.verify()  # reads the whole file: catches truncated JPEGs, not only bad headers
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"not a readable image ({type(e).__name__}: {e})") from None


def load_image(path: Path):
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        return im.copy()


# ---------------------------------------------------------------------------------------------
# PDFs: a page with a text layer is read from it (exact, no OCR); a page without one is rendered.


def open_pdf(path: Path):
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as e:
        msg = str(e)
        if "password" in msg.lower():
            raise ValueError("encrypted PDF (needs a password); decrypt it first") from None
        raise ValueError(f"unreadable PDF ({msg})") from None


def pdf_page_methods(path: Path) -> list[str]:
    pdf = open_pdf(path)
    try:
        methods = []
        for page in pdf:
            # A few characters (page numbers, scanner stamps) are not a text layer.
            text = page.get_textpage().get_text_range()
            methods.append("pdf-text" if len(text.strip()) >= 40 else "ocr")
        if not methods:
            raise ValueError("PDF has no pages")
        return methods
    finally:
        pdf.close()


def pdf_page_text(path: Path, page: int) -> list[tuple[str, list[float]]]:
    """Text lines of a PDF page with their boxes, top to bottom, in image-like coordinates
    (origin top left, points)."""
    pdf = open_pdf(path)
    try:
        pg = pdf[page - 1]
        height = pg.get_height()
        tp = pg.get_textpage()
        text = tp.get_text_range()
        lines = []
        pos = 0
        for raw in re.split(r"(\r\n|\n|\r)", text):
            if raw in ("\r\n", "\n", "\r"):
                pos += len(raw)
                continue
            if raw.strip():
                boxes = [tp.get_charbox(i) for i in range(pos, pos + len(raw)) if not raw[i - pos].isspace()]
                if boxes:
                    x0 = min(b[0] for b in boxes)
                    x1 = max(b[2] for b in boxes)
                    y0 = height - max(b[3] for b in boxes)
                    y1 = height - min(b[1] for b in boxes)
                    lines.append((raw.strip(), [round(x0), round(y0), round(x1), round(y1)]))
            pos += len(raw)
        return lines
    finally:
        pdf.close()


def render_pdf_page(path: Path, page: int):
    pdf = open_pdf(path)
    try:
        pg = pdf[page - 1]
        return pg.render(scale=PDF_RENDER_WIDTH / pg.get_width()).to_pil()
    finally:
        pdf.close()


# ---------------------------------------------------------------------------------------------
# HTML spec sheets: tables read directly. A row whose first cell holds a heading (<h2>) starts a
# new table; its other cells are that table's column headings (K20 / K25 on our spec sheet).


def html_tables(path: Path) -> list[dict]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(path.read_bytes(), "html.parser")
    page_title = soup.title.get_text(" ", strip=True) if soup.title else path.stem
    tables = []
    for table in soup.find_all("table"):
        current = None
        for tr in table.find_all("tr"):
            cells = []
            # Only this row's own cells: a stray `<tr><tr>` nests every later row inside this one.
            for td in tr.find_all(["td", "th"], recursive=False):
                text = "\n".join(s.strip() for s in td.get_text("\n").split("\n") if s.strip())
                cells.append(text)
                cells += [""] * (int(td.get("colspan", 1) or 1) - 1)  # keep cells under columns
            if not cells:
                continue
            first = tr.find(["td", "th"], recursive=False)
            if first is not None and first.find(["h1", "h2", "h3", "h4"]) is not None:
                current = {"title": cells[0], "columns": [""] + cells[1:], "rows": []}
                tables.append(current)
            else:
                if current is None:
                    current = {"title": page_title, "columns": [""] * len(cells), "rows": []}
                    tables.append(current)
                current["rows"].append(cells)
    return [t for t in tables if t["rows"]]
