"""The independent questions (tests/truth/independent/) and how evaluate_independent.py judges them.

The set is a yardstick written by readers who saw only page images: these tests hold it to what its
README promises (its size, its split by page, every dropped question with a reason) and check the
judging on answers whose verdict is known, and the measure's plumbing on the sample manual's index.
"""

from __future__ import annotations

import json

import pytest

import evaluate_independent as ind
import grounding

ROWS = {half: [json.loads(line) for line in (ind.TRUTH / f"{half}.jsonl").read_text(encoding="utf-8").splitlines()
               if line.strip()] for half in ("dev", "test")}


def test_the_set_is_what_its_readme_says():
    rows = ROWS["dev"] + ROWS["test"]
    assert len(rows) == 351 and len({r["id"] for r in rows}) == 351
    pages = {(r["manual"], r["page"]) for r in rows if r["kind"] != "probe"}
    assert len(pages) >= 60
    kinds = {r["kind"] for r in rows}
    assert kinds == {"single", "multi", "procedure", "probe"}
    assert {r["page_kind"] for r in rows} >= {"torque-table", "spec-sheet", "repair-text", "wiring"}
    # split by page: no page of a manual has questions in both halves
    for manual in ("e30", "sample"):
        dev = {r["page"] for r in ROWS["dev"] if r["manual"] == manual and r["kind"] != "probe"}
        test = {r["page"] for r in ROWS["test"] if r["manual"] == manual and r["kind"] != "probe"}
        assert dev and test and not dev & test
    # every drop has its reason; the second reader's three answered or ambiguous probes are dropped
    assert all(isinstance(r["dropped"], str) and r["dropped"] for r in rows if "dropped" in r)
    assert {r["id"] for r in rows if r["kind"] == "probe" and "dropped" in r} == {"e30:h3:47", "e30:h3:49", "e30:h5:75"}
    assert all(r["question"].strip() and (r["kind"] in ("procedure", "probe") or r["value"]) for r in rows)
    assert not any("dropped" in q for q in ind.load_questions("test"))


def test_the_second_dev_set_reads_only_dev_pages():
    # dev2: new readers' questions on the dev half's pages, to see whether a rule made on the dev
    # questions holds for other words; the test half's pages stay unread
    dev2 = [json.loads(line) for line in (ind.TRUTH / "dev2.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(dev2) >= 120 and len({r["id"] for r in dev2}) == len(dev2)
    assert {r["kind"] for r in dev2} == {"single", "multi", "procedure", "probe"}
    pages = {(r["manual"], r["page"]) for r in dev2 if r["kind"] != "probe"}
    dev = {(r["manual"], r["page"]) for r in ROWS["dev"] if r["kind"] != "probe"}
    test = {(r["manual"], r["page"]) for r in ROWS["test"] if r["kind"] != "probe"}
    assert pages and pages <= dev and not pages & test
    assert not {r["id"] for r in dev2} & {r["id"] for r in ROWS["dev"] + ROWS["test"]}


def question(id_: str) -> dict:
    """A dev question (the test half is measured, never read: its questions are not used here)."""
    (q,) = [r for r in ROWS["dev"] if r["id"] == id_]
    return q


@pytest.mark.parametrize("answer, verdict", [
    ("22 Nm (16 ft-lb) [00-3]", "right"),
    ("22 Nm", "right"),
    ("16 ft-lb", "right"),          # the printed conversion alone
    ("10 Nm [00-3]", "wrong"),      # the water pump pulley's value
    ("10.9 Nm", "wrong"),
    (grounding.NOT_COVERED, "refused"),
    (grounding.UNPRINTED, "refused"),
    ("Tighten the nuts evenly.", "refused"),
])
def test_an_answer_is_right_wrong_or_refused(answer, verdict):
    # sample manual, page 00-3: `Strut top mount to body | 22 (16)` under Nm (ft. lbs.)
    q = question("sample:h6:18")
    assert q["question"] == "upper strut mount nuts to the body, torque spec" and q["value"] == "22"
    assert ind.classify(q, answer) == verdict


def test_a_computed_answer_is_judged_on_its_result():
    # sample 00-2: M14 grade 8.8 130 Nm, grade 12.9 220 Nm; asked how much more: 90 Nm
    q = question("sample:h6:7")
    assert q["value"] == "130; 220" and q["result"] == "90"
    assert ind.classify(q, "90 Nm more [00-2]") == "right" and ind.classify(q, "130 Nm [00-2]") == "wrong"


def test_the_measure_on_the_sample_manuals_index(sample_dataset, tmp_path):
    from prep.search_index import open_index

    index = open_index(sample_dataset / "search_index.sqlite")
    assert ind.manual_of(index) == "sample"
    details = tmp_path / "details.jsonl"
    # a model that says 999 Nm to everything: every covered numeric question is wrong, every covered
    # probe answered, every uncovered one refused without it being asked
    asked = []

    def asker(question, found):
        if not found.covered:
            return grounding.NOT_COVERED, None
        asked.append(question)
        return "999 Nm", 0.1

    figures = ind.measure("dev", {"sample": index}, asker, details)
    rows = [json.loads(line) for line in details.read_text(encoding="utf-8").splitlines()]
    single = [r for r in rows if r["kind"] == "single" and r["numeric"]]
    assert figures["single"]["wrong"]["hit"] == sum(r["covered"] for r in single) and figures["single"]["right"]["hit"] == 0
    assert figures["probe (ours)"]["answered_with_a_number"]["hit"] == sum(r["covered"] for r in rows if r["kind"] == "probe (ours)")
    assert len(asked) == sum(r["covered"] for r in rows if r["numeric"] or r["kind"].startswith("probe"))
    # the hood latch question (41-12 prints `Bonnet lock carrier to radiator support | K20 | 24 Nm`)
    (hood,) = [r for r in rows if r["question"].startswith("hood latch carrier")]
    assert hood["page"] and hood["number"] and hood["lines"][0].startswith("[41-12] ")
    assert figures["search_ms"]["median"] > 0
