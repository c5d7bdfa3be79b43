"""The sample service manual: a fictional 1988 Kestrel K2 coupé, engines K20 and K25.

Every word and number here is invented (plausible, not copied from any real manual). The pages
imitate the kinds of page found in scanned 1980s workshop manuals, because they are the project's
demo input and its test fixtures:

    python scripts/render_sample.py --out build/sample-pages

renders each page below to a scan-like PNG at the path given, writes the PDFs, copies
Kestrel-K2-techspec.html and writes sample-pages.truth.json beside them (what each page says, as structured data).

Pages are listed in the order they are rendered. Each is a dict with `path` (where the render goes,
laid out like the real scans: `NN - Section Name/NN-PP.png`), `kind`, `section` (id, name), and the
content fields that kind needs; optionally `max_skew`, the most the scan may lean (degrees, default
0.5). Text is written exactly as printed; render_sample.py only wraps it.
"""

VEHICLE = "1988 Kestrel K2 coupé (engines K20 and K25)"

# ---------------------------------------------------------------------------------------------
# 1. Torque table, like the tightening-torque binder pages: one bordered table, one row per line.
# Row levels: "group" (repair group heading), "component" (code + name, optional note line),
# "line" (a variant line that owns Type/Screw), "stage" (one tightening stage: torque / angle).

TORQUE_TABLE = {
    "path": "00 - Torque Specs/11-04.png",
    "kind": "torque_table",
    "section": ("11", "Engine"),
    "stamp": "KES11-4.tab",
    "date": "14/03/88",
    "title": ("11 - 4", "Engine"),
    "header": ("Type", "Screw", "Measure", "Unit"),
    "rows": [
        {"level": "group", "text": "11 12 Cylinder Head and Cover"},
        {"level": "component", "code": "1AZ",
         "text": "Cylinder head bolts\nAlways fit new bolts. Lightly oil threads and washers."},
        {"level": "line", "text": "Engine K20, bolts with 12-point head",
         "type": "K20", "screw": "M10"},
        {"level": "stage", "text": "torque", "measure": "35", "unit": "Nm"},
        {"level": "stage", "text": "torque angle", "measure": "80", "unit": "°"},
        {"level": "stage", "text": "torque angle\nEngine cold. Do not re-tighten after warm-up.",
         "measure": "80", "unit": "°"},
        {"level": "line", "text": "Engine K25, bolts with 12-point head",
         "type": "K25", "screw": "M11"},
        {"level": "stage", "text": "torque", "measure": "40", "unit": "Nm"},
        {"level": "stage", "text": "torque angle", "measure": "90", "unit": "°"},
        {"level": "stage", "text": "torque angle", "measure": "90", "unit": "°"},
        {"level": "component", "code": "3AZ", "text": "Cylinder head cover nuts",
         "type": "K20, K25", "screw": "M6", "measure": "9", "unit": "Nm"},
        {"level": "group", "text": "11 13 Oil Sump"},
        {"level": "component", "code": "1AZ", "text": "Oil drain plug",
         "type": "K20, K25", "screw": "M14x1.5", "measure": "35", "unit": "Nm (26 ft-lb)"},
        {"level": "component", "code": "2AZ", "text": "Oil sump to crankcase",
         "type": "K20, K25", "screw": "M6", "measure": "10", "unit": "Nm"},
        {"level": "group", "text": "11 31 Camshaft Drive"},
        {"level": "component", "code": "1AZ", "text": "Camshaft sprocket bolt"},
        {"level": "line", "text": "Engine K20", "type": "K20", "screw": "M10",
         "measure": "65", "unit": "Nm"},
        {"level": "line", "text": "Engine K25, stretch bolt", "type": "K25", "screw": "M12"},
        {"level": "stage", "text": "torque", "measure": "20", "unit": "Nm"},
        {"level": "stage", "text": "torque angle\nHold sprocket with special tool 11 3 240.",
         "measure": "60", "unit": "°"},
    ],
}

