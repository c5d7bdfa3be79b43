"""The spec checker on its own: no model, a hand-written index in the format prep writes."""

import json

import pytest

import spec_check
from vocab import units

FACTS = [
    {"component": "Cylinder head bolts", "measure": "torque", "variant": None, "value": "54",
     "unit": "Nm", "stage": 1, "text": "torque 54 Nm", "section_id": "11", "section_name": "Engine",
     "source": "00 - Torque Specs/11-04.jpg", "page": "11-4"},
    {"component": "Cylinder head bolts", "measure": "torque angle", "variant": None, "value": "90",
     "unit": "°", "stage": 2, "text": "torque angle 90 °", "section_id": "11",
     "section_name": "Engine", "source": "00 - Torque Specs/11-04.jpg", "page": "11-4"},
    {"component": "Cylinder head cover bolts", "measure": "torque", "variant": None, "value": "10",
     "unit": "N·m", "stage": None, "text": "torque 10 N·m", "section_id": "11",
     "section_name": "Engine", "source": "00 - Torque Specs/11-04.jpg", "page": "11-4"},
    {"component": "Oil drain plug", "measure": "torque", "variant": None, "value": "45",
     "unit": "Nm", "stage": None, "text": "torque 45 Nm", "section_id": "17",
     "section_name": "Lubrication", "source": "00 - Torque Specs/17-02.jpg", "page": "17-2"},
    {"component": "Spark plug", "measure": "gap", "variant": None, "value": "0,8-0,9", "unit": "mm",
     "stage": None, "text": "gap 0,8-0,9 mm", "section_id": "12", "section_name": "Ignition",
     "source": "12-01.jpg", "page": "12-1"},
    {"component": "Fuel pressure", "measure": "pressure", "variant": None, "value": "3,5",
     "unit": "bar", "stage": None, "text": "3,5 bar", "section_id": "13", "section_name": "Fuel",
     "source": "13-03.jpg", "page": "13-3"},
    {"component": "Wheel nuts", "measure": "torque", "variant": "K20", "value": "108", "unit": "Nm",
     "stage": None, "text": "108 Nm", "section_id": "44", "section_name": "Wheels",
     "source": "44-01.jpg", "page": "44-1"},
    {"component": "Wheel nuts", "measure": "torque", "variant": "K24", "value": "120", "unit": "Nm",
     "stage": None, "text": "120 Nm", "section_id": "44", "section_name": "Wheels",
     "source": "44-01.jpg", "page": "44-1"},
    {"component": "Alternator", "measure": "note", "variant": None, "value": "see text",
     "unit": "", "stage": None, "text": "", "section_id": "27", "section_name": "Electrical",
     "source": "27-01.jpg", "page": "27-1"},
]


@pytest.fixture(scope="module")
def facts(tmp_path_factory):
    path = tmp_path_factory.mktemp("index") / "spec_index.jsonl"
    path.write_text("\n".join(json.dumps(f, ensure_ascii=False) for f in FACTS) + "\n", encoding="utf-8")
    return spec_check.load_spec_index(path)


def statuses(facts, question, answer):
    return [(q.value, q.unit, q.status) for q in spec_check.check_answer(facts, question, answer)]


def test_index_loads_numbers_only_and_normalises(facts):
    # the "see text" row has no number to match and is skipped
    assert len(facts) == len(FACTS) - 1
    gap = next(f for f in facts if f.component == "Spark plug")
    assert (gap.value, gap.unit) == ("0.8-0.9", "mm")
    cover = next(f for f in facts if f.component == "Cylinder head cover bolts")
    assert cover.unit == "Nm"


def test_exact_match_carries_section_and_page(facts):
    [q] = spec_check.check_answer(facts, "Cylinder head bolt torque?", "Tighten them to 54 Nm.")
    assert q.status == "match" and q.fact.page == "11-4" and q.fact.section_name == "Engine"
    assert q.line() == "✓ 54 Nm — Cylinder head bolts (torque, stage 1), section 11 Engine, page 11-4"
    assert q.as_json()["source"]["page"] == "11-4"


