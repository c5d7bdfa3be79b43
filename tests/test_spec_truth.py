"""Every SPEC example built from torque-table pages, checked against the truth of what they print.

    pytest tests/test_spec_truth.py -q

Two sources, each read by the real prep stage (tesseract and the second reading):

- e30: tests/truth/e30_torque.json holds every row of the 11 torque-table pages in
  ../shared/samples/e30-m3/00 - Torque Specs/, transcribed by eye from the images (never from the
  OCR). Skipped where ../shared is absent (the pages are not ours to copy).
- sample: the sample manual's own table pages (11-04, 41-12, the thread table 00-02 and the
  Nm (ft. lbs.) table 00-03), whose truth is the structured content they are rendered from
  (sample_manual/manual.py: each row says whether it is a part, a variant line or a stage).

Each SPEC example is compared with the truth: its part, its variant, every value in order, the page
it cites. A wrong number is worse than a missing one: the bar is 0 wrong examples, and at least
90 % of the printed rows taught.
"""

import json
import random
import re
from pathlib import Path

import pytest

from prep import gates
from prep.tasks import spec_examples

from tests.helpers import SAMPLES, read_real_pages
E30_TRUTH = json.loads((Path(__file__).parent / "truth/e30_torque.json").read_text())["pages"]


def norm(text: str | None) -> str:
    """Compare codes as printed, not as spaced: `S 6 S 560 G` = `S6S560G`; `All` = no type."""
    text = re.sub(r"\s+", "", (text or "")).lower()
    return "" if text == "all" else text


@pytest.fixture(scope="module", params=["sample", pytest.param("e30", marks=pytest.mark.slow)])
def examples(request, tmp_path_factory):
    """(SPEC examples that pass every gate, spec index, rows left out, pages, truth) of one source."""
    if request.param == "e30":
        if not SAMPLES.is_dir():
            pytest.skip(f"{SAMPLES} not present")
        truth = E30_TRUTH
        folder = tmp_path_factory.mktemp("torque")
        read_real_pages(truth, folder)
        out = folder / "work"
    else:
        pages_dir = request.getfixturevalue("sample_pages")
        truth = sample_truth(json.loads((pages_dir.parent / f"{pages_dir.name}.truth.json").read_text()))
        out = request.getfixturevalue("sample_blocks").parent
    blocks = [json.loads(line) for line in (out / "blocks.jsonl").read_text().splitlines()]
    blocks = [b for b in blocks if b["source"]["path"] in truth]
    pages = {p["path"]: p for p in map(json.loads, (out / "pages.jsonl").read_text().splitlines())}
    spec = spec_examples(blocks, lambda group: "train", 1, random.Random(0))
    kept = [ex for ex in spec.examples if gates.check(ex) is None]
    return kept, spec.index, spec.left_out, pages, truth


def sample_truth(rendered: dict) -> dict:
    """The sample's table pages in e30_torque.json's form, from the rows they are rendered from."""
    out = {}
    for page in rendered["pages"]:
        content, kind = page["content"], page["kind"]
        if kind not in ("torque_table", "thread_table", "torque_list"):
            continue
        label = content["page_number"].replace(" ", "")
        facts = []
        if kind == "torque_table":
            part = None
            for row in content["rows"]:
                name = row["text"].split("\n")[0]
                if row["level"] == "component":
                    part, variant = name, (row["type"], row["screw"])
                elif row["level"] == "line":
                    variant = (row["type"], row["screw"])
                if row["level"] in ("component", "line") and (row["measure"] or row["level"] == "line" or not row["type"]):
                    screws = row["screw"].split("\n")
                    for i, value in enumerate(row["measure"].split("\n") if row["measure"] else [None]):
                        screw = screws[i] if len(screws) > 1 else variant[1]
                        facts.append({"component": part, "type": variant[0], "screw": screw,
                                      "values": [] if value is None else [[None, value, unit_and_alt(row["unit"])]]})
                elif row["level"] == "stage":
                    if not facts or facts[-1]["component"] != part or (facts[-1]["type"], facts[-1]["screw"]) != variant:
                        facts.append({"component": part, "type": variant[0], "screw": variant[1], "values": []})
                    label_ = row["text"].split("\n")[0]
                    facts[-1]["values"].append([label_, row["measure"] or None, row["unit"] or None])
        elif kind == "thread_table":
            grades = content["header"][1:]
            for row in content["rows"]:
                thread, *values = row["cells"]
                facts += [{"component": f"{thread} thread", "type": f"strength grade {g}", "screw": "",
                           "values": [[None, v, content["unit"]]]} for g, v in zip(grades, values)]
        else:
            for row in content["rows"]:
                name, cell = row["cells"]
                nm, ft = cell.replace(")", "").split(" (")
                facts.append({"component": name, "type": "", "screw": "", "values": [[None, nm, f"Nm ({ft} ft-lb)"]]})
        facts = [f for f in facts if f["values"]]
        out[page["path"]] = {"label": label, "facts": facts,
                             "rows": sum(1 for f in facts for v in f["values"] if v[1] is not None)}
    return out


