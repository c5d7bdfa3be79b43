"""Blocks → the training set: five tasks, quality gates, a page-level split, balance, token counts.

    python -m prep dataset work/blocks.jsonl --out data/
    python -m prep build ../shared/samples/e30-m3 --out data/     # blocks + dataset in one go

Writes hf_train.jsonl, hf_val.jsonl (chat format with `meta`), hf_recall.jsonl, spec_index.jsonl,
README.md (the dataset card), qa_report.md and qa_report.json.

Given the manual's search index (prep/search_index.py, built first by `prep dataset`), a share of the
training rows (data.context_fraction, per task) carry the manual's lines a search finds for their
question, in vocab/cites.py's layout, the one serve.py puts in front of the model: the row's own line
among lines of other pages, the answer citing its page (`35 Nm (26 ft-lb) [11-4]`). A few more SPEC
rows get lines that do not hold their part and answer that they do not cover it (REFUSAL_SHARE).
hf_val.jsonl and hf_recall.jsonl stay plain: evaluate.py adds the lines itself, as serve does.

Two held-out sets answer two questions. hf_val.jsonl holds whole pages the model never trains on:
its loss drives early stopping, and its SPEC answers can only be right by recall of a sibling page
or wrong by invention (a hallucination test). hf_recall.jsonl asks the facts of the *training*
pages with the validation phrasing, never seen in training: "does the model know its manual?". Two runs over the same blocks write identical bytes.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from config import TAG, TASKS, DataConfig
from files import write_together
from prep import gates, tasks
from vocab.cites import REFUSAL, K, cited, grounded_turn

# Refusal rows per grounded row, SPEC only: enough that lines without the part are seen, few
# enough that a model does not learn to refuse lines that hold it (docs/evaluation.md, Grounded).
REFUSAL_SHARE = 0.1


@dataclass
class DatasetResult:
    train: int
    val: int
    per_task: dict
    rejected: dict
    context: dict | None = None   # report["context"]: grounded rows per task, refusals


def build_dataset(blocks_path: Path, out_dir: Path, data: DataConfig, tokenizer_name: str | None = None,
                  max_seq: int = 512, index=None) -> DatasetResult:
    """dataset_texts, written into `out_dir` together: all its files replaced, or none."""
    result, texts = dataset_texts(blocks_path, data, tokenizer_name, max_seq, index)
    write_together(out_dir, texts)
    return result


def dataset_texts(blocks_path: Path, data: DataConfig, tokenizer_name: str | None = None,
                  max_seq: int = 512, index=None) -> tuple[DatasetResult, dict[str, str]]:
    """blocks.jsonl → the five tasks' candidates (prep/tasks.py) → the gates (prep/gates.py) → the
    page-level split (data.val_fraction, data.seed) → hf_train/hf_val/hf_recall.jsonl, the dataset
    card, qa_report.{md,json} and spec_index.jsonl, as file name -> text, nothing written: the caller
    decides whether the dataset is usable before a file is replaced. `index`:
    prep.search_index.Index of the same blocks, for the rows that carry the manual's lines
    (data.context_fraction); None makes no grounded rows. `tokenizer_name` counts tokens against
    `max_seq` (a row too long to train is rejected)."""
    blocks = [json.loads(line) for line in blocks_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not blocks:
        raise ValueError(f"{blocks_path}: no blocks")

    # ---------------------------------------------------------------- split by page / operation
    # Pass 1 learns the groups (pages, operations, symptoms) and their facts; pass 2 phrases each
    # fact for the side its group landed on: train gets several phrasings, val one of its own.
    first, _, _ = candidates(blocks, lambda group: "train", data)
    val_groups = choose_val_groups(first, data.val_fraction, data.seed)
    split_of = lambda group: "val" if group in val_groups else "train"  # noqa: E731
    examples, spec_index, spec = candidates(blocks, split_of, data)

    # ---------------------------------------------------------------- gates
    rejected: dict[str, list] = defaultdict(list)
    accepted, seen = [], set()
    for ex in examples:
        reason = gates.check(ex)
        if reason is None:
            key = gates.near_duplicate_key(ex)
            if key in seen:
                reason = "near-duplicate"
            seen.add(key)
        if reason:
            rejected[reason].append(ex)
        else:
            ex.checks = ["page-language", "length", "ocr-garbage", "answer-in-source", "dedupe"] + \
                        (["spec-number-unit", "spec-names-part"] if ex.task == "spec" else [])
            accepted.append(ex)

    # Recall probes: the train pages' facts, asked once more with the validation phrasing.
    recall_candidates, _, _ = candidates(blocks, lambda group: "val", data)
    # Only facts that train teaches: a fact dropped there as a near-duplicate of another page's
    # (a PDF's text layer and its scan) would be a probe of something never taught.
    taught = {ex.fact_id for ex in accepted if split_of(ex.group) == "train"}
    recall_examples = [ex for ex in recall_candidates if ex.fact_id in taught and gates.check(ex) is None]

    # ---------------------------------------------------------------- tokens and rows
    count_tokens = token_counter(tokenizer_name)
    train_examples = [ex for ex in accepted if split_of(ex.group) == "train"]
    with_context = choose_share(train_examples, data.context_fraction, f"{data.seed}:context") if index else set()
    own_passages = passages_by_block(blocks) if index else {}
    context = {"fraction": data.context_fraction, "grounded": Counter(), "too_long": Counter(),
               "no_line": Counter(), "refusals": 0, "right_line_retrieved": 0}
    train, val = [], []
    for ex in accepted:
        row = chat_row(ex, split_of(ex.group))
        row["meta"]["token_count"] = count_tokens(row["messages"])
        if row["meta"]["token_count"] > max_seq:
            rejected["longer than max_seq"].append(ex)
            continue
        if id(ex) in with_context:
            grounded = grounded_row(row, ex, index, own_passages, data.seed)
            if grounded is None:       # no passage of its page holds the answer: taught without lines
                context["no_line"][ex.task] += 1
            else:
                grounded["meta"]["token_count"] = count_tokens(grounded["messages"])
                if grounded["meta"]["token_count"] > max_seq:   # a long procedure: taught without lines
                    context["too_long"][ex.task] += 1
                else:
                    row = grounded
                    context["grounded"][ex.task] += 1
                    context["right_line_retrieved"] += row["meta"]["context"]["retrieved"]
        (val if split_of(ex.group) == "val" else train).append(row)

    # ---------------------------------------------------------------- refusals
    # Lines that do not hold the part asked about, and the answer that says so: without them a
    # model taught only on lines that always hold the answer reads a number from whatever it is given.
    spec_train = [ex for ex in train_examples if ex.task == "spec"]
    refusing = choose_share(spec_train, data.context_fraction * REFUSAL_SHARE, f"{data.seed}:refusal")
    for ex in spec_train if index else []:
        if id(ex) not in refusing:
            continue
        row = refusal_row(chat_row(ex, "train"), ex, index)
        if row is None:
            continue
        row["meta"]["token_count"] = count_tokens(row["messages"])
        if row["meta"]["token_count"] <= max_seq:
            train.append(row)
            context["refusals"] += 1

    recall = []
    for ex in recall_examples:
        row = chat_row(ex, "recall")
        row["meta"]["token_count"] = count_tokens(row["messages"])
        if row["meta"]["token_count"] <= max_seq:
            recall.append(row)

    before = Counter(r["meta"]["task"] for r in train)
    train = balance(train, data.oversample_cap, data.seed)
    after = Counter(r["meta"]["task"] for r in train)

    # ---------------------------------------------------------------- files
    report = quality_report(blocks, train, val, rejected, before, after, accepted)
    report["recall_rows"] = {t: sum(r["meta"]["task"] == t for r in recall) for t in TASKS}
    report["context"] = context_report(context, train_examples) if index else None
    report["numbers"] = numbers_report(blocks, blocks_path.with_name("pages.jsonl"), spec, rejected)
    texts = {"hf_train.jsonl": jsonl_text(train), "hf_val.jsonl": jsonl_text(val), "hf_recall.jsonl": jsonl_text(recall),
             "spec_index.jsonl": jsonl_text(spec_index),
             "qa_report.json": json.dumps(report, indent=2, ensure_ascii=False) + "\n",
             "qa_report.md": report_markdown(report), "README.md": dataset_card(report, data)}
    result = DatasetResult(len(train), len(val), report["per_task"], {k: len(v) for k, v in rejected.items()},
                           report["context"])
    return result, texts


def candidates(blocks: list[dict], split_of, data: DataConfig):
    """All five tasks' candidate examples in a fixed order, with one seeded generator."""
    rng = random.Random(data.seed)
    n = data.phrasings_per_fact
    spec = tasks.spec_examples(blocks, split_of, n, rng)
    examples = (spec.examples + tasks.procedure_examples(blocks, split_of, n, rng)
                + tasks.explanation_examples(blocks, split_of, n, rng)
                + tasks.wiring_examples(blocks, split_of, n, rng)
                + tasks.troubleshooting_examples(blocks, split_of, n, rng))
    return examples, spec.index, spec


