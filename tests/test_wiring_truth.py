"""The wiring diagrams' fuse ratings and wire sizes, against the pages read by eye.

    pytest tests/test_wiring_truth.py -q

tests/truth/e30_more_pages.json lists every fuse rating and every wire's size and colour of three
wiring pages of ../shared/samples/e30-m3 (skipped where absent), written by a reader who saw only
the images. The WIRING task teaches the fuses and the (size, colour) pairs prep's wiring block
holds: a rating or a pair no wire of the page has is a wrong reading (there must be none), and the
share read is held at what is measured (scripts/wiring_coverage.py prints each page).
"""

import json
from pathlib import Path

import pytest

from prep.blocks import wiring_block
from scripts.wiring_coverage import coverage

from tests.helpers import SAMPLES, read_real_pages

TRUTH = json.loads((Path(__file__).parent / "truth/e30_more_pages.json").read_text(encoding="utf-8"))
WIRING_PAGES = [p["file"] for p in TRUTH["pages"] if any(f.get("where") == "diagram" for f in p["facts"])]


@pytest.mark.slow
@pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"{SAMPLES} not present")
def test_no_fuse_rating_or_wire_the_page_does_not_print(tmp_path):
    assert len(WIRING_PAGES) == 3
    _, blocks, _ = read_real_pages(WIRING_PAGES, tmp_path)
    t = coverage(blocks, TRUTH)
    assert (t["fuses"], t["wires"]) == (10, 32)
    assert t["fuses_wrong"] == 0 and t["pairs_wrong"] == 0, t
    assert t["fuses_read"] >= 8 and t["wires_read"] >= 18, t     # measured: 8 of 10, 18 of 32


def line(text: str, x: int = 0, y: int = 0) -> dict:
    words, at = [], x
    for w in text.split():
        words.append({"text": w, "bbox": [at, y, at + 10 * len(w), y + 10], "conf": 90})
        at += 10 * len(w) + 6
    return {"text": text, "bbox": [x, y, at, y + 10], "conf": 90, "words": words}


def test_a_wire_whose_second_colour_is_unread_is_no_wire_of_the_first_colour():
    # 0670-03 / 0670-08 as OCR'd: `.75 GN/RD` read `75 GN/RO`, `.75 GN/WT` read `75 GN/AWT`
    block = wiring_block([line("75 GN/RO", 0, 0), line("75 GN/AWT", 0, 40), line(".5 GN/WT", 0, 80)], [], "0670-3")
    assert [(w["size"], w["colour"]) for w in block["fields"]["wires"]] == [(".5", "GN/WT")]
