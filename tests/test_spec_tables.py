"""Spec tables read as the manual prints them: which rows are parts, variants and stages.

    pytest tests/test_spec_tables.py -q

The rows are those of real torque pages of the E30 manual quoted in the audit that found screw sizes
read as stages and neighbouring parts read as stages, as OCR gives them; each expected
answer is what a mechanic reads on the page. No sample file is needed.
"""

import random

import pytest

from prep import gates
from prep.spec_tables import table_facts
from prep.tasks import spec_examples, variant_phrase

COLUMNS = ["", "Type", "Screw", "Measure", "Unit"]


def table(rows, columns=COLUMNS, title="21 11 Bell housing", page_title="21 - 1 Clutch"):
    text = "\n".join(" | ".join(c.replace("\n", " / ") for c in row) for row in rows)
    return {"id": "t.jpg#p1#b1", "kind": "table", "text": f"{title}\n{text}", "page_kind": "spec-table", "lang": "en",
            "fields": {"title": title, "page_title": page_title, "columns": columns, "rows": rows},
            "context": {}, "source": {"path": "t.jpg", "page": 1, "page_label": "21-1", "method": "ocr"}}


def answers(block) -> dict[str, str]:
    """{question: answer} of the SPEC examples that pass every gate."""
    spec = spec_examples([block], lambda group: "train", 1, random.Random(0))
    return {ex.question: ex.answer for ex in spec.examples if gates.check(ex) is None}


def by_part(block) -> dict[tuple, list]:
    facts, _ = table_facts(block, [])
    out: dict[tuple, list] = {}
    for f in facts:
        out.setdefault((f["component"], f["variant"]), []).append((f["measure"], f["value"], f["unit"], f["stage"]))
    return out


def test_screw_sizes_are_variants_not_stages():
    block = table([["1AZ Clutch housing to crankcase", "All", "M8", "27", "Nm"],
                   ["", "All", "M10", "51", "Nm"],
                   ["", "All", "M12", "86", "Nm"]])
    assert by_part(block) == {("Clutch housing to crankcase", "M8"): [("tightening torque", "27", "Nm", None)],
                              ("Clutch housing to crankcase", "M10"): [("tightening torque", "51", "Nm", None)],
                              ("Clutch housing to crankcase", "M12"): [("tightening torque", "86", "Nm", None)]}
    said = answers(block)
    # asked without a screw size: every size with its own torque; asked for one: that one
    assert "M8: 27 Nm; M10: 51 Nm; M12: 86 Nm" in said.values()
    m8 = [a for q, a in said.items() if "M8 screw" in q]
    assert m8 == ["M8: 27 Nm"]
    assert not any("stage" in a for a in said.values())


def test_rows_that_name_their_own_part_are_their_own_facts():
    block = table([["1AZ Safety belt on body, except for B-pillar", "", "", "48", "Nm"],
                   ["Safety belt on B-pillar", "", "", "31", "Nm"],
                   ["Safety belt on seat, on touring also on rear seat backrest", "", "", "48", "Nm"],
                   ["3AZ Seat belt to seat", "E31", "", "47", "Nm"],
                   ["4AZ Seat belt to backrest", "E31", "", "24", "Nm"],
                   ["5AZ Headrest to backrest", "E31", "", "24", "Nm"]])
    parts = by_part(block)
    assert parts == {
        ("Safety belt on body, except for B-pillar", None): [("tightening torque", "48", "Nm", None)],
        ("Safety belt on B-pillar", None): [("tightening torque", "31", "Nm", None)],
        ("Safety belt on seat, on touring also on rear seat backrest", None): [("tightening torque", "48", "Nm", None)],
        ("Seat belt to seat", "E31"): [("tightening torque", "47", "Nm", None)],
        ("Seat belt to backrest", "E31"): [("tightening torque", "24", "Nm", None)],
        ("Headrest to backrest", "E31"): [("tightening torque", "24", "Nm", None)]}
    said = answers(block)
    assert not any("stage" in a for a in said.values())
    # a chassis code is a model: "on the E31", never "the E31 engine"
    seat = [q for q in said if "seat belt to seat" in q]
    assert seat and all("on the E31" in q and "engine" not in q for q in seat)


