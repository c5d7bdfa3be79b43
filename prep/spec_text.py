"""Values in running text -> spec facts: spec lines and test values in steps, notes, paragraphs, lists.

    python -m prep dataset work/blocks.jsonl --out data/     # prep/tasks.py calls text_facts per text block
    python scripts/numeric_coverage.py data/ tests/truth/e30_text_values.json
    python -m pytest tests/test_spec_text.py

`Minimum thickness: K20 20.4 mm, K25 22.4 mm.`, `Heat sprocket to max. 200° C (390° F) for installation.`,
`Voltmeter displaying at least 9 volts with a coolant temp. of ≥ 48° C (118° F)?` all become facts of
prep/spec_tables.py's shape, plus the manual's own sentence (`line`) and the `condition` the value
holds under ("between terminal 2 and terminal 6 with ignition on and a coolant temperature of ...").

The stage, top to bottom: the block's text as sentences (a flow chart's other columns cut off) ->
every number with a unit, found by spec_check.py's grammar (the one serve checks answers with), with
its qualifier as printed -> numbers that are ids, negated or a condition's are set aside -> the first
of a few sentence shapes that names what the value belongs to -> the fact, kept only when spec_check
reads its value back as the same number. A value no shape can name is left out: a missing number is
better than a number on the wrong part. Besides labels and steps, the shapes read limits ("Maximum 0.1
mm" after a check, "must not exceed", "If a value of more than 15 grams is displayed for ..."), a
legend's letters under its heading, the value a part replaces ("instead of 20.64 mm"), and an Italian
page by its own words only ("una pila piatta da 1,5 V", "minore di 10 Ω").
"""

from __future__ import annotations

import re

from vocab.units import QUANTITY_RE, find_quantities, number_value
from vocab.words import dictionary

# ------------------------------------------------------------------------------------ vocabulary
# Words that name a quantity, longest first so "axial play" wins over "play".
MEASURES = ["tightening torque", "torque angle", "axial play", "end play", "radial play", "production diameter",
            "drying time", "idle speed", "engine speed", "minimum value", "maximum value", "nominal value",
            "specified value", "test value", "wear limit", "torque", "thickness", "clearance", "play", "backlash",
            "runout", "distance", "gap", "diameter", "length", "width", "height", "depth", "protrusion", "offset",
            "pressure", "vacuum", "voltage", "resistance", "current", "temperature", "speed", "time", "capacity",
            "quantity", "volume", "angle", "value", "lift", "travel", "stroke", "tension", "deflection", "force",
            "weight", "imbalance", "rating", "preload"]
MEASURE_WORDS = "|".join(re.escape(m) for m in sorted(MEASURES, key=len, reverse=True))
# Those that are lengths, and so never a reading in Nm or volts ("Check runout ... Maximum 30 Nm").
LENGTHS = {"axial play", "end play", "radial play", "production diameter", "thickness", "clearance", "play", "backlash",
           "runout", "gap", "diameter", "protrusion", "depth", "lift", "stroke"}
# A label made only of these (and a letter such as the A of "distance A") names no part.
MEASURE_ONLY = set(" ".join(MEASURES).split()) | {"minimum", "maximum", "min", "max", "basic", "nominal", "specified",
                                                   "permissible", "actual", "total", "new", "adjustment", "setting"}
UNIT_MEASURE = {"Nm": "tightening torque", "ft-lb": "tightening torque", "in-lb": "tightening torque",
                "bar": "pressure", "mbar": "pressure", "kPa": "pressure", "MPa": "pressure", "psi": "pressure",
                "V": "voltage", "mV": "voltage", "Ω": "resistance", "kΩ": "resistance", "A": "current",
                "mA": "current", "rpm": "speed", "°C": "temperature", "°F": "temperature", "°": "angle",
                "mm": "dimension", "cm": "dimension", "in": "dimension", "L": "capacity", "ml": "capacity",
                "qt": "capacity", "min": "time", "s": "time", "%": "percentage", "g": "weight", "kg": "weight",
                "W": "power", "kW": "power"}
# The meter named in a reading decides the quantity: "Ohmmeter displaying approximately 0 ohm".
METERS = {"voltmeter": "voltage", "ohmmeter": "resistance", "ammeter": "current", "multimeter": None,
          "tachometer": "speed", "pressure gauge": "pressure", "vacuum gauge": "vacuum", "vacuum tester": "vacuum",
          "dial gauge": None, "thermometer": "temperature"}
METER = "|".join(sorted(METERS, key=len, reverse=True))
# Imperatives that start a step; the noun phrase after one is the part the step works on.
VERBS = ("tighten|torque|heat|warm|cool|adjust|set|reduce|ream|drill|bore|machine|grind|turn|rotate|fill|top up|"
         "check|measure|test|connect|install|insert|press|pull|push|drive|remove|replace|apply|mount|produce|paste|"
         "make|punch|hold|use|lift|screw|unscrew|loosen|slacken|lubricate|coat|clean|compress|engage|slide|let|run|"
         "start|allow|bend|cut|shorten|determine|center|centre|position|align|place|secure|drain|back-probe|"
         "backprobe|inflate|charge|bleed|fit|offset|read")
# Comparison and approximation words the manual prints before a value; kept in the value as printed.
QUALIFIER = (r"(?:(?:only|approx\.?|approximately|about|around|ca\.|circa|roughly|at least|at most|not more than|"
             r"not less than|no more than|no less than|more than|less than|greater than|min\.|minimum|max\.|maximum|"
             r"up to|within|≤|≥|⩽|⩾|<=|>=|=<|=>|<|>|≈|~|"
             # the Italian test pages: "maggiore di 1 M Ω", "ogni volta minore di 10 Ω", "circa 0 V"
             r"ogni volta|maggiore di|minore di|maggiore|minore|circa|almeno)\s*)+")
# A number right after one of these is an id (terminal 30, pin 37, fuse 17, Fig. 4), never a value.
ID_WORDS = (r"(?i)\b(?:terminals?|term\.|pins?|fuses?|relays?|connectors?|plugs?|steps?|fig\.?|figures?|page|"
            r"group|gr\.|no\.|number|code|items?|positions?|type|part|tools?|see|version|model|cylinder)\s*$")
NEGATION = re.compile(r"(?i)\b(?:do not|don't|never|must not|should not|may not|not to be|instead of|no longer)\b")
# Words that make a "with/at/from ..." phrase a state of the test rather than a property of the part.
STATE_WORDS = r"temperature|temp\.|speed|rpm|idle|ignition|engine|load|operating|running|ambient"
DEVICE = (r"sensor|switch|relay|valve|unit|motor|coil|injector|pump|heater|element|resistor|module|lamp|bulb|fan|"
          r"horn|regulator|solenoid|actuator|sender|transmitter|probe|meter|control unit|contact|distributor|"
          r"alternator|starter|battery|capacitor|timer")
# Those of VERBS that are never a part's first word ("check valve", "drive", "screw" are parts).
NOT_A_NAME = "|".join(v for v in VERBS.split("|") if v not in {
    "screw", "drive", "check", "test", "set", "turn", "fit", "position", "center", "centre", "place", "charge",
    "read", "run", "start", "bleed", "offset", "torque", "use", "press", "hold", "top up", "cut", "coat"})
# Words that head a paragraph ("Note:", "Installation:") or qualify a step ("more", "crosswise"):
# never a part's name.
NOT_A_PART = {"note", "notes", "important", "caution", "warning", "attention", "hint", "installation", "removal",
              "requirement", "procedure", "example", "dismantling", "assembly", "disassembly", "identification",
              "information", "more", "less", "further", "then", "only", "each", "per", "again", "turn", "turns",
              "times", "stage", "stages", "value", "values", "result"}