def test_near_miss_is_not_a_match(facts):
    # 45 vs 54 Nm: digits swapped, must be flagged
    [q] = spec_check.check_answer(facts, "Cylinder head bolt torque?", "Tighten them to 45 Nm.")
    assert q.status == "unmatched" and q.fact is None
    assert q.line() == "⚠ 45 Nm — not in the manual's tables"
    assert q.as_json()["source"] is None


def test_trailing_zero_and_decimal_comma_match(facts):
    assert statuses(facts, "cylinder head bolts", "54.0 Nm then 90.00°") == [
        ("54", "Nm", "match"), ("90", "°", "match")]
    assert statuses(facts, "What is the fuel pressure?", "About 3,5 bar, or 3.5 bar.") == [
        ("3.5", "bar", "match"), ("3.5", "bar", "match")]
    assert statuses(facts, "spark plug gap", "Set the gap to 0.8-0.9 mm (0,8 to 0,9 mm).") == [
        ("0.8-0.9", "mm", "match"), ("0.8-0.9", "mm", "match")]


@pytest.mark.parametrize("written", ["54 Nm", "54Nm", "54 N·m", "54 N m", "54 N.m", "54 newton metres"])
def test_torque_unit_variants(facts, written):
    assert statuses(facts, "cylinder head bolts", f"Torque: {written}.") == [("54", "Nm", "match")]


@pytest.mark.parametrize("written", ["90°", "90 °", "90 deg", "90 degrees"])
def test_angle_unit_variants(facts, written):
    assert statuses(facts, "cylinder head bolts", f"Then turn a further {written}.") == [("90", "°", "match")]


def test_same_value_in_another_unit_is_not_a_match(facts):
    # 54 lbf·ft is not 54 Nm; 90 °C is a temperature, not the 90° angle
    assert statuses(facts, "cylinder head bolts", "54 lbf·ft, 90 °C") == [
        ("54", "ft-lb", "unmatched"), ("90", "°C", "unmatched")]


def test_number_of_another_part_is_not_checked(facts):
    # 45 Nm is in the manual, but for the drain plug: not a valid answer about head bolts
    assert statuses(facts, "Torque for the cylinder head bolts?", "Use 45 Nm.") == [("45", "Nm", "unmatched")]
    # 10 Nm belongs to the head *cover* bolts: the best-scoring part wins, the cover is not used
    assert statuses(facts, "Torque for the cylinder head bolts?", "Use 10 Nm.") == [("10", "Nm", "unmatched")]
    # ... but a sentence naming the other part is checked against that part
    assert statuses(facts, "Cylinder head bolts?", "Tighten them to 54 Nm. The oil drain plug takes 45 Nm.") == [
        ("54", "Nm", "match"), ("45", "Nm", "match")]


def test_variant_named_in_question_selects_its_value(facts):
    assert statuses(facts, "Wheel nut torque on the K20?", "108 Nm") == [("108", "Nm", "match")]
    assert statuses(facts, "Wheel nut torque on the K20?", "120 Nm") == [("120", "Nm", "unmatched")]
    # no variant named: either listed value is one the manual gives for wheel nuts
    assert statuses(facts, "Wheel nut torque?", "120 Nm") == [("120", "Nm", "match")]


def test_no_relevant_part_means_no_match(facts):
    assert statuses(facts, "What about the brake caliper?", "Use 54 Nm.") == [("54", "Nm", "unmatched")]


def test_numbers_without_units_and_prose_are_ignored():
    found = units.find_quantities("Step 2: tighten in 3 passes in the order shown on the K20.")
    assert found == []


def test_unit_spellings_found():
    found = [(v, u) for _, v, u, _ in units.find_quantities(
        "12 V, 10 A, 5 kΩ, 4 ohms, 30 ft-lb, 4.5 l, 500 ml, 10,000 km, -40 °C, 0.5 in., 2,5 psi")]
    assert found == [("12", "V"), ("10", "A"), ("5", "kΩ"), ("4", "Ω"), ("30", "ft-lb"), ("4.5", "L"),
                     ("500", "ml"), ("10000", "km"), ("-40", "°C"), ("0.5", "in"), ("2.5", "psi")]


