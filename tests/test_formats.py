"""docs/formats.md against the files prep writes, so the page cannot go stale unseen: every field its
tables list occurs in a fresh build of the sample manual, with a type the table allows, and every key
those files hold is listed; the search index's tables, columns and meta keys are the listed ones, and
its format version is the code's.

    python -m pytest -q tests/test_formats.py

The files come from conftest's session fixtures (the sample manual OCR'd once, its dataset and search
index built once). The dataset rows are made once more in memory from those blocks and that index, as
`prep dataset` makes them: the fixture's rows carry no manual lines, so no `meta.context`.
"""

from __future__ import annotations

import json
import re
import sqlite3

import pytest

from tests.helpers import ROOT, read_jsonl

DOC = ROOT / "docs" / "formats.md"

# The headings whose field tables describe each file.
BLOCKS = ("blocks.jsonl", "The block's source", "The block's context", "The block's fields, by kind")
PAGES = ("pages.jsonl",)
SPEC_INDEX = ("spec_index.jsonl, and what a fact is",)
ROWS = ("hf_train.jsonl, hf_val.jsonl, hf_recall.jsonl",)
COLUMNS = ("Tables and columns",)
META = ("The meta table",)

# On the page, but no page of the sample manual makes them: it has no test flow chart and no
# numbered photo. They are checked for their place on the page only.
NOT_IN_SAMPLE = {"fields.chart", "fields.box", "fields.yes", "fields.no", "fields.figures"}

JSON_TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "list": list,
              "object": dict, "null": type(None)}


def field_tables() -> dict[str, list[dict[str, str]]]:
    """heading -> the rows of its tables whose first column is `field`, each {column: cell}; a
    `\\|` in a cell is a plain bar."""
    out: dict[str, list[dict[str, str]]] = {}
    heading, header = None, None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            heading, header = line.lstrip("#").strip(), None
        elif not line.startswith("|"):
            header = None
        else:
            cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if header is None:
                header = cells
            elif header[0] == "field" and not re.fullmatch(r"[-: ]*", "".join(cells)):
                out.setdefault(heading, []).append(dict(zip(header, cells)))
    return out


def documented(headings: tuple[str, ...]) -> dict[str, str]:
    """field name (the backticked first cell) -> its type cell, over the tables under `headings`."""
    tables = field_tables()
    missing = [h for h in headings if h not in tables]
    assert not missing, f"docs/formats.md has no field table under {missing}"
    fields = {}
    for heading in headings:
        for row in tables[heading]:
            name = re.fullmatch(r"`([^`]+)`", row["field"])
            assert name, f"docs/formats.md, {heading!r}: the field {row['field']!r} is not one `name`"
            assert name[1] not in fields, f"docs/formats.md lists {name[1]!r} twice"
            fields[name[1]] = row["type"]
    return fields


def paths(record: dict, prefix: str = ""):
    """(dotted key, value) of every key, nested objects' keys too (not into lists)."""
    for key, value in record.items():
        yield prefix + key, value
        if isinstance(value, dict):
            yield from paths(value, f"{prefix}{key}.")


def allows(type_cell: str, value) -> bool:
    names = [t.strip() for t in type_cell.split(" or ")]
    unknown = [t for t in names if t not in JSON_TYPES]
    assert not unknown, f"docs/formats.md: type {type_cell!r}: {unknown} is not one of {list(JSON_TYPES)}"
    if isinstance(value, bool):   # a bool is an int to Python, never to JSON
        return "boolean" in names
    return any(isinstance(value, JSON_TYPES[t]) for t in names)


def check_records(records: list[dict], headings: tuple[str, ...], not_made: set[str] = frozenset()) -> None:
    assert records, f"no records to check {headings} against"
    fields = documented(headings)
    seen: set[str] = set()
    wrong = []
    for record in records:
        for path, value in paths(record):
            seen.add(path)
            if path in fields and not allows(fields[path], value):
                wrong.append(f"{path} = {json.dumps(value, ensure_ascii=False)[:80]} is not {fields[path]}")
    unlisted = sorted(seen - set(fields))
    absent = sorted(set(fields) - seen - set(not_made))
    assert not unlisted, f"the files hold fields docs/formats.md does not list under {headings}: {unlisted}"
    assert not absent, f"docs/formats.md lists fields no record holds ({headings}): {absent}"
    assert not wrong, "docs/formats.md gives the wrong type:\n" + "\n".join(sorted(set(wrong))[:20])