# ---------------------------------------------------------------------------------------------
# 1b. A second binder page, laid out as the first, with the row shapes the real body and electrics
# pages use and the engine page does not: screw sizes as variant rows, parts without a row code
# that name themselves (separate facts, not stages), a type cell naming a body (coupé / cabrio)
# rather than an engine, "All others", several screw sizes in one cell, an instruction between two
# torque stages and a remark in place of a variant. Its corner stamp (KES41-9) is not its page
# (41 - 12): the page is the one printed in the header cell. Rows are set 4 px tighter than on
# 11-04 (`pad`) so that all of them fit in the frame.
# max_skew 0.1 on this page and the two below: the real binder pages lie straight (0.0° on every
# E30 torque page), and a leaning grid fails in prep for a reason of its own, not the ones these
# pages are here to show: prep/ocr.py finds a rule only where it runs a quarter page along one pixel
# row, so at 0.49° (this page's seeded lean at 0.5) every 2 px row rule is lost, and at 0.2° (00-02)
# the rules end short of the frame and the table reads as one row.

TORQUE_TABLE_BODY = {
    "path": "00 - Torque Specs/41-12.png",
    "kind": "torque_table",
    "section": ("41", "Body"),
    "stamp": "KES41-9.tab",
    "date": "02/05/88",
    "title": ("41 - 12", "Body"),
    "header": ("Type", "Screw", "Measure", "Unit"),
    "pad": 7,
    "max_skew": 0.1,
    "rows": [
        {"level": "group", "text": "41 11 Body Shell and Subframe"},
        {"level": "component", "code": "1AZ", "text": "Front subframe to body",
         "type": "All", "screw": "M8", "measure": "27", "unit": "Nm"},
        {"level": "line", "text": "", "type": "All", "screw": "M10", "measure": "51", "unit": "Nm"},
        {"level": "line", "text": "", "type": "All", "screw": "M12", "measure": "86", "unit": "Nm"},
        {"level": "component", "code": "2AZ", "text": "Radiator support to side member",
         "type": "K20", "measure": "47", "unit": "Nm"},
        {"level": "component", "code": "3AZ", "text": "Bonnet lock carrier to radiator support",
         "type": "K20", "measure": "24", "unit": "Nm"},
        {"level": "component", "code": "4AZ", "text": "Bonnet hinge to body",
         "type": "K20", "measure": "24", "unit": "Nm"},
        {"level": "component", "code": "5AZ", "text": "Exhaust heat shield to floor pan",
         "type": "K25", "measure": "13", "unit": "Nm"},
        {"level": "line", "text": "", "type": "All others", "measure": "20", "unit": "Nm"},
        {"level": "component", "code": "6AZ", "text": "Front wing to body",
         "type": "All", "screw": "M6\nM7\nM8", "measure": "10\n15\n20", "unit": "Nm"},
        {"level": "group", "text": "41 51 Doors, Seats and Roll-over Bar"},
        {"level": "component", "code": "1AZ", "text": "Door hinge to A-pillar, except for upper hinge",
         "measure": "34", "unit": "Nm"},
        {"level": "component", "code": "", "text": "Upper door hinge to A-pillar",
         "measure": "28", "unit": "Nm"},
        {"level": "component", "code": "", "text": "Door hinge to door", "measure": "24", "unit": "Nm"},
        {"level": "component", "code": "2AZ", "text": "Sports seat rail to floor",
         "type": "K25", "screw": "M10"},
        {"level": "stage", "text": "Torque", "measure": "20", "unit": "Nm"},
        {"level": "stage", "text": "Torque angle", "measure": "35", "unit": "°"},
        {"level": "component", "code": "3AZ", "text": "Rear seat backrest lock to body",
         "type": "K2 coupé", "measure": "22", "unit": "Nm"},
        {"level": "line", "text": "", "type": "K2 cabrio", "measure": "25", "unit": "Nm"},
        {"level": "component", "code": "4AZ", "text": "Roll-over bar to rear wheel arch"},
        {"level": "line", "text": "For repair work, only use bolts with Torx head",
         "type": "K20", "screw": "M10"},
        {"level": "stage", "text": "Torque", "measure": "30", "unit": "Nm"},
        {"level": "stage", "text": "Loosen all bolts 1/2 turn"},
        {"level": "stage", "text": "Torque", "measure": "25", "unit": "Nm"},
        {"level": "stage", "text": "Torque angle", "measure": "90", "unit": "°"},
    ],
}