def test_dotted_ranges_and_one_sided_tolerances_are_one_value():
    # E30 23-187 "Adjust play to 0 ... 0.09 mm", 35-7 "production diameter of 14.2 + 0.1 mm", the Bosch
    # test table's "600...1600 Ω": read apart, each would be its last number alone (0.09 mm, 0.1 mm)
    found = [(v, u) for _, v, u, _ in units.find_quantities("0 ... 0.09 mm, 14.2 + 0.1 mm, 600...1600 Ω")]
    assert found == [("0-0.09", "mm"), ("14.2+0.1", "mm"), ("600-1600", "Ω")]
    # a torque stage is no tolerance: "30 Nm + 90°" stays two values; "+ 3" is no tolerance below 1
    assert [v for _, v, _, _ in units.find_quantities("30 Nm + 90°, 2 + 3 mm")] == ["30", "90", "3"]


def test_number_value_rules():
    assert units.number_value("2,5") == units.number_value("2.5")
    assert units.number_value("0,025") == units.number_value("0.025")
    assert units.number_value("1,500") == 1500
    assert units.value_text(units.number_value("45.0"), None) == "45"
    assert units.value_text(units.number_value("100"), None) == "100"


# -----------------------------------------------------------------------------
# rows as prep writes them from the sample manual (OCR leftovers included)

PREP_ROWS = [
    {"component": "1AZ_ Cylinder head bolts", "measure": "torque", "variant": "K20", "value": "35", "unit": "Nm",
     "alt": None, "stage": 1, "section_id": "11", "section_name": "Engine", "source": "00 - Torque Specs/11-04.png", "page": "11-4"},
    {"component": "1AZ_ Cylinder head bolts", "measure": "torque angle", "variant": "K20", "value": "80", "unit": "°",
     "alt": None, "stage": 2, "section_id": "11", "section_name": "Engine", "source": "00 - Torque Specs/11-04.png", "page": "11-4"},
    {"component": "1AZ_ Cylinder head bolts", "measure": "torque", "variant": "K25", "value": "40", "unit": "Nm",
     "alt": None, "stage": 1, "section_id": "11", "section_name": "Engine", "source": "00 - Torque Specs/11-04.png", "page": "11-4"},
    {"component": "1AZ_ Oil drain plug", "measure": "tightening torque", "variant": "K20, K25", "value": "35", "unit": "Nm",
     "alt": "26 ft-lb", "stage": None, "section_id": "11", "section_name": "Engine", "source": "00 - Torque Specs/11-04.png", "page": "11-4"},
    {"component": "Camshaft sprocket bolt", "measure": "torque", "variant": "|k25", "value": "20", "unit": "Nm",
     "alt": None, "stage": 1, "section_id": "11", "section_name": "Engine", "source": "00 - Torque Specs/11-04.png", "page": "11-4"},
    {"component": "tightening torque", "measure": "tightening torque", "variant": None, "value": "10", "unit": "Nm",
     "alt": None, "stage": None, "section_id": "17", "section_name": "Cooling System", "source": "17-06.png", "page": "17-6"},
    {"component": "Engine", "measure": "bore x stroke", "variant": "K20", "value": "86.0 x 86.0 mm", "unit": "",
     "alt": None, "stage": None, "section_id": None, "section_name": None, "source": "Kestrel-K2-techspec.html", "page": 1},
    {"component": "Engine", "measure": "idle speed", "variant": None, "value": "850 ± 50 rpm", "unit": "",
     "alt": None, "stage": None, "section_id": None, "section_name": None, "source": "Kestrel-K2-techspec.html", "page": 1},
    {"component": "Manual gearbox K5/6", "measure": "capacity", "variant": None, "value": "1.2 litres SAE 75W-90",
     "unit": "", "alt": None, "stage": None, "section_id": None, "section_name": None, "source": "Kestrel-K2-techspec.html", "page": 1},
]


@pytest.fixture(scope="module")
def prep_facts(tmp_path_factory):
    path = tmp_path_factory.mktemp("prep-index") / "spec_index.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in PREP_ROWS) + "\n", encoding="utf-8")
    return spec_check.load_spec_index(path)


def test_prep_rows_whole_cells_alt_units_and_tolerances(prep_facts):
    values = {(f.component, f.value, f.unit) for f in prep_facts}
    assert ("1AZ_ Oil drain plug", "26", "ft-lb") in values                  # the alt unit
    assert ("Engine", "850±50", "rpm") in values and ("Engine", "850", "rpm") in values
    assert ("Manual gearbox K5/6", "1.2", "L") in values
    assert not any(f.unit == "W" for f in prep_facts)                       # 75W-90 is an oil grade