def choose_val_groups(examples, fraction: float, seed: int) -> set[str]:
    """Whole groups go to val, in a seeded hash order, until it holds `fraction` of the facts.
    A task is never moved entirely into val: its last train group stays in train."""
    facts_in: dict[str, set] = defaultdict(set)
    task_groups: dict[str, set] = defaultdict(set)
    group_tasks: dict[str, set] = defaultdict(set)
    for ex in examples:
        facts_in[ex.group].add(ex.fact_id)
        task_groups[ex.task].add(ex.group)
        group_tasks[ex.group].add(ex.task)
    total = sum(len(f) for f in facts_in.values())
    order = sorted(facts_in, key=lambda g: hashlib.sha256(f"{seed}:{g}".encode()).hexdigest())
    val: set[str] = set()
    taken = 0
    target = fraction * total
    for group in order:
        if taken >= target:
            break
        # Skip a group that would overshoot the target by far (one big spec sheet) or take a task's
        # last train group; a later, smaller group fills the place.
        if taken + len(facts_in[group]) > target * 1.25 + 1:
            continue
        if any(len(task_groups[t] - val - {group}) == 0 for t in group_tasks[group]):
            continue
        val.add(group)
        taken += len(facts_in[group])
    return val


def chat_row(ex: tasks.Example, split: str) -> dict:
    first = ex.blocks[0]["source"]
    return {
        "messages": [{"role": "user", "content": f"{TAG[ex.task]} {ex.question}"},
                     {"role": "assistant", "content": ex.answer}],
        "meta": {
            "task": ex.task, "split": split, "source_path": first["path"], "page": first.get("page"),
            "page_label": first.get("page_label"), "section_id": first.get("section_id"),
            "section_name": first.get("section_name"), "blocks": [b["id"] for b in ex.blocks],
            "fact_id": ex.fact_id, "phrasing": ex.phrasing, "checks": ex.checks,
        },
    }