# ---------------------------------------------------------------------------------------------
# 1c. The binder's general page: the largest torque a bolt of each thread and strength grade takes, for
# parts the tables do not list. No Measure / Unit columns: the unit is in the title, the grade in
# the header. Small threads have decimals, so a lost decimal point shows (2.9 read as 29).

THREAD_TABLE = {
    "path": "00 - Torque Specs/00-02.png",
    "kind": "thread_table",
    "section": ("00", "General"),
    "stamp": "KES00-1.tab",
    "date": "14/03/88",
    "max_skew": 0.1,
    "title": ("00 - 2", "Maximum tightening torques for bolts"),
    "note": "Tightening torques in Nm for bolts of strength grade 8.8, 10.9 and 12.9 "
            "(marked on the bolt head), threads lightly oiled.",
    "unit": "Nm",
    "header": ("Thread", "8.8", "10.9", "12.9"),
    "rows": [
        ("M4", "2.9", "4.1", "4.9"),
        ("M5", "5.7", "8.1", "9.7"),
        ("M6", "9.8", "13.8", "16.5"),
        ("M7", "16.2", "22.8", "27.3"),
        ("M8", "24", "34", "41"),
        ("M8x1", "26", "36", "43"),
        ("M10", "47", "66", "79"),
        ("M10x1.25", "50", "70", "84"),
        ("M12", "82", "115", "138"),
        ("M12x1.5", "86", "121", "145"),
        ("M14", "130", "183", "220"),
        ("M14x1.5", "140", "197", "236"),
        ("M16", "200", "280", "336"),
        ("M16x1.5", "213", "299", "359"),
    ],
}

# ---------------------------------------------------------------------------------------------
# 1d. A page as the US-market edition prints torques: metric first, ft-lb in brackets in the same cell
# (ft-lb = Nm x 0.7376, rounded). Two columns only, no Type / Screw / Measure / Unit.

TORQUE_LIST_US = {
    "path": "00 - Torque Specs/00-03.png",
    "kind": "torque_list",
    "section": ("00", "General"),
    "max_skew": 0.1,
    "title": ("00 - 3", "Tightening torques (US models)"),
    "caption": "Table a. Engine and chassis tightening torques",
    "header": ("Component", "Nm (ft. lbs.)"),
    "rows": [
        ("Spark plugs", "25 (18)"),
        ("Coolant drain plug on cylinder block", "30 (22)"),
        ("Exhaust manifold to cylinder head", "32 (24)"),
        ("Oxygen sensor to exhaust manifold", "55 (41)"),
        ("Water pump pulley bolts", "10 (7)"),
        ("Flywheel to crankshaft", "105 (77)"),
        ("Clutch pressure plate to flywheel", "24 (18)"),
        ("Final drive filler plug", "50 (37)"),
        ("Tie rod end to steering arm", "37 (27)"),
        ("Strut top mount to body", "22 (16)"),
        ("Steering wheel nut", "80 (59)"),
        ("Wheel bolts", "100 (74)"),
    ],
}

# ---------------------------------------------------------------------------------------------
# 2./3. Repair pages, like the two-column workshop pages: each column is a stack of bands, a band
# is a photo (grey box with its figure number, or None) beside the text that goes with it.
# Text items, in reading order:
#   ("op", number, TITLE)   repair operation header       ("sub", "Installation:")  sub-head
#   ("line", text)          one instruction sentence      ("step", n, text)  numbered step
#   ("para", text)          descriptive paragraph (what a part is and does)
# A "*" after a torque refers to the page footnote.

