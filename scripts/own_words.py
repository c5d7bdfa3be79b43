"""The kit asked in a mechanic's own words: the independent questions through serve's own path.

    python scripts/own_words.py --half dev                                   # search and coverage only
    python scripts/own_words.py --half test --gguf runs/cpu-demo/gguf/cpu-demo-q4_k_m.gguf --json eval/own_words.json

The questions are tests/truth/independent/ (written by readers who saw only page images; dev to
design with, test to measure). Each manual's questions are asked of that manual's search index:
`--sample DIR` (a prep output of the sample manual's renders, `make demo`'s data/) and `--e30 DIR`
(prep of ../shared/samples/e30-m3: `python -m prep build ../shared/samples/e30-m3 --out build/e30
--work build/work-e30`); a manual whose folder is missing is skipped and said so.

What is measured, and how each answer is judged: evaluate_independent.py (evaluate.py's
`--independent HALF` runs the same on the manual beside its --data). The figures go in docs/serving.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--half", choices=("dev", "dev2", "test"), default="dev")
    parser.add_argument("--sample", type=Path, default=ROOT / "data", help="prep output of the sample manual [data/]")
    parser.add_argument("--e30", type=Path, default=ROOT / "build" / "e30", help="prep output of the E30 pages [build/e30]")
    parser.add_argument("--gguf", type=Path, help="Also ask this model through serve's engine.")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompt-lines", type=int, help="Give the model only the first N lines found (all by default).")
    parser.add_argument("--free", action="store_true",
                        help="The model answers value questions freely (serve holds it to the best line's values).")
    parser.add_argument("--json", type=Path, help="Write the figures here.")
    parser.add_argument("--details", type=Path, help="Write one line per question here (lines shown, answer).")
    args = parser.parse_args()

    folders = {}
    for manual, folder in (("sample", args.sample), ("e30", args.e30)):
        if (folder / "search_index.sqlite").is_file():
            folders[manual] = folder
        else:
            print(f"note: no search index in {folder}: the {manual} questions are skipped", file=sys.stderr)
    if not folders:
        print("error: no manual's search index found (see --sample, --e30)", file=sys.stderr)
        return 2
    from evaluate_independent import ask_model, measure, print_summary
    from prep.search_index import open_index

    indexes = {m: open_index(f / "search_index.sqlite") for m, f in folders.items()}
    figures = measure(args.half, indexes, ask_model(args.gguf, args.threads, args.prompt_lines, args.free) if args.gguf else None, args.details)
    figures["manuals"] = sorted(folders)
    print_summary(f"{args.half} half", figures)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
