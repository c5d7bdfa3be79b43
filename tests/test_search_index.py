"""The search index of the manual (prep/search_index.py): a question finds the manual's own line
and page; the same blocks give the same bytes; a damaged or foreign file is refused by name.

The facts below were read off the sample manual's page data (sample_manual/manual.py), not off the
index: page 11-4 `11 13 Oil Sump | 1AZ Oil drain plug | K20, K25 | M14x1.5 | 35 | Nm (26 ft-lb)`;
page 41-12 `1AZ Front subframe to body | All | M8 | 27 | Nm`; page 0670-3 `FUSE 16 | 30 AMP`;
page 00-2, the thread table, `M8 | 24 | 34 | 41` under the grades 8.8, 10.9, 12.9.
"""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

import grounding
from prep.search_index import INDEX_NAME, SearchIndexError, build_index, fts_query, open_index
from vocab.cites import K


@pytest.fixture(scope="module")
def index_path(sample_blocks, tmp_path_factory):
    path = tmp_path_factory.mktemp("search") / INDEX_NAME
    build_index(sample_blocks, path)
    return path


@pytest.fixture(scope="module")
def index(index_path):
    found = open_index(index_path)
    yield found
    found.close()


@pytest.mark.parametrize("question, page, words", [
    ("[SPEC] What is the tightening torque for the oil drain plug?", "11-4",
     ["11 13 Oil Sump", "Oil drain plug", "M14x1.5", "35 Nm (26 ft-lb)"]),
    ("Torque for the front subframe to body, M8 screw?", "41-12", ["Front subframe to body", "M8", "27 Nm"]),
    ("What is the rating of fuse 16?", "0670-3", ["Fuse 16", "30 A"]),
])
def test_a_question_finds_the_manuals_row_first(index, question, page, words):
    hit = index.search(question, k=3)[0]
    assert hit.page_label == page
    assert hit.line.startswith(f"{page} · ")
    for word in words:
        assert word in hit.line, (word, hit.line)
    assert hit.source_path.endswith(f"{page.split('-')[0]}-{int(page.split('-')[1]):02d}.png")
    assert hit.page == 1 and hit.score > 0


def test_a_thread_table_row_carries_its_grades(index):
    rows = [h.line for h in index.search("M8 8.8 10.9 12.9", k=30) if h.kind == "table-row"]
    assert "00-2 · 00 Torque Specs · M8 · 8.8: 24 · 10.9: 34 · 12.9: 41" in rows
    # asked in words, the fact as prep reads it comes first: the grade asked, its unit from the title
    lines = [h.line for h in index.search("Tightening torque for an M8 bolt of strength grade 10.9", k=3)]
    assert "00-2 · 00 Torque Specs · M8 thread · strength grade 10.9: 34 Nm" in lines


def test_a_stage_row_carries_its_part_and_variant(index):
    # 11-4: `Engine K25, stretch bolt | K25 | M12`, then `torque | 20 | Nm` under the camshaft sprocket bolt
    lines = [h.line for h in index.search("camshaft sprocket bolt K25 torque", k=5)]
    assert any(line.startswith("11-4 · 11 31 Camshaft Drive · Camshaft sprocket bolt · ") and "K25 · M12" in line
               and line.endswith("torque · 20 Nm") for line in lines), lines


def test_a_staged_fact_is_one_line_with_every_stage(index):
    # 11-4 (sample_manual/manual.py): `Engine K20, bolts with 12-point head | K20 | M10`, then the
    # stages torque 35 Nm, torque angle 80°, torque angle 80°: one line holds all three, in order,
    # worded as prep's SPEC answer, which is what a grounded answer copies.
    hits = index.search("[SPEC] What is the tightening torque (all stages) for the cylinder head bolts for the "
                        "K20 engine, M10 screw?", k=4)
    facts = [h for h in hits if h.kind == "spec-fact"]
    assert facts and facts[0].page_label == "11-4"
    assert facts[0].line == ("11-4 · 11 12 Cylinder Head and Cover · Cylinder head bolts · "
                             "K20, M10: stage 1: torque 35 Nm; stage 2: torque angle 80°; stage 3: torque angle 80°")


