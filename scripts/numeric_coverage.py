"""How many of the numbers a person read off the pages are in the dataset's SPEC facts, page by page.

    python scripts/numeric_coverage.py data/ tests/truth/e30_text_values.json
    python scripts/numeric_coverage.py data/ tests/truth/e30_text_values.json --quiet   # summary only

The truth file lists, for each page read by eye, every spec or test value printed in its text (see
its "about"). A truth value is covered when a fact of the spec index (data/spec_index.jsonl) from the
same page file has the same number(s) in the same unit, read as spec_check.py reads units ("approx. 0
volt" and "0 V" are one value, "0.13 to 0.23 mm" one range); "in an example" says whether a SPEC
row of hf_train / hf_val / hf_recall from that page answers with it (the gates may have rejected
the row while the index kept the fact). Also printed: whether the condition's numbers made it into
the fact's condition, a qualifier that differs from the page ("<" read for "≤"), and every fact from
those pages whose value is not on the truth's list for its page: a candidate wrong number.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vocab.units import canonical_unit, find_quantities, number_value

# ------------------------------------------------------------------ reading a value the same way on both sides

# A dash right before a number is its sign unless a number stands before the dash (a range "0.8 - 1.1").
SIGNED_NUMBER = re.compile(r"(?P<sign>[-–—−]\s?)?(?P<number>\d+(?:[.,]\d+)*)")
QUALIFIERS = [  # spellings of one comparison, for telling "<" from "≤" (the scans' ⩽ is often read as <)
    ("≈", r"approx\.?|approximately|about|ca\.|≈|~"),
    ("≥", r"at least|min\.|minimum|not less than|≥|⩾|>="),
    ("≤", r"at most|max\.|maximum|not more than|up to|≤|⩽|<="),
    (">", r"more than|greater than|over|above|>"),
    ("<", r"less than|below|under|<"),
    ("within", r"within"),
]


def value_key(value: str, unit: str) -> tuple[tuple[Decimal, ...], str] | None:
    """("approx. 0", "volt") → ((0,), "V"); ("– 0.35", "bar") → ((-0.35,), "bar"); ("3 to 4", "cm") →
    ((3, 4), "cm"). None when the value holds no number."""
    numbers = []
    for m in SIGNED_NUMBER.finditer(value.replace('"', " ")):
        number = number_value(m["number"])
        if number is None:
            continue
        signed = m["sign"] and not re.search(r"\d\s*$", value[:m.start()])
        numbers.append(-number if signed else number)
    # a value printed without a unit (a wiring diagram's wire size `.75`, a spring table's `+ 7`)
    # keeps an empty unit: it can only match a fact that also has none
    return (tuple(numbers), canonical_unit((unit or "").strip().rstrip("."))) if numbers else None


def qualifier(value: str) -> str:
    for name, spellings in QUALIFIERS:
        if re.search(rf"(?i)(?:^|\s)(?:{spellings})(?=\s|\d|$)", value):
            return name
    return ""


def condition_keys(text: str | None) -> set[tuple[tuple[Decimal, ...], str]]:
    """The numbers with units in a fact's condition ("with a coolant temp. of > 48° C (118° F)")."""
    keys = set()
    for _, value, unit, start in find_quantities(text or ""):
        # the sign the scan prints apart from its number ("< — 8° C") is still its sign
        before = (text or "")[:start]
        sign = re.search(r"[-–—−]\s?$", before) and not re.search(r"\d\s*[-–—−]\s?$", before)
        key = value_key(("-" if sign else "") + value, unit)
        if key:
            keys.add(key)
    return keys


def condition_qualifier(text: str | None, printed: dict) -> str:
    """The comparison a fact's condition puts before one of its numbers ("of < 30° C" → "<")."""
    want = value_key(printed["value"], printed["unit"])
    for _, value, unit, start in find_quantities(text or ""):
        before = (text or "")[:start]
        sign = re.search(r"[-–—−]\s?$", before) and not re.search(r"\d\s*[-–—−]\s?$", before)
        if value_key(("-" if sign else "") + value, unit) == want:
            return qualifier(re.sub(r"[-–—−+]\s?$", "", before).rstrip()[-12:] + " ")
    return ""


# ------------------------------------------------------------------ coverage

