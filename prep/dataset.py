"""Blocks → the training set: five tasks, quality gates, a page-level split, balance, token counts.

    python -m prep dataset work/blocks.jsonl --out data/
    python -m prep build ../shared/samples/e30-m3 --out data/     # blocks + dataset in one go

Writes hf_train.jsonl, hf_val.jsonl (chat format with `meta`), hf_recall.jsonl, spec_index.jsonl,
README.md (the dataset card), qa_report.md and qa_report.json.

Two held-out sets answer two questions. hf_val.jsonl holds whole pages the model never trains on:
its loss drives early stopping, and its SPEC answers can only be right by recall of a sibling page
or wrong by invention (a hallucination test). hf_recall.jsonl asks the facts of the *training*
pages with the validation phrasing, never seen in training: "does the model know its manual?". Two runs over the same blocks write identical bytes.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from config import TASKS, DataConfig
from prep import gates, tasks

PREFIX = {t: f"[{t.upper()}]" for t in TASKS}


@dataclass
class DatasetResult:
    train: int
    val: int
    per_task: dict
    rejected: dict
    out_dir: Path


def build_dataset(blocks_path: Path, out_dir: Path, data: DataConfig, tokenizer_name: str | None = None,
                  max_seq: int = 512) -> DatasetResult:
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
    train, val = [], []
    for ex in accepted:
        row = chat_row(ex, split_of(ex.group))
        row["meta"]["token_count"] = count_tokens(row["messages"])
        if row["meta"]["token_count"] > max_seq:
            rejected["longer than max_seq"].append(ex)
            continue
        (val if split_of(ex.group) == "val" else train).append(row)

    recall = []
    for ex in recall_examples:
        row = chat_row(ex, "recall")
        row["meta"]["token_count"] = count_tokens(row["messages"])
        if row["meta"]["token_count"] <= max_seq:
            recall.append(row)

    before = Counter(r["meta"]["task"] for r in train)
    train = balance(train, data.oversample_cap, data.seed)
    after = Counter(r["meta"]["task"] for r in train)

    # ---------------------------------------------------------------- write
    out_dir.mkdir(parents=True, exist_ok=True)
    write_jsonl(out_dir / "hf_train.jsonl", train)
    write_jsonl(out_dir / "hf_val.jsonl", val)
    write_jsonl(out_dir / "hf_recall.jsonl", recall)
    write_jsonl(out_dir / "spec_index.jsonl", spec_index)
    report = quality_report(blocks, train, val, rejected, before, after, accepted)
    report["recall_rows"] = {t: sum(r["meta"]["task"] == t for r in recall) for t in TASKS}
    report["numbers"] = numbers_report(blocks, blocks_path.with_name("pages.jsonl"), spec, rejected)
    atomic_write(out_dir / "qa_report.json", json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    atomic_write(out_dir / "qa_report.md", report_markdown(report))
    atomic_write(out_dir / "README.md", dataset_card(report, data))
    return DatasetResult(len(train), len(val), report["per_task"], {k: len(v) for k, v in rejected.items()}, out_dir)


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
        "messages": [{"role": "user", "content": f"{PREFIX[ex.task]} {ex.question}"},
                     {"role": "assistant", "content": ex.answer}],
        "meta": {
            "task": ex.task, "split": split, "source_path": first["path"], "page": first.get("page"),
            "page_label": first.get("page_label"), "section_id": first.get("section_id"),
            "section_name": first.get("section_name"), "blocks": [b["id"] for b in ex.blocks],
            "fact_id": ex.fact_id, "phrasing": ex.phrasing, "checks": ex.checks,
        },
    }


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
    for b in blocks:
        f = b.get("fields") or {}
        where = b["source"].get("page_label") or b["source"]["path"]
        for u in f.get("unsure", []):
            disagreements.append({"page": where, "source": b["source"]["path"], "text": u["text"],
                                  "readings": u["readings"]})
        for _, _, text, readings in f.get("unsure_cells", []):
            disagreements.append({"page": where, "source": b["source"]["path"], "text": text, "readings": readings})
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
                     f"({n['examples_rejected_for_disagreement']} examples rejected for one).")
    else:
        lines.append("No pages.jsonl beside the blocks: counts unknown.")
    if n["disagreements"]:
        lines += ["", "| page | file | page reading | second reading | third reading |", "|---|---|---|---|---|"]
        for d in n["disagreements"]:
            r = list(d["readings"]) + ["", "", ""]
            lines.append(f"| {d['page']} | {d['source']} | `{r[0]}` | `{r[1]}` | `{r[2] or ''}` |")
    lines += ["", "## Spec values seen vs taught, per page kind", "", "| page kind | value rows seen | turned into facts | share |",
              "|---|---|---|---|"]
    for kind, c in n["spec_coverage"].items():
        share = f"{c['share']:.0%}" if c["share"] is not None else "—"
        lines.append(f"| {kind} | {c['rows']} | {c['facts']} | {share} |")
    if n["spec_left_out"]:
        lines += ["", "## Spec rows left out (never guessed)", ""]
        lines += [f"- {x['page']} ({x['source']}): `{x['text']}` — {x['reason']}" for x in n["spec_left_out"]]
    return lines + [""]


def report_markdown(r: dict) -> str:
    lines = ["# Dataset quality report", "",
             f"{r['pages']} pages, {r['blocks']} blocks → {r['candidates']} candidate examples, "
             f"{r['accepted']} accepted.", "", "| task | train (with balance) | train unique | val |", "|---|---|---|---|"]
    lines += [f"| {t} | {c['train']} | {c['train_unique']} | {c['val']} |" for t, c in r["per_task"].items()]
    lines += ["", f"Max/min task ratio in train: {r['task_ratio_before_balance']} before balancing, "
              f"{r['task_ratio_after_balance']} after.", "",
              f"Doubtful (estimate): {r['doubtful_estimate']['count']} ({r['doubtful_estimate']['rule']}).", "",
              "## Rejections", ""]
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

## Sources
{r['pages']} pages, {r['blocks']} blocks. Pages in another language and index pages yield no examples.

## License
The text comes from a service manual that belongs to its publisher. This dataset is for the owner's
own use in their workshop; do not redistribute it.
"""


def write_jsonl(path: Path, rows: list[dict]) -> None:
    atomic_write(path, "".join(json.dumps(r, ensure_ascii=False, sort_keys=False) + "\n" for r in rows))


def atomic_write(path: Path, text: str) -> None:
    """A temp file renamed into place; removed again when the write fails (a full disk), so a
    failed run leaves the file as it was and no half file beside it."""
    import os
    import tempfile

    # A temp name of this run's own (`hf_train.jsonl.k2x9a1.tmp`): with one fixed name, two runs
    # into the same --out wrote into, or renamed away, the file the other was writing.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
    try:
        with open(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
            # mkstemp makes the file 0600; the output gets the mode any new file gets here (umask).
            umask = os.umask(0)
            os.umask(umask)
            try:
                os.fchmod(f.fileno(), 0o666 & ~umask)
            except OSError:  # a filesystem without modes (vfat, SMB) may refuse it; the text is what counts
                pass
            # backslashreplace: a lone surrogate (a broken PDF text layer) becomes `\udcXX`, which
            # inside a JSON string is that same character again, where strict UTF-8 would stop the run.
            f.write(text)
    except BaseException:
        os.unlink(tmp)
        raise
    os.replace(tmp, path)