def test_a_part_with_variants_has_a_line_per_variant_and_one_for_all(index):
    lines = {h.line for h in index.search("camshaft sprocket bolt tightening torque", k=10) if h.kind == "spec-fact"}
    head = "11-4 · 11 31 Camshaft Drive · Camshaft sprocket bolt · "
    assert head + "K20, M10: 65 Nm" in lines
    assert head + "K25, M12: stage 1: torque 20 Nm; stage 2: torque angle 60°" in lines
    assert head + "K20, M10: 65 Nm / K25, M12: stage 1: torque 20 Nm; stage 2: torque angle 60°" in lines


def test_index_and_foreign_pages_are_left_out(index):
    # the Italian test page (Tecnoprova TP-40) and the index page 34-0 hold no passage
    assert not any("Tecnoprova" in h.source_path for h in index.search("ELENCO DELLE PROVE RAPIDE", k=20))
    assert not any(h.page_label == "34-0" for h in index.search("Front brake discs remove and install", k=10))


def test_same_blocks_same_bytes(sample_blocks, index_path, tmp_path):
    again = tmp_path / INDEX_NAME
    meta = build_index(sample_blocks, again)
    assert again.read_bytes() == index_path.read_bytes()
    assert not list(tmp_path.glob("*.tmp"))
    assert meta["format"] == "4" and int(meta["passages"]) > 100 and len(meta["blocks_sha256"]) == 64
    assert meta["embedding"].startswith("sentence-transformers/all-MiniLM-L6-v2") and meta["dim"] == "384"


@pytest.mark.parametrize("question, page, words", [
    # a mechanic's words for the page's: the sample manual prints `Bonnet lock carrier to radiator
    # support | K20 | 24 Nm` (41-12), `Final drive filler plug | 50 (37)` and `Strut top mount to body |
    # 22 (16)` (00-3); the questions share few or none of those words
    ("hood latch carrier on a K20, what do I torque it to?", "41-12", ["Bonnet lock carrier", "24 Nm"]),
    ("diff fill plug how tight", "00-3", ["Final drive filler plug", "50"]),
    ("upper strut mount nuts to the body", "00-3", ["Strut top mount to body", "22"]),
])
def test_a_mechanics_words_find_the_manuals_line(index, question, page, words):
    hits = index.search(question, k=K)
    assert any(h.page_label == page and all(w in h.line for w in words) for h in hits), [h.line for h in hits]


def test_a_line_printed_twice_is_shown_once(index):
    # page 00-3 prints `Oxygen sensor to exhaust manifold | 55 (41)` under `Nm (ft. lbs.)`; prep's
    # one-line fact says `55 Nm (41 ft-lb)`: the same words, one line
    lines = [h.line for h in index.search("oxygen sensor torque", k=K) if "Oxygen sensor" in h.line]
    assert len(lines) == 1, lines


def test_stop_words_and_fts_syntax_give_a_safe_query(index):
    assert fts_query("What is the?") == ""
    assert index.search("What is the?") == []
    assert index.search("?!* ( ) \" : -") == []
    assert fts_query('[SPEC] torque "NEAR(clutch" AND -housing*:') == '"torque" OR "near" OR "clutch" OR "housing"'
    assert index.search('torque "NEAR(clutch" AND -housing*:', k=2)


