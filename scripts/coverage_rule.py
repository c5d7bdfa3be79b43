"""How the not-covered rule (grounding.coverage) sorts real questions from questions about parts
the manual does not hold (issue 15). It prints, per dataset folder, how many of its hf_val and
hf_recall questions (every one is about a part the manual holds) the rule covers, and how many
probes it refuses, with and without the part-name check (grounding.misnamed), at several shares.

    python scripts/coverage_rule.py data/ build/e30/
    python scripts/coverage_rule.py build/e30/ --questions tests/truth/e30_reader_questions.txt

--questions adds questions written by hand, as a mechanic asks them, about parts that manual holds
(tests/truth/e30_reader_questions.txt: 20 on the E30 pages' specifications, each checked against
the page): prep's own questions repeat the row's words, a person's do not.

Probes: evaluate.PROBES (parts neither sample manual names) and NEAR_MISSES below, a part the
manual does hold with a word that makes it another (`power steering pump pulley bolt` beside the
water pump's). A probe whose key a passage holds as a phrase (stemmed as the index stems) is left out and listed: that manual holds
it. A refused real question gets NOT_COVERED (a value missing); a covered probe gets lines from
another part, from which a model may copy that part's value (a value wrong).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NEAR_MISSES = [
    ("power steering pump", "What is the tightening torque for the power steering pump pulley bolt?"),
    ("fuel pump pulley", "What is the tightening torque for the fuel pump pulley bolts?"),
    ("rear subframe", "What is the tightening torque for the rear subframe to body?"),
    ("rear strut top mount", "What is the tightening torque for the rear strut top mount to body?"),
    ("exhaust manifold heat shield", "What is the tightening torque for the exhaust manifold heat shield?"),
    ("oil pump sprocket", "What is the tightening torque for the oil pump sprocket bolt?"),
    ("glow plug", "What is the tightening torque for the glow plugs?"),
]
SHARES = (0.4, 0.5, 0.6, 0.7)


def question_of(row: dict) -> str:
    """The question as a user asks it: the last user turn's last line (a grounded row's lines above)."""
    user = [m["content"] for m in row["messages"] if m["role"] == "user"][-1]
    return user.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dirs", type=Path, nargs="+", help="Dataset folders written by `python -m prep`.")
    parser.add_argument("--questions", type=Path, help="More real questions, one per line (for every folder).")
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()

    import evaluate
    import grounding
    from prep.search_index import INDEX_NAME, open_index

    figures = {}
    for folder in args.data_dirs:
        index = open_index(folder / INDEX_NAME)
        real = [question_of(json.loads(line)) for name in ("hf_val.jsonl", "hf_recall.jsonl")
                for line in (folder / name).read_text(encoding="utf-8").splitlines() if line.strip()]
        if args.questions:
            real += [q for q in args.questions.read_text(encoding="utf-8").splitlines() if q.strip()]
        probes, held = [], []
        for key, question in [*evaluate.PROBES, *NEAR_MISSES]:
            if index.con.execute("SELECT 1 FROM passages WHERE passages MATCH ? LIMIT 1", (f'"{key}"',)).fetchone():
                held.append(key)
            else:
                probes.append(question)
        shares = {}
        for check in ("without", "with"):
            rule = grounding.misnamed
            if check == "without":
                grounding.misnamed = lambda runs, held_terms: []
            try:
                shares[check] = {q: grounding.coverage(index, q, index.search(q, grounding.K))[0]
                                 for q in dict.fromkeys(real + probes)}
            finally:
                grounding.misnamed = rule
        print(f"\n{folder}: {len(real)} real questions, {len(probes)} probes "
              f"(left out, the manual holds them: {', '.join(held) or 'none'})")
        print(f"  {'share >=':>9} {'part-name check':>16} {'real covered':>13} {'probes refused':>15}")
        rows = []
        for at in SHARES:
            for check in ("without", "with"):
                covered = sum(shares[check][q] >= at for q in real)
                refused = sum(shares[check][q] < at for q in probes)
                rows.append({"share": at, "check": check, "real_covered": covered, "real": len(real),
                             "probes_refused": refused, "probes": len(probes)})
                print(f"  {at:>9} {check:>16} {covered:>6}/{len(real):<6} {refused:>8}/{len(probes):<6}")
        at = grounding.COVERED_SHARE
        for q in real:
            if shares["with"][q] < at:
                print(f"  real, refused at {at}: {q[:120]}  (share {shares['with'][q]:.2f}, "
                      f"{shares['without'][q]:.2f} without the check)")
        for q in probes:
            if shares["with"][q] >= at:
                print(f"  probe, covered at {at}: {q[:120]}  (share {shares['with'][q]:.2f})")
        figures[str(folder)] = {"held": held, "rows": rows}
        index.close()
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