def test_sub_rows_named_torque_and_torque_angle_are_stages_of_their_type():
    block = table([["1AZ Sprocket to camshaft", "M20/M21/M40", "M10", "65", "Nm"],
                   ["Sprocket to camshaft", "M51/M41", "", "", ""],
                   ["Torque", "", "", "20", "Nm"],
                   ["Torque angle", "", "", "35", "°"]])
    assert by_part(block) == {
        ("Sprocket to camshaft", "M20/M21/M40, M10"): [("tightening torque", "65", "Nm", None)],
        ("Sprocket to camshaft", "M51/M41"): [("torque", "20", "Nm", 1), ("torque angle", "35", "°", 2)]}
    said = answers(block)
    assert said[next(q for q in said if "M51/M41 engines" in q)] == "M51/M41: stage 1: torque 20 Nm; stage 2: torque angle 35°"
    assert "M20/M21/M40, M10: 65 Nm\nM51/M41: stage 1: torque 20 Nm; stage 2: torque angle 35°" in said.values()


def test_several_values_in_one_cell_follow_the_screw_lines():
    block = table([["1AZ Camshaft bearing cap", "All", "M6\nM7\nM8", "10\n15\n20", "Nm"]])
    assert by_part(block) == {("Camshaft bearing cap", "M6"): [("tightening torque", "10", "Nm", None)],
                              ("Camshaft bearing cap", "M7"): [("tightening torque", "15", "Nm", None)],
                              ("Camshaft bearing cap", "M8"): [("tightening torque", "20", "Nm", None)]}


def test_values_that_cannot_be_paired_with_their_variant_are_left_out():
    block = table([["1AZ Camshaft bearing cap", "All", "M6\nM7", "10\n15\n20", "Nm"]])
    facts, skipped = table_facts(block, [])
    assert facts == [] and [s["reason"] for s in skipped] == ["several values in one cell, not aligned with their variants"]


def test_all_others_reads_all_other_engines():
    block = table([["3AZ Coolant temperature sensor (2-pin plug-in connection)", "S38/S50", "", "13", "Nm"],
                   ["", "All others", "", "20", "Nm"]])
    said = answers(block)
    q = next(q for q, a in said.items() if a == "All others: 20 Nm")
    assert q.endswith("for all other engines?") or "for all other engines" in q
    assert "S38/S50: 13 Nm; All others: 20 Nm" in said.values()


@pytest.mark.parametrize("type_, phrase", [
    ("M51", " for the M51 engine"), ("M20/M21/M40", " for the M20/M21/M40 engines"), ("S50 US", " for the S50 US engine"),
    ("E36", " on the E36"), ("E34 touring", " on the E34 touring"), ("E39/2", " on the E39/2"),
    ("A5S 310Z", " (type A5S 310Z)"), ("All", ""),
    ("M52 With cast aluminium engine block", " for the M52 engine with cast aluminium engine block")])
def test_engines_are_engines_and_models_are_models(type_, phrase):
    assert variant_phrase({"type": type_, "screw": ""}, []) == phrase


def test_a_table_whose_header_is_unread_gives_no_guessed_facts():
    block = table([["1AZ Clutch housing to crankcase", "All", "M8", "27", "Nm"]],
                  columns=["", "Tvpe", "Scrvarw", "Mcasure", "Umt"])
    facts, skipped = table_facts(block, [])
    assert facts == [] and [s["reason"] for s in skipped] == ["table header unread"]


THREAD_COLUMNS = ["", "8.8", "10.9", "12.9"]


def thread_table(rows):
    block = table(rows, columns=THREAD_COLUMNS, title=None, page_title="Thread")
    block["fields"]["title"] = None
    return block


def test_thread_table_by_size_and_grade():
    rows = [["M4", "2.9", "4.1", "5.0"], ["M5", "5.7", "8.1", "9.7"], ["M6", "9.9", "14", "17"],
            ["M8", "24", "34", "41"], ["M10x1.25", "50", "70", "84"]]
    facts, skipped = table_facts(thread_table(rows), [], page_text="Maximum tightening torques in Nm")
    assert not skipped
    got = {(f["component"], f["variant"]): (f["value"], f["unit"], f["measure"]) for f in facts}
    assert got[("M4 thread", "strength grade 8.8")] == ("2.9", "Nm", "maximum tightening torque")
    assert got[("M4 thread", "strength grade 10.9")] == ("4.1", "Nm", "maximum tightening torque")
    assert got[("M10x1.25 thread", "strength grade 12.9")] == ("84", "Nm", "maximum tightening torque")
    assert len(facts) == 15