@pytest.mark.parametrize("question, covered, first", [
    # page 00-3 of the sample manual prints `Wheel bolts | 100 (74)`, `Spark plugs | 25 (18)`
    ("What do I torque the wheel bolts to?", True, "Wheel bolts"),
    ("[SPEC] I need the tightening torque for the spark plugs: what does the manual say?", True, "Spark plugs"),
    # 41-12 prints `Bonnet lock carrier to radiator support | K20 | 24`: two of its words are the question's
    ("hood latch carrier on a K20, what do I torque it to?", True, "Bonnet lock carrier"),
    # no turbocharger, wastegate or air conditioning in the sample manual: the rarest words unmatched
    ("What is the tightening torque for the turbocharger wastegate actuator bolts?", False, None),
    ("I need the refrigerant capacity of the air conditioning system: what does the manual say?", False, None),
])
def test_coverage_and_the_lines_shown(index, question, covered, first):
    found = grounding.find(index, question)
    assert found.covered is covered and (found.share >= grounding.COVERED_SHARE) is covered
    assert len(found.hits) == K            # never hidden: the closest lines are shown either way
    if first:
        assert first in found.hits[0].line


@pytest.mark.parametrize("question, wrong", [
    # 41-12 prints `Front subframe to body`: the opposite side
    ("What is the tightening torque for the rear subframe to body?", ["rear"]),
    # 00-3 prints `Water pump pulley bolts` and `Spark plugs`, no power steering pump, no glow plugs
    ("What is the tightening torque for the power steering pump pulley bolt?", ["power", "steering"]),
    ("What is the tightening torque for the glow plugs?", ["glow"]),
    # a mechanic's words for the same part: `hood` for `Bonnet`, `upper` for `top`, `nuts` for the joint
    ("hood latch carrier on a K20, what do I torque it to?", []),
    ("upper strut mount nuts to the body, torque spec", []),
])
def test_a_best_line_about_another_part_covers_nothing(index, question, wrong):
    found = grounding.find(index, question)
    assert grounding.other_part(index, question, found.hits[0]) == wrong
    assert found.covered is (not wrong)


def test_a_procedure_question_gets_the_operations_steps_in_order(index):
    # 34-15 (sample_manual/manual.py): `34 11 220 Removing and installing front brake discs`, whose
    # first step is `Raise front of vehicle and remove wheel`; the page also prints the discs'
    # minimum thickness (K20 20.4 mm, K25 22.4 mm), which a search for the job finds too
    found = grounding.find(index, "I have to remove and install the front brake discs. What is the procedure, step by step?")
    assert found.covered and found.procedure
    assert all(h.section == "34 11 220 Removing and installing front brake discs" for h in found.hits)
    assert found.hits[0].line.split(" · ")[-1].startswith("Raise front of vehicle and remove wheel")
    assert not any("20.4 mm" in h.line.split(" · ")[-1] and h.kind == "spec-fact" for h in found.hits)


@pytest.mark.parametrize("question, units", [
    ("how tight do the big end bolts go on an M30?", {"Nm", "ft-lb", "in-lb", "°"}),
    ("S50 connecting rod bolt torque angle", {"°"}),                # the stage in degrees, not the torque
    ("oil temp sender, how tight?", {"Nm", "ft-lb", "in-lb", "°"}),  # `temp` names the part
    ("air temp sensor resistance at -8 °C?", {"Ω", "kΩ"}),          # the temperature is the condition
    ("how much oil does the K25 take with a filter change?", {"L", "ml", "qt"}),
    ("what's the plug gap?", {"mm", "cm", "in"}),
    ("which fuse is the horn on?", set()),                           # no kind: judged by its words alone
])
def test_the_kind_of_value_a_question_asks(question, units):
    assert grounding.asked_units(question) == units