ADVERBS = r"crosswise|diagonally|evenly|alternately|uniformly|gradually|firmly|hand-tight|finger-tight|in stages|in steps"
GENERIC_FASTENER = {"screw", "screws", "bolt", "bolts", "nut", "nuts", "it", "them"}
# Parts that are one of many in the manual: a value of theirs needs the assembly they belong to.
GENERIC_PARTS = {"hole", "holes", "shim", "shims", "retainer", "retainers", "washer", "washers", "spacer", "spacers",
                 "clip", "clips", "part", "parts", "piece", "pieces", "pin", "pins", "spring", "springs"}
PRONOUNS = {"it", "this", "that", "they", "these", "those", "he", "she", "which", "there", "one"}


# ------------------------------------------------------------------------------------ 1. sentences
# A flow chart's boxes sit side by side; OCR reads one line across them, joined by the branch arrow
# ("terminal 6. —__ no __» Connect ohmmeter ..."). What follows the arrow belongs to another box.
ARROW = re.compile(r"(?i)[-—–_~]{2,}\s*\b(?:no|yes)\b|\b(?:no|yes)\b\s*[-—–_~+,.]*\s*[»→]|[»→]")
STEP_NUMBER = re.compile(r"^\s*(?:[a-z]\s+)?\d{1,2}\.\s+(?=[A-Z])")   # "3. Screw in ...", OCR's "i 3. ..."
ABBREVIATION = re.compile(r"(?i)(?:^|\W)(?:approx|max|min|temp|dia|no|nos|term|fig|figs|e\.g|i\.e|ca|resp|incl|gr|"
                          r"nr|ft|lbs?|pos|spec|vol)$")


def sentences(block: dict) -> list[str]:
    """The block's text as sentences. Lines are joined first: the page's line breaks fall inside
    sentences ("...with a coolant temperature\\nof < 30° C (86° F)?") and inside specs."""
    lines: list[str] = []
    raws = [STEP_NUMBER.sub("", ARROW.split(raw)[0]).strip() for raw in block.get("text", "").splitlines()]
    raws = [line for line in raws if line and not re.fullmatch(r"(?i)yes|no", line)]
    for i, line in enumerate(raws):
        if lines and re.search(r"[a-z]-$", lines[-1]) and line[:1].islower():
            lines[-1] = lines[-1][:-1] + line            # "en-\ngine" → "engine"
            continue
        # A heading line ("Dismantling:", "Installation:") ends its own sentence: the label of the
        # value after it is on the next line, not the heading. "Minimum value:" above its value is a label.
        heading = re.fullmatch(r"[A-Z][^.:]{0,60}:", line) and len(line.split()) <= 6 and \
            (not lines or re.search(r"[.:!?]$", lines[-1])) and \
            not (i + 1 < len(raws) and re.match(rf"[-—–−+]?\s?\d|{QUALIFIER}", raws[i + 1]))
        lettered = re.fullmatch(r"[a-z]\)\s+[A-Z][A-Za-z -]{2,50}", line)    # a flow chart's "b) Air Temperature Switch"
        lines.append(line[:-1] + "." if heading else line + "." if lettered else line)
    text = " ".join(lines)
    # '"0" volt' / OCR's '0" ohm': quote marks around a reading, not inches
    text = re.sub(r'"(\d+(?:[.,]\d+)?)"', r"\1", text)
    text = re.sub(r'(\d)"(?=\s+(?:ohms?|volts?|V\b|Ω|k))', r"\1", text)
    out, start = [], 0
    for m in re.finditer(r"[.!?](?=\s+\S)", text):
        head, rest = text[start:m.start()], text[m.end():].lstrip()
        if m.group() == "." and (ABBREVIATION.search(head) or rest[:1].islower() or re.match(r"\d", rest)):
            continue                                     # "approx. 0 volt", "coolant temp. of", "see 21 00 006."?
        if m.group() == "!" and re.search(r"[a-z]$", head) and re.match(r"\d", rest):
            continue                                     # OCR's "Special Too! 25 1 100": the l of Tool
        out.append(text[start:m.end()].strip())
        start = m.end()
    out.append(text[start:].strip())
    return [s for s in out if s]


def interleaved(sentence: str) -> bool:
    """A full stop inside a sentence before a lower-case word ("... air of air temperature sensor.
    temperature of > + 4° C"): OCR merged lines of two columns, and the words around a value may be
    another box's. Its values are left out."""
    return any(not ABBREVIATION.search(sentence[:m.start() + 1]) for m in re.finditer(r"[a-z]\.\s+(?=[a-z]{3,})", sentence))


# ------------------------------------------------------------------------------------ 2. values
def values_in(sentence: str) -> list[dict]:
    """Every number with a unit in a sentence, with its qualifier, sign, conversion and engine
    variant as printed. Ids, negated values and numbers inside a compound the checker cannot read
    as one value ("14.2 + 0.1 mm", "0 ... 0.09 mm") are marked `skip` with the reason."""
    found = []
    for text, _, unit, start in find_quantities(sentence):
        if sentence[start:start + len(text)] != text:
            continue                                     # a number of a list head ("86.0 x 86.0 mm")
        m = QUANTITY_RE.match(sentence, start)
        number = sentence[start:m.start("unit")].strip()
        before = sentence[:start]
        value = {"start": start, "end": m.end(), "number": number, "unit": m["unit"], "canonical": unit,
                 "variant": None, "alt": None, "skip": None}
        # A dash after ':', '(', '=' or a comparison is a minus sign ("Minimum value: — 0.35 bar");
        # after a word it may be the page's separator ("bolts – 54 Nm"): either reading could be a
        # wrong number, so such a value is left out.
        sign = re.search(r"(?:^|[(:=≤≥<>⩽⩾]\s*)([-—–−+])\s?$", before)
        dash_after_word = not sign and re.search(r"[A-Za-z)]\s*[-—–−]\s?$", before)
        if sign:
            before = before[:sign.start(1)]
        qualifier = re.search(r"(?i)" + QUALIFIER + r"$", before)   # "Maximum 0.1 mm" opens a sentence
        if qualifier:
            before = before[:qualifier.start()]
        variant = re.search(r"\b([A-Z]\d\d)\s+$", before)   # "K20 20.4 mm": the engine the value is for
        value["variant"] = variant[1] if variant else None
        value["start"] = qualifier.start() if qualifier else (sign.start(1) if sign else start)
        # As printed, but a scan's dash before a number is its minus sign: "— 0.35 bar" is -0.35 bar
        # (spec_check would read the dash as nothing and index +0.35).
        if sign and sign[1] in "-—–−":
            value["number"] = "-" + number
            value["value"] = (qualifier.group().strip() + " " if qualifier else "") + "-" + number
        else:
            value["value"] = " ".join(sentence[value["start"]:m.start("unit")].split())
        alt = re.match(r"\s*\(([^()]{1,40})\)", sentence[m.end():])
        if alt:
            value["alt"] = conversion(alt[1], unit)
            value["end"] = m.end() + alt.end()
        if dash_after_word:
            value["skip"] = "a dash that may be a minus sign or a separator"
        elif re.search(ID_WORDS, before.rstrip(" (")) and not qualifier:
            value["skip"] = "an id"
        elif re.search(r"(?<![A-Za-z\d])\d+\s+$", before) and not (qualifier or sign or variant):
            value["skip"] = "part of a spaced number"
        elif re.search(r"\d\s*(?:\+|\.{2,}|…|x|×|/)\s*$", before):
            value["skip"] = "a compound the checker reads as another number"
        elif re.search(r"(?i)\b(?:(?:must|should|may|shall|does|do)\s+not|not\s+to)\s+exceed\s*$", before):
            value["bound"] = "maximum"                   # "Runout must not exceed 0.2 mm": a limit, not a negation
        elif NEGATION.search(clause_before(sentence, value["start"])):
            value["skip"] = "negated"
        found.append(value)
    return found