def test_thread_table_cross_check_catches_a_lost_decimal_point():
    """`M4 8.8 → 2.9 Nm` read `29` and `10.9 → 4.1` read `41`: ten times too tight. A stronger grade
    always takes more torque along a row, and a thicker thread more down a column."""
    rows = [["M4", "29", "41", "5.0"], ["M5", "5.7", "8.1", "9.7"], ["M6", "9.9", "14", "17"], ["M8", "24", "34", "41"]]
    facts, skipped = table_facts(thread_table(rows), [], page_text="Tightening torques (Nm)")
    assert not any(f["screw"] == "M4" or f["component"] == "M4 thread" for f in facts)
    assert any("strength grade" in s["reason"] for s in skipped)
    # a lost point that still rises along its row is caught down its column
    rows = [["M4", "2.9", "41", "50"], ["M5", "5.7", "8.1", "9.7"], ["M6", "9.9", "14", "17"]]
    facts, skipped = table_facts(thread_table(rows), [], page_text="Tightening torques (Nm)")
    values = {(f["component"], f["variant"]): f["value"] for f in facts}
    assert ("M4 thread", "strength grade 10.9") not in values and ("M4 thread", "strength grade 12.9") not in values
    assert values[("M4 thread", "strength grade 8.8")] == "2.9"


def test_thread_table_without_a_printed_unit_is_not_guessed():
    facts, skipped = table_facts(thread_table([["M4", "2.9", "4.1", "5.0"], ["M5", "5.7", "8.1", "9.7"]]), [], "")
    assert facts == [] and {s["reason"] for s in skipped} == {"table header unread (no unit printed)"}


def test_nm_and_ft_lb_must_say_the_same_torque():
    block = table([["Oil drain plug", "35 (26)"], ["Wheel bolts", "110 (81)"], ["Sump bolts", "10 (17)"]],
                  columns=["", "Nm (ft. lbs.)"], title="Engine", page_title="Component")
    block["source"]["method"] = "ocr"
    facts, skipped = table_facts(block, [])
    assert [(f["component"], f["value"], f["unit"], f["alt"]) for f in facts] == [
        ("Oil drain plug", "35", "Nm", "26 ft-lb"), ("Wheel bolts", "110", "Nm", "81 ft-lb")]
    assert [s["reason"] for s in skipped] == ["cross-check failed: 10 Nm is not 17 ft-lb"]


def test_a_sequence_with_an_unreadable_stage_is_left_out_whole():
    """Taught without its last torque angle, a head-bolt sequence would be a wrong procedure."""
    block = table([["4AZ Roll-over bar to rear wheel arch", "", "", "", ""],
                   ["For repair work, only use bolts with Torx head", "K20", "M10", "", ""],
                   ["Torque", "", "", "30", "Nm"], ["Loosen all bolts 1/2 turn", "", "", "", ""],
                   ["Torque", "", "", "25", "Nm"], ["Torque angle", "", "", "90", "Nm"],
                   ["5AZ Bonnet hinge to body", "K20", "", "24", "Nm"]])
    facts, skipped = table_facts(block, [])
    assert [(f["component"], f["value"]) for f in facts] == [("Bonnet hinge to body", "24")]
    assert [s["row"] for s in skipped] == [5, 2, 3, 4]
    assert skipped[0]["reason"] == "unit unread: 'Nm'"      # an angle in Nm: the label and the unit disagree


def test_a_sequence_with_a_stage_whose_readings_disagree_is_left_out_whole():
    block = table([["5AZ Cylinder head bolts", "M51/M41", "M11", "", ""], ["Torque", "", "", "80", "Nm"],
                   ["Torque", "", "", "50", "Nm"], ["Torque angle", "", "", "90", "°"]])
    block["fields"]["unsure_cells"] = [[2, 3, "50", ["50", "60", "60?"]]]
    spec = spec_examples([block], lambda group: "train", 1, random.Random(0))
    assert spec.examples == [] and spec.index == []
    assert sorted(x["reason"].split(":")[0] for x in spec.left_out) == [
        "another stage of this part and variant is left out", "another stage of this part and variant is left out",
        "readings disagree"]


def test_stages_of_a_variant_whose_type_readings_disagree_are_left_out():
    """The stages' own rows hold no type: the row that printed it must read the same twice too."""
    block = table([["6AZ Cylinder head bolts", "M40/M42/M43/M44/MS50", "M10", "", ""], ["Torque", "", "", "30", "Nm"],
                   ["Torque angle", "", "", "90", "°"], ["7AZ Oil pump", "M50", "", "25", "Nm"]])
    block["fields"]["unsure_cells"] = [[0, 1, "M40/M42/M43/M44/MS50", ["M40/M42/M43/M44/MS50", "M40/M42/M43/M44/M50", ""]]]
    spec = spec_examples([block], lambda group: "train", 1, random.Random(0))
    assert [f["component"] for f in spec.index] == ["Oil pump"]


