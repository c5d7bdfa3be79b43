"""prep's dataset stage on the sample manual's real OCR: specific examples, gates, split, determinism."""

import json
import re

import pytest

from tests.helpers import read_jsonl, run

from config import DataConfig
from prep import gates
from prep.dataset import build_dataset
from prep.tasks import Example


@pytest.fixture(scope="module")
def rows(sample_dataset):
    return read_jsonl(sample_dataset / "hf_train.jsonl") + read_jsonl(sample_dataset / "hf_val.jsonl")


def find(rows, task, question_has, answer_has=""):
    hits = [r for r in rows if r["meta"]["task"] == task and question_has.lower() in r["messages"][0]["content"].lower()
            and answer_has in r["messages"][1]["content"]]
    assert hits, f"no {task} example asking about {question_has!r} with {answer_has!r}"
    return hits[0]


def test_spec_from_torque_table_is_exact_with_alt_unit(rows):
    row = find(rows, "spec", "oil drain plug")
    assert row["messages"][1]["content"] == "K20, K25, M14x1.5: 35 Nm (26 ft-lb)"   # the answer says what it is for
    assert row["messages"][0]["content"].startswith("[SPEC] ")
    assert row["meta"]["page_label"] == "11-4" and row["meta"]["source_path"] == "00 - Torque Specs/11-04.png"


def test_spec_line_in_a_step_gives_every_variant(rows, sample_dataset):
    """`6. Minimum thickness: K20 20.4 mm, K25 22.4 mm.` on 34-15: both values, the decimal point
    not taken for the sentence's end (it once cut the line at "22", losing K25). The label names a
    quantity, so the part is the one the step before measures: the disc."""
    for variant, value in (("K20", "20.4 mm"), ("K25", "22.4 mm")):
        row = find(rows, "spec", f"the disc (removing and installing front brake discs) for the {variant} engine")
        assert row["messages"][1]["content"] == f"{variant}: {value}" and row["meta"]["page_label"] == "34-15"
    index = read_jsonl(sample_dataset / "spec_index.jsonl")
    assert {(f["variant"], f["value"]) for f in index if (f["component"], f["measure"]) == ("disc", "minimum thickness")} == \
        {("K20", "20.4"), ("K25", "22.4")}


@pytest.mark.parametrize("line, facts", [
    # real lines of the E30 sample pages
    ('Basic adjustment distance A on piston rod = 125 mm (4.921").', [("piston rod", None, "125", "mm")]),
    ('Adjust distance A = 181 mm (7.126") - front threaded pin B = 159 mm (6.260) - rear threaded pin.',
     [("distance A at the front threaded pin", None, "181", "mm"), ("distance B at the rear threaded pin", None, "159", "mm")]),
    ('Paste adhesive tape or make a chalk mark, both 3 to 4 cm (1.181 to 1.575") long.',
     [("adhesive tape or chalk mark", None, "3 to 4", "cm")]),
    ("Compress drive (position A), pull down slightly (linkage play) and then tighten screw to 2 Nm.", []),
    ("Minimum thickness: K20 20.4 mm, K25 22.4 mm.", []),          # a quantity, but of which part?
    ("Measure disc thickness at eight points. Minimum thickness: K20 20.4 mm, K25 22.4 mm.",
     [("disc", "K20", "20.4", "mm"), ("disc", "K25", "22.4", "mm")]),
])
def test_spec_lines_name_a_part_and_its_own_values(line, facts):
    from prep.spec_text import text_facts

    assert [(f["component"], f["variant"], f["value"], f["unit"]) for f in text_facts({"text": line})] == facts


def test_multistage_spec_has_every_stage_in_order(rows):
    row = find(rows, "spec", "cylinder head bolts", "40 Nm")
    answer = row["messages"][1]["content"]
    assert re.search(r"40 Nm.*90°.*90°", answer), answer       # K25: torque, then angle, then angle
    assert "K25" in row["messages"][0]["content"]


def test_procedure_keeps_numbered_steps_in_page_order(rows):
    row = find(rows, "procedure", "rear brake pads")
    answer = row["messages"][1]["content"]
    assert answer.startswith("34 21 010")
    order = ["wear sensor plug", "retaining pins", "puller 34 1 020", "resetting tool 34 1 080", "20°", "new pads"]
    positions = [answer.find(s) for s in order]
    assert -1 not in positions and positions == sorted(positions), answer
    assert row["meta"]["page_label"] == "34-15"