# -------------------------------------------------------------------- context: the manual's lines before the question
def choose_share(examples: list[tasks.Example], share: float, seed: str) -> dict[int, tasks.Example]:
    """`share` of each task's examples, a seeded choice (a str seed: the same on every run and
    Python), keyed by id(). Per task, so a small task gets its share too and SPEC never loses it."""
    by_task: dict[str, list] = defaultdict(list)
    for ex in examples:
        by_task[ex.task].append(ex)
    chosen = {}
    for task, exs in sorted(by_task.items()):
        rng = random.Random(f"{seed}:{task}")
        chosen.update({id(ex): ex for ex in rng.sample(exs, round(share * len(exs)))})
    return chosen


def passages_by_block(blocks: list[dict]) -> dict[str, list]:
    """The index's passages (prep/search_index.py's own, the same lines) of each block."""
    from prep.search_index import passages

    out: dict[str, list] = defaultdict(list)
    for passage in passages(blocks):
        out[passage.block_id].append(passage)
    return out


def answer_lines(ex: tasks.Example, own_passages: dict[str, list]) -> list:
    """The passages of the example's own blocks that hold its answer. SPEC: the fact's one-line
    passage, else the rows that print every value (a stage on a row of its own adds that row), the
    part's own row first; the other tasks: the passage sharing most words with the answer. [] when
    none holds it."""
    own = [p for b in ex.blocks for p in own_passages.get(b["id"], [])]
    if not own:
        return []
    words = lambda text: set(re.findall(r"\w{2,}", text.lower()))  # noqa: E731  (`k25` too)
    if ex.task != "spec":
        said = words(ex.answer)
        best = max(own, key=lambda p: len(said & words(p.line)))
        return [best] if said & words(best.line) else []
    # The fact's own one-line passage (prep/search_index.py's fact_passages, `… · part · answer`): two
    # parts of one table can share an answer (`M8: 27 Nm`), so the part must be the example's too.
    part_text = " ".join(x for x in (ex.spec.get("component"), ex.spec["facts"][0].get("condition")) if x)
    answer = " / ".join(line.strip() for line in ex.answer.splitlines() if line.strip())
    fact = [p for p in own if p.kind == "spec-fact" and p.line.endswith(f" · {part_text} · {answer}")]
    if fact:
        return fact[:1]
    values = [f["value"] for f in ex.spec["facts"] if f["value"]]
    part = words(f"{ex.spec.get('component') or ''} {ex.spec.get('variant') or ''}")
    chosen: list = []
    while values:
        best = max(own, key=lambda p: (sum(gates.prints_value(p.line, v) for v in values), len(part & words(p.line))))
        covered = [v for v in values if gates.prints_value(best.line, v)]
        if not covered or len(chosen) == 2:    # a value no row prints, or a sequence longer than the prompt holds
            return []
        chosen.append(best)
        values = [v for v in values if v not in covered]
    return chosen


