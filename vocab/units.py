"""Quantities and units: every spelling of a unit a manual or a model writes, mapped to one
canonical name, and every number with a unit in a text ("54 Nm", "90°", "0,8-1,1 mm", "850 ± 50 rpm").

The one unit grammar of the kit: prep (tables, text values, the gates), grounding, evaluate and the
spec check all read units through this file, so a value prep teaches is one the spec check can read.
Standard library only (the ground floor: every other module may import it, it imports nothing of
the kit).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# Longest spellings first so that "°C" wins over "°" and "mbar" over "bar". A spelling is only a
# unit when no letter or digit follows it ("5 Nmm" is not Nm, "10 in the" is handled below).
# Single capital letters (A, V, W) are case-sensitive: "2 a" in prose is not two amperes.
UNIT_SPELLINGS: dict[str, list[str]] = {
    "Nm": ["newton metres", "newton meters", "newton-metres", "newton-meters", "N·m", "N⋅m", "N.m",
           "N-m", "N m", "Nm"],
    "ft-lb": ["foot-pounds", "foot pounds", "lbf·ft", "lbf-ft", "lbf ft", "ft-lbf", "ft·lbf",
              "ft-lbs", "ft·lbs", "ft lbs", "ft.lbs", "ft-lb", "ft·lb", "ft lb", "ft.lb", "lb-ft",
              "lb·ft", "lb ft", "ft. lbs", "ft. lb"],
    "in-lb": ["inch-pounds", "lbf·in", "lbf-in", "in-lbs", "in·lbs", "in-lb", "in·lb", "lb-in",
              "lb·in"],
    # the E30 scans print "30° C (86° F)": a space between the degree sign and its scale
    "°C": ["degrees celsius", "degrees C", "deg C", "degC", "° C", "°C", "ºC", "℃"],
    "°F": ["degrees fahrenheit", "degrees F", "deg F", "degF", "° F", "°F", "ºF", "℉"],
    "°": ["degrees", "degree", "deg", "°", "º"],
    "mbar": ["mbar"],
    "bar": ["bar"],
    "kPa": ["kPa"],
    "MPa": ["MPa"],
    "psi": ["psi"],
    "mm": ["millimetres", "millimeters", "mm"],
    "cm": ["cm"],
    "in": ["inches", "inch", "in."],
    "km": ["km"],
    "mi": ["miles"],
    "kΩ": ["kilohms", "kilo-ohms", "k-ohms", "k-ohm", "k ohms", "k ohm", "kohms", "kohm", "kΩ", "kΩ"],
    "Ω": ["ohms", "ohm", "Ω", "Ω"],
    "mV": ["mV"],
    "V": ["volts", "volt", "(?-i:V)"],
    "mA": ["mA"],
    "A": ["amperes", "ampere", "amps", "amp", "(?-i:A)"],
    # "75W-90" / "5W30" is an oil grade, not watts
    "W": ["watts", "(?-i:W)(?![-\\d])"],
    "kW": ["kW"],
    "PS": ["(?-i:PS)"],
    "hp": ["bhp", "hp"],
    "ml": ["millilitres", "milliliters", "ml", "cc", "cm³"],
    "L": ["litres", "liters", "litre", "liter", "ltr", "l"],
    "qt": ["quarts", "quart", "qt"],
    "rpm": ["rpm", "r/min", "min-1", "1/min"],
    "kg": ["kg"],
    "g": ["grams", "gram", "(?-i:g)"],
    "min": ["minutes", "minute", "mins", "min"],
    # no bare "s": "the 1990s" is not 1990 seconds
    "s": ["seconds", "second", "secs", "sec"],
    "%": ["percent", "per cent", "%"],
}

def _plain(spelling: str) -> str:
    """The text a spelling matches: "(?-i:W)(?![-\\d])" → "W"."""
    m = re.match(r"\(\?-i:([^)]*)\)", spelling)
    return m.group(1) if m else spelling


_CANONICAL = {"in": "in"}
for _name, _spellings in UNIT_SPELLINGS.items():
    for _s in _spellings:
        _CANONICAL[_plain(_s)] = _name
        _CANONICAL[_plain(_s).lower().replace(" ", "")] = _name


def _spelling_pattern(s: str) -> str:
    if s.startswith("(?-i:"):
        return s
    return r"\s?".join(re.escape(part) for part in s.split(" "))


_ALL_SPELLINGS = sorted(
    (s for spellings in UNIT_SPELLINGS.values() for s in spellings),
    key=lambda s: len(_plain(s)), reverse=True)
_UNIT_RE = "|".join(_spelling_pattern(s) for s in _ALL_SPELLINGS)

# A bare "in" is only inches at the end of a clause ("0.5 in." / "0.5 in,"): "tighten 2 in the
# order shown" is prose.
_UNIT_RE += r"|in(?=\s*(?:$|[,;:)\]]))"
UNIT_PATTERN = _UNIT_RE

NUMBER_PATTERN = r"[-−]?\d+(?:[.,]\d+)*"
# "0.8-1.1 mm", "0.8 to 1.1 mm", "0 ... 0.09 mm", "between 0.8 and 1.1 mm": the unit after a range
# covers both ends. "850 ± 50 rpm": a nominal value with its tolerance, kept together; so is a
# one-sided tolerance below 1 ("14.2 + 0.1 mm": 14.2 to 14.3 mm), which read apart would be 0.1 mm.
RANGE_SEP = r"-|–|—|to|\.{2,3}|…"
QUANTITY_RE = re.compile(
    rf"(?<![\w.,/-])(?:between\s+(?P<b_low>{NUMBER_PATTERN})\s+and\s+(?P<b_high>{NUMBER_PATTERN})"
    rf"|(?P<low>{NUMBER_PATTERN})(?:\s*(?:{RANGE_SEP})\s*(?P<high>{NUMBER_PATTERN})|\s*(?:±|\+/-)\s*(?P<tol>{NUMBER_PATTERN})"
    rf"|\s*\+\s*(?P<plus>0[.,]\d+))?)"
    rf"\s?(?P<unit>{_UNIT_RE})(?![\w·⋅])",
    re.IGNORECASE,
)
# "86.0 x 86.0 mm", "1412 / 1433 mm": numbers in a list before a unit share it.
LIST_HEAD_RE = re.compile(rf"(?<![\w.,/-])((?:{NUMBER_PATTERN}\s*(?:x|×|/)\s*)+)$")


def canonical_unit(unit: str) -> str:
    """The canonical name of a unit spelling ("N·m" → "Nm", "deg" → "°"); unknown spellings are
    returned stripped so that an index written with an unusual unit still compares to itself."""
    u = unit.strip()
    if u in _CANONICAL:
        return _CANONICAL[u]
    return _CANONICAL.get(u.lower().replace(" ", ""), u)


def number_value(text: str) -> Decimal | None:
    """A number as written in a manual or an answer, decimal comma included: "2,5" → 2.5.

    A comma followed by exactly three digits in a number whose integer part is not 0 is a
    thousands separator ("10,000 km"); every other comma is a decimal comma ("0,025 mm", "2,5 bar").
    """
    t = text.strip().replace("−", "-").replace(" ", "")
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", t) and not re.match(r"-?0,", t):
        t = t.replace(",", "")
    elif t.count(",") == 1 and "." not in t:
        t = t.replace(",", ".")
    try:
        return Decimal(t)
    except InvalidOperation:
        return None


def value_text(low: Decimal, high: Decimal | None = None, tol: Decimal | None = None,
               plus: Decimal | None = None) -> str:
    """Normalised value for display and comparison: 45.0 → "45", a range as "0.8-1.1", a
    tolerance as "850±50", a one-sided one as "14.2+0.1"."""
    def one(d: Decimal) -> str:
        return format(d.normalize(), "f")
    if high is not None:
        return f"{one(low)}-{one(high)}"
    if plus is not None:
        return f"{one(low)}+{one(plus)}"
    return one(low) if tol is None else f"{one(low)}±{one(tol)}"


def find_quantities(answer: str) -> list[tuple[str, str, str, int]]:
    """(text, value, unit, start offset) for every number with a unit in `answer`."""
    found = []
    for m in QUANTITY_RE.finditer(answer):
        unit = canonical_unit(m.group("unit"))
        head = LIST_HEAD_RE.search(answer[:m.start()]) if not m.group("b_low") else None
        if head:
            for n in re.finditer(NUMBER_PATTERN, head.group(1)):
                if (v := number_value(n.group(0))) is not None:
                    found.append((f"{n.group(0)} {m.group('unit')}", value_text(v), unit, head.start() + n.start()))
        texts = [m.group("low") or m.group("b_low"), m.group("high") or m.group("b_high"), m.group("tol"),
                 m.group("plus")]
        numbers = [number_value(t) if t else None for t in texts]
        if any(t and n is None for t, n in zip(texts, numbers)):
            continue
        found.append((m.group(0).strip(), value_text(*numbers), unit, m.start()))
    return found