REPAIR_BRAKES = {
    "path": "34 - Brakes/34-15.png",
    "kind": "repair",
    "section": ("34", "Brakes"),
    "page_number": "34-15",
    "footnote": "* See Specifications",
    "columns": [
        [
            {"figure": "40 34 011", "photo_height": 300, "text": [
                ("op", "34 11 220", "REMOVING AND INSTALLING FRONT BRAKE DISCS"),
                ("line", "Raise front of vehicle and remove wheel."),
                ("line", "Unbolt brake caliper carrier and hang it from the spring strut "
                         "with wire."),
                ("sub", "Note:"),
                ("line", "Do not let the caliper hang from the brake hose."),
            ]},
            {"figure": "40 34 012", "photo_height": 280, "text": [
                ("line", "Remove Torx screw (1) and pull off brake disc."),
                ("line", "If disc is seized, press it off with puller 34 1 050."),
                ("line", "Measure disc thickness at eight points."),
                ("line", "Minimum thickness: K20 20.4 mm, K25 22.4 mm."),
            ]},
            {"figure": "40 34 013", "photo_height": 280, "text": [
                ("sub", "Installation:"),
                ("line", "Clean wheel hub contact face down to bright metal."),
                ("line", "Tighten Torx screw (1) to 16 Nm."),
                ("line", "Caliper carrier bolts: Tightening torque*."),
                ("sub", "Important!"),
                ("line", "Always replace brake discs in pairs on one axle."),
            ]},
        ],
        [
            {"figure": "40 34 021", "photo_height": 300, "text": [
                ("op", "34 21 010", "REPLACING REAR BRAKE PADS"),
                ("step", 1, "Remove rear wheels and pull off wear sensor plug (2)."),
                ("step", 2, "Drive out retaining pins (3) from inside to outside with drift "
                            "34 1 010."),
                ("step", 3, "Pull out brake pads with puller 34 1 020."),
            ]},
            {"figure": "40 34 022", "photo_height": 300, "text": [
                ("step", 4, "Press pistons back with resetting tool 34 1 080. Watch the fluid "
                            "level in the reservoir."),
                ("step", 5, "Check piston position: the recess must stand at 20° to the "
                            "caliper face."),
                ("step", 6, "Fit new pads, retaining pins and spreader spring. Connect wear "
                            "sensor."),
                ("sub", "Note:"),
                ("line", "Pump brake pedal several times before driving off."),
            ]},
            {"figure": None, "photo_height": 0, "text": [
                ("line", "Minimum pad lining thickness: 2.0 mm."),
            ]},
        ],
    ],
}

REPAIR_COOLING = {
    "path": "17 - Cooling System/17-06.png",
    "kind": "repair",
    "section": ("17", "Cooling System"),
    "page_number": "17-6",
    "footnote": None,
    "columns": [
        [
            {"figure": "40 17 031", "photo_height": 320, "text": [
                ("op", "17 11 300", "REMOVING AND INSTALLING THERMOSTAT"),
                ("para", "The thermostat sits in a housing at the front of the cylinder head. "
                         "Below 80 °C it stays closed and the coolant circulates through the "
                         "engine only, so the engine warms up quickly. Above 80 °C the wax "
                         "element expands and opens the way to the radiator; it is fully open at "
                         "92 °C with a lift of 8 mm."),
            ]},
            {"figure": "40 17 032", "photo_height": 300, "text": [
                ("line", "Drain coolant."),
                ("line", "Remove three bolts (1) and take off the housing cover."),
                ("line", "Pull out thermostat with seal ring (2)."),
            ]},
        ],
        [
            {"figure": "40 17 033", "photo_height": 300, "text": [
                ("sub", "Installation:"),
                ("line", "Always replace seal ring (2)."),
                ("line", "Arrow on the thermostat points toward the radiator hose."),
                ("line", "Tightening torque: 10 Nm."),
                ("sub", "Note:"),
                ("line", "Bleed the cooling system, see 17 00 039."),
            ]},
        ],
    ],
}

# ---------------------------------------------------------------------------------------------
# 4. Wiring diagram, like the electrical troubleshooting manual's power distribution pages.
# Buses 30 (hot at all times) and 15 (hot in run) cross the power distribution box; each circuit
# hangs from one bus at column x (pixels) and runs down through the items of its path:
#   ("fuse", "FUSE 12", "15 AMP")   ("wire", ".75 GN/BK")   ("connector", "C302", pin)
#   ("splice", "S304")   ("component", "LEFT FRONT SEAT HEATER SWITCH")   ("ref", "FUSE DETAILS")
#   ("branch", [path, path])  the path splits at the splice above it into side-by-side paths.
# Geometry lives here because a diagram's layout is part of what it says.