def same_line(a, b) -> bool:
    return a.block_id == b.block_id and a.line == b.line


def grounded_row(row: dict, ex: tasks.Example, index, own_passages: dict[str, list], seed: int) -> dict | None:
    """The row with the index's top K lines (vocab.cites) for its question before it, exactly as serve
    asks; the row's own line(s) put in place of the lowest when the search missed them, at a
    seeded place (first, last or between: the model must read, not count). None: no line of its
    page holds the answer."""
    right = answer_lines(ex, own_passages)
    if not right:
        return None
    hits = index.search(ex.question, k=K)
    missing = [p for p in right if not any(same_line(p, h) for h in hits)]
    lines = list(hits)
    if missing:
        rng = random.Random(f"{seed}:{ex.fact_id}:{ex.phrasing}")
        lines = lines[:K - len(missing)]
        for p in missing:
            lines.insert(rng.randrange(len(lines) + 1), p)
    answer = cited(ex.answer, right[0])
    reason = gates.check_grounded(ex, lines, right, answer)
    if reason:
        return None
    user = grounded_turn(row["messages"][0]["content"], lines)
    meta = {**row["meta"], "checks": row["meta"]["checks"] + ["answer-in-context"],
            "context": {"lines": len(lines), "retrieved": not missing,
                        "right": [lines.index(p) for p in lines if any(same_line(p, r) for r in right)]}}
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}], "meta": meta}


def refusal_row(row: dict, ex: tasks.Example, index) -> dict | None:
    """The question with the best lines of *other* pages that do not print its value, and the
    answer that they do not cover it. None when fewer than two such lines are found."""
    page = (ex.blocks[0]["source"]["path"], ex.blocks[0]["source"].get("page"))
    values = [f["value"] for f in ex.spec["facts"] if f["value"]]
    lines = [h for h in index.search(ex.question, k=4 * K)
             if (h.source_path, h.page) != page and not any(gates.prints_value(h.line, v) for v in values)][:K]
    if len(lines) < 2 or gates.check_refusal(ex, lines, REFUSAL):
        return None
    meta = {**row["meta"], "fact_id": row["meta"]["fact_id"] + "|refusal",
            "checks": ["refusal-lines-without-its-page"], "context": {"lines": len(lines), "refusal": True}}
    return {"messages": [{"role": "user", "content": grounded_turn(row["messages"][0]["content"], lines)},
                         {"role": "assistant", "content": REFUSAL}], "meta": meta}