def conversion(alt: str, unit: str) -> str | None:
    """The conversion in brackets after a value ("390° F", "- 5 psi", '4.921"'), kept only when it is
    one: an OCR'd "(0.020%)" after a length is noise, and its number would enter the spec index."""
    alt = re.sub(r"(^|[\s(])[-—–−]\s?(?=\d)", r"\1-", alt.strip())
    alt = re.sub(r"\bIbs\b", "lbs", alt)                 # OCR reads the l of lbs as I
    family = [{"mm", "cm", "in"}, {"bar", "mbar", "kPa", "MPa", "psi"}, {"Nm", "ft-lb", "in-lb"},
              {"°C", "°F"}, {"L", "ml", "qt"}, {"g", "kg"}]
    units = {u for _, _, u, _ in find_quantities(alt)}
    same = next((f for f in family if unit in f), {unit})
    if units and units <= same:
        return alt
    if not units and re.fullmatch(r'[\d.,\s]+(?:to|-|–|\+|\.{2,3})?[\d.,\s]*"', alt) and unit in ("mm", "cm"):
        return alt                                       # inches printed with a quote mark
    return None


def clause_before(sentence: str, start: int) -> str:
    """The clause a value stands in, up to the value: back to the last ';' or ', whereby' / ', and'."""
    head = sentence[:start]
    cut = max(head.rfind(";"), head.rfind(", whereby"), head.rfind(", which"))
    return head[cut + 1:] if cut >= 0 else head


# ------------------------------------------------------------------------------------ 3. conditions
def in_condition(segment: str, unit: str) -> bool:
    """Is the number at the end of `segment` a condition's ("with a coolant temp. of ≥ 48° C",
    "when decelerating from an engine speed of 3,000 rpm", "If a value of more than 15 grams ...")
    rather than a value? "with a diameter of 22.2 mm" is a value: no state word."""
    trigger = None
    for m in re.finditer(r"(?i)\b(with|at|from|when|while|if|during|below|above|until|unless)\b", segment):
        trigger = m
    if not trigger:
        return False
    phrase = segment[trigger.start():]
    if re.search(r",|\bto\b|\bby\b|[:=]", phrase[len(trigger[1]):]):
        return False                                     # "When ... difficult, ream ... to a diameter of"
    if trigger[1].lower() in ("when", "while", "if", "during", "below", "above", "until", "unless"):
        return True
    return bool(re.search(rf"(?i)\b(?:{STATE_WORDS})", phrase)) or \
        (trigger[1].lower() == "at" and unit in ("°C", "°F", "rpm") and len(phrase.split()) <= 2)


def after_conditions(after: str) -> list[str]:
    """Conditions printed after a value: "with a coolant temp. of > 48° C (118° F)?", "if the window
    can be used again", "for the version with a double mass flywheel"."""
    found = []
    right = re.match(rf"(?i)^\s*((?:with|at|when|while|during|on|between)\b[^,;?!]*?(?:{STATE_WORDS}|pin|terminal)"
                     rf"[^,;?!]*?)(?=[,;?!]|\.\s|\.$|$)", after)
    if right:
        found.append(right[1])
    # "... with the knife*, if the window can be used again": an if/when clause right after the value
    # is its condition; one further on ("..., to avoid contact ... when the pedal is floored") is not.
    # ("... b = 22 mm When Replacing Window: a = 10 mm": a heading of the values after it, not this one's)
    soon = re.match(r"(?i)^\s*(?:with the [a-z]+\W*)?,?\s*((?:if|when|unless)\b[^,;.?!:]+)(?=[,;.?!]|$)", after)
    if soon:
        found.append(soon[1])
    for m in re.finditer(r"(?i)\bfor (?:the )?(?:version|model|car|vehicle)s? with[^,;.?!]+|"
                         r"\bon (?:cars|vehicles|models) (?:with|from|since)[^,;.?!]+", after):
        found.append(m.group())
    return found


def joined(conditions: list[str]) -> str:
    """`between terminal 2 and terminal 6`, `with ignition on`, `with a coolant temperature of ...` →
    one phrase, a repeated "with" read as "and"."""
    out = []
    for c in dict.fromkeys(c.strip(" ,") for c in conditions if c and c.strip(" ,")):
        if out and c.lower().startswith("with ") and re.search(r"(?i)\bwith\b", " ".join(out)):
            c = "and " + c[5:]
        out.append(c)
    return " ".join(out)


def clean_condition(text: str) -> str | None:
    """A condition as the question appends it: callouts dropped, a scan's split sign joined
    ("< — 8° C" → "< -8° C"); None when OCR left symbols no reader could take as the page's words."""
    text = re.sub(r"\s*\(\d+\)", "", text)
    text = re.sub(r"([<>≤≥⩽⩾=\s(])[-—–−]\s+(?=\d)", r"\1-", text)
    text = re.sub(r"([<>≤≥⩽⩾=\s(])\+\s+(?=\d)", r"\1+", text)
    text = " ".join(text.replace("*", "").split()).strip(" ,.;:?!")
    if not text or len(text) > 140 or re.search(r"[&@#$%{}|\\]", text) or \
            re.search(r"[<>≤≥⩽⩾]\s*[-—–]?\s*(?![-+\d\s])", text) or text.count("(") != text.count(")"):
        return None
    return text


# ------------------------------------------------------------------------------------ 4. naming
def noun_phrase(text: str | None) -> str | None:
    """`the bearing sleeve (1)` → `bearing sleeve`; None for anything that is not a part's name (a
    clause, a pronoun, an adverb, a number)."""
    if not text:
        return None
    text = re.sub(r"\s*\(\d+\)|\*|\"", "", text)
    text = re.sub(r"(?i)^(?:(?:the|a|an|both|all|each)\s+)+", "", " ".join(text.split())).strip(" ,.;:-")
    text = re.sub(r"^A(?=[a-z]{3,})", "", text) if glued_article(text) else text     # OCR's "Aslave cylinder"
    words = re.sub(r"\([^)]*\)", "", text).split()     # "(high voltage side)" is the page's gloss
    if not words or len(words) > 8 or text.count("(") != text.count(")") or words[0].lower() in PRONOUNS or \
            " ".join(words).lower() in NOT_A_PART | {"the", "a", "an"} or \
            re.search(r"[:;,!?=<>°]", text) or find_quantities(text) or \
            re.fullmatch(r"(?i)(?:counter)?clockwise|anticlockwise|slightly|again|down|up|out|in|off", text) or \
            words[0].lower() in ("and", "or", "then", "but", "to", "of", "in", "on", "at", "with", "for", "from", "by") or \
            re.search(rf"(?i)^(?:{NOT_A_NAME})\b|\b(?:is|are|must|should|be|will|can|has|have|was|were)\b", text) or \
            re.search(r"[\d.,]\d*\s*$", text) and not re.search(r"(?i)\b(?:fuse|pin|terminal|relay)\s+\d+$", text):
        return None
    return text


def glued_article(text: str) -> bool:
    """`Aslave cylinder`: the scan lost the space after "A" (the word with the A is no English word,
    the word without it is). Debian's word list decides (vocab.words.dictionary)."""
    first = text.split()[0] if text.split() else ""
    words = dictionary()
    return bool(words) and re.fullmatch(r"A[a-z]{3,}", first) is not None and \
        first.lower() not in words and first[1:] in words