def test_wiring_fuse_rating_as_printed(rows):
    row = find(rows, "wiring", "fuse 17")
    assert "7.5 A" in row["messages"][1]["content"] and row["meta"]["page_label"] == "0670-3"


def test_troubleshooting_checks_in_order(rows):
    row = find(rows, "troubleshooting", "horn")
    answer = row["messages"][1]["content"]
    assert answer.index("FUSE 17") < answer.index("C214 terminal 86") < answer.index("G103")


def test_foreign_and_index_pages_yield_nothing(rows, sample_dataset):
    sources = {r["meta"]["source_path"] for r in rows}
    assert not any("Tecnoprova" in s or "index" in s for s in sources)
    report = json.loads((sample_dataset / "qa_report.json").read_text())
    assert any("Tecnoprova" in p for p in report["pages_skipped"])


def test_every_spec_answer_value_is_on_its_page(rows, sample_blocks):
    pages: dict[tuple, list[str]] = {}
    for b in read_jsonl(sample_blocks):      # a spec sheet names its variants in its first table's header
        pages.setdefault((b["source"]["path"], b["source"]["page"]), []).append(b["text"])
    for row in rows:
        if row["meta"]["task"] != "spec":
            continue
        text = gates.normalise(" ".join(pages[(row["meta"]["source_path"], row["meta"]["page"])]))
        for value in re.findall(r"\d+(?:[.,]\d+)?", row["messages"][1]["content"]):
            assert value in text, (value, row)


def test_split_has_no_leak(sample_dataset):
    train = read_jsonl(sample_dataset / "hf_train.jsonl")
    val = read_jsonl(sample_dataset / "hf_val.jsonl")
    assert train and val
    pages = lambda rs: {(r["meta"]["source_path"], r["meta"]["page"]) for r in rs}  # noqa: E731
    facts = lambda rs: {r["meta"]["fact_id"] for r in rs}  # noqa: E731
    assert not facts(train) & facts(val)       # no fact's phrasings on both sides
    assert not pages(train) & pages(val)       # no page on both sides: its specs hide in its procedures
    assert {r["meta"]["split"] for r in train} == {"train"} and {r["meta"]["split"] for r in val} == {"val"}


def test_files_load_with_datasets(sample_dataset):
    from datasets import load_dataset

    ds = load_dataset("json", data_files={"train": str(sample_dataset / "hf_train.jsonl"),
                                          "validation": str(sample_dataset / "hf_val.jsonl")})
    assert ds["train"].num_rows > 20 and ds["validation"].num_rows > 3
    assert ds["train"][0]["messages"][0]["role"] == "user"
    card = (sample_dataset / "README.md").read_text()
    assert "seed 42" in card and "| spec |" in card


def test_two_builds_are_byte_identical(sample_blocks, sample_dataset, tmp_path):
    build_dataset(sample_blocks, tmp_path, DataConfig(), tokenizer_name=None)
    for name in ("hf_train.jsonl", "hf_val.jsonl", "spec_index.jsonl", "qa_report.json"):
        assert (tmp_path / name).read_bytes() == (sample_dataset / name).read_bytes(), name


def test_spec_index_facts_point_at_their_page(sample_dataset):
    index = read_jsonl(sample_dataset / "spec_index.jsonl")
    drain = [f for f in index if f["component"] == "Oil drain plug" and f["source"].startswith("00 - Torque Specs/11-04")]
    assert drain and drain[0]["value"] == "35" and drain[0]["unit"] == "Nm" and drain[0]["page"] == "11-4"


# -------------------------------------------------------------------- each gate rejects a crafted bad example
def block(text, kind="paragraph", page_kind="repair", lang="en"):
    return {"id": "x.png#p1#b0", "kind": kind, "text": text, "fields": {}, "context": {}, "page_kind": page_kind,
            "lang": lang, "source": {"path": "x.png", "page": 1, "page_label": "1-1"}}