def context_report(c: dict, train_examples: list[tasks.Example]) -> dict:
    per_task = Counter(ex.task for ex in train_examples)
    grounded = sum(c["grounded"].values())
    return {"fraction": c["fraction"], "refusal_share": REFUSAL_SHARE,
            "per_task": {t: {"train": per_task[t], "grounded": c["grounded"][t], "too_long": c["too_long"][t],
                             "no_line": c["no_line"][t]} for t in TASKS},
            "grounded": grounded, "refusals": c["refusals"],
            "right_line_retrieved": round(c["right_line_retrieved"] / grounded, 3) if grounded else None}


def balance(rows: list[dict], cap: float, seed: int) -> list[dict]:
    """Capped oversampling in train only: a rare task is repeated towards the largest one, at most
    `cap` times (never the original's blind 7×/10× duplication)."""
    counts = Counter(r["meta"]["task"] for r in rows)
    if not counts:
        return rows
    target = max(counts.values())
    rng = random.Random(seed)
    out = []
    for row in rows:
        factor = min(cap, target / counts[row["meta"]["task"]])
        copies = int(factor) + (rng.random() < factor - int(factor))
        out.extend([row] * max(copies, 1))
    return out


def token_counter(tokenizer_name: str | None):
    """Token counts with the configured model's tokenizer, chat template included."""
    if tokenizer_name is None:
        return lambda messages: sum(len(m["content"]) for m in messages) // 4
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_name)
    except OSError as err:  # a hub model named in the config, and no network or cache for it
        print(f"warning: tokenizer {tokenizer_name} unavailable ({str(err).splitlines()[0][:100]}); "
              "token counts are estimated as characters / 4")
        return lambda messages: sum(len(m["content"]) for m in messages) // 4
    return lambda messages: len(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"])


# -------------------------------------------------------------------- report and card
def quality_report(blocks, train, val, rejected, before, after, accepted) -> dict:
    rng = random.Random(0)
    per_task = {t: {"train": sum(r["meta"]["task"] == t for r in train),
                    "train_unique": len({r["meta"]["fact_id"] + str(r["meta"]["phrasing"]) for r in train
                                         if r["meta"]["task"] == t}),
                    "val": sum(r["meta"]["task"] == t for r in val)} for t in TASKS}
    ratio = lambda c: round(max(c.values()) / max(min(c.values()), 1), 2) if c else None  # noqa: E731
    samples = {}
    for t in TASKS:
        rows = [r for r in train + val if r["meta"]["task"] == t]
        unique = list({json.dumps(r["messages"]): r for r in rows}.values())
        samples[t] = [{"q": r["messages"][0]["content"], "a": r["messages"][1]["content"],
                       "source": f"{r['meta']['source_path']} p.{r['meta']['page_label'] or r['meta']['page']}"}
                      for r in rng.sample(unique, min(5, len(unique)))]
    doubtful = [ex for ex in accepted if gates.garbage_share(ex.answer) > 0.1]
    return {
        "blocks": len(blocks),
        "pages": len({b["source"]["path"] + str(b["source"].get("page")) for b in blocks}),
        "pages_skipped": sorted({b["source"]["path"] for b in blocks if b.get("page_kind") in ("foreign", "index")}),
        "candidates": len(accepted) + sum(len(v) for v in rejected.values()),
        "accepted": len(accepted),
        "per_task": per_task,
        "task_ratio_before_balance": ratio({k: v for k, v in before.items() if v}),
        "task_ratio_after_balance": ratio({k: v for k, v in after.items() if v}),
        "rejected": {reason: {"count": len(exs), "examples": [
            {"task": e.task, "q": e.question, "a": e.answer[:200], "source": e.blocks[0]["source"]["path"]}
            for e in exs[:3]]} for reason, exs in sorted(rejected.items())},
        "doubtful_estimate": {"count": len(doubtful), "rule": "accepted answers with 10-20 % unknown words"},
        "samples": samples,
    }


def numbers_report(blocks: list[dict], pages_path: Path, spec, rejected: dict) -> dict:
    """Every number read twice: how many, where the two readings disagreed (page, both readings),
    which spec rows were left out and why, and per page kind the value rows seen vs taught."""
    pages = [json.loads(line) for line in pages_path.read_text(encoding="utf-8").splitlines()] \
        if pages_path.is_file() else []
    counts = Counter()
    for page in pages:
        counts.update(page.get("numbers") or {})
    disagreements = []
    settled = {(x["block"], x["row"], x["col"]): x["text"] for x in spec.settled}
    for b in blocks:
        f = b.get("fields") or {}
        where = b["source"].get("page_label") or b["source"]["path"]
        for u in f.get("unsure", []):
            disagreements.append({"page": where, "source": b["source"]["path"], "text": u["text"],
                                  "readings": u["readings"]})
        for r, c, text, readings in f.get("unsure_cells", []):
            disagreements.append({"page": where, "source": b["source"]["path"], "text": text, "readings": readings,
                                  "taught_as": settled.get((b["id"], r, c))})
    coverage = {kind: {**c, "share": round(c["facts"] / c["rows"], 3) if c["rows"] else None}
                for kind, c in sorted(spec.coverage.items())}
    return {"read_twice": dict(counts), "disagreements": disagreements, "spec_left_out": spec.left_out,
            "spec_coverage": coverage, "examples_rejected_for_disagreement": len(rejected.get(gates.DISAGREE, []))}


def numbers_markdown(n: dict) -> list[str]:
    c = n["read_twice"]
    lines = ["## Numbers read twice", ""]
    if c:
        lines.append(f"{c.get('read', 0)} numbers on the scanned pages were read by tesseract and by a second engine: "
                     f"{c.get('agreed', 0)} agreed, {c.get('corrected', 0)} taken from the second engine where a "
                     f"third reading agreed with it, {c.get('unsure', 0)} disagree and are not taught "
                     f"({n['examples_rejected_for_disagreement']} examples rejected for one), but for the table "
                     f"cells their column's grammar reads (a thread size, a type code: 'taught as' below).")
    else:
        lines.append("No pages.jsonl beside the blocks: counts unknown.")
    if n["disagreements"]:
        lines += ["", "| page | file | page reading | second reading | third reading | taught as |",
                  "|---|---|---|---|---|---|"]
        for d in n["disagreements"]:
            r = list(d["readings"]) + ["", "", ""]
            taught = f"`{d['taught_as']}` (its column's grammar)" if d.get("taught_as") else "not taught"
            lines.append(f"| {d['page']} | {d['source']} | `{r[0]}` | `{r[1]}` | `{r[2] or ''}` | {taught} |")
    lines += ["", "## Spec values seen vs taught, per page kind", "", "| page kind | value rows seen | turned into facts | share |",
              "|---|---|---|---|"]
    for kind, c in n["spec_coverage"].items():
        share = f"{c['share']:.0%}" if c["share"] is not None else "—"
        lines.append(f"| {kind} | {c['rows']} | {c['facts']} | {share} |")
    if n["spec_left_out"]:
        lines += ["", "## Spec rows left out (never guessed)", ""]
        lines += [f"- {x['page']} ({x['source']}): `{x['text']}` — {x['reason']}" for x in n["spec_left_out"]]
    return lines + [""]


def context_markdown(c: dict | None) -> list[str]:
    if not c:
        return ["No search index given: no training row carries the manual's lines.", ""]
    lines = ["## Rows with the manual's lines (grounded)", "",
             f"data.context_fraction {c['fraction']}: {c['grounded']} training rows carry the lines a search finds "
             f"for their question, their own line among them ({c['right_line_retrieved']:.0%} found by the search, "
             f"the rest put in place of the lowest), the answer citing its page; {c['refusals']} SPEC rows carry lines "
             "without their part and answer that they do not cover it." if c["grounded"] else
             f"data.context_fraction {c['fraction']}: no training row carries the manual's lines.", "",
             "| task | train examples | grounded | left plain: too long | left plain: no line holds the answer |",
             "|---|---|---|---|---|"]
    lines += [f"| {t} | {x['train']} | {x['grounded']} | {x['too_long']} | {x['no_line']} |" for t, x in c["per_task"].items()]
    return lines + [""]


def report_markdown(r: dict) -> str:
    lines = ["# Dataset quality report", "",
             f"{r['pages']} pages, {r['blocks']} blocks → {r['candidates']} candidate examples, "
             f"{r['accepted']} accepted.", "", "| task | train (with balance) | train unique | val |", "|---|---|---|---|"]
    lines += [f"| {t} | {c['train']} | {c['train_unique']} | {c['val']} |" for t, c in r["per_task"].items()]
    lines += ["", f"Max/min task ratio in train: {r['task_ratio_before_balance']} before balancing, "
              f"{r['task_ratio_after_balance']} after.", "",
              f"Doubtful (estimate): {r['doubtful_estimate']['count']} ({r['doubtful_estimate']['rule']}).", ""]
    lines += context_markdown(r.get("context"))
    lines += ["## Rejections", ""]
    for reason, info in r["rejected"].items():
        lines.append(f"### {reason}: {info['count']}")
        lines += [f"- [{e['task']}] {e['q']!r} → {e['a']!r} ({e['source']})" for e in info["examples"]]
        lines.append("")
    if "numbers" in r:
        lines += numbers_markdown(r["numbers"])
    lines += ["## Accepted examples", ""]
    for task, rows in r["samples"].items():
        lines.append(f"### {task}")
        lines += [f"- {s['q']!r} → {s['a']!r} ({s['source']})" for s in rows]
        lines.append("")
    if r["pages_skipped"]:
        lines += ["## Pages that yield no examples (another language, index)", ""]
        lines += [f"- {p}" for p in r["pages_skipped"]]
    return "\n".join(lines) + "\n"


def grounded_card(c: dict | None) -> str:
    if not c or not c["grounded"]:
        return "No training row carries the manual's lines (no search index, or data.context_fraction 0).\n"
    return (f"{c['grounded']} training rows (data.context_fraction {c['fraction']} of each task's examples, fewer where "
            "the prompt grew past max_seq) open with the manual's lines that search_index.sqlite finds for the "
            "question (grounding.py's layout, as serve.py asks), the answer citing its page; "
            f"{c['refusals']} SPEC rows carry lines of other pages and answer \"{REFUSAL}\". "
            "Validation and recall rows are plain; evaluate.py adds the lines.\n")


def dataset_card(r: dict, data: DataConfig) -> str:
    rows = "\n".join(f"| {t} | {c['train']} | {c['val']} |" for t, c in r["per_task"].items())
    return f"""---
license: other
task_categories: [question-answering, text-generation]
language: [en]
configs:
- config_name: default
  data_files:
  - split: train
    path: hf_train.jsonl
  - split: validation
    path: hf_val.jsonl
---
# Service-manual Q&A

Chat-format question/answer pairs built from scanned service-manual pages by `python -m prep`.
Every example names its source page and block in `meta`, and passed the quality gates listed in
`meta.checks` (see qa_report.md for what was rejected and why).

| task | train | validation |
|---|---|---|
{rows}

`hf_recall.jsonl` asks every training fact once more in the validation phrasing (never used in
training): it measures whether the model learned its manual; `hf_val.jsonl` holds unseen pages.

## How the split was made
Whole pages (or repair operations, or troubleshooting symptoms) go to one side: seed {data.seed},
{data.val_fraction:.0%} of the facts in validation{" (none: every page trains, hf_recall.jsonl evaluates)" if not data.val_fraction else ""}. No page and no fact's paraphrases appear in both.
Train holds {data.phrasings_per_fact} phrasings per fact; validation one phrasing from a separate set.
Rare tasks are oversampled inside train only, at most {data.oversample_cap}×.
{grounded_card(r.get("context"))}
## Sources
{r['pages']} pages, {r['blocks']} blocks. Pages in another language and index pages yield no examples.

## License
The text comes from a service manual that belongs to its publisher. This dataset is for the owner's
own use in their workshop; do not redistribute it.
"""


def jsonl_text(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=False) + "\n" for r in rows)