def measure_only(text: str) -> bool:
    """`Minimum value`, `Axial play`, `distance A`: a quantity's name, no part's."""
    words = re.findall(r"[A-Za-z]+", text.lower())
    return bool(words) and all(w in MEASURE_ONLY or len(w) == 1 for w in words)


def measure_in(text: str, unit: str) -> str | None:
    """The quantity a label or clause names ("axial play"), if it fits the unit: a torque is never in mm."""
    m = re.search(rf"(?i)\b({MEASURE_WORDS})(?:es|s)?\b", text)
    if not m:
        return None
    word = m[1].lower()
    fits = {"tightening torque": {"Nm", "ft-lb", "in-lb"}, "torque": {"Nm", "ft-lb", "in-lb"},
            "voltage": {"V", "mV"}, "resistance": {"Ω", "kΩ"}, "current": {"A", "mA"},
            "temperature": {"°C", "°F"}, "pressure": {"bar", "mbar", "kPa", "MPa", "psi"},
            "vacuum": {"bar", "mbar", "kPa", "psi"}, "angle": {"°"}, "torque angle": {"°"},
            "speed": {"rpm"}, "idle speed": {"rpm"}, "engine speed": {"rpm"}}
    fits.update({length: {"mm", "cm", "in"} for length in LENGTHS})
    if word in fits and unit not in fits[word]:
        return None
    return "tightening torque" if word == "torque" else word


def verb_measure(clause: str, unit: str) -> str:
    """The quantity a step's verb sets: heat → temperature, offset → offset, turning 90° → turning angle."""
    for pattern, measure, units in ((r"\btighten|\btorque", "tightening torque", {"Nm", "ft-lb", "in-lb"}),
                                    (r"\bheat|\bwarm|\bcool", "temperature", {"°C", "°F"}),
                                    (r"\boffset", "offset", {"°", "mm"}),
                                    (r"\bprotrud", "protrusion", {"mm", "cm", "in"}),
                                    (r"\bturn|\brotat", "turning angle", {"°"}),
                                    (r"\bdrill|\bream|\bbore", "diameter", {"mm", "in"})):
        if re.search(rf"(?i){pattern}", clause) and unit in units:
            return measure
    return measure_in(clause, unit) or UNIT_MEASURE.get(unit, "value")


def context_part(block: dict) -> str | None:
    """The part a block's sub-head or symptom names: `Checking Engine Vacuum for Brake Booster` →
    `engine vacuum for brake booster`, `HORN INOPERATIVE` → `horn`. Not `Installation`, not a
    variant line such as `From 5 1/2" Rims On`."""
    ctx = block.get("context") or {}
    for text in (ctx.get("subhead"), ctx.get("symptom")):
        if not text:
            continue
        text = re.sub(r"(?i)^\s*(?:[a-z]\)|\d+\.\)?|test\s+\d+\s*[-–—:]?)\s*", "", text).strip(" :")
        text = re.sub(r"(?i)^(?:checking|adjusting|testing|measuring|removing|installing|replacing|selecting)\s+", "", text)
        text = re.sub(r"(?i)\s+(?:inoperative|does not work|not working|always on|stays on|intermittent)$", "", text)
        if re.fullmatch(r"(?i)installation|removal|note|important!?|caution|warning|requirement|procedure", text) or \
                re.match(r"(?i)(?:from|up to|with|without|version|cars|models|only|since|except)\b", text):
            continue
        part = noun_phrase(text)
        if part:
            return part.lower()
    return None


def title_object(block: dict) -> str | None:
    """`REPLACING SWITCH FOR TRUNK LID LOCK (DRIVE)` → `switch for trunk lid lock drive`: what the
    block's repair operation works on."""
    title = (block.get("context") or {}).get("operation_title") or ""
    thing = re.sub(r"(?i)^(?:removing|installing|replacing|adjusting|checking|disassembling|assembling|overhauling|"
                   r"refitting|balancing|and|\s)+", "", title)
    return noun_phrase(re.sub(r"[()]", "", re.split(r"\s+[-–—]\s+", thing)[0]).lower())


def fastener_of(block: dict, fastener: str) -> str | None:
    """`screw` on the page of `REPLACING SWITCH FOR TRUNK LID LOCK (DRIVE)` → `screw (switch for trunk lid
    lock drive)`: a bare screw names no part, and the spec index would vouch for its torque on any screw."""
    thing = title_object(block)
    return f"{fastener} ({thing})" if thing else None


def last_noun_phrase(text: str) -> str | None:
    """`Close the top and adjust distance (B) on the front mounting points with shims (2)` → `shims`."""
    text = re.sub(r"(?i),?\s*which\s+(?:are|is)\s+available\s*$|,?\s*both\s*$", "", text.strip(" ,"))
    tail = re.split(rf"(?i)\b(?:with|on|of|to|at|by|into|from|then|{VERBS})\b", text)[-1]
    return noun_phrase(tail)


def split_label(label: str) -> tuple[str, str | None, list[str]]:
    """A label before ':' or '=' → (head, part, conditions).

    `Voltage at pin 37 with ignition on` → ("Voltage", None, ["at pin 37", "with ignition on"]);
    `Resistance of coolant temperature sensor at 20 °C` → ("Resistance", "coolant temperature sensor",
    ["at 20 °C"]); `Minimum value for specified idle speed and engine with operating temperature` →
    ("Minimum value", None, ["for specified idle speed and ..."]): a state, not a part;
    `Basic adjustment distance A on piston rod` → ("Basic adjustment distance A", "piston rod", []).
    A label whose head names a part ("Rear cover bolts") comes back whole, as the head."""
    pieces: list[str] = []
    for piece in re.split(r"(?i)\s+(?=(?:of|for|at|on|between|from|to|with|when|in|across)\b)", label):
        if pieces and (" " not in piece or re.match(r"(?i)and\b", piece)):
            pieces[-1] += " " + piece                    # "with ignition on": "on" ends the phrase
        else:
            pieces.append(piece)
    head, part, conditions = pieces[0], None, []
    if not measure_only(head):
        return label, None, []
    for piece in pieces[1:]:
        word, _, rest = piece.partition(" ")
        if word.lower() == "on" and part is None and noun_phrase(rest) and \
                not re.search(rf"(?i)\b(?:{STATE_WORDS}|pins?|terminals?|ground|connector|plug|\d)", rest):
            part = noun_phrase(rest)                     # "distance A on piston rod"
            continue
        state = re.search(rf"(?i)\b(?:{STATE_WORDS}|pins?|terminals?|ground|connector|plug|\d)", piece)
        a_state = re.search(rf"(?i)\b(?:{STATE_WORDS}|pins?|terminals?|\d)", rest)   # "for specified idle speed"
        if part is None and noun_phrase(rest) and (word.lower() == "of" or word.lower() == "for" and not a_state):
            part = noun_phrase(rest)                     # "of coolant temperature sensor", "for oil drain plug"
        elif state or word.lower() in ("between", "when", "with", "from", "to", "across"):
            conditions.append(piece)
        else:
            return label, None, []
    return head, part, conditions


def section_quantity(block: dict, measure: str) -> str | None:
    """`Idle speed: 700 ± 50 rpm` under CHECKING AND ADJUSTING IDLE SPEED in section Fuel System: the
    page is about that quantity of its section, which the question then names."""
    title = " ".join(((block.get("context") or {}).get("operation_title") or "").lower().split())
    if not title or measure.lower() not in title:
        return None
    return noun_phrase(((block.get("source") or {}).get("section_name") or "").lower())


