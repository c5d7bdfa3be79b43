"""Apply the second reader's verdicts to dev.jsonl and test.jsonl (run once, after split.py).

    python tests/truth/independent/apply_checks.py

A second helper, who saw only the page images, checked every value against its page
(second_reader_values.jsonl: 250 ok, 41 wrong, 1 ambiguous; no number was misread) and every probe
against every page of its manual (second_reader_probes.jsonl: 23 absent, 2 answered, 1 ambiguous).
What follows from them, question by question, is written into the halves:
- `result`: the question asks a difference or a total the page does not print (`value` keeps the
  printed figures a line must show, `result` is what a right answer says);
- `dropped` (with the reason): a yes/no question, a value that is not what is asked, an ambiguous
  question, a probe that a page does answer. Dropped questions are kept in the files, never measured.
Every other verdict's note is kept as `second_reader`.
"""

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
COMPUTED = {"e30:h1:5", "e30:h1:18", "e30:h1:13", "e30:h2:26", "e30:h3:25", "e30:h5:12", "e30:h5:37", "sample:h6:7"}
DROPPED = {
    "e30:h1:3": "a yes/no question (the page: no settling time), not a value",
    "e30:h3:6": "a yes/no question (do not use a 5 k-ohm rotor), not a value",
    "e30:h5:45": "1 V is the tolerance (within 1 volt of battery voltage), not the reading",
    "e30:h5:52": "asks which fuse (Fuse 10); the value holds its rating",
    "e30:h5:56": "asks the wire colour; the value holds its size",
    "e30:h5:57": "asks the wire colour; the value holds its size",
    "e30:h1:17": "ambiguous: a bare S50 has M11 (11-7) and M10 (S50 US, 11-6) in the manual",
}


def main() -> None:
    verdicts = {}
    for name in ("second_reader_values.jsonl", "second_reader_probes.jsonl"):
        for line in (HERE / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                v = json.loads(line)
                verdicts[v["id"]] = v
    for half in ("dev", "test"):
        rows = [json.loads(l) for l in (HERE / f"{half}.jsonl").read_text(encoding="utf-8").splitlines() if l.strip()]
        for row in rows:
            v = verdicts.get(row["id"])
            if v is None or v["verdict"] in ("ok", "absent"):
                continue
            row["second_reader"] = {k: v[k] for k in ("verdict", "correct_value", "where", "note") if v.get(k)}
            if row["kind"] == "probe":
                row["dropped"] = f"a page answers it ({v['verdict']}): {v.get('where', '')}"
            elif row["id"] in COMPUTED:
                row["result"] = v["correct_value"]
            elif row["id"] in DROPPED:
                row["dropped"] = DROPPED[row["id"]]
        (HERE / f"{half}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                            encoding="utf-8")
        print(half, sum("dropped" in r for r in rows), "dropped,", sum("result" in r for r in rows), "with a result")


if __name__ == "__main__":
    main()