def unit_and_alt(unit: str) -> str:
    return unit.replace("(", "(").strip()


def truth_fact(truth: dict, path: str, component: str, type_: str, screw: str) -> dict | None:
    for f in truth[path]["facts"]:
        if norm(f["component"]) == norm(component) and norm(f["type"]) == norm(type_) and norm(f["screw"]) == norm(screw):
            return f
    return None


def expected_stages(truth: dict) -> list[str]:
    """What each stage of the answer must say: `30 Nm`, `90°`, or the printed instruction."""
    out = []
    for label, value, unit in truth["values"]:
        out.append(label.lower() if value is None else f"{value} {unit}".replace(" °", "°"))
    return out


def said_stages(answer: str) -> list[str]:
    return [re.sub(r"^stage \d+: ", "", part).strip() for part in answer.split("; ")]


def check_stages(answer: str, truth: dict) -> None:
    said, expected = said_stages(answer), expected_stages(truth)
    assert len(said) == len(expected), (answer, expected)
    for s, e in zip(said, expected):
        assert s == e or s.endswith(" " + e), (answer, expected)


def test_every_spec_example_is_the_manuals_own(examples):
    kept, _, _, _, truth = examples
    assert kept
    for ex in kept:
        path = ex.blocks[0]["source"]["path"]
        facts = [f for f in ex.spec["facts"]]
        assert len({f["component"] for f in facts}) == 1, ex.answer       # one part per answer
        variants = {(f.get("type") or "", f.get("screw") or "") for f in facts}
        if len(variants) == 1:                                             # asked for one variant
            ((type_, screw),) = variants
            fact = truth_fact(truth, path, facts[0]["component"], type_, screw)
            assert fact is not None, f"{path}: {facts[0]['component']} {type_} {screw} is not on the page"
            body = ex.answer.split(": ", 1)[1] if facts[0]["variant"] else ex.answer
            check_stages(body, fact)
        else:                                                              # every variant, each on its line
            # one line a variant where a variant has stages, else `M8: 27 Nm; M10: 51 Nm`
            lines = ex.answer.split("\n") if "\n" in ex.answer else ex.answer.split("; ")
            by_variant = {}
            for f in facts:
                by_variant.setdefault(f["variant"] or "All", (f.get("type") or "", f.get("screw") or ""))
            assert len(lines) == len(by_variant), ex.answer
            for line in lines:
                shown, body = line.split(": ", 1)
                fact = truth_fact(truth, path, facts[0]["component"], *by_variant[shown])
                assert fact is not None, f"{path}: {line}"
                check_stages(body, fact)


def test_page_cited_is_the_printed_page(examples):
    kept, index, _, pages, truth = examples
    for ex in kept:
        assert ex.blocks[0]["source"]["page_label"] == truth[ex.blocks[0]["source"]["path"]]["label"]
    for path, page in truth.items():
        assert pages[path]["page_label"] == page["label"], path
    assert {f["page"] for f in index} <= {t["label"] for t in truth.values()}


def test_at_least_90_percent_of_rows_are_taught(examples):
    kept, _, _, _, truth = examples
    taught = set()
    for ex in kept:
        path = ex.blocks[0]["source"]["path"]
        groups: dict[tuple, list] = {}
        for f in ex.spec["facts"]:
            groups.setdefault((f.get("type") or "", f.get("screw") or ""), []).append(f)
        for (type_, screw), facts in groups.items():
            fact = truth_fact(truth, path, facts[0]["component"], type_, screw)
            if fact is None:      # a wrong example teaches nothing (the test above fails on it)
                continue
            for i, f in enumerate(facts):
                if f["value"] is not None:
                    taught.add((path, fact["component"], fact["type"], fact["screw"], i))
    rows = sum(t["rows"] for t in truth.values())
    share = len(taught) / rows
    print(f"rows taught: {len(taught)} of {rows} ({share:.0%})")
    assert share >= 0.9, f"{len(taught)} of {rows} rows taught"


def test_rows_left_out_say_why(examples):
    _, _, left_out, _, truth = examples
    for row in left_out:
        assert row["reason"] and row["page"] in {t["label"] for t in truth.values()}
