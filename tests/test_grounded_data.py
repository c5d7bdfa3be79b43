"""Training rows that carry the manual's lines: the row's own line is there with the
manual's number, the answer cites its page, the share is data.context_fraction per task, two builds
write the same bytes, refusal rows hold no line of their page, and the gate refuses a bad row."""

import json
import re

import pytest

from tests.helpers import read_jsonl

from config import DataConfig
from prep import gates
from prep.dataset import build_dataset
from prep.search_index import build_index, open_index
from prep.tasks import Example
from vocab.cites import HEADER, REFUSAL, K, strip_cite


def grounded_build(blocks, out):
    index_path = out / "search_index.sqlite"
    build_index(blocks, index_path)
    index = open_index(index_path)
    try:
        build_dataset(blocks, out, DataConfig(), tokenizer_name=None, index=index)
    finally:
        index.close()
    return out


@pytest.fixture(scope="module")
def grounded(sample_blocks, tmp_path_factory):
    return grounded_build(sample_blocks, tmp_path_factory.mktemp("grounded"))


def lines_of(turn: str) -> list[str]:
    assert turn.startswith(HEADER + "\n"), turn
    return turn.split("\n\n", 1)[0].splitlines()[1:]


def question_of(row: dict) -> str:
    """The question after the lines (the lines name other parts too)."""
    return row["messages"][0]["content"].rsplit("\n\n", 1)[1].removeprefix("[SPEC] ")


def own_ref(meta: dict) -> str:
    return meta["page_label"] or f"{meta['source_path'].rsplit('/', 1)[-1]} p.{meta['page']}"


def manual_row(text: str) -> tuple[str, dict]:
    """(page label, row) of a torque-table row as sample_manual/manual.py prints it: the truth."""
    from sample_manual.manual import PAGES

    for page in PAGES:
        for row in page.get("rows", []):
            if row.get("text") == text:
                return page["title"][0].replace(" ", ""), row
    raise AssertionError(f"{text!r} is not in sample_manual/manual.py")


def test_grounded_row_holds_the_manuals_line_and_cites_its_page(grounded):
    label, truth = manual_row("Radiator support to side member")          # 41-12: K20, 47 Nm
    rows = [r for r in read_jsonl(grounded / "hf_train.jsonl") if r["meta"].get("context", {}).get("right")
            and "radiator support to side member" in question_of(r).lower()]
    assert rows, "no grounded row asks for the radiator support to side member"
    for row in rows:
        turn, answer = row["messages"][0]["content"], row["messages"][1]["content"]
        lines = lines_of(turn)
        assert 2 <= len(lines) <= K and turn.endswith("\n\n[SPEC] " + question_of(row))
        own = [lines[i] for i in row["meta"]["context"]["right"]]
        assert any(l.startswith(f"[{label}] ") and "Radiator support to side member" in l
                   and f"{truth['measure']} {truth['unit']}" in l for l in own), own
        plain, cite = strip_cite(answer)
        assert cite == label == row["meta"]["page_label"]
        assert f"{truth['measure']} {truth['unit']}" in plain and truth["type"] in plain


def test_every_grounded_answer_is_in_its_lines_and_cites_its_page(grounded):
    train = read_jsonl(grounded / "hf_train.jsonl")
    grounded_rows = [r for r in train if r["meta"].get("context", {}).get("right")]
    assert len(grounded_rows) > 100
    for row in grounded_rows:
        lines = lines_of(row["messages"][0]["content"])
        own = " ".join(lines[i] for i in row["meta"]["context"]["right"])
        plain, cite = strip_cite(row["messages"][1]["content"])
        meta = row["meta"]
        assert cite == own_ref(meta)
        assert all(l.startswith(f"[{cite}] ") for l in (lines[i] for i in meta["context"]["right"]))
        if meta["task"] == "spec":       # the value taught is the value shown (a unit may sit in the header)
            for value in re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?=\s?(?:Nm|°|mm|litres|bar|A\b))", plain):
                assert gates.prints_value(own, value), (value, own)
            # and the line is the part's own: parts of one table can share a value (`K20: 24 Nm` for the
            # bonnet hinge and the bonnet lock carrier on 41-12)
            part = meta["fact_id"].split("|")[2]
            assert all(part.lower() in lines[i].lower() for i in meta["context"]["right"]), (part, own)
        assert "answer-in-context" in meta["checks"]


def test_share_per_task_and_plain_held_out_sets(grounded):
    report = json.loads((grounded / "qa_report.json").read_text())["context"]
    assert report["fraction"] == DataConfig().context_fraction == 0.5
    for task, c in report["per_task"].items():
        # each task's chosen half: grounded, or left plain for a named reason
        assert c["grounded"] + c["too_long"] + c["no_line"] == round(0.5 * c["train"]), task
    spec = report["per_task"]["spec"]
    assert spec["grounded"] >= 0.45 * spec["train"]
    for name in ("hf_val.jsonl", "hf_recall.jsonl"):   # evaluate.py adds the lines itself
        assert not any(r["messages"][0]["content"].startswith(HEADER) for r in read_jsonl(grounded / name))
    card = (grounded / "README.md").read_text()
    assert f"{report['grounded']} training rows" in card and f"{report['refusals']} SPEC rows" in card


def test_refusal_rows_hold_no_line_of_their_page(grounded):
    train = read_jsonl(grounded / "hf_train.jsonl")
    refusals = [r for r in train if r["meta"].get("context", {}).get("refusal")]
    grounded_spec = [r for r in train if r["meta"]["task"] == "spec" and r["meta"].get("context", {}).get("right")]
    assert 0 < len(refusals) <= 0.1 * len(grounded_spec) + 1
    for row in refusals:
        assert row["messages"][1]["content"] == REFUSAL
        page = own_ref(row["meta"])
        assert not any(l.startswith(f"[{page}] ") for l in lines_of(row["messages"][0]["content"]))


def test_two_grounded_builds_are_byte_identical(sample_blocks, grounded, tmp_path):
    again = grounded_build(sample_blocks, tmp_path)
    for name in ("hf_train.jsonl", "qa_report.json"):
        assert (again / name).read_bytes() == (grounded / name).read_bytes(), name


def test_grounded_gate_refuses_lines_without_the_value():
    from types import SimpleNamespace

    block = {"id": "p.png#p1#b0", "kind": "table", "text": "Oil drain plug 35 Nm", "fields": {}, "context": {},
             "source": {"path": "p.png", "page": 1, "page_label": "11-4"}}
    ex = Example("spec", "Torque of the oil drain plug?", "35 Nm", "f", [block], "g",
                 spec={"component": "Oil drain plug", "facts": [{"measure": "tightening torque", "value": "35", "unit": "Nm"}]})
    line = lambda text: SimpleNamespace(block_id="p.png#p1#b0", line=text, source_path="p.png", page=1,  # noqa: E731
                                        page_label="11-4")
    right = line("11-4 · Oil drain plug · 35 Nm")
    assert gates.check_grounded(ex, [right], [right], "35 Nm [11-4]") is None
    wrong = line("11-4 · Oil drain plug · 53 Nm")
    assert gates.check_grounded(ex, [wrong], [wrong], "35 Nm [11-4]") == "answer not in its context lines"
    assert gates.check_grounded(ex, [], [right], "35 Nm [11-4]") == "answer's line not among its context lines"
    assert gates.check_grounded(ex, [right], [right], "35 Nm [41-12]") == "answer does not cite its page"
    assert gates.check_refusal(ex, [right], REFUSAL) == "refusal lines hold its page"
