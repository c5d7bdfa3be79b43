"""Junk rate of chat-format datasets by the kit's quality criteria, side by side.

    python scripts/junk_check.py data/hf_val.jsonl data/hf_train.jsonl --blocks work/blocks.jsonl \
        --compare ../shared/samples/seed-dataset/hf_val.jsonl

Each file's unique rows are judged by the text-only gates of prep/gates.py (length, OCR garbage,
SPEC: a number with a unit and a question naming a part) and, where `--blocks` is given and a row
names its source blocks, by "the answer is found on its page" too. The original pipeline's rows
name no blocks, so they get the text-only gates alone: that comparison favours the seed, not us.
"""

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prep import gates  # noqa: E402
from prep.tasks import Example  # noqa: E402


def judge(path: Path, blocks: dict) -> tuple[int, Counter, list]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    unique = list({json.dumps(r["messages"], sort_keys=True): r for r in rows}.values())
    reasons, examples = Counter(), []
    for row in unique:
        task = row.get("meta", {}).get("task", "")
        question = row["messages"][0]["content"].split("] ", 1)[-1]
        answer = row["messages"][-1]["content"]
        if task not in gates.MIN_CHARS:
            reason = f"unknown task {task!r}"
        else:
            reason = gates.text_junk(task, question, answer)
            names = row.get("meta", {}).get("blocks") or []
            if reason is None and names and all(n in blocks for n in names) and task != "spec":
                reason = gates.check(Example(task, question, answer, "", [blocks[n] for n in names], ""))
            elif reason is None and names and all(n in blocks for n in names):
                source = gates.normalise(" ".join(gates.page_text(blocks[n]) for n in names))
                # each number of each quantity (a range "0.13 to 0.23" is read as 0.13-0.23), with either
                # decimal mark: spec_check gives the page's `8,4` as 8.4
                numbers = [n for _, value, _, _ in gates.find_quantities(answer) for n in re.findall(r"\d+(?:\.\d+)?", value)]
                found = [n in source or n.replace(".", ",") in source for n in numbers]
                if not all(found):
                    reason = "answer not found in its source block"
        if reason:
            reasons[reason] += 1
            if len(examples) < 3:
                examples.append((reason, question[:90], answer[:60]))
    return len(unique), reasons, examples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", type=Path, nargs="+")
    parser.add_argument("--blocks", type=Path, help="blocks.jsonl the rows were built from")
    parser.add_argument("--compare", type=Path, action="append", default=[], help="another dataset, e.g. the seed")
    opts = parser.parse_args()
    blocks = {}
    if opts.blocks:
        blocks = {b["id"]: b for b in map(json.loads, opts.blocks.read_text(encoding="utf-8").splitlines())}
    print(f"{'dataset':<55}{'unique rows':>12}{'junk':>7}{'junk %':>8}")
    for path in [*opts.files, *opts.compare]:
        total, reasons, examples = judge(path, blocks)
        junk = sum(reasons.values())
        print(f"{str(path)[-55:]:<55}{total:>12}{junk:>7}{100 * junk / max(total, 1):>7.1f}%")
        for reason, count in reasons.most_common():
            print(f"    {count:>5}  {reason}")
        for reason, q, a in examples:
            print(f"      e.g. [{reason}] {q!r} → {a!r}")


if __name__ == "__main__":
    main()