def coverage(truth: dict, index: list[dict], spec_rows: list[dict]) -> dict:
    """Per truth page: each truth value with the facts that hold it, and the facts nobody listed.

    `index` holds spec-index rows (component, measure, value, unit, alt, condition, text, source);
    `spec_rows` the SPEC rows of the dataset files (their meta.source_path and answer)."""
    answers: dict[str, list[str]] = {}
    for row in spec_rows:
        answers.setdefault(row["meta"]["source_path"], []).append(row["messages"][1]["content"])
    pages = []
    for page in truth["pages"]:
        # a PDF's pages share its file: the truth names its page (`pdf_page`), the fact its block (`…pdf#p21#b3`)
        facts = [f for f in index if f.get("source") == page["file"] and
                 (not page.get("pdf_page") or f"#p{page['pdf_page']}#" in (f.get("block") or ""))]
        for f in facts:
            f["_key"] = value_key(str(f.get("value") or ""), str(f.get("unit") or ""))
            f["_in_example"] = any(f.get("text") and f["text"] in a for a in answers.get(page["file"], []))
        listed, used, results = set(), set(), []
        for t in page["facts"]:
            key = value_key(t["value"], t["unit"])
            listed.add(key)
            # one fact covers one truth value: a page printing "1 mm" twice needs two facts
            holders = [f for f in facts if f["_key"] == key and id(f) not in used]
            wanted = {value_key(c["value"], c["unit"]) for c in t.get("condition_values", [])}
            best = next((f for f in holders if wanted and wanted <= condition_keys(f.get("condition"))), None) or \
                next((f for f in holders if f["_in_example"]), holders[0] if holders else None)
            if best:
                used.add(id(best))
            results.append({
                "truth": t, "covered": bool(best), "fact": best,
                "in_example": bool(best) and best["_in_example"],
                "conditions_wanted": len(wanted),
                "conditions_kept": len(wanted & condition_keys(best.get("condition"))) if best else 0,
                "qualifier_differs": bool(best) and (
                    qualifier(t["value"]) != qualifier(str(best["value"])) or
                    any(qualifier(c["value"]) != condition_qualifier(best.get("condition"), c) for c in
                        t.get("condition_values", []) if value_key(c["value"], c["unit"]) in
                        condition_keys(best.get("condition")))),
            })
        for t in page.get("facts", []):
            listed |= {value_key(c["value"], c["unit"]) for c in t.get("condition_values", [])}
        listed |= {value_key(n["value"], n["unit"]) for n in page.get("not_specs", [])}
        unlisted = [f for f in facts if f["_key"] not in listed]
        pages.append({"file": page["file"], "page": page["page"], "results": results, "unlisted": unlisted})
    flat = [r for p in pages for r in p["results"]]
    wanted = sum(r["conditions_wanted"] for r in flat if r["covered"])
    return {
        "pages": pages,
        "facts": len(flat),
        "covered": sum(r["covered"] for r in flat),
        "in_example": sum(r["in_example"] for r in flat),
        "conditions_wanted": wanted,
        "conditions_kept": sum(r["conditions_kept"] for r in flat if r["covered"]),
        "qualifier_differs": sum(r["qualifier_differs"] for r in flat),
        "unlisted": [f for p in pages for f in p["unlisted"]],
    }


def load_dataset(data_dir: Path) -> tuple[list[dict], list[dict]]:
    def rows(name):
        path = data_dir / name
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    spec_rows = [r for name in ("hf_train.jsonl", "hf_val.jsonl", "hf_recall.jsonl") for r in rows(name)
                 if r["meta"]["task"] == "spec"]
    return rows("spec_index.jsonl"), spec_rows


# ------------------------------------------------------------------ report

def describe(fact: dict) -> str:
    text = f"{fact.get('value')} {fact.get('unit') or ''}".strip()
    where = f" | {fact['condition']}" if fact.get("condition") else ""
    return f"{fact.get('component')} | {fact.get('measure')} | {text}{where}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="dataset folder: spec_index.jsonl, hf_*.jsonl")
    parser.add_argument("truth", type=Path, help="truth file, e.g. tests/truth/e30_text_values.json")
    parser.add_argument("--quiet", action="store_true", help="print the summary only")
    args = parser.parse_args(argv)
    if not (args.data_dir / "spec_index.jsonl").is_file():
        parser.error(f"{args.data_dir}: no spec_index.jsonl (run `python -m prep dataset` first)")
    if not args.truth.is_file():
        parser.error(f"{args.truth}: no such truth file")
    index, spec_rows = load_dataset(args.data_dir)
    report = coverage(json.loads(args.truth.read_text(encoding="utf-8")), index, spec_rows)

    if not args.quiet:
        for page in report["pages"]:
            if not page["results"] and not page["unlisted"]:
                continue
            print(f"\n{page['page']}  ({page['file']})")
            for r in page["results"]:
                t = r["truth"]
                mark = "✓" if r["covered"] else "✗"
                line = f"  {mark} {t['value']} {t['unit']} — {t['for']}"
                if r["fact"]:
                    line += f"\n      ← {'example+index' if r['in_example'] else 'index only'}: {describe(r['fact'])}"
                    if r["conditions_wanted"] and r["conditions_kept"] < r["conditions_wanted"]:
                        line += "\n      ! condition's numbers missing from the fact"
                    if r["qualifier_differs"]:
                        line += f"\n      ! qualifier differs from the page ({t['value']!r} printed)"
                print(line)
            for f in page["unlisted"]:
                print(f"  ? not in the truth (candidate wrong number): {describe(f)}")

    n = report["facts"] or 1
    print(f"\ncovered: {report['covered']}/{report['facts']} ({100 * report['covered'] / n:.0f} %) truth values "
          f"have a spec-index fact with that value and unit from their page; "
          f"{report['in_example']}/{report['facts']} ({100 * report['in_example'] / n:.0f} %) are in a SPEC example")
    print(f"conditions: {report['conditions_kept']}/{report['conditions_wanted']} condition numbers of covered values "
          f"kept in the fact; qualifier differs from the page: {report['qualifier_differs']}")
    print(f"candidate wrong numbers (facts from these pages whose value is not in the truth): {len(report['unlisted'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
