"""The kit asked in a mechanic's own words: the independent questions (tests/truth/independent/,
written by readers who saw only page images; dev to design with, test to measure) through serve's
own path. evaluate.py's `--independent HALF` and scripts/own_words.py run it.

For every question, grounding.find (the lines serve shows, and whether the model is asked from them):
- single / multi: the question's page among the lines shown; the expected number(s) among them
  (every number of `value`, a decimal comma read as a point); whether they were judged covered;
- probe (no page answers it): whether it was judged covered (the model then reads another part's
  lines); our own probes (PROBES and near misses) apart;
- procedure: the operation's printed title among the lines shown;
- the time the search and the decision took.
With a model, serve's engine answers as serve does (grounded turn when covered, NOT_COVERED
otherwise, then grounding.checked_answer), and each numeric answer is right (every expected number,
no other value with a unit), wrong (a value with a unit that is not the expected one) or refused (no
value); a probe is answered when the answer holds a value with a unit. Greedy, so the same model and
CPU give the same answers.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from pathlib import Path

import grounding
from grounding import printed_numbers
from vocab.cites import grounded_turn, ref
from vocab.units import find_quantities

TRUTH = Path(__file__).resolve().parent / "tests" / "truth" / "independent"


def load_questions(half: str) -> list[dict]:
    """The half's questions, less those the second reader dropped (tests/truth/independent/README.md)."""
    rows = [json.loads(line) for line in (TRUTH / f"{half}.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if not r.get("dropped")]


# Parts the sample manual does not hold, asked as SPEC questions: with lines that cannot hold the
# answer, a model that reads them gives no number. (key, question); a probe whose key the index
# does hold is left out and named (another manual may print it).
PROBES = [
    ("turbo", "I need the tightening torque for the turbocharger oil feed line banjo bolt: what does the manual say?"),
    ("glow plug", "I need the tightening torque for the glow plugs: what does the manual say?"),
    ("injector", "I need the tightening torque for the fuel injector clamp bolts: what does the manual say?"),
    ("tensioner", "I need the tightening torque for the timing belt tensioner bolt: what does the manual say?"),
    ("alternator", "I need the tightening torque for the alternator mounting bolts: what does the manual say?"),
    ("power steering", "I need the tightening torque for the power steering pump pulley bolt: what does the manual say?"),
    ("wiper", "I need the tightening torque for the rear wiper arm nut: what does the manual say?"),
    ("sunroof", "I need the tightening torque for the sunroof motor screws: what does the manual say?"),
    ("intercooler", "I need the tightening torque for the intercooler hose clamps: what does the manual say?"),
    ("wheel speed sensor", "I need the tightening torque for the ABS wheel speed sensor bolt: what does the manual say?"),
    ("lambda", "I need the tightening torque for the lambda sensor: what does the manual say?"),
    ("seat belt", "I need the tightening torque for the front seat belt anchor bolt: what does the manual say?"),
    ("anti-roll", "I need the tightening torque for the anti-roll bar link nuts: what does the manual say?"),
    ("refrigerant", "I need the refrigerant capacity of the air conditioning system: what does the manual say?"),
    ("tyre", "I need the tyre pressure for the spare wheel: what does the manual say?"),
]
# The team's own probes (PROBES, and near misses of parts the manuals hold), kept beside the
# independent ones and reported apart ("probe (ours)"); one whose part the manual does name is left out.
NEAR_MISSES = [
    ("power steering pump", "What is the tightening torque for the power steering pump pulley bolt?"),
    ("fuel pump pulley", "What is the tightening torque for the fuel pump pulley bolts?"),
    ("rear subframe", "What is the tightening torque for the rear subframe to body?"),
    ("rear strut top mount", "What is the tightening torque for the rear strut top mount to body?"),
    ("exhaust manifold heat shield", "What is the tightening torque for the exhaust manifold heat shield?"),
    ("oil pump sprocket", "What is the tightening torque for the oil pump sprocket bolt?"),
    ("glow plug", "What is the tightening torque for the glow plugs?"),
]


def our_probes(indexes: dict) -> list[dict]:
    out = []
    for manual, index in indexes.items():
        for key, question in [*PROBES, *NEAR_MISSES]:
            if not grounding.in_manual(index, key):
                out.append({"id": f"{manual}:ours:{key}", "manual": manual, "kind": "probe (ours)", "question": question})
    return out


numbers = printed_numbers   # the numbers a text prints, as Decimals: `2,5` = `2.5`, `.75` = `0.75`


def numeric(q: dict) -> bool:
    """A question whose answer is a number with a unit (the measure's subject)."""
    return q["kind"] in ("single", "multi") and bool(numbers(q["value"])) and bool(q["unit"].strip())


def page_key(path: str, page: int | None = None) -> tuple[str, int]:
    """A page as (file without extension, page number): the readers saw PNG renders of JPEG scans,
    and the sample's gearbox PDF comes twice (with and without a text layer), the same page."""
    return Path(path).with_suffix("").as_posix().replace(" (text layer)", ""), page or 1


def same_page(q: dict, hit) -> bool:
    return page_key(hit.source_path, hit.page) == page_key(q["page"], q.get("pdf_page"))


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def title_shown(q: dict, hits: list) -> bool:
    """A procedure question: the operation's printed title (its words, number aside) is the section
    or the line of a shown passage of its page."""
    want = words(re.sub(r"^\s*[\d ]{5,}", "", q.get("expected") or ""))
    return bool(want) and any(same_page(q, h) and len(want & words(f"{h.section} {h.line}")) >= 0.8 * len(want)
                              for h in hits)


def classify(q: dict, answer: str) -> str:
    """right / wrong / refused, for a numeric question's answer. refused: no value with a unit.
    wrong: a value with a unit that is not on the question's row as printed (its conversion, its
    other cells) or in the expected answer, or only such values without the expected one (another
    stage of the row). right: the expected number(s), or only the expected answer's printed
    conversion (`16 ft-lb` for `22 Nm (16 ft-lb)`)."""
    expected = numbers(q.get("result") or q["value"])
    spelled = numbers(q["answer"]) | expected                 # the expected answer, its conversion with it
    given = find_quantities(answer)
    if not given:
        return "refused"
    said = set().union(*(numbers(text) for text, *_ in given))
    if said - spelled - numbers(q.get("printed") or ""):
        return "wrong"
    if expected <= numbers(answer):
        return "right"
    # the conversion alone counts for a printed value, not for a difference or a sum worked out
    return "right" if not q.get("result") and said <= spelled else "wrong"


def ask_model(gguf: Path, threads: int, lines: int | None = None, free: bool = False):
    """A function (question, Found) -> (answer, seconds to the first token), through serve's engine.
    `lines`: only the first that many of the lines found go in the prompt (all of them by default).
    `free`: the model answers a value question in its own words, not held to the best line's values."""
    import serve

    model = serve.load_model(serve.Settings(model=gguf, threads=threads, temperature=0.0))

    def answer(question: str, found) -> tuple[str, float | None]:
        if not found.covered:
            return grounding.NOT_COVERED, None
        # Untagged, as the API and a plain chat ask it (a mechanic does not type `[SPEC]`).
        user = grounded_turn(question, found.hits[:lines])
        tokens = serve.prompt_tokens(model, serve.build_messages(None, [], user), 256)
        done = serve.generate(model, tokens, 256, 0.0, grammar=None if free else grounding.answer_grammar(found))
        return grounding.checked_answer(done.text.strip(), found), done.first_token_s
    return answer


def manual_of(index) -> str | None:
    """Which manual's questions an index answers: the one whose question pages it holds most of."""
    pages = {page_key(p, n) for p, n in index.con.execute("SELECT DISTINCT source_path, page FROM passages")}
    held: dict[str, int] = {}
    for half in ("dev", "test"):
        for q in load_questions(half):
            if q["kind"] != "probe":
                held[q["manual"]] = held.get(q["manual"], 0) + (page_key(q["page"], q.get("pdf_page")) in pages)
    best = max(held, key=held.get, default=None)
    return best if best and held[best] else None


def measure(half: str, indexes: dict, asker=None, details: Path | None = None) -> dict:
    """The figures (summary) of one half over {manual: open index}; `asker` from ask_model, or None
    for the search and the decision alone. `details`: one JSON line per question written there."""
    from prep.embed import load

    load()   # the embedding model once, before the clock: serve loads it at start
    rows, seconds = [], []
    for q in load_questions(half) + our_probes(indexes):
        if q["manual"] not in indexes:
            continue
        started = time.perf_counter()
        found = grounding.find(indexes[q["manual"]], q["question"])
        seconds.append(time.perf_counter() - started)
        row = {"id": q["id"], "manual": q["manual"], "kind": q["kind"], "numeric": numeric(q),
               "question": q["question"], "covered": found.covered,
               "lines": [f"[{ref(h)}] {h.line}" for h in found.hits]}
        if row["numeric"]:
            shown = set().union(*(numbers(h.line) for h in found.hits)) if found.hits else set()
            row.update(page=any(same_page(q, h) for h in found.hits), number=numbers(q["value"]) <= shown)
        if q["kind"] == "procedure":
            row["title"] = title_shown(q, found.hits)
        if asker and (row["numeric"] or q["kind"].startswith("probe")):
            row["answer"], row["first_token_s"] = asker(q["question"], found)
            row["outcome"] = (classify(q, row["answer"]) if row["numeric"]
                              else "answered" if find_quantities(row["answer"]) else "refused")
        rows.append(row)
    if details:
        details.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return summary(rows, seconds)


def share(rows: list[dict], key: str, value=True) -> dict:
    hit = sum(r.get(key) == value for r in rows)
    return {"n": len(rows), "hit": hit, "pct": round(100 * hit / len(rows), 1) if rows else None}


def summary(rows: list[dict], seconds: list[float]) -> dict:
    out = {}
    for kind in ("single", "multi"):
        mine = [r for r in rows if r["kind"] == kind and r["numeric"]]
        out[kind] = {"page_shown": share(mine, "page"), "number_shown": share(mine, "number"),
                     "covered": share(mine, "covered"),
                     "number_given_to_model": share([r for r in mine if r["covered"]], "number")}
        if any("outcome" in r for r in mine):
            out[kind].update({o: share(mine, "outcome", o) for o in ("right", "wrong", "refused")})
    for kind in ("probe", "probe (ours)"):
        probes = [r for r in rows if r["kind"] == kind]
        out[kind] = {"covered": share(probes, "covered")}
        if any("outcome" in r for r in probes):
            out[kind]["answered_with_a_number"] = share(probes, "outcome", "answered")
    out["procedure"] = {"title_shown": share([r for r in rows if r["kind"] == "procedure"], "title")}
    out["search_ms"] = {"median": round(1000 * statistics.median(seconds), 1),
                        "p95": round(1000 * sorted(seconds)[int(0.95 * (len(seconds) - 1))], 1),
                        "max": round(1000 * max(seconds), 1)} if seconds else None
    timed = [r["first_token_s"] for r in rows if r.get("first_token_s") is not None]
    if timed:
        out["first_token_s"] = {"median": round(statistics.median(timed), 3), "max": round(max(timed), 3)}
    return out


def print_summary(title: str, figures: dict) -> None:
    print(f"independent questions, {title}")
    for kind in ("single", "multi"):
        f = figures[kind]
        line = "  ".join(f"{k} {v['hit']}/{v['n']} ({v['pct']} %)" for k, v in f.items())
        print(f"  {kind:<12} {line}")
    for kind in ("probe", "probe (ours)", "procedure"):
        line = "  ".join(f"{k} {v['hit']}/{v['n']} ({v['pct']} %)" for k, v in figures[kind].items())
        print(f"  {kind:<12} {line}")
    print(f"  search + decision: {figures['search_ms']} ms a question"
          + (f"; first token {figures['first_token_s']} s" if "first_token_s" in figures else ""))