def test_prep_rows_head_bolts_on_the_k20_engine(prep_facts):
    q = "I need the tightening torque (all stages) for the 1az_ cylinder head bolts on the K20 engine"
    # 3 head-bolt words beat the spec sheet's one-word "Engine"; K20 drops the K25 value
    assert statuses(prep_facts, q, "stage 1: torque 35 Nm; stage 2: torque angle 80°") == [
        ("35", "Nm", "match"), ("80", "°", "match")]
    assert statuses(prep_facts, q, "stage 1: torque 40 Nm") == [("40", "Nm", "unmatched")]


def test_prep_rows_other_shapes(prep_facts):
    assert statuses(prep_facts, "Oil drain plug torque?", "35 Nm (26 ft-lb)") == [
        ("35", "Nm", "match"), ("26", "ft-lb", "match")]
    assert statuses(prep_facts, "Camshaft sprocket bolt on the K25?", "20 Nm") == [("20", "Nm", "match")]
    assert statuses(prep_facts, "Engine idle speed?", "850 rpm, 850 ± 50 rpm, not 900 rpm") == [
        ("850", "rpm", "match"), ("850±50", "rpm", "match"), ("900", "rpm", "unmatched")]
    # a list before one unit: each number is checked, the wrong bore is caught
    assert statuses(prep_facts, "Engine bore x stroke on the K20?", "84.0 x 86.0 mm") == [
        ("84", "mm", "unmatched"), ("86", "mm", "match")]
    assert statuses(prep_facts, "Manual gearbox oil capacity?", "1.2 litres of SAE 75W-90") == [("1.2", "L", "match")]
    # "tightening torque" names no part: its 10 Nm can never vouch for anything
    assert statuses(prep_facts, "What is the tightening torque?", "10 Nm") == [("10", "Nm", "unmatched")]
    [q] = spec_check.check_answer(prep_facts, "Engine idle speed?", "850 rpm")
    assert q.line() == "✓ 850 rpm — Engine (idle speed), Kestrel-K2-techspec.html, page 1"