def test_a_part_with_an_unreadable_variant_teaches_no_row_that_names_none():
    """23-2 of the E30 manual: `4AZ Oil drain plug/filler plug | All | 50 Nm`, then `| S 6 S 560 G | 52 Nm`
    read as `S$6S560G`. Taught alone, `All: 50` became "50 Nm" for every gearbox, the S 6 S 560 G's 52 lost."""
    block = table([["4AZ Oil drain plug/filler plug", "All", "", "50", "Nm"],
                   ["", "S$6S560G", "", "52", "Nm"],
                   ["5AZ Rubber mount to engine console", "All", "ms", "22", "Nm"],
                   ["", "All", "M10", "47", "Nm"]])
    facts, skipped = table_facts(block, [])
    assert [(f["component"], f["variant"], f["value"]) for f in facts] == [("Rubber mount to engine console", "M10", "47")]
    assert facts[0]["variants_incomplete"]
    assert {s["reason"] for s in skipped if s["row"] == 0} == {
        "another variant of this part is unreadable: this row names no variant of its own"}
    said = answers(block)
    # the M10 row is taught as the M10 row; no answer claims to be every screw size of the part
    assert list(said.values()) == ["M10: 47 Nm"] and all("M10 screw" in q for q in said)


def test_a_part_whose_variant_readings_disagree_teaches_no_row_that_names_none():
    block = table([["4AZ Oil drain plug/filler plug", "All", "", "50", "Nm"], ["", "K25", "", "52", "Nm"]])
    block["fields"]["unsure_cells"] = [[1, 1, "K25", ["K25", "K26", ""]]]
    spec = spec_examples([block], lambda group: "train", 1, random.Random(0))
    assert spec.examples == [] and spec.index == []
    assert sorted(x["reason"] for x in spec.left_out) == [
        "another variant of this part is left out: this row names no variant", "readings disagree: K25 / K26"]


def test_a_sheet_row_with_values_in_unnamed_columns_is_left_out():
    """The E30 M3 spec sheet (M3-techspec.html) prints `Weight: | 1200 kg | ??? kg`: its two value
    columns are the coupé and the convertible, named only in its `Model Code` row. Taught as
    `Weight: 1200 kg` it would be answered for the convertible too. Named columns still teach both."""
    rows = [["Weight:", "1200 kg", "??? kg", ""], ["Wheelbase:", "2562 mm", "", ""]]
    block = table(rows, columns=["Introduction", "", "", ""], title="Dimensions", page_title="")
    block["source"] = {"path": "M3-techspec.html", "page": 1, "page_label": None, "method": "html"}
    facts, skipped = table_facts(block, [])
    assert [(f["component"], f["value"], f["variant"]) for f in facts] == [("Wheelbase", "2562 mm", None)]
    assert [s["reason"] for s in skipped] == ["2 values in columns the table does not name"]
    facts, skipped = table_facts(block, ["Coupe", "Convertible"])
    assert [(f["component"], f["value"], f["variant"]) for f in facts] == [
        ("Weight", "1200 kg", "COUPE"), ("Wheelbase", "2562 mm", None)] and not skipped


@pytest.mark.parametrize("readings, taught", [
    (["ms", "M8", ""], True),       # 24-12 and 23-2 of the E30 manual: `M8` read `ms`, crop reading blank
    (["Ms", "M8", "Ms"], True),     # the crop reading sees the same letter
    (["ms", "M8", "M5"], False),    # the crop reading is another thread size
    (["M5", "M8", ""], False),      # a digit read as another digit: two thread sizes, neither settled
    (["ms", "M6", ""], False),      # `s` is no look-alike of 6
    (["ms", "ms", ""], False)])     # no reading is a thread size