@pytest.mark.parametrize("line, units, choices", [
    # lines as prep writes them (tests above: 00-3, the Kestrel spec sheet, 11-4)
    ("00-3 · 00 Torque Specs · Spark plugs · 25 Nm (18 ft-lb)", {"Nm", "ft-lb"}, ["25 Nm (18 ft-lb)"]),
    ("Capacities · Engine oil with filter · K20: 4.5 litres; K25: 5.5 litres", {"L"},
     ["K20: 4.5 litres", "K25: 5.5 litres"]),
    ("11-4 · Cylinder head bolts · K20, M10: stage 1: torque 35 Nm; stage 2: torque angle 80°; stage 3: torque angle 90°",
     {"°"}, ["stage 2: torque angle 80°", "stage 3: torque angle 90°"]),
    ("Dimensions · Bore x stroke · K20: 86.0 x 86.0 mm", {"mm"}, ["K20: 86.0 x 86.0 mm"]),
    ("Engine · Power · K25: 125 kW / 170 PS", {"kW", "PS"}, ["K25: 125 kW / 170 PS"]),
    # a value in running text: no label, its conversion kept
    ('23-187 · Check layshaft axial play through bore. Axial play = 0.13 to 0.23 mm (0.005 to 0.009"). If',
     {"mm"}, ['0.13 to 0.23 mm (0.005 to 0.009")']),
    ("00-3 · 00 Torque Specs · Spark plugs · 25 Nm (18 ft-lb)", {"mm"}, []),   # no value of the kind asked
])
def test_a_value_question_may_be_answered_with_the_values_its_line_prints(line, units, choices):
    assert grounding.value_choices(line, units) == choices


def test_a_covered_value_question_is_held_to_its_best_lines_values(index):
    # 00-3 prints `Spark plugs | 25 (18)` under `Nm (ft. lbs.)`
    found = grounding.find(index, "what do I torque the spark plugs to?")
    assert found.covered and found.choices == ["25 Nm (18 ft-lb)"]
    refusal = '"The manual lines given do not cover this."'      # the model's trained one (prep.dataset)
    assert grounding.answer_grammar(found) == f'root ::= ("25 Nm (18 ft-lb)") " [00-3]" | {refusal}\n'
    # several values, none named: each, or all of them with their labels, as printed
    lines = [SimpleNamespace(line="Capacities · Engine oil with filter · K20: 4.5 litres; K25: 5.5 litres",
                             page_label=None, source_path="Kestrel-K2-techspec.html", page=1)]
    both = grounding.Found(lines, True, 1.0, choices=["K20: 4.5 litres", "K25: 5.5 litres"])
    assert grounding.answer_grammar(both) == ('root ::= ("K20: 4.5 litres" | "K25: 5.5 litres") '
                                              f'" [Kestrel-K2-techspec.html p.1]" | {refusal}\n')
    # a comparison is not one value of one line: answered in the model's words, checked on the line
    found = grounding.find(index, "which is tighter, the spark plugs or the wheel bolts?")
    assert found.choices == [] and grounding.answer_grammar(found) is None
    # not covered, or a question that asks no value: the model is not held (nor asked, not covered)
    assert grounding.answer_grammar(grounding.Found(lines, False, 0.1)) is None
    assert grounding.answer_grammar(grounding.find(index, "What is the procedure to bleed the brakes, step by step?")) is None


@pytest.mark.parametrize("question, text, decimals, other", [
    ("S14 head bolt torque on the E30 M3?", "11-7 · Cylinder head bolts · S50 · M11 · Torque · 30 Nm", False, True),
    ("hood latch carrier on a K20?", "41-12 · Bonnet lock carrier to radiator support · K20: 24 Nm", False, False),
    ("conrod bolts on the M50?", "Connecting rod bolts · M20/M50/S50 US: stage 1: 5 Nm", False, False),
    ("head bolt torque?", "Cylinder head bolts · S50 · 30 Nm", False, False),      # the question names none
    # a value's label: the grade asked against another grade
    ("torque limit for an M5 screw, grade 8.8?", "strength grade 10.9: 8.1 Nm", True, True),
    ("torque limit for an M5 screw, grade 8.8?", "strength grade 8.8: 5.7 Nm", True, False),
])
def test_a_line_naming_only_other_variants_is_not_the_answer(question, text, decimals, other):
    assert grounding.other_variant(question, text, decimals) is other