def name_label(block: dict, sentence: str, label: str, value: dict, setup: dict, checked: dict):
    """What a labelled value belongs to: `Minimum value: -0.35 bar`, `Axial play = 0.13 to 0.23 mm`,
    `B = 159 mm`, `Measure voltage to ground: battery voltage (11–13 V)`, `Produce cement bead (1)
    next to rubber seal (2) ... at distance A = 5 mm`. → (component, measure, conditions) or None."""
    unit = value["canonical"]
    text = " ".join(re.sub(r"^[\s\-–—,;]+", "", label).split())
    text = re.sub(r"(?i)^(?:the|a|an)\s+", "", text)
    letter = re.fullmatch(r"(?:.*\s)?([A-Za-z])", text)
    if letter and not re.fullmatch(rf"(?i)(?:.*\s)?(?:{MEASURE_WORDS})\s+[A-Za-z]", text):
        # "... - front threaded pin B": a drawing's letter, named by the sentence's "distance A ="
        noun = re.search(rf"(?i)\b({MEASURE_WORDS})\s+[A-Za-z]\s*[(=]", sentence)
        if not noun:
            return None                                  # "a = 10 mm": the page's drawing says what a is
        text = f"{noun[1]} {letter[1]}"
    text = re.sub(r"(?i)^(?:.*\b(?:and|then)\s+)?(?=(?:measure|check|test|read)\s)", "", text)
    verb = re.match(rf"(?i)^(?:{VERBS})\s+(?P<rest>.+)$", text)
    if verb and not re.match(rf"(?i)^(?:{MEASURE_WORDS})\b", verb["rest"]):
        # a step ending in a named dimension: the step's object is the part
        tail = re.search(rf"(?i)\b(?:at|to|with)\s+(?:a\s+)?(?P<m>(?:{MEASURE_WORDS})(?:\s+[A-Za-z])?)$", verb["rest"])
        if tail:
            obj = re.split(r"(?i)\s+(?=(?:next to|on|in|at|to|with|from|into)\b)", verb["rest"][:tail.start()],
                           maxsplit=1)
            part = noun_phrase(obj[0])
            return (part, tail["m"], obj[1:]) if part else None
        if not re.search(rf"(?i)\s(?:{MEASURE_WORDS})$", verb["rest"]):
            return None
        # "Check brake disc runout: maximum 0.1 mm": the object names the part and the quantity
    if verb:
        text = verb["rest"]                              # "Adjust distance A" → "distance A"
    head, part, conditions = split_label(text)
    if not measure_only(head):
        # the label names the part: "Rear cover bolts"; "Minimum pad lining thickness" is the pad
        # lining's minimum thickness (a part named with a quantity's words would be found by
        # spec_check for any question about that quantity)
        component = re.sub(r"(?i)^(?:tighten(?:ing)?|adjust|set)\s+", "", head).strip(" ,")
        named = re.fullmatch(rf"(?i)(?P<bound>(?:(?:minimum|maximum|basic|nominal|permissible)\s+)*)(?P<part>.+?)\s+"
                             rf"(?P<m>{MEASURE_WORDS})", component)
        if named and noun_phrase(named["part"]) and not measure_only(named["part"]) and measure_in(named["m"], unit):
            return noun_phrase(named["part"]), (named["bound"] + named["m"]).lower(), conditions
        if noun_phrase(component) is None:
            return None
        return component, measure_in(component, unit) or verb_measure(sentence[:value["start"]], unit), conditions
    measure = " ".join(w if len(w) == 1 else w.lower() for w in head.split())   # "distance A"
    own_connection = any(re.search(r"(?i)\b(?:pins?|terminals?|connector|between|from)\b", c) for c in conditions)
    if not part and setup.get("part") and not own_connection:
        part = setup["part"]                             # "Back-probe ... at the horn relay. Measure voltage ..."
        conditions = [c for c in (setup.get("connection"), *setup.get("state", [])) if c] + conditions
    generic = re.fullmatch(r"(?:(?:minimum|maximum|nominal|specified|test|permissible)\s+)?value|wear limit", measure)
    # the label names the checked quantity ("Axial play", "Max. permissible runout" after "Check lateral
    # runout ...") or a bare value of it, in a unit that quantity is read in
    follows_check = checked.get("measure") and (checked["measure"].split()[-1] in measure.split() or
                                                generic and measure_in(checked["measure"], unit))
    if not part and follows_check:
        part = checked.get("part")                       # "Check layshaft axial play ... Axial play = ..."
    if not conditions and follows_check and checked.get("condition"):
        conditions = [checked["condition"]]              # "Check vacuum when decelerating ... Minimum value: ..."
    part = part or context_part(block)
    if not part and re.search(r"\s[A-Za-z]$", head.strip()):
        # "distance A": a dimension the page's drawing names
        return " ".join(head.split()), measure_in(head, unit) or measure, conditions
    if not part and not generic:
        part = section_quantity(block, measure)
    if not part:
        return None                                      # "Minimum value:" of what, this block does not say
    if generic and follows_check and measure_in(checked["measure"], unit):
        # "Check vacuum ... Minimum value: -0.35 bar" → minimum vacuum; "Nominal value: 2.5 kΩ" → resistance
        bound = re.match(r"(minimum|maximum)\b", measure)
        measure = f"{bound[1]} {checked['measure']}" if bound else \
            f"{checked['measure']} wear limit" if measure == "wear limit" else checked["measure"]
    return part, measure, conditions


def threshold(block: dict, sentence: str, value: dict, segment: str):
    """`If a value of more than 15 grams is displayed for finish balancing of a wheel, the possible
    causes ... must be eliminated`: a limit the page sets for a reading, past which it says what to do.
    An if-clause's number is otherwise a condition's: here the reading itself is the subject. Only a
    value printed with its side ("more than", "less than") is a limit; (component, measure, []) or None."""
    if not re.search(r"(?i)\bif\s+(?:a|the)\s+(?:value|reading)\s+of\s*$", segment):
        return None
    side = re.match(r"(?i)(?:more than|greater than|above|over|>)|(?P<low>less than|below|under|<)", value["value"])
    shown = re.match(r"(?i)\s*(?:is|are)\s+(?:displayed|measured|indicated|read|shown|found)\s+(?:for|on|at|during)\s+"
                     r"(?P<np>[^,;.?!]+?)\s*,", sentence[value["end"]:])
    part = noun_phrase(shown["np"]) if shown else None
    if not side or not part:
        return None
    return part, ("lower" if side["low"] else "upper") + " limit of the reading", []


