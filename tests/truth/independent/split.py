"""Split the independent questions into a dev half and a test half, by page (seed 42).

    python tests/truth/independent/split.py /work/qgen/h*.jsonl     # writes dev.jsonl and test.jsonl here

Run once, when the helpers' files came in; the halves are committed, the raw files are not needed
again. Pages of each manual are shuffled apart (a page's questions all land in one half, so a rule
tuned on dev never saw a test page); probes, which have no page of their own, are shuffled apart
among themselves. Every question gets an id (`manual:author:line`) and its manual.
"""

import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SAMPLE_AUTHORS = {"h6"}   # the helper that read the sample manual's renders; the others read the E30 pages


def main(paths: list[str]) -> None:
    rows = []
    for path in sorted(paths):
        author = Path(path).stem.split("_")[0]
        manual = "sample" if author in SAMPLE_AUTHORS else "e30"
        for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                rows.append({"id": f"{manual}:{author}:{number}", "manual": manual, **json.loads(line)})
    halves = {}
    rng = random.Random(42)
    for manual in ("e30", "sample"):
        pages = sorted({r["page"] for r in rows if r["manual"] == manual and r["kind"] != "probe"})
        rng.shuffle(pages)
        halves.update({(manual, p): ("dev" if i % 2 == 0 else "test") for i, p in enumerate(pages)})
        probes = sorted(r["id"] for r in rows if r["manual"] == manual and r["kind"] == "probe")
        rng.shuffle(probes)
        halves.update({(manual, p): ("dev" if i % 2 == 0 else "test") for i, p in enumerate(probes)})
    for half in ("dev", "test"):
        mine = [r for r in rows if halves[(r["manual"], r["id"] if r["kind"] == "probe" else r["page"])] == half]
        (HERE / f"{half}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in mine),
                                            encoding="utf-8")
        kinds = {k: sum(r["kind"] == k for r in mine) for k in ("single", "multi", "procedure", "probe")}
        print(half, len(mine), "questions on", len({(r["manual"], r["page"]) for r in mine if r["kind"] != "probe"}),
              "pages", kinds)


if __name__ == "__main__":
    main(sys.argv[1:])