WIRING = {
    "path": "1988 Kestrel K2 Electrical Troubleshooting Manual/0670-03.png",
    "kind": "wiring",
    "section": ("0670", "Power Distribution"),
    "title": "POWER DISTRIBUTION",
    "page_number": "0670-3",
    "box_label": "POWER DISTRIBUTION BOX",
    "feed": {"from_page": "0670-2", "wire": "2.5 GN", "connector": "C114", "bus": "15"},
    "circuits": [
        {"x": 250, "bus": "30", "path": [
            ("fuse", "FUSE 12", "15 AMP"),
            ("wire", ".75 GN/BK"),
            ("ref", "FUSE DETAILS"),
        ]},
        {"x": 620, "bus": "15", "path": [
            ("fuse", "FUSE 14", "15 AMP"),
            ("wire", "2.5 WT/BK"),
            ("connector", "C302", "4"),
            ("wire", "2.5 WT/BK"),
            ("splice", "S304"),
            ("branch", [
                [("wire", "1 GN/RD"), ("component", "LEFT FRONT SEAT HEATER SWITCH")],
                [("wire", "1 GN/RD"), ("component", "RIGHT FRONT SEAT HEATER SWITCH")],
            ]),
        ]},
        {"x": 1060, "bus": "30", "path": [
            ("fuse", "FUSE 16", "30 AMP"),
            ("wire", "4 BK/BU"),
            ("connector", "C113", "2"),
            ("wire", "4 RD"),
            ("component", "AUXILIARY FAN"),
        ]},
        {"x": 1400, "bus": "15", "path": [
            ("fuse", "FUSE 17", "7.5 AMP"),
            ("wire", ".75 GN/WT"),
            ("splice", "S212"),
            ("wire", ".5 GN/WT"),
            ("component", "HORN RELAY"),
        ]},
    ],
}

# ---------------------------------------------------------------------------------------------
# 5. Troubleshooting page: one symptom, checks in the order they must be done.

TROUBLESHOOTING = {
    "path": "1988 Kestrel K2 Electrical Troubleshooting Manual/6510-02.png",
    "kind": "troubleshooting",
    "section": ("6510", "Horn"),
    "title": "HORN",
    "page_number": "6510-2",
    "symptom": "HORN INOPERATIVE",
    "conditions": "Test conditions: ignition ON, battery charged (at least 12.2 V).",
    "checks": [
        "Check FUSE 17 (7.5 AMP) in the power distribution box. If it is blown, replace it and "
        "look for a short to ground in the .75 GN/WT wire.",
        "Press the horn button and listen for a click from the HORN RELAY. If the relay clicks, "
        "go to check 5.",
        "Back-probe connector C214 terminal 86 at the horn relay. Measure voltage to ground: "
        "battery voltage (11–13 V). If there is no voltage, repair the .5 GN/WT wire from S212.",
        "Press the horn button and measure resistance from C214 terminal 85 to ground: less than "
        "1 ohm. If higher, check the horn button and the steering column slip ring.",
        "Disconnect C215 at the left horn. Press the horn button and measure voltage at terminal "
        "1: battery voltage (11–13 V). If there is no voltage, replace the HORN RELAY.",
        "Measure resistance from C215 terminal 2 to ground G103: less than 1 ohm. If the ground "
        "is good, replace the horn.",
    ],
    "connectors": ["C214", "C215"],
}

# ---------------------------------------------------------------------------------------------
# 6. Contents page of a section (the pipeline marks it as an index, not as repair material).
# An entry with an empty number continues the operation above it, as in the real binders.

INDEX = {
    "path": "34 - Brakes/34-00-index-a.png",
    "kind": "index",
    "section": ("34", "Brakes"),
    "heading": ("34", "Brakes"),
    "models": "K20, K25 Models",
    "entries": [
        ("34 00 010", "Brake system — bleed", "34-5"),
        ("34 11 220", "Front brake discs — remove and install", "34-15"),
        ("34 11 400", "Front brake caliper — overhaul", "34-17"),
        ("34 21 010", "Rear brake pads — replace", "34-15"),
        ("", "Rear brake pad wear sensor — check", "34-16"),
        ("34 21 220", "Rear brake discs — remove and install", "34-18"),
        ("34 31 000", "Brake master cylinder — remove and install", "34-22"),
        ("34 33 000", "Brake booster — remove and install", "34-24"),
        ("34 41 010", "Parking brake — adjust", "34-30"),
    ],
}

