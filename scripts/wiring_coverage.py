"""How many of a wiring diagram's fuse ratings and wire sizes a person read off the page the WIRING
task holds, and what it holds that the page does not print.

    python scripts/wiring_coverage.py build/e30-work tests/truth/e30_more_pages.json

The truth file lists, for each wiring page read by eye, each fuse's rating (`"unit": "AMP"`, `"for":
"FUSE 10 rating"`) and each wire's cross-section and colour (`"unit": null`, `"for": "wire .75
GN/WT: FUSE 10 to ..."`). prep/blocks.py's wiring block of the page (blocks.jsonl in the work
folder) lists the fuses with their ratings and the distinct (size, colour) pairs of its wires, which
the WIRING task teaches and the search index holds. A rating is covered when the block gives that
fuse that rating; a wire when its (size, colour) pair is among the block's pairs. A wrong fuse
rating, and a pair no wire of the page has, are printed: candidate wrong readings.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from decimal import Decimal
from pathlib import Path


def amps(text: str) -> Decimal | None:
    m = re.search(r"\d+(?:\.\d+)?", text or "")
    return Decimal(m[0]) if m else None


def size(text: str) -> Decimal:
    return Decimal(text if not text.startswith(".") else "0" + text)


def coverage(blocks: list[dict], truth: dict, show=lambda line: None) -> dict:
    """Totals over the truth's wiring pages; `show` gets the per-page lines."""
    wiring = {b["source"]["path"]: b["fields"] for b in blocks if b["kind"] == "wiring"}
    totals = {"fuses": 0, "fuses_read": 0, "fuses_wrong": 0, "wires": 0, "wires_read": 0, "pairs_wrong": 0}
    for page in truth["pages"]:
        fuses = {m[1]: amps(f["value"]) for f in page["facts"] if (f.get("unit") or "").upper() == "AMP"
                 for m in [re.search(r"FUSE\s+(\d+)", f.get("for") or "")] if m}
        pairs = {(size(m[1]), m[2]) for f in page["facts"] if f.get("unit") is None
                 for m in [re.match(r"wire\s+(\.?\d+(?:\.\d+)?)\s+([A-Z]{2}(?:/[A-Z]{2})?)", f.get("for") or "")] if m}
        if not fuses and not pairs:
            continue
        fields = wiring.get(page["file"])
        show(f"\n{page['page']}  ({page['file']})" + ("" if fields else "  — no wiring block"))
        fields = fields or {}
        read_fuses = {f["id"]: amps(f.get("rating") or "") for f in fields.get("fuses", [])}
        read_pairs = {(size(w["size"]), w["colour"]) for w in fields.get("wires", [])}
        for fuse, rating in sorted(fuses.items(), key=lambda x: int(x[0])):
            got = read_fuses.get(fuse)
            mark = "✓" if got == rating else ("✗ WRONG" if got is not None else "✗")
            show(f"  {mark} FUSE {fuse} {rating} A" + (f" (read {got} A)" if got not in (None, rating) else ""))
        for pair in sorted(pairs):
            show(f"  {'✓' if pair in read_pairs else '✗'} wire {pair[0]} {pair[1]}")
        wrong = sorted(read_pairs - pairs)
        for pair in wrong:
            show(f"  ! read {pair[0]} {pair[1]}: no wire of the page has that size and colour")
        totals["fuses"] += len(fuses)
        totals["fuses_read"] += sum(read_fuses.get(k) == v for k, v in fuses.items())
        totals["fuses_wrong"] += sum(read_fuses.get(k) not in (None, v) for k, v in fuses.items())
        totals["wires"] += len(pairs)
        totals["wires_read"] += len(pairs & read_pairs)
        totals["pairs_wrong"] += len(wrong)
    return totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path, help="prep's work folder (blocks.jsonl)")
    parser.add_argument("truth", type=Path)
    args = parser.parse_args()
    blocks = [json.loads(l) for l in (args.work / "blocks.jsonl").read_text(encoding="utf-8").splitlines()]
    t = coverage(blocks, json.loads(args.truth.read_text(encoding="utf-8")), print)
    print(f"\nfuse ratings: {t['fuses_read']}/{t['fuses']} read, {t['fuses_wrong']} wrong; "
          f"wire (size, colour) pairs: {t['wires_read']}/{t['wires']} read, {t['pairs_wrong']} read that no wire of the page has")
    return 0


if __name__ == "__main__":
    sys.exit(main())