def name_value(block: dict, sentence: str, value: dict, segment: str, setup: dict, checked: dict):
    """(component, measure, conditions) for a value by the first sentence shape that fits, or None
    when none names the part. `segment` is the text since the previous value."""
    unit = value["canonical"]
    after = sentence[value["end"]:]
    clause = re.split(rf"(?i),\s+(?=(?:and\s+)?(?:then\s+)?(?:{VERBS})\b)|\band then\b|[;:]", segment)[-1].strip()

    # An Italian page ("... al polo positivo di una pila piatta da 1,5 V per il fermo della miscela
    # povera"): a number and a unit read the same in any language, the words around them do not, so
    # only this language's own shape names a part; the English shapes below would misread it.
    if block.get("lang") == "it":
        da = re.search(r"(?i)\b(?:un|una|uno|il|la|lo|l')\s*(?P<np>[a-zà-ù]+(?:\s+[a-zà-ù]+){0,2})\s+da\s*$",
                       clause)
        part = noun_phrase(da["np"]) if da else None
        return (part, UNIT_MEASURE.get(unit, "value"), []) if part else None

    # "Apply Special Tool 25 1 100. Turn counterclockwise 90°.": the turn of what the step before applied.
    turn = re.fullmatch(r"(?i)(?:turn|rotate)\s+(?:it\s+)?(?P<way>(?:counter|anti-?)?clockwise)(?:\s+by)?\s*", clause)
    if turn and unit == "°" and setup.get("applied before"):
        thing = title_object(block)
        part = setup["applied before"] + (f" ({thing})" if thing else "")
        return part, "turning angle", [turn["way"].lower()]

    # A reading: "Voltmeter displaying at least 9 volts ...", "Ohmmeter displaying approximately 0 ohm".
    reading = re.search(rf"(?i)\b(?P<meter>{METER})\b.*\b(?:displaying|displays?|shows?|showing|reads?|reading|"
                        rf"indicates?|indicating)\s*$", segment)
    if reading:
        meter = reading["meter"].lower()
        if setup.get("meter") not in (None, meter) or not (setup.get("connection") or setup.get("part")):
            return None                                  # no connection of this meter in the block: where is it read?
        component = setup.get("part") or context_part(block) or f"{meter} reading"
        conditions = [c for c in (setup.get("connection"), *setup.get("state", [])) if c]
        return component, METERS.get(meter) or UNIT_MEASURE.get(unit, "value"), conditions

    # "There must be > 10 V on pin 37 with ignition on."
    if re.search(r"(?i)\bthere (?:must|should|will) be\s*$", segment):
        component = context_part(block) or setup.get("part")
        where = re.match(r"\s*((?:on|at|between|across)\b[^,.;?]*?)(?=\s+with\b|[,.;?]|$)", after)
        return (component, UNIT_MEASURE.get(unit, "value"), [where[1]] if where else []) if component else None

    # A legend's letter ("a = 12 mm" under "Shape of Cement Bead When Reusing Window:"): a dimension of
    # the legend's subject; a "When ...:" line between the letters holds for the letters after it.
    legend = setup.get("legend")
    letter = re.search(r"(?:^|[\s:.])(?-i:[A-Za-z])\s*=\s*$", segment)
    if legend and letter and not re.search(rf"(?i)\b(?:{MEASURE_WORDS})\s+[A-Za-z]\s*=\s*$", segment):
        when = re.search(r"(?i)\b(?:when|for|with)\s+[^.:=]+?(?=\s*[.:])", segment)
        if when:
            legend["condition"] = " ".join(when.group().lower().split())
        return legend["part"], f"{legend['kind']}dimension {letter.group().strip(' =:.')}", \
            [legend["condition"]] if legend["condition"] else []

    # A label: "Minimum value: -0.35 bar", "B = 159 mm", "voltage to ground: battery voltage (11–13 V)".
    labelled = re.fullmatch(rf"(?i)(?P<label>[^:=]*?)\s*[:=]\s*(?:(?:battery\s+)?(?:[a-z]+\s+)?(?:{MEASURE_WORDS})\s*\(\s*)?"
                            rf"(?-i:[A-Z]\d\d\s*)?", segment)
    if labelled:
        return name_label(block, sentence, labelled["label"], value, setup, checked)

    # "Rear cover bolts: tighten to 22 Nm": the label is the part, the verb the quantity.
    labelled_step = re.fullmatch(rf"(?i)(?P<label>[^:=]+?)\s*:\s*(?P<verb>{VERBS})\s+(?:to|by|at)\s*", segment)
    if labelled_step and noun_phrase(labelled_step["label"]):
        return noun_phrase(labelled_step["label"]), verb_measure(labelled_step["verb"], unit), []

    # "Drain the gear oil (1.2 litres, SAE 75W-90)", "Check FUSE 17 (7.5 AMP)": the value in brackets
    # after the step's object.
    bracketed = re.fullmatch(rf"(?i)(?:{VERBS})\s+(?P<object>[^()]+?)\s*\(\s*", clause)
    if bracketed and noun_phrase(bracketed["object"]):
        part = noun_phrase(bracketed["object"])
        measure = "rating" if re.match(r"(?i)fuse\b", part) else UNIT_MEASURE.get(unit, "value")
        return part, measure, []

    # "Fill with 1.2 litres of gear oil": a quantity of a fluid.
    fluid = re.match(r"\s+of\s+(?P<np>[A-Za-z-]+(?:\s+(?!(?:to|in|into|on|at|for|with|until|and)\b)[A-Za-z-]+){0,3})",
                     after)
    if fluid and unit in ("L", "ml", "qt", "g", "kg") and re.search(r"(?i)\b(?:with|add|fill|top up|approx\.?)\s*$", clause) \
            and noun_phrase(fluid["np"]):
        return noun_phrase(fluid["np"]), "capacity" if unit in ("L", "ml", "qt") else "quantity", []

    # "Heat sprocket to max. 200° C", "tighten screw to 2 Nm", "ream out the bearing sleeve to a
    # production diameter of", "Turn slots of damper (3) and filter (4) to be offset ... by",
    # "Remove retainers by turning clockwise and anticlockwise".
    step = re.match(rf"(?i)^(?P<verb>(?:{VERBS})(?:\s+(?:or|and)\s+(?:{VERBS}))?)(?:\s+(?:out|in|up|down|off|back|on))?\s+"
                    rf"(?P<object>.+?)\s+(?:(?:to|by|at)(?:\s+(?:a|an|the)\s+(?P<noun>[a-z][a-z -]*?)\s+of)?\s*"
                    rf"|by\s+(?:turning|rotating)\b.*)$", clause)
    if step:
        obj = re.split(r"(?i)\s+(?:to be|so that|until|which|by|with)\b", step["object"])[0]
        obj = re.sub(rf"(?i)\s+(?:{ADVERBS})$", "", obj)   # "Tighten the bolts crosswise to"
        part = noun_phrase(obj)
        measure = (step["noun"] and measure_in(step["noun"], unit) and step["noun"].lower()) or verb_measure(clause, unit)
        conditions = re.findall(r"(?i)^when\b[^,]*", segment.strip())
        if part and measure_only(part):
            # "Adjust idle speed to 800 rpm": the quantity is named, the part comes from around it
            measure = " ".join(part.lower().split()) if measure_in(part, unit) else measure
            part = (checked.get("part") if checked.get("measure") and checked["measure"] in part.lower() else None) \
                or context_part(block) or section_quantity(block, measure)
            if not part and checked.get("verb") == "determine" and checked.get("part") and \
                    re.match(r"(?i)(?:adjust|set)\b", clause):
                # "Determine thickness of drive pinion shim. Install old shim and circlip. Adjust play
                # to 0 ... 0.09 mm": the play set is the one that shim is chosen by
                part = checked["part"]
                conditions.append(f"when determining the {checked['measure']} of the {part}")
        return (part, measure, conditions) if part else None

    # "A slave cylinder with a diameter of 22.2 mm", "shims (2), which are available in thicknesses of 1 mm".
    having = re.search(rf"(?i)^(?P<before>.*?)\s*,?\s*(?:(?:which\s+)?(?:are|is)\s+(?:available\s+)?)?"
                       rf"(?:with|in|having)\s+(?:(?:a|an|the)\s+)?(?P<noun>{MEASURE_WORDS}|steps|increments)(?:es|s)?"
                       rf"\s+of\s*$", clause)
    if having:
        part = last_noun_phrase(having["before"])
        measure = "increment" if having["noun"].lower() in ("steps", "increments") else measure_in(having["noun"], unit)
        return (part, measure, []) if part and measure else None

    # "shims which are available 1 mm thick", "chalk mark, both 3 to 4 cm long".
    size = re.match(r"\s*(thick|long|wide|high|deep)\b", after)
    if size:
        part = last_noun_phrase(re.sub(rf"(?i)^(?:{VERBS})\s+|\b(?:make|made)\s+(?:an?\s+)?", "", clause))
        measure = {"thick": "thickness", "long": "length", "wide": "width", "high": "height", "deep": "depth"}[size[1]]
        return (part, measure, []) if part else None

    # "drill 9 mm (0.354") dia. holes", "with 1 k-ohm shielded resistor": the value describes the noun after it.
    described = re.match(r"\s*(?P<dia>dia\.|diameter)?\s*(?P<np>(?:[a-z-]+\s){0,2}[a-z-]+)(?=\s+(?:must|is|are|should|"
                         r"with|for)\b|\s*[,.;]|$)", after)
    if described and noun_phrase(described["np"]) and re.search(rf"(?i)(?:\b(?:a|an|with)|\b(?:{VERBS}))\s*$", clause):
        part = noun_phrase(described["np"])
        owner = re.search(r"(?i)(?P<owner>(?:[a-z-]+\s){1,3})with\s*$", clause)
        owner = noun_phrase(owner["owner"]) if owner else None
        return (f"{part} ({owner})" if owner else part,
                "diameter" if described["dia"] else UNIT_MEASURE.get(unit, "value"), [])

    # "The secondary side ... must be shielded with at least 4 k-ohms", "Bearing sleeves protrude
    # into the guide pipe ... by only approx. 17 mm": the sentence's subject is the part.
    subject = re.match(r"(?i)^(?P<part>[^,;:]+?)\s+(?P<verb>must|should|shall|is|are|protrudes?|stands?)\b"
                       r"(?P<rest>[^,;:]*?)\s*(?:with|to|by|of|at)?\s*$", clause)
    if subject and noun_phrase(subject["part"]) and (measure_only(subject["part"]) or
                                                      re.search(rf"(?i)\b(?:{MEASURE_WORDS})$", subject["part"]) or
                                                      split_label(subject["part"])[1]):
        # ("Runout of brake disc must not exceed ...": a quantity of a part)
        # "Axial play must be ...", "Battery voltage must be at least 12 V": a label with a verb
        return name_label(block, sentence, subject["part"], value, setup, checked)
    if subject and noun_phrase(subject["part"]):
        where = re.search(r"(?i)\b(?:into|in|on)\s+(?:the\s+)?[^,;:]*?(?=\s+by$|$)", subject["rest"])
        return noun_phrase(subject["part"]), verb_measure(subject["verb"] + subject["rest"], unit), \
            [where.group()] if where else []

    # "Check runout of brake disc. Maximum 0.1 mm (0.004").": a bound opening the sentence after a
    # check is the checked part's limit of the checked quantity.
    bound = re.match(r"(?i)(max|min)(?:\.|imum\b)", value["value"])
    if not segment.strip() and bound and checked.get("part") and checked.get("measure") and \
            measure_in(checked["measure"], unit):
        return checked["part"], f"{bound[1].lower()}imum {checked['measure']}", \
            [checked["condition"]] if checked.get("condition") else []

    # "Distance B 10.1 mm": a drawing's letter as a label without ':' or '='.
    lettered = re.fullmatch(rf"(?i)((?:{MEASURE_WORDS})\s+(?-i:[A-Z]))\s*", segment)
    if lettered and segment == sentence[:value["start"]]:
        return name_label(block, sentence, lettered[1], value, setup, checked)

    # "Max. permissible runout 0.05 mm" after "Check lateral runout of brake disc": a label of
    # quantity words alone, without ':', opening the sentence.
    if segment == sentence[:value["start"]] and measure_only(segment) and measure_in(segment, unit):
        return name_label(block, sentence, segment, value, setup, checked)

    # "Air drying time at least 10 minutes.": a bare label at the start of a sentence.
    if segment == sentence[:value["start"]] and re.fullmatch(r"[A-Z][a-z]+(?:\s+[a-z]+){0,4}\s*", segment) and \
            measure_in(segment, unit):
        return segment.strip(), measure_in(segment, unit), []
    return None