# ---------------------------------------------------------------------------------------------
# 7. A page in Italian from a (fictional) tester's instructions: recognised and excluded.

FOREIGN = {
    "path": "Tecnoprova TP-40/05-02.png",
    "kind": "foreign",
    "section": ("05", "Tecnoprova TP-40"),
    "language": "it",
    "title": "ELENCO DELLE PROVE RAPIDE CON L'ADATTATORE DI PROVA TP 40",
    "lines": [
        "Cavo adattatore: 4 220 118 040",
        "Avvertenza: scollegare sempre la batteria prima di collegare l'adattatore.",
        "Le prove 2 e 3 si eseguono con il motore a temperatura di esercizio (80 °C).",
    ],
    "header": ("Prova", "Morsetti", "Componente", "Condizioni di prova", "Valore nominale"),
    "rows": [
        ("1", "3, 5", "Sensore numero di giri", "Accensione disinserita", "500...900 ohm"),
        ("2", "7, 5", "Sensore temperatura motore", "Motore caldo", "250...350 ohm"),
        ("3", "9, 5", "Interruttore farfalla", "Pedale in posizione di riposo", "meno di 10 ohm"),
        ("4", "12, 5", "Massa centralina", "Accensione disinserita", "meno di 1 ohm"),
    ],
}

# ---------------------------------------------------------------------------------------------
# 9. Scanned rebuild notes, written as a PDF of page images (no text layer) and again with an
# invisible text layer, as an OCR'd scan would have. Portrait pages; items as on repair pages,
# plus ("title", text) and ("figure", caption, height) for a photo across the text width.

GEARBOX_PDF = {
    "path": "Gearbox K5:6 Rebuild.pdf",
    "text_layer_path": "Gearbox K5:6 Rebuild (text layer).pdf",
    "kind": "pdf",
    "section": ("23", "Manual Transmission"),
    "pages": [
        [
            ("title", "K5/6 five-speed gearbox: rebuild notes"),
            ("para", "These notes follow the rebuild of a K5/6 gearbox from a K25 coupé with "
                     "148,000 km. It was noisy in second gear and jumped out of fifth under load."),
            ("figure", "Fig. 1 Gearbox case with rear cover removed", 420),
            ("sub", "Dismantling:"),
            ("step", 1, "Drain the gear oil (1.2 litres, SAE 75W-90)."),
            ("step", 2, "Remove the output flange nut with holder 23 0 020."),
            ("step", 3, "Unbolt the rear cover (ten M8 bolts) and lift it off."),
            ("step", 4, "Pull the shift rails out toward the rear, one at a time."),
        ],
        [
            ("sub", "Checking synchro rings:"),
            ("para", "Press each synchro ring onto its gear cone and measure the gap between "
                     "ring and gear with a feeler gauge. Replace the ring if the gap is below "
                     "0.8 mm."),
            ("figure", "Fig. 2 Measuring synchro ring gap", 360),
            ("sub", "Assembly:"),
            ("step", 5, "Fit new seals to the rear cover and the output flange."),
            ("step", 6, "Rear cover bolts: tighten to 22 Nm."),
            ("step", 7, "Output flange nut: tighten to 150 Nm and stake the collar."),
            ("step", 8, "Fill with 1.2 litres of gear oil to the lower edge of the filler hole."),
        ],
    ],
}

PAGES = [TORQUE_TABLE, TORQUE_TABLE_BODY, THREAD_TABLE, TORQUE_LIST_US, REPAIR_BRAKES, REPAIR_COOLING,
         WIRING, TROUBLESHOOTING, INDEX, FOREIGN]

# 8. The spec sheet is written directly as HTML, beside this file; it is copied as it is.
SPEC_HTML = "Kestrel-K2-techspec.html"