@pytest.fixture(scope="module")
def rows(sample_blocks, sample_dataset) -> list[dict]:
    """hf_train/val/recall as `prep dataset` writes them, grounded and refusal rows included. One
    phrasing a fact: the same fields, a third of the searches (~10 s, not ~30 s, on two cores)."""
    from config import DataConfig
    from prep.dataset import dataset_texts
    from prep.search_index import INDEX_NAME, open_index

    index = open_index(sample_dataset / INDEX_NAME)
    try:
        _, texts = dataset_texts(sample_blocks, DataConfig(phrasings_per_fact=1), tokenizer_name=None, index=index)
    finally:
        index.close()
    return [json.loads(line) for name in ("hf_train.jsonl", "hf_val.jsonl", "hf_recall.jsonl")
            for line in texts[name].splitlines()]


@pytest.fixture(scope="module")
def index_db(sample_dataset):
    from prep.search_index import INDEX_NAME

    con = sqlite3.connect(f"{(sample_dataset / INDEX_NAME).as_uri()}?mode=ro", uri=True)
    yield con
    con.close()


def test_every_field_table_is_checked():
    """A table added to the page under a heading no test reads would go stale unseen."""
    checked = set(BLOCKS + PAGES + SPEC_INDEX + ROWS + COLUMNS + META)
    tables = set(field_tables())
    assert tables == checked, f"field tables no test reads: {sorted(tables - checked)}; " \
                              f"headings the tests read that the page lacks: {sorted(checked - tables)}"
    assert NOT_IN_SAMPLE <= set(documented(BLOCKS)), "NOT_IN_SAMPLE names a field the page no longer lists"


def test_blocks(sample_blocks):
    check_records(read_jsonl(sample_blocks), BLOCKS, NOT_IN_SAMPLE)


def test_pages(sample_blocks):
    check_records(read_jsonl(sample_blocks.with_name("pages.jsonl")), PAGES)


def test_spec_index(sample_dataset):
    check_records(read_jsonl(sample_dataset / "spec_index.jsonl"), SPEC_INDEX)


def test_dataset_rows(rows):
    assert any("refusal" in (r["meta"].get("context") or {}) for r in rows)   # every kind of row is there
    assert any("right" in (r["meta"].get("context") or {}) for r in rows)
    check_records(rows, ROWS)


def test_search_index_tables_and_columns(index_db):
    """The tables and columns the page lists are the file's, FTS5's own shadow tables aside (the
    page names them in its text)."""
    text = DOC.read_text(encoding="utf-8")
    tables = [name for (name,) in index_db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    shadow = [t for t in tables if t.startswith("passages_")]
    assert shadow and all(f"`{t}`" in text for t in shadow), f"docs/formats.md should name FTS5's tables {shadow}"
    columns = {f"{table}.{column}" for table in tables if table not in shadow
               for _, column, *_ in index_db.execute(f"PRAGMA table_info('{table}')")}
    listed = set(documented(COLUMNS))
    assert listed == columns, f"docs/formats.md lists {sorted(listed - columns)} that the file lacks, " \
                              f"and lacks {sorted(columns - listed)}"


def test_search_index_meta_keys_and_format(index_db):
    from prep.search_index import FORMAT_VERSION

    meta = dict(index_db.execute("SELECT key, value FROM meta"))
    listed = set(documented(META))
    assert listed == set(meta), f"docs/formats.md lists meta keys {sorted(listed - set(meta))} that the " \
                                f"file lacks, and lacks {sorted(set(meta) - listed)}"
    format_row = next(r for r in field_tables()[META[0]] if r["field"] == "`format`")
    assert format_row["example"] == f'`"{FORMAT_VERSION}"`' == f'`"{meta["format"]}"`', \
        "docs/formats.md gives another format version than prep/search_index.py writes"