# ------------------------------------------------------------------------------------ 5. the facts
def read_setup(sentence: str, setup: dict, checked: dict) -> None:
    """Steps that set up the readings after them: where the meter is connected ("Connect voltmeter
    (M 01) between terminal 2 and terminal 6."), the car's state ("Turn on ignition."), and the part
    and condition a "Check ..." step is about ("Check vacuum when decelerating from ...")."""
    # A legend's heading ("Shape of Cement Bead When Reusing Window:"): the letters under it ("a = 12
    # mm") are dimensions of its subject.
    legend = re.search(r"(?i)(?:^|[.:]\s+)(?P<kind>shape|dimensions?|sizes?)\s+of\s+(?P<np>[^.:=]+?)"
                       r"(?:\s+(?P<cond>(?:when|for|with)\s+[^.:=]+?))?\s*:", sentence)
    if legend and noun_phrase(legend["np"]):
        setup["legend"] = {"part": noun_phrase(legend["np"]).lower(),
                           "kind": "shape " if legend["kind"].lower() == "shape" else "",
                           "condition": " ".join(legend["cond"].lower().split()) if legend["cond"] else None}
    # "Apply Special Tool 25 1 100. Turn counterclockwise 90°.": what the step before put on is what
    # an object-less turn turns. OCR reads the l of Tool as ! or 1.
    setup["applied before"] = setup.pop("applied", None)
    applied = re.match(r"(?i)^(?:apply|use|insert|fit|attach|mount|install)\s+(?:the\s+)?"
                       r"(?:(?P<tool>special\s+too[l!1|I]s?)\s+(?P<number>\d+(?:\s\d+)+)|(?P<np>[^.,;:]+?))\s*\.?$",
                       sentence)
    if applied:
        setup["applied"] = f"Special Tool {applied['number']}" if applied["tool"] else noun_phrase(applied["np"])
    connect = re.match(rf"(?i)^(?:connect|attach|back-?probe|hook up)\s+(?:(?P<meter>{METER})\b\s*(?:\([^)]*\))?\s*)?"
                       rf"(?P<conn>.*?)[.?!]?$", sentence)
    if connect:
        conn = connect["conn"]
        part = re.search(rf"(?i)\b(?:of|at|on)\s+(?:the\s+)?(?P<part>(?:[a-z-]+\s){{0,3}}(?:{DEVICE}))\b", conn)
        if part:   # "... plug connection of temperature sensor and car ground": the sensor is the part
            conn = conn[:part.start()] + (conn[part.end():] if part.group().lower().startswith("of") else "")
        conn = " ".join(conn.split()).strip(" ,")
        if conn and not re.match(r"(?i)(?:between|on|to|at|across|from)\b", conn):
            conn = "at " + conn                          # "Back-probe connector C214 terminal 86 ..."
        setup.clear()
        setup.update(applied=None, legend=setup.get("legend"),
                     meter=(connect["meter"] or "").lower() or None, connection=conn or None,
                     part=noun_phrase(part["part"]) if part else None, state=[])
        return
    if re.match(r"(?i)^(?:turn|switch) on (?:the )?ignition|^ignition on\b", sentence):
        setup.setdefault("state", []).append("with ignition on")
    elif re.match(r"(?i)^(?:start|run) (?:the )?engine|^engine running\b", sentence):
        setup.setdefault("state", []).append("with engine running")
    check = re.match(rf"(?i)^(?P<verb>check|measure|test|determine)\s+(?:(?P<x>[a-z][a-z -]*?)\s+)??"
                     rf"(?P<m>{MEASURE_WORDS})"
                     rf"(?:es|s)?\b(?:\s+of\s+(?:the\s+)?(?P<y>[a-z][a-z -]*?)(?=\s+(?:on|at|between|with|when|through|"
                     rf"for)\b|[,.]|$))?(?P<rest>.*)$", sentence)
    if check and not re.match(r"\s*[:=]", check["rest"]):
        # ("Test value: approx. 2.4 kΩ" is a label, not a test step)
        # "Check voltage on pin 37 with ignition on." / "Check vacuum when decelerating from ...":
        # where and when the next "Nominal value:" holds
        where = re.search(r"(?i)\b(?:on|at|between|from|when|while|with)\b[^.;]*", check["rest"])
        keep = where and (re.search(rf"(?i){STATE_WORDS}|\bpins?\b|\bterminals?\b|\bground\b", where.group()) or
                          {u for _, _, u, _ in find_quantities(where.group())} & {"°C", "°F", "rpm"})
        checked.clear()
        # "Measure lateral runout of brake disc": the words before the quantity qualify it when a
        # part follows "of"; "Check layshaft axial play": they name the part
        x = re.sub(r"(?i)^(?:the|a|an)\b\s*", "", check["x"] or "") or None
        measure = f"{x} {check['m']}" if x and check["y"] else check["m"]
        checked.update(measure=measure.lower(), part=noun_phrase(check["y"] or x),
                       condition=where.group().strip() if keep else None, verb=check["verb"].lower())


