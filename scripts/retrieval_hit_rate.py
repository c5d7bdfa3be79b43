"""How often the search index finds the page a question's answer comes from.

    python scripts/retrieval_hit_rate.py data/                       # data/search_index.sqlite, built by prep
    python scripts/retrieval_hit_rate.py data/ --misses 10 --k 3

For every question in hf_val.jsonl (pages never trained on) and hf_recall.jsonl (the training pages'
facts, asked in the validation phrasing), the user's question without its task tag is searched; a
hit is a passage from the example's own page: the same source file and page number as its `meta`
(`source_path`, `page`), the page label alone being absent on PDFs and HTML sheets. Printed: the
share with the right page first and in the top 3 (top k), per file and task, and a few misses with
what came first instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="A dataset folder written by `python -m prep dataset`.")
    parser.add_argument("--index", type=Path, help="[default: DATA_DIR/search_index.sqlite]")
    parser.add_argument("--k", type=int, default=3, help="Top k counted as found (default 3).")
    parser.add_argument("--misses", type=int, default=5, help="Misses printed per file (default 5).")
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()

    from prep.search_index import INDEX_NAME, SearchIndexError, open_index

    try:
        index = open_index(args.index or args.data_dir / INDEX_NAME)
    except SearchIndexError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{index.path}: {index.meta['passages']} passages from {index.meta['pages']} pages")
    figures = {}
    for name in ("hf_val.jsonl", "hf_recall.jsonl"):
        path = args.data_dir / name
        if not path.is_file():
            print(f"{name}: not there, skipped")
            continue
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # task -> questions, top 1, top k
        misses = []
        for row in rows:
            meta = row["meta"]
            question = row["messages"][0]["content"]
            hits = index.search(question, k=args.k)
            pages = [(h.source_path, h.page) for h in hits]
            right = (meta["source_path"], meta["page"])
            for key in (meta["task"], "all"):
                c = counts[key]
                c[0] += 1
                c[1] += bool(pages) and pages[0] == right
                c[2] += right in pages
            if right not in pages:
                first = hits[0] if hits else None
                misses.append(f"  {meta['page_label'] or meta['source_path']}: {question[:110]!r}\n"
                              f"    first: {first.line[:110] if first else '(nothing)'}")
        print(f"\n{name}: {len(rows)} questions")
        print(f"  {'task':<16} {'n':>5} {'top 1':>7} {f'top {args.k}':>7}")
        for task, (n, one, top) in sorted(counts.items(), key=lambda kv: (kv[0] == "all", kv[0])):
            print(f"  {task:<16} {n:>5} {one / n:>7.1%} {top / n:>7.1%}")
        figures[name] = {task: {"n": n, "top1": round(one / n, 4), f"top{args.k}": round(top / n, 4)}
                         for task, (n, one, top) in counts.items()}
        if misses and args.misses:
            print(f"  misses ({len(misses)}, first {min(args.misses, len(misses))}):")
            print("\n".join(misses[:args.misses]))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