def test_a_line_that_leaves_the_part_out_is_not_its_row(index):
    hit = SimpleNamespace(line="41-12 · 41 51 Doors · Door hinge to A-pillar, except for upper hinge · 34 Nm",
                          text="41-12 · 41 51 Doors · Door hinge to A-pillar, except for upper hinge · 34 Nm",
                          block_id="none", page_label="41-12")
    assert {"upper", "hinge"} <= set(grounding.other_part(index, "upper door hinge bolts on the A-pillar, how tight?", hit))
    assert grounding.other_part(index, "door hinge bolts on the A-pillar, how tight?", hit) == []


def test_an_answer_stands_on_its_best_line():
    from types import SimpleNamespace

    lines = [SimpleNamespace(line="00-2 · M10x1.25 thread · strength grade 12.9: 84 Nm"),
             SimpleNamespace(line="00-2 · M10x1.25 thread · strength grade 8.8: 50 Nm")]
    found = grounding.Found(lines, True, 1.0)
    assert grounding.checked_answer("84 Nm [00-2]", found) == "84 Nm [00-2]"
    assert grounding.checked_answer("50 Nm [00-2]", found) == grounding.UNPRINTED     # a sibling row's value
    assert grounding.checked_answer("10.9 Nm", found) == grounding.UNPRINTED          # printed nowhere as a torque
    assert grounding.checked_answer("Replace the bolts.", found) == "Replace the bolts."
    # a procedure's values may stand on any line of its operation
    steps = grounding.Found(lines, True, 1.0, procedure=True)
    assert grounding.checked_answer("1. Tighten to 50 Nm.", steps) == "1. Tighten to 50 Nm."


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other format", "other embedding", "no vectors", "missing"])
def test_a_bad_index_is_refused_naming_the_file(index_path, tmp_path, damage):
    path = tmp_path / INDEX_NAME
    if damage == "garbage":
        path.write_bytes(b"not an index\n" * 100)
    elif damage == "truncated":
        path.write_bytes(index_path.read_bytes()[:3000])
    elif damage == "other format":
        path.write_bytes(index_path.read_bytes())
        with sqlite3.connect(path) as con:
            con.execute("UPDATE meta SET value = '0' WHERE key = 'format'")
        con.close()
    elif damage == "other embedding":
        path.write_bytes(index_path.read_bytes())
        with sqlite3.connect(path) as con:
            con.execute("UPDATE meta SET value = 'wordllama l2_supercat 256' WHERE key = 'embedding'")
        con.close()
    elif damage == "no vectors":
        path.write_bytes(index_path.read_bytes())
        with sqlite3.connect(path) as con:
            con.execute("UPDATE vectors SET n = n - 1")
        con.close()
    with pytest.raises(SearchIndexError) as err:
        open_index(path)
    assert str(path) in str(err.value)


def test_search_command(index_path, tmp_path):
    from prep.__main__ import app

    runner = CliRunner()
    done = runner.invoke(app, ["search", str(index_path), "What is the tightening torque for the oil drain plug?", "-k", "2"])
    assert done.exit_code == 0, done.output
    lines = done.output.strip().splitlines()
    assert len(lines) == 2 and "11-4" in lines[0] and "35 Nm (26 ft-lb)" in lines[0]
    missing = runner.invoke(app, ["search", str(tmp_path / "none.sqlite"), "oil drain plug"])
    assert missing.exit_code == 2 and "none.sqlite" in missing.output


def test_a_decimal_number_is_one_word():
    from vocab.words import number_words, query_terms

    # grade 12.9 is not grade 10.9 (the tokenizer alone splits both at the dot and keeps the `9`)
    assert number_words("M7 thread · strength grade 10.9: 22.8 Nm") == ["n10d9", "n22d8"]
    assert number_words("wire .75 GN/WT, 2,5 BR; M14 x 1.5; 0.13 to 0.23 mm") == ["n0d75", "n2d5", "n1d5", "n0d13", "n0d23"]
    assert number_words("30 Nm. Page 11-4, part 1.2.3") == []
    assert query_terms("M7 12.9 bolt, how many Nm max?")[0] == "n12d9"