def text_facts(block: dict, left_out: list[dict] | None = None) -> list[dict]:
    """Every value in a text block that a sentence shape ties to a part, as a spec fact. Values left
    out are appended to `left_out` (when given) with the reason, for the QA report; ids and the
    numbers of a condition are no values and are not listed."""
    facts: list[dict] = []
    left: list[tuple[str, str, str]] = []     # (sentence, value as printed, why)
    setup: dict = {}          # the block's last "Connect <meter> ..." and the state steps after it
    checked: dict = {}        # the block's last "Check <part> <measure> ..."
    label = None              # the last label, for "K20 20.4 mm, K25 22.4 mm"
    for sentence in sentences(block):
        read_setup(sentence, setup, checked)
        lettered = re.fullmatch(r"[a-z]\)\s+(.+)\.", sentence)
        if lettered and not (block.get("context") or {}).get("subhead"):
            # "b) Air Temperature Switch" heads the flow chart's boxes below it: the part they test
            block = {**block, "context": {**(block.get("context") or {}), "subhead": lettered[1]}}
            continue
        previous_end = 0
        before = None             # (the sentence's last fact, its unit) for "... 22.2 mm, instead of 20.64 mm"
        for value in values_in(sentence):
            if value["start"] < previous_end:
                continue                                 # the conversion in brackets of the value before
            segment = sentence[previous_end:value["start"]]
            printed = f"{value['value']} {value['unit']}"
            limit = threshold(block, sentence, value, segment)
            if value["skip"] in ("an id", "part of a spaced number") or (not limit and in_condition(
                    segment, value["canonical"]) and not re.search(r"[:=]\s*$", segment)):
                continue                                 # words of the sentence, not a value: the label runs on
            previous_end = value["end"]
            # "A slave cylinder with a diameter of 22.2 mm, instead of 20.64 mm, must be installed": the
            # value replaced is the same part's, under the condition that it is the one replaced
            replaced = value["skip"] == "negated" and before and before[1] == value["canonical"] and \
                re.fullmatch(r"(?i)[\s,;(]*instead of\s*", segment)
            if value["skip"] and not replaced:
                left.append((sentence, printed, value["skip"]))
                continue
            if interleaved(sentence):
                left.append((sentence, printed, "lines of two columns merged around it"))
                continue
            if replaced:
                new = before[0]
                named = (new["component"], new["measure"],
                         [f"replaced by the {new['value']} {new['unit']} {new['component']}"])
            elif limit:
                named = limit
            elif value["variant"] and label and re.fullmatch(r"[\s,;]*(?:and\s+)?[A-Z]\d\d\s*", segment):
                named = label                            # "..., K25 22.4 mm": the same label's next engine
            else:
                named = name_value(block, sentence, value, segment, setup, checked)
            if not named:
                left.append((sentence, printed, "no part named for it"))
                continue
            label = named
            component, measure, conditions = named
            if component.lower() in GENERIC_FASTENER:
                component = fastener_of(block, component)   # "tighten screw to 2 Nm": which screw, the title says
                if not component:
                    left.append((sentence, printed, "no part named for it"))
                    continue
            elif component.lower() in GENERIC_PARTS:
                # "shims which are available 1 mm thick": which shims, the operation says, or where its
                # title is on an earlier page, the chapter (`shims (hood, sun roof)`)
                where = title_object(block) or ((block.get("source") or {}).get("section_name") or "").lower()
                if not where:
                    left.append((sentence, printed, "no part named for it"))
                    continue
                component = f"{component} ({where})"
            location = re.match(r"\s*-\s+(?P<at>[a-z][a-z ]{2,40}?)(?=\s+[A-Za-z]\s*=|\s+with\b|\s*[,.;]|$)",
                                sentence[value["end"]:])   # "A = 181 mm (7.126") - front threaded pin"
            if measure_only(component) and re.search(r"\s[A-Za-z]$", component):
                # "distance A" is one of many in the manual: where it is taken belongs to its name
                where = f"at the {location['at']}" if location else title_object(block)
                component = f"{component} at the {location['at']}" if location else \
                    (f"{component} ({where})" if where else component)
                location = None
            conditions = list(conditions) + ([f"at the {location['at']}"] if location else []) + \
                after_conditions(sentence[value["end"]:])
            if value.get("bound") and not re.match(r"(?i)max", measure):
                measure = f"{value['bound']} {measure}"
            condition = clean_condition(joined(conditions)) if conditions else None
            if conditions and condition is None:
                left.append((sentence, printed, "its condition is garbled"))
                continue
            if not reads_back(value):
                left.append((sentence, printed, "spec_check would read another number"))
                continue
            facts.append({"component": component, "measure": measure, "variant": value["variant"], "screw": None,
                          "value": value["value"], "unit": unit_as_printed(value["unit"]), "alt": value["alt"],
                          "stage": None, "group": None, "line": sentence, "condition": condition})
            before = (facts[-1], value["canonical"])
    kept = unambiguous(facts)
    left += [(f["line"], f"{f['value']} {f['unit']}", "two values for one part and condition") for f in facts
             if f not in kept]
    if left_out is not None:
        src = block.get("source") or {}
        left_out += [{"page": src.get("page_label") or src.get("path"), "source": src.get("path"), "text": text,
                      "value": printed, "reason": why} for text, printed, why in left]
    return kept


def unit_as_printed(unit: str) -> str:
    """The unit's spelling on the page, the scans' "° C" written "°C"."""
    return "°" + unit.split("°", 1)[1].strip() if "°" in unit else " ".join(unit.split())


def reads_back(value: dict) -> bool:
    """Does spec_check read the fact's value as this number? It reads "at least 100 k-ohms" as 100 kΩ
    and "-0.35 bar" as -0.35 bar; a value it would read as another number is left out."""
    found = find_quantities(f"{value['value']} {value['unit']}")
    if len(found) != 1:
        return False
    if re.fullmatch(r"-?\d+(?:[.,]\d+)*", value["number"]):
        return number_value(found[0][1]) == number_value(value["number"])
    return True


def unambiguous(facts: list[dict]) -> list[dict]:
    """Two values for one part, measure, variant and condition in one block came from under two
    headings the block does not hold ("b = 22 mm ... When Replacing Window: b = 12 mm"): neither can
    be told apart, so neither is kept."""
    values: dict[tuple, set] = {}
    for f in facts:
        values.setdefault((f["component"].lower(), f["measure"], f["variant"], f["condition"]), set()).add(f["value"])
    return [f for f in facts if len(values[(f["component"].lower(), f["measure"], f["variant"], f["condition"])]) == 1]
