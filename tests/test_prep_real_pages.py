"""prep blocks on real scans from ../shared/samples/e30-m3 (skipped where that folder is absent).

    pytest tests/test_prep_real_pages.py -q

Each assertion is what a person reads on the page. The pages are linked (not copied: they are
copyrighted) into a temporary folder and read once, with a session-scoped OCR cache.
"""

import pytest

from tests.helpers import SAMPLES, read_real_pages
PAGES = [
    "00 - Torque Specs/11-04.jpg",
    "34 - Brakes/34-15.jpg",
    "11 - Engine/11-60.jpg",
    "1990 BMW M3 Electrical Troubleshooting Manual/0670-03.jpg",
    "Bosch Motronic ML 3-1/05-06.png",
    "13 - Fuel System/13-00-index-a.jpg",
]

pytestmark = [pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"{SAMPLES} not present"), pytest.mark.slow]


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    return read_real_pages(PAGES, tmp_path_factory.mktemp("real"))


def of(blocks, path):
    return [b for b in blocks if b["source"]["path"] == path]


def test_torque_table_11_04(real):
    _, blocks, pages = real
    (table,) = [b for b in of(blocks, "00 - Torque Specs/11-04.jpg") if b["kind"] == "table"]
    f = table["fields"]
    assert f["title"] == "11 12 Cylinder Head and Cover"
    assert f["columns"] == ["", "Type", "Screw", "Measure", "Unit"]
    assert f["rows"] == [
        ["2AZ Cylinder head bolts\nReplace, wash and oil cylinder head bolts.", "", "", "", ""],
        ["For repair work, only use screws with Torx head", "M20", "M10", "", ""],
        ["torque", "", "", "30", "Nm"],
        ["torque angle", "", "", "90", "°"],
        ["torque angle\nNo settling time. No warm-running time.", "", "", "90", "°"],
    ]
    assert (table["source"]["section_id"], table["source"]["section_name"]) == ("11", "Engine")
    assert pages["00 - Torque Specs/11-04.jpg"]["page_kind"] == "spec-table"


def test_repair_page_34_15(real):
    _, blocks, _ = real
    page = of(blocks, "34 - Brakes/34-15.jpg")
    assert page[0]["kind"] == "heading"
    assert page[0]["fields"] == {"operation": "34 33 000",
                                 "title": "REMOVING AND INSTALLING BRAKE BOOSTER WITH TANDEM BRAKE MASTER CYLINDER"}
    steps = [s for b in page if b["kind"] == "steps" for s in b["fields"]["steps"]]
    # left column top to bottom, then the right column
    order = ["Detach vacuum hose on brake booster.",
             "Install vacuum tester 34 3 100 between brake booster and check valve.",
             "Pull off clutch hydraulic hose (1).",
             "Remove and install instrument panel trim at bottom left 51 45 180.",
             "Press off clip (3) and pull out pin (4).",
             "Tightening torque*.",
             "Adjust stop light switch 34 31 104.",
             "Clean damper (3) and filter (4)."]
    assert [s for s in steps if s in order] == order
    assert all(b["context"]["operation"] == "34 33 000" for b in page)
    torque = next(b for b in page if "Tightening torque*." in b.get("fields", {}).get("steps", []))
    assert torque["context"]["subhead"] == "Installation"
    assert page[-1]["kind"] == "note" and page[-1]["fields"]["label"] == "Footnote"
    assert page[-1]["text"] == "* See Specifications"
    # photos (figure numbers 30 34 06x, callouts) are not in the text
    assert not any("30 34 06" in b["text"] or "3034 06" in b["text"] for b in page)


def test_repair_page_11_60_steps_in_order(real):
    _, blocks, _ = real
    page = of(blocks, "11 - Engine/11-60.jpg")
    assert page[0]["fields"]["operation"] == "11 21 120"
    assert page[0]["fields"]["title"] == "REMOVING AND INSTALLING PULLEY ON CRANKSHAFT"
    steps = [s for b in page if b["kind"] == "steps" for s in b["fields"]["steps"]]
    assert steps[0] == "Unscrew reinforcement plate."
    assert steps[-1] == "Check for correct installed position of woodruff key (1)."
    assert not any("30 11 0" in s for s in steps)


def test_wiring_0670_03(real):
    _, blocks, pages = real
    (wiring,) = of(blocks, "1990 BMW M3 Electrical Troubleshooting Manual/0670-03.jpg")
    f = wiring["fields"]
    fuses = {x["id"]: x["rating"] for x in f["fuses"]}
    assert fuses["10"] == "7.5 A" and fuses["18"] == "30 A" and fuses["7"] == "15 A"
    wires = {(w["size"], w["colour"]) for w in f["wires"]}
    assert {(".75", "GN/BK"), ("4", "BK/BU"), ("2.5", "GN/BU"), ("2.5", "WT/BK")} <= wires
    assert {"C113", "C302", "C203"} <= set(f["connectors"])
    assert {"S304", "S540"} <= set(f["splices"])
    assert "0670-2" in f["page_refs"]
    assert {"UNLOADER RELAY", "HORN RELAY"} <= set(f["components"])
    assert pages[wiring["source"]["path"]]["page_label"] == "0670-3"
    assert wiring["source"]["section_name"] == "Power Distribution"


def test_italian_page_is_foreign(real):
    _, blocks, pages = real
    page = pages["Bosch Motronic ML 3-1/05-06.png"]
    assert (page["page_kind"], page["lang"]) == ("foreign", "it")
    texts = " ".join(b["text"] for b in of(blocks, "Bosch Motronic ML 3-1/05-06.png"))
    assert "LISTA DELLE PROVE RAPIDE" in texts
    assert all(b["page_kind"] == "foreign" and b["lang"] == "it" for b in of(blocks, page["path"]))


def test_index_page(real):
    result, blocks, pages = real
    assert pages["13 - Fuel System/13-00-index-a.jpg"]["page_kind"] == "index"
    (index,) = of(blocks, "13 - Fuel System/13-00-index-a.jpg")
    assert index["kind"] == "index" and "Fuel System" in index["text"]
    assert result.errors == []