def test_a_thread_size_read_with_a_letter_for_its_digit_is_the_second_readings(readings, taught):
    """24-12 of the E30 manual prints `4AZ Pulse sender | A5S 560Z | M5 | 6 Nm`, then `| | M8 | 23 Nm`;
    tesseract reads that M8 `ms`, rapidocr `M8`, the crop reading nothing. A Screw cell holds a
    thread size: a letter where it prints a digit is no competing reading."""
    block = table([["4AZ Pulse sender", "A5S 560Z", "M5", "6", "Nm"], ["", "", readings[0], "23", "Nm"]])
    block["fields"]["unsure_cells"] = [[1, 2, readings[0], readings]]
    said = answers(block)
    assert ("M8: 23 Nm" in said.values()) is taught
    assert all(q.rstrip("?.").endswith("pulse sender (M8 screw)") for q, a in said.items() if a == "M8: 23 Nm")
    assert not any("23" in a and "M8" not in a for a in said.values())


@pytest.mark.parametrize("readings, taught", [
    (["S$6S560G", "S6S560G", "$6S560G"], True),   # 23-2 of the E30 manual, all three readings
    (["S$6S560G", "S6S560G", ""], False),          # rapidocr alone
    (["S$6S560G", "S6S580G", "$6S560G"], False)])  # the `$` read as S, the digits still disagree
def test_a_type_code_read_with_a_dollar_for_its_s_is_settled_by_two_readings(readings, taught):
    """23-2: `4AZ Oil drain plug/filler plug | All | 50 Nm`, then `| S 6 S 560 G | 52 Nm`, read
    `S$6S560G` (rapidocr `S6S560G`, the crop `$6S560G`). A type code never holds a `$`."""
    block = table([["4AZ Oil drain plug/filler plug", "All", "", "50", "Nm"], ["", readings[0], "", "52", "Nm"]])
    block["fields"]["unsure_cells"] = [[1, 1, readings[0], readings]]
    said = answers(block)
    if taught:
        assert set(said.values()) == {"S6S560G: 52 Nm", "All: 50 Nm; S6S560G: 52 Nm"}
    else:     # the S 6 S 560 G's row, and the `All` row that would be taught as every gearbox
        assert said == {}


def test_type_words_the_scan_ran_together_are_read_as_printed():
    """61-6 of the E30 manual prints `| E36 comp/touring | M6 | 10 Nm`, read `E36 compitouring`; a
    table's `All others` read `Allothers`. A word that is not two body styles stays unreadable."""
    block = table([["2AZ Wiper console to tailgate (rubber mount)", "E34 touring", "", "5", "Nm"],
                   ["", "E36 compitouring", "M6", "10", "Nm"],
                   ["3AZ Coolant temperature sensor", "S38/S50", "", "13", "Nm"],
                   ["", "Allothers", "", "20", "Nm"],
                   ["4AZ Wiper motor to console", "E34 touring", "", "13", "Nm"],
                   ["", "E36 compitourlng", "", "15", "Nm"]])
    facts, skipped = table_facts(block, [])
    assert [(f["component"], f["variant"], f["value"]) for f in facts] == [
        ("Wiper console to tailgate (rubber mount)", "E34 touring", "5"),
        ("Wiper console to tailgate (rubber mount)", "E36 comp/touring, M6", "10"),
        ("Coolant temperature sensor", "S38/S50", "13"), ("Coolant temperature sensor", "All others", "20"),
        ("Wiper motor to console", "E34 touring", "13")]
    assert [s["reason"] for s in skipped] == ["type unreadable: 'E36 compitourlng'"]
    said = answers(block)
    assert "S38/S50: 13 Nm; All others: 20 Nm" in said.values()
    asked = [q for q, a in said.items() if a == "E36 comp/touring, M6: 10 Nm"]
    assert len(asked) == 1 and asked[0].endswith("(rubber mount) on the E36 comp/touring, M6 screw?")


def test_a_unit_cell_that_names_a_second_unit_without_its_value_is_the_first_unit():
    """A Unit column printed `Nm (ft. lbs.)` (OCR: `Nm (ft. Ibs.)`) on rows with one value each: the
    value is in Nm and no ft-lb value is printed. A value printed in the bracket stays its own."""
    block = table([["1AZ Oil drain plug", "All", "M12", "45", "Nm (ft. Ibs.)"],
                   ["2AZ Oil filter cover", "All", "", "25", "Nm (ft. lbs.)"],
                   ["3AZ Spark plugs", "All", "M14x1.25", "25", "Nm (18 ft-lb)"]])
    facts, _ = table_facts(block, [])
    assert [(f["value"], f["unit"], f["alt"]) for f in facts] == [("45", "Nm", None), ("25", "Nm", None),
                                                                  ("25", "Nm", "18 ft-lb")]
    said = answers(block)
    assert sorted(said.values()) == ["25 Nm", "M12: 45 Nm", "M14x1.25: 25 Nm (18 ft-lb)"]