def spec(question, answer, text, component="brake caliper carrier bolts", measure="tightening torque"):
    value, _, unit = answer.partition(" ")
    fact = {"component": component, "measure": measure, "value": value, "unit": unit}
    return Example("spec", question, answer, "f", [block(text)], "g", spec={"component": component, "facts": [fact]})


@pytest.mark.parametrize("example, reason", [
    (spec("Torque of the brake caliper carrier bolts?", "110 Nm", "Caliper carrier bolts: 110 Nm."), None),
    (spec("Torque of the brake caliper carrier bolts?", "-- soe", "Caliper carrier bolts: 110 Nm."),
     "spec answer has no number with a unit"),
    (spec("What is the tightening torque for engine section 12?", "45 Nm", "torque 45 Nm", component="engine section 12"),
     "spec question names no specific part"),
    (spec("Torque of the brake caliper carrier bolts?", "54 Nm", "Caliper carrier bolts: 45 Nm."),
     "answer not found in its source block"),
    (Example("explanation", "Explain the booster.", "Ccssseee vvcxz qrtplk the brake bnnmx hhgtr wqzx", "f",
             [block("Ccssseee vvcxz qrtplk the brake bnnmx hhgtr wqzx")], "g"), "OCR garbage"),
    (Example("explanation", "Spiega la prova.", "Scollegare sempre la batteria prima di collegare l'adattatore.", "f",
             [block("Scollegare sempre la batteria prima di collegare l'adattatore.", page_kind="foreign", lang="it")], "g"),
     "page is another language or an index"),
    (Example("procedure", "How do I do it?", "Do it.", "f", [block("Do it.")], "g"), "answer length out of bounds"),
])
def test_each_gate_rejects_its_bad_example(example, reason):
    assert gates.check(example) == reason


def test_prep_build_bad_input_exits_2(tmp_path):
    done = run("-m", "prep", "build", str(tmp_path / "missing"), check=False)
    assert done.returncode == 2 and "missing" in done.stderr
    (tmp_path / "empty").mkdir()
    done = run("-m", "prep", "build", str(tmp_path / "empty"), check=False)
    assert done.returncode == 2 and "empty" in done.stderr


def test_recall_probes_ask_trained_facts_in_unseen_words(sample_dataset):
    train = read_jsonl(sample_dataset / "hf_train.jsonl")
    recall = read_jsonl(sample_dataset / "hf_recall.jsonl")
    assert recall
    train_facts = {r["meta"]["fact_id"] for r in train}
    train_questions = {r["messages"][0]["content"] for r in train}
    for row in recall:
        assert row["meta"]["fact_id"] in train_facts          # the model trained on this fact...
        assert row["messages"][0]["content"] not in train_questions  # ...never on this wording


def test_val_fraction_zero_teaches_every_page(sample_blocks, sample_dataset, tmp_path):
    """The model a workshop ships should know the whole manual: with data.val_fraction 0 no page is
    held out, hf_val.jsonl is empty, and the recall probes cover every fact."""
    build_dataset(sample_blocks, tmp_path, DataConfig(val_fraction=0), tokenizer_name=None)
    assert (tmp_path / "hf_val.jsonl").read_text() == ""
    facts = lambda path: {r["meta"]["fact_id"] for r in read_jsonl(path)}  # noqa: E731
    held_out = facts(sample_dataset / "hf_val.jsonl")
    assert held_out and held_out <= facts(tmp_path / "hf_train.jsonl")     # the held-out pages now train
    assert facts(tmp_path / "hf_recall.jsonl") == facts(tmp_path / "hf_train.jsonl")


TORQUE_COLUMNS = ["", "Type", "Screw", "Measure", "Unit"]


def torque_block(rows: list[list[str]]) -> dict:
    return {"kind": "table", "text": "", "fields": {"columns": TORQUE_COLUMNS, "rows": rows},
            "source": {"path": "11-06.jpg", "page_label": "11-6"}}