def test_every_reference_answer_of_the_sample_dataset_checks(sample_dataset):
    """prep's own SPEC answers, asked with prep's own questions, all come out ✓ against prep's
    spec index; and no answer is ever matched to a part other than the one asked about."""
    facts = spec_check.load_spec_index(sample_dataset / "spec_index.jsonl")
    rows = [json.loads(line) for name in ("hf_train.jsonl", "hf_val.jsonl")
            for line in (sample_dataset / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    pairs = [(r["messages"][0]["content"].split("] ", 1)[1], r["messages"][1]["content"])
             for r in rows if r["meta"]["task"] == "spec"]
    assert pairs
    parts = {}
    for question, answer in pairs:
        checked = spec_check.check_answer(facts, question, answer)
        assert checked and all(q.status == "match" for q in checked), (question, answer)
        parts[question] = {q.fact.component for q in checked}
    for question, _ in pairs:
        for _, other_answer in pairs:
            for q in spec_check.check_answer(facts, question, other_answer):
                assert q.fact is None or q.fact.component in parts[question]


# -----------------------------------------------------------------------------
# the manual's retrieved lines (serve.py's search hits): a number the facts do not vouch for is
# compared with the row of the part asked

ROWS = [
    spec_check.ManualRow("21-1", "21 11 Bell housing", "21-1 · 21 11 Bell housing · Clutch housing to crankcase · M8 · 27 Nm"),
    spec_check.ManualRow("21-1", "21 11 Bell housing", "21-1 · 21 11 Bell housing · Clutch housing to crankcase · M10 · 49 Nm"),
    spec_check.ManualRow("00-3", "00 Torque Specs", "00-3 · 00 Torque Specs · Spark plugs · Nm (ft. lbs.): 25 (18)"),
    spec_check.ManualRow("17-4", "17 11 000 Removing and installing radiator",
                         "17-4 · 17 11 000 Removing and installing radiator · Loosen drain plug. Drain coolant, 30 Nm."),
]


def test_a_number_that_differs_from_the_retrieved_row_shows_the_manuals():
    [q] = spec_check.check_answer([], "Torque for the clutch housing to crankcase bolts (M8)?", "86 Nm", ROWS)
    assert q.status == "differs" and q.line() == "✗ 86 Nm — the manual: 27 Nm (M8), page 21-1"
    assert q.as_json()["manual"] == [{"value": "27", "unit": "Nm", "variant": "M8", "page": "21-1",
                                      "line": ROWS[0].line}]
    # no variant named: both of the part's rows are shown
    [q] = spec_check.check_answer([], "Torque for the clutch housing to crankcase?", "Use 86 Nm.", ROWS)
    assert q.line() == "✗ 86 Nm — the manual: 27 Nm (M8), page 21-1; 49 Nm (M10), page 21-1"
    # a header quoted before the value (`Nm (ft. lbs.): 25 (18)`) is the value's unit
    [q] = spec_check.check_answer([], "I need the tightening torque for the spark plugs", "30 Nm [00-3]", ROWS)
    assert q.line() == "✗ 30 Nm — the manual: 25 Nm, page 00-3"


def test_the_retrieved_rows_value_is_a_match_and_other_parts_stay_unchecked():
    [q] = spec_check.check_answer([], "Torque for the clutch housing to crankcase (M10)?", "49 Nm", ROWS)
    assert q.status == "match" and q.line() == "✓ 49 Nm — Clutch housing to crankcase (M10), page 21-1"
    # another unit than the row's: nothing to compare
    [q] = spec_check.check_answer([], "Torque for the clutch housing to crankcase?", "20 ft-lb", ROWS)
    assert q.status == "unmatched"
    # a part none of the rows names (the radiator paragraph's number is not the wheel bolts')
    [q] = spec_check.check_answer([], "What is the torque for the wheel bolts?", "30 Nm", ROWS)
    assert q.status == "unmatched" and q.as_json()["manual"] == []


def test_a_fact_still_wins_over_the_rows(facts):
    rows = [spec_check.ManualRow("11-4", "11 Engine", "11-4 · 11 Engine · Cylinder head bolts · 60 Nm")]
    [q] = spec_check.check_answer(facts, "Cylinder head bolt torque?", "54 Nm", rows)
    assert q.status == "match" and q.fact.page == "11-4"
    [q] = spec_check.check_answer(facts, "Cylinder head bolt torque?", "45 Nm", rows)
    assert q.line() == "✗ 45 Nm — the manual: 60 Nm, page 11-4"


def test_a_right_value_under_the_wrong_page_is_marked(facts):
    """The demo model copies the right value from the lines more often than the right page (docs/
    evaluation.md): the check names the page that prints it and says the answer's cite is wrong."""
    [q] = spec_check.check_answer(facts, "Oil drain plug torque?", "45 Nm [11-4]")
    assert q.status == "match" and q.wrong_cite == "11-4"
    assert q.line() == "✓ 45 Nm — Oil drain plug (torque), section 17 Lubrication, page 17-2 " \
                       "(✗ the answer cites [11-4]: the wrong page)"
    assert q.as_json()["wrong_cite"] == "11-4"
    [q] = spec_check.check_answer(facts, "Oil drain plug torque?", "45 Nm [17-2]")
    assert q.wrong_cite is None and q.line().endswith("page 17-2")
    [q] = spec_check.check_answer(facts, "Oil drain plug torque?", "45 Nm")      # no cite: nothing to judge
    assert q.wrong_cite is None
    # matched through a retrieved row: that row's page is the one to cite
    [q] = spec_check.check_answer([], "Torque for the clutch housing to crankcase (M10)?", "49 Nm [00-3]", ROWS)
    assert q.status == "match" and q.wrong_cite == "00-3"
    # a retrieved line of the cited page that prints the value too: the cite holds
    rows = ROWS + [spec_check.ManualRow("17-6", "17 Cooling", "17-6 · 17 Cooling · Oil drain plug · 45 Nm")]
    [q] = spec_check.check_answer(facts, "Oil drain plug torque?", "45 Nm [17-6]", rows)
    assert q.wrong_cite is None