def test_a_sub_row_that_names_only_a_fastener_is_the_fastener_of_the_part_above():
    """`Fuel tank to body / Screw | All | M8 | 23`, then `nut | E30 | M8 | 25` and
    `nut | E24 | M8 | 45` were asked as "the nut on the E24" (which nut?)."""
    block = table([["1AZ Fuel tank to body\nScrew", "All", "M8", "23", "Nm"],
                   ["nut", "E30", "M8", "25", "Nm"],
                   ["nut", "E24", "M8", "45", "Nm"],
                   ["2AZ Filler neck to body", "All", "", "8", "Nm"],
                   ["Bolt", "", "M6", "9", "Nm"]])
    assert by_part(block) == {
        ("Fuel tank to body, screw", "M8"): [("tightening torque", "23", "Nm", None)],
        ("Fuel tank to body, nut", "E30, M8"): [("tightening torque", "25", "Nm", None)],
        ("Fuel tank to body, nut", "E24, M8"): [("tightening torque", "45", "Nm", None)],
        ("Filler neck to body", None): [("tightening torque", "8", "Nm", None)],
        ("Filler neck to body, bolt", "M6"): [("tightening torque", "9", "Nm", None)]}
    said = answers(block)
    e24 = [q for q, a in said.items() if a == "E24, M8: 45 Nm"]
    assert e24 and all(q.rstrip("?.").endswith("fuel tank to body, nut on the E24, M8 nut") for q in e24)
    assert "E30, M8: 25 Nm; E24, M8: 45 Nm" in said.values()
    assert all("fuel tank to body" in q for q, a in said.items() if "23" in a or "25" in a or "45" in a)


def test_a_part_that_lost_a_variant_keeps_its_named_variants_under_their_own_names():
    """A variant whose value is unreadable is left out with its whole sequence; its named siblings
    stay, each asked by its own name, and no answer claims to be every variant. An `All` sibling
    would be answered as the whole part (the lost variant's own torque with it), so it is left out."""
    block = table([["4AZ Oil drain plug", "All", "", "50", "Nm"],
                   ["", "K25", "", "5?", "Nm"],
                   ["5AZ Cylinder head cover", "K20", "M6", "", ""], ["Torque", "", "", "10", "Nm"],
                   ["", "K25", "M6", "", ""], ["Torque", "", "", "9", "Nm"], ["Torque angle", "", "", "9O", "°"],
                   ["", "K26", "M6", "12", "Nm"]])
    facts, skipped = table_facts(block, [])
    assert [(f["component"], f["variant"], f["value"]) for f in facts] == [
        ("Cylinder head cover", "K20, M6", "10"), ("Cylinder head cover", "K26, M6", "12")]
    assert all(f["variants_incomplete"] for f in facts)
    assert sorted(s["reason"] for s in skipped) == [
        "another row of this part and variant is unreadable",
        "another variant of this part is unreadable: this row names no variant of its own",
        "value unreadable: '5?'", "value unreadable: '9O'"]
    said = answers(block)
    assert sorted(said.values()) == ["K20, M6: 10 Nm", "K26, M6: 12 Nm"]
    assert all(("K20" in q) == ("K20" in a) and "K25" not in q for q, a in said.items())


def test_qa_report_says_which_disagreeing_cells_their_column_read():
    """qa_report.md lists every number whose readings disagree; one that its column's grammar
    reads is taught, and the report says as what."""
    from pathlib import Path
    from prep.dataset import numbers_markdown, numbers_report

    block = table([["3AZ Reinforcement plate to transmission", "All", "ms", "23", "Nm"],
                   ["4AZ Oil drain plug", "All", "", "5O", "Nm"]])
    block["fields"]["unsure_cells"] = [[0, 2, "ms", ["ms", "M8", ""]], [1, 3, "5O", ["5O", "58", ""]]]
    spec = spec_examples([block], lambda group: "train", 1, random.Random(0))
    lines = numbers_markdown(numbers_report([block], Path("/nonexistent/pages.jsonl"), spec, {}))
    assert "| 21-1 | t.jpg | `ms` | `M8` | `` | `M8` (its column's grammar) |" in lines
    assert "| 21-1 | t.jpg | `5O` | `58` | `` | not taught |" in lines
    assert "- 21-1 (t.jpg): `4AZ Oil drain plug | All |  | 5O | Nm` — value unreadable: '5O'" in lines