def test_torque_table_rows_as_the_e30_manual_prints_them():
    """Rows of the E30 pages 11-4 and 11-6 (as OCR gives them): a coded component row carrying its
    engine type, an instruction between two torque stages, a remark beside a type."""
    from prep.tasks import spec_answer, spec_facts

    facts, _ = spec_facts(torque_block([
        ["5AZ Cylinder head bolts\nReplace, wash and oil cylinder head bolts", "M51/M41", "M11", "", ""],
        ["Torque", "", "", "80", "Nm"],
        ["Loosen all bolts 1/2 turn", "", "", "", ""],
        ["Torque", "", "", "50", "Nm"],
        ["Torque angle", "", "", "90", "°"],
        ["warm-running time", "", "", "25", "min"],
    ]))
    assert {(f["component"], f["variant"]) for f in facts} == {("Cylinder head bolts", "M51/M41, M11")}
    assert spec_answer(facts) == ("stage 1: torque 80 Nm; stage 2: loosen all bolts 1/2 turn; stage 3: torque 50 Nm; "
                                  "stage 4: torque angle 90°; stage 5: warm-running time 25 min")

    facts, _ = spec_facts(torque_block([
        ["2AZ Cylinder head bolts\nReplace, wash and oil cylinder head bolts.", "", "", "", ""],
        ["For repair work, only use screws with Torx head", "M20", "M10", "", ""],
        ["torque", "", "", "30", "Nm"],
    ]))
    assert [(f["component"], f["variant"], f["value"]) for f in facts] == [("Cylinder head bolts", "M20, M10", "30")]


def test_instruction_stage_is_checked_on_the_page_and_kept_out_of_the_index():
    import random

    from prep.tasks import spec_examples

    block = torque_block([
        ["5AZ Cylinder head bolts", "M51/M41", "M11", "", ""],
        ["Torque", "", "", "80", "Nm"], ["Loosen all bolts 1/2 turn", "", "", "", ""], ["Torque", "", "", "50", "Nm"]])
    block.update(id="11-06.jpg#p1#b1", text="5AZ Cylinder head bolts M51/M41 M11 Torque 80 Nm Loosen all bolts 1/2 turn "
                                            "Torque 50 Nm")
    spec = spec_examples([block], lambda group: "train", 1, random.Random(0))
    examples, index = spec.examples, spec.index
    assert [f["value"] for f in index] == ["80", "50"]            # no empty value for serve.py to match
    assert gates.check(examples[0]) is None
    # an instruction the page does not print fails like a wrong value
    examples[0].spec["facts"][1]["measure"] = "loosen all bolts 3/4 turn"
    assert gates.check(examples[0]) == "answer not found in its source block"


@pytest.mark.parametrize("variant, taught", [("S$6S560G", False), ("S38B36", True)])
def test_misread_engine_code_is_left_out_and_reported(variant, taught):
    """`S$6S560G` (23-2: a type code never holds `$`) is left out with its reason, never guessed."""
    import random

    from prep.tasks import spec_examples

    block = torque_block([["4AZ Oil drain plug/filler plug", "All", "", "50", "Nm"], ["", variant, "", "52", "Nm"]])
    block.update(id="23-02.jpg#p1#b1", text=f"4AZ Oil drain plug/filler plug All 50 Nm {variant} 52 Nm")
    spec = spec_examples([block], lambda group: "train", 1, random.Random(0))
    coded = [ex for ex in spec.examples if variant in ex.answer]
    assert bool(coded) == taught and all(gates.check(ex) is None for ex in coded)
    if not taught:
        # nor is its `All` sibling: taught alone, "50 Nm" would be said for every gearbox, the 52 Nm lost
        assert [(x["row"], x["reason"]) for x in spec.left_out] == [
            (1, f"type unreadable: {variant!r}"),
            (0, "another variant of this part is unreadable: this row names no variant of its own")]
        assert spec.index == [] and spec.examples == []
    else:
        assert [f["value"] for f in spec.index] == ["50", "52"]


@pytest.mark.parametrize("cell, name", [("1AZ Cylinder head bolts", "Cylinder head bolts"), ("2AZ_ Oil sump", "Oil sump"),
                                        ("2AZ 'Transmission to clutch housing", "Transmission to clutch housing"),
                                        ("O-ring seal", "O-ring seal"), ("Oil drain plug", "Oil drain plug")])
def test_row_code_stripped_from_component(cell, name):
    from prep.spec_tables import strip_code

    assert strip_code(cell) == name
