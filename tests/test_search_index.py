"""The search index of the manual (prep/search_index.py): a question finds the manual's own line
and page; the same blocks give the same bytes; a damaged or foreign file is refused by name.

The facts below were read off the sample manual's page data (sample_manual/manual.py), not off the
index: page 11-4 `11 13 Oil Sump | 1AZ Oil drain plug | K20, K25 | M14x1.5 | 35 | Nm (26 ft-lb)`;
page 41-12 `1AZ Front subframe to body | All | M8 | 27 | Nm`; page 0670-3 `FUSE 16 | 30 AMP`;
page 00-2, the thread table, `M8 | 24 | 34 | 41` under the grades 8.8, 10.9, 12.9.
"""

from __future__ import annotations

import sqlite3

import pytest
from typer.testing import CliRunner

import grounding
from prep.search_index import INDEX_NAME, Phrase, SearchIndexError, build_index, fts_query, open_index, phrases


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
    assert index.search("ELENCO DELLE PROVE RAPIDE", k=5) == []
    assert not any(h.page_label == "34-0" for h in index.search("Front brake discs remove and install", k=10))


def test_same_blocks_same_bytes(sample_blocks, index_path, tmp_path):
    again = tmp_path / INDEX_NAME
    meta = build_index(sample_blocks, again)
    assert again.read_bytes() == index_path.read_bytes()
    assert not list(tmp_path.glob("*.tmp"))
    assert meta["format"] == "2" and int(meta["passages"]) > 100 and len(meta["blocks_sha256"]) == 64


def test_stop_words_and_fts_syntax_give_a_safe_query(index):
    assert fts_query("What is the?") == ""
    assert index.search("What is the?") == []
    assert index.search("?!* ( ) \" : -") == []
    assert fts_query('[SPEC] torque "NEAR(clutch" AND -housing*:') == '"torque" OR "near" OR "clutch" OR "housing"'
    assert index.search('torque "NEAR(clutch" AND -housing*:', k=2)


def test_phrases_keep_the_words_that_name_one_thing_together():
    assert phrases("[SPEC] I need the tightening torque for the power steering pump pulley bolt: what does the manual say?") == [
        Phrase(["tightening", "torque"], False), Phrase(["power", "steering", "pump", "pulley", "bolt"], True)]
    # a verb ends a phrase; `m14x1.5` splits as the index splits it; a hyphen joins
    assert phrases("What tyre pressures should I run front and rear?") == [
        Phrase(["tyre", "pressures"], False), Phrase(["front"], False), Phrase(["rear"], True)]
    assert phrases("Oil drain plug, M14x1.5 thread? anti-roll bar") == [
        Phrase(["oil", "drain", "plug"], True), Phrase(["m14x1", "5", "thread"], True), Phrase(["anti", "roll", "bar"], True)]


@pytest.mark.parametrize("question, held, wrong", [
    # the E30 pages' row `Temperature sensor to water flange (glow time/coolant temperature gage)`
    ("What is the tightening torque for the glow plugs?", {"tightening", "torque", "glow"}, ["plugs"]),
    # the row `Water pump pulley bolts`
    ("What is the tightening torque for the power steering pump pulley bolt?",
     {"tightening", "torque", "pump", "pulley", "bolt"}, ["power", "steering"]),
    # rows name the joint, not its fastener (`Wiper arm to wiper shaft`, `Flywheel to crankshaft`)
    ("What's the torque on the wiper arm nut?", {"torque", "wiper", "arm"}, []),
    ("What are the flywheel bolts torqued to?", {"flywheel", "torqued"}, []),
    # a variant with a number: the row says `K20`, not `K20 engine`
    ("Cylinder head bolts for the K20 engine, M10 screw?", {"cylinder", "head", "bolts", "k20", "m10"}, []),
    # a noun before a verb: the subject, not the part
    ("How much oil does the engine take with a filter change?", {"oil", "filter", "change"}, []),
])
def test_a_line_that_names_another_part_is_misnamed(question, held, wrong):
    assert grounding.misnamed(phrases(question), held) == wrong


@pytest.mark.parametrize("question, covered, part", [
    ("[SPEC] What is the tightening torque for the water pump pulley bolts?", True, "Water pump pulley bolts"),
    ("What do I torque the wheel bolts to?", True, "Wheel bolts"),
    ("[SPEC] I need the tightening torque for the power steering pump pulley bolt: what does the manual say?", False, None),
    ("What is the tightening torque for the fuel pump pulley bolts?", False, None),
    ("What is the tightening torque for the rear strut top mount to body?", False, None),
    ("What is the tightening torque for the oil pump sprocket bolt?", False, None),
])
def test_a_question_is_covered_only_by_a_line_about_its_own_part(index, question, covered, part):
    """The sample manual's page 00-3 holds `Water pump pulley bolts 10 Nm`, `Wheel bolts 100 Nm`,
    `Strut top mount to body 22 Nm` and no power steering pump, fuel pump pulley, rear strut mount
    or oil pump sprocket (sample_manual/manual.py): a line about another part covers nothing."""
    share, shown = grounding.coverage(index, question, index.search(question, grounding.K))
    assert (share >= grounding.COVERED_SHARE) is covered
    if part:
        assert part in shown[0].line
    else:
        assert all("Water pump pulley" not in h.line and "Strut top mount" not in h.line for h in shown)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other format", "missing"])
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
