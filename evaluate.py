"""Evaluate: does the fine-tune know the manual better than the base model? Per task, side by side.

    python evaluate.py --base embedded:smollm2-135m --adapter runs/cpu-demo \\
        --gguf runs/cpu-demo/gguf/cpu-demo-q4_k_m.gguf            # → eval/ (table, eval.json, report.html)
    python evaluate.py --adapter runs/cpu-demo --limit 3 --out /tmp/eval    # 3 rows per task, one model
    python evaluate.py --gguf runs/cpu-demo/gguf/cpu-demo-q4_k_m.gguf --grounding both --threads 2
    python evaluate.py --adapter runs/cpu-demo --with-base --dry-run        # the plan: models, rows, indexes

--config is a kit YAML, by default the adapter run's own resolved_config.yaml: its data.dir is where
--data and its indexes are looked for, its model.base what --with-base evaluates beside the tuned
model; `--section.key value` overrides any key, as in every stage (cli.py).
    python -m pytest tests/test_evaluate.py

Every model answers every row of `--data` (prep's data/hf_val.jsonl) with the row's own prompt: the
same chat template, the `[TASK]`-tagged user turn, greedy decoding (temperature 0) and the same
`--max-new-tokens` for all three kinds of model (a base Hugging Face model, base + PEFT adapter, a
GGUF through serve.py's own llama.cpp path). The answers are scored against the manual's answer:

    SPEC              exact match of the numbers with their units after normalising ("50 Nm" = "50 N·m"
                      = "50Nm", "2,5 bar" = "2.5 bar"; every stage of a multi-stage answer); the share
                      of answers with a value the spec index does not hold for that part (spec_check.py)
    PROCEDURE, TROUBLESHOOTING   ROUGE-L, chrF, the manual's steps found, and found in the right order
    EXPLANATION, WIRING          ROUGE-L, chrF
    every task        in shape: a value with a unit (SPEC), numbered steps (PROCEDURE, TROUBLESHOOTING),
                      a sentence (EXPLANATION), a sentence naming a fuse, wire or page (WIRING)

With the manual's lines (`--grounding context` or `both`, the default where prep's search_index.sqlite
lies beside --data) each row is asked once more as serve.py asks it: vocab/cites.py's layout, the top
vocab.cites.K lines the index finds for the question before it. Those answers are scored after their
closing `[page]` is taken off, and also for citing the row's own page; the index's share of rows with
the right page in its top 3 is shown beside them; PROBES, questions about parts the manual does not
hold, count the answers that give a number with a unit anyway (invented); and the time to the first
token and the prompt's length are kept per model, with and without the lines.

Every score is on a 0-100 scale, so differences read as points. Then the issue's success criteria,
printed PASS/FAIL with their numbers: eval loss fell at every evaluation of the run (--run-summary,
default the adapter's run folder), SPEC exact match on val > 80 %, every answer in its task's shape.

Reads order: task names → rows → scores (SPEC, text, steps, shape) → models (HF, GGUF) → run →
criteria and comparisons → command. The outputs (terminal table, eval.json, chart.png, report.html)
are evaluate_report.py's.
"""

from __future__ import annotations

import functools
import json
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

import grounding
import spec_check
from cli import EXTRA, OVERRIDES, fail
from config import TAG, TASKS
from evaluate_independent import PROBES, ask_model, manual_of, measure, print_summary
from evaluate_report import METRICS, print_table, write_outputs
from files import GgufError, gguf_header, read_chat_rows, write_atomic
from grounding import NOT_COVERED, checked_answer
from vocab.cites import HEADER, grounded_turn, ref, strip_cite
from vocab.units import find_quantities

app = typer.Typer(add_completion=False, rich_markup_mode=None,
                  help="Score base, adapter and GGUF answers on the validation split, per task.")

TEXT_TASKS = ("procedure", "explanation", "wiring", "troubleshooting")
STEP_TASKS = ("procedure", "troubleshooting")

SPEC_BAR = 80.0   # the "SPEC accuracy on val > 80 %" (--data is the val split by default)
STEP_MATCH = 0.5  # a manual step counts as found when an answer step has ROUGE-L F1 >= this with it

GROUNDED_BAR = 70.0   # hf_val SPEC exact with the manual's lines >= 70 %
CONTEXT = " + lines"  # a model's column name when it was asked with the manual's lines

# A refusal: the model's trained one (prep: "The manual lines given do not cover this.") or serve's
# own (grounding.NOT_COVERED, NOTHING_FOUND, UNPRINTED: "… so I give no value / none").
REFUSAL = re.compile(r"(?i)\b(?:do(?:es)? not|don't|doesn't) (?:cover|give|list|hold|say)|not covered|"
                     r"\bgive (?:no value|none)\b|no value from the manual")


# -----------------------------------------------------------------------------
# rows: prep's chat rows, the prompt exactly as trained and the manual's answer

@dataclass
class Row:
    task: str
    messages: list[dict]      # every turn before the answer: the prompt as the model was trained on it
    question: str             # the last user turn without its task tag: the spec check's context
    reference: str            # the manual's answer
    meta: dict
    set: str = "val"          # "val": prep's held-out pages; "recall": trained facts in unseen wording; "probes"
    grounding: str = "off"    # "context": the user turn carries the manual's lines (grounding.py)
    refused: bool = False     # context: the lines do not cover the question; answered NOT_COVERED, model not asked
    in_top3: bool | None = None   # with lines: the row's own page among the index's top 3
    found: object = None          # with lines: grounding.find's Found (grounding.checked_answer checks against it)


def read_rows(path: Path, limit: int | None = None, set_name: str = "val") -> list[Row]:
    """hf_*.jsonl rows; `limit` keeps the first N rows of each task so a short run sees every task."""
    rows, per_task = [], Counter()
    for number, user, _, task, record in read_chat_rows(path):   # RowError (a ValueError) names a bad line
        messages = record["messages"]
        if messages[-2]["role"] != "user":
            raise ValueError(f"{path}:{number}: malformed example (needs a user turn right before the answer)")
        meta = record.get("meta") or {}
        task = task or task_of(user[-1]["content"])
        if task not in TASKS:
            raise ValueError(f"{path}:{number}: unknown task {task!r}; the kit's tasks are {list(TASKS)}")
        if limit is not None and per_task[task] >= limit:
            continue
        per_task[task] += 1
        question = re.sub(r"^\[[A-Z]+\]\s*", "", asked(messages[-2]["content"]))
        rows.append(Row(task, messages[:-1], question, messages[-1]["content"], meta, set_name))
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows


def task_of(user_turn: str) -> str | None:
    m = re.match(r"\[([A-Z]+)\]", asked(user_turn))
    return m.group(1).lower() if m else None


def asked(user_turn: str) -> str:
    """The question of a user turn, without the manual's lines a grounded turn opens with."""
    return user_turn.rsplit("\n\n", 1)[-1] if user_turn.startswith(HEADER) else user_turn


def with_lines(rows: list[Row], index, find=None) -> list[Row]:
    """Each row asked as serve.py asks it (grounding.find): vocab/cites.py's layout, the lines found
    for the question before the user turn, or, where they do not cover it, serve's NOT_COVERED
    without the model; and whether the row's own page is among the top 3 the search found."""
    from dataclasses import replace

    find = find or grounding.find
    out = []
    for row in rows:
        found = find(index, row.question)
        page = (row.meta.get("source_path"), row.meta.get("page"))
        turn = grounded_turn(row.messages[-1]["content"], found.hits)
        out.append(replace(row, messages=[*row.messages[:-1], {"role": "user", "content": turn}], grounding="context",
                           refused=not found.covered, found=found,
                           in_top3=None if row.set == "probes" else page in [(h.source_path, h.page) for h in found.hits[:3]]))
    return out


def probe_rows(index) -> tuple[list[Row], list[str]]:
    """PROBES as rows, less those whose part the index holds (named in the second list): the same
    test as the independent measure's own probes (grounding.in_manual)."""
    rows, held = [], []
    for key, question in PROBES:
        if grounding.in_manual(index, key):
            held.append(key)
            continue
        rows.append(Row("spec", [{"role": "user", "content": f"{TAG['spec']} {question}"}], question, "",
                        {"probe": key}, "probes"))
    return rows, held


# -----------------------------------------------------------------------------
# SPEC: the numbers with their units, normalised by spec_check.py

def spec_values(text: str) -> tuple[Counter, Counter]:
    """(value, unit) pairs in `text` as a multiset: (the values given, those inside parentheses).

    A value in parentheses is the manual's conversion ("35 Nm (26 ft-lb)"): an answer may give it
    or leave it out. A multiset, because "stage 2: 80°; stage 3: 80°" needs 80° twice.
    """
    given, in_parens = Counter(), Counter()
    for _, value, unit, pos in find_quantities(text):
        depth = text.count("(", 0, pos) - text.count(")", 0, pos)
        (in_parens if depth > 0 else given)[(value, unit)] += 1
    return given, in_parens


def spec_exact(reference: str, answer: str) -> bool:
    """The answer gives every value of the reference (every stage), and no other value in a unit
    the reference uses: "45 Nm" for 54 Nm and a hedge "35 or 40 Nm" both miss. Values in units
    the reference does not use are not judged here ("at 20 °C"); the unmatched-value score sees
    them. A reference without a number with a unit is compared as text."""
    required, optional = spec_values(reference)
    if not required:
        return " ".join(answer.split()).casefold() == " ".join(reference.split()).casefold()
    units = {unit for _, unit in required + optional}
    said = Counter()
    for quantities in spec_values(answer):
        said.update({q: n for q, n in quantities.items() if q[1] in units})
    return not (required - said) and not ((said - required) - optional)


def has_unmatched_value(facts: list[spec_check.SpecFact], question: str, answer: str) -> bool:
    """A number with a unit that the manual's tables do not give for the part asked about: the
    same check, and the same ⚠, that serve.py shows at the bench."""
    return any(q.status != "match" for q in spec_check.check_answer(facts, question, answer))


# -----------------------------------------------------------------------------
# PROCEDURE, EXPLANATION, WIRING, TROUBLESHOOTING: overlap with the manual's text

@functools.cache
def _rouge_scorer():
    from rouge_score import rouge_scorer

    # Stemming: "tighten"/"tightened" are the same instruction.
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(reference: str, answer: str) -> float:
    """ROUGE-L F1, 0-100 (rouge-score's tokenizer: lower case, letters and digits)."""
    return 100 * _rouge_scorer().score(reference, answer)["rougeL"].fmeasure


def chrf(reference: str, answer: str) -> float:
    """chrF (sacrebleu's defaults: character 6-grams, beta 2), 0-100; robust to OCR-ish spelling
    and to part numbers that word overlap splits."""
    from sacrebleu.metrics import CHRF

    return CHRF().sentence_score(answer, [reference]).score


STEP_LINE = re.compile(r"^\s*(\d{1,2})[.)]\s+(\S.*)$", re.MULTILINE)


def numbered_steps(text: str) -> list[tuple[int, str]]:
    """(number, text) of each line that starts "1." or "1)"; headings and notes are not steps."""
    return [(int(m.group(1)), m.group(2).strip()) for m in STEP_LINE.finditer(text)]


def step_scores(reference: str, answer: str) -> tuple[float, float] | None:
    """(share of the manual's steps found in the answer, share found in the manual's order), 0-100.

    A manual step is found when some numbered answer step has ROUGE-L >= STEP_MATCH with it (the
    best one is taken). "In order" is the longest run of found steps whose answer positions rise,
    over all the manual's steps: every step, in order, is 100; a swapped pair loses one step.
    None when the reference has no numbered steps.
    """
    wanted = [text for _, text in numbered_steps(reference)]
    if not wanted:
        return None
    given = [text for _, text in numbered_steps(answer)]
    positions = []
    for step in wanted:
        scores = [rouge_l(step, g) / 100 for g in given]
        best = max(range(len(scores)), key=scores.__getitem__, default=None)
        if best is not None and scores[best] >= STEP_MATCH:
            positions.append(best)
    return 100 * len(positions) / len(wanted), 100 * longest_rising(positions) / len(wanted)


def longest_rising(xs: list[int]) -> int:
    """Length of the longest strictly increasing subsequence (n is a handful of steps: O(n²))."""
    best = [1] * len(xs)
    for i in range(len(xs)):
        for j in range(i):
            if xs[j] < xs[i]:
                best[i] = max(best[i], best[j] + 1)
    return max(best, default=0)


# -----------------------------------------------------------------------------
# shape: does the answer look like what the task prefix asks for?

def in_shape(task: str, answer: str) -> bool:
    """The form prep writes for each task (the manual's own answers all pass, see the tests):

    spec             at least one number with a unit
    procedure, troubleshooting   numbered lines 1., 2., … counting up from 1 (one step is a list too;
                     "1." on every line, Markdown's auto-numbered list, counts too)
    explanation      a sentence: three words or more, not a numbered list
    wiring           a sentence that names something on the diagram: three words or more and a
                     number (a fuse, a wire size, a connector, a page)
    """
    text = answer.strip()
    if task == "spec":
        return bool(find_quantities(text))
    if task in STEP_TASKS:
        numbers = [n for n, _ in numbered_steps(text)]
        # "1. 1. 1." is a Markdown list that renders numbered, and chat models write it so.
        return bool(numbers) and (numbers == list(range(1, len(numbers) + 1)) or set(numbers) == {1})
    words = len(re.findall(r"\w+", text))
    if task == "explanation":
        return words >= 3 and not numbered_steps(text)
    return words >= 3 and bool(re.search(r"\d", text))


# -----------------------------------------------------------------------------
# one answer's scores

def score(row: Row, answer: str, facts: list[spec_check.SpecFact] | None) -> dict[str, float]:
    """The task's metrics for one answer, each 0-100 (a mean over rows is then a percentage). The
    answer is judged without its closing `[page]`; with lines, the cite is scored on its own."""
    answer, cite = strip_cite(answer)
    if row.set == "probes":   # no manual's answer: only whether it gave a number anyway
        return {"invented": 100.0 * bool(find_quantities(answer)),
                "refused": 100.0 * bool(REFUSAL.search(answer))}
    out: dict[str, float] = {}
    if row.grounding == "context":
        out["cites_page"] = 100.0 * (cite == own_ref(row.meta))
        out["page_in_top3"] = 100.0 * bool(row.in_top3)
    if row.task == "spec":
        out["exact"] = 100.0 * spec_exact(row.reference, answer)
        if facts is not None:
            out["unmatched_value"] = 100.0 * has_unmatched_value(facts, row.question, answer)
    else:
        out["rouge_l"] = rouge_l(row.reference, answer)
        out["chrf"] = chrf(row.reference, answer)
        if row.task in STEP_TASKS and (steps := step_scores(row.reference, answer)) is not None:
            out["steps_found"], out["steps_in_order"] = steps
    out["shape"] = 100.0 * in_shape(row.task, answer)
    return out


def own_ref(meta: dict) -> str:
    """What an answer citing the row's own page says in its brackets (grounding.ref)."""
    from types import SimpleNamespace

    return ref(SimpleNamespace(page_label=meta.get("page_label"), source_path=meta.get("source_path") or "",
                               page=meta.get("page"), line=""))


# -----------------------------------------------------------------------------
# models: each is a name and a loader that returns `answer(messages) -> str`

Answerer = Callable[[list[dict]], str]
# An answerer may set `answer.timing = {"first_token_s": …, "prompt_tokens": …}` after each call:
# the time to the first token and the prompt's length are then kept with each example.


@dataclass
class Candidate:
    name: str                          # column name in the table
    kind: str                          # "base" | "adapter" | "gguf" | anything a test scripts
    source: str                        # what was loaded, for eval.json
    load: Callable[[], Answerer]       # loads on call: one model in memory at a time


def adapter_folder(path: Path) -> Path:
    """A run folder (runs/X) or its adapter folder (runs/X/adapter) → the adapter folder."""
    return path / "adapter" if (path / "adapter" / "adapter_config.json").is_file() else path


def adapter_base(adapter: Path) -> str:
    """The base the adapter was trained on: the run's resolved config (model.base as the user wrote
    it, e.g. embedded:smollm2-135m), else the path PEFT recorded."""
    resolved = adapter.parent / "resolved_config.yaml"
    if resolved.is_file():
        import yaml

        base = ((yaml.safe_load(resolved.read_text(encoding="utf-8")) or {}).get("model") or {}).get("base")
        if base:
            return base
    return json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))["base_model_name_or_path"]


def hf_loader(base: str, adapter: Path | None, max_new_tokens: int, threads: int) -> Callable[[], Answerer]:
    """transformers (+ PEFT): the prompt from the tokenizer's chat template, greedy decoding."""
    def load() -> Answerer:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from base_model import resolve_base

        if threads:
            torch.set_num_threads(threads)
        folder = resolve_base(base)
        # The adapter folder holds the tokenizer the run trained with (its pad token); the chat
        # template is the base's either way.
        tokenizer = AutoTokenizer.from_pretrained(str(adapter) if adapter else folder)
        # On a GPU (Colab) the 3B model in 16 bits; on a CPU float32, as it trained there.
        device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.float32 if device == "cpu" else \
            (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(device)
        if adapter is not None:
            from peft import PeftModel

            # Not merged: this is the adapter as trained; export.py's merge is what the GGUF measures.
            model = PeftModel.from_pretrained(model, str(adapter))
        model.eval()
        eos = {tokenizer.eos_token_id, *([model.generation_config.eos_token_id]
                                         if isinstance(model.generation_config.eos_token_id, int)
                                         else model.generation_config.eos_token_id or [])} - {None}

        def answer(messages: list[dict]) -> str:
            inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                   return_tensors="pt", return_dict=True).to(device)
            first = FirstToken()
            with torch.inference_mode():
                out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                     temperature=None, top_p=None, top_k=None, stopping_criteria=[first],
                                     eos_token_id=sorted(eos), pad_token_id=tokenizer.pad_token_id)
            answer.timing = {"first_token_s": first.seconds, "prompt_tokens": int(inputs["input_ids"].shape[1])}
            return tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()
        return answer
    return load


class FirstToken:
    """A stopping criterion that never stops: generate calls it after each new token, so its first
    call is the time to the first token (the prompt's whole forward pass, then one token)."""

    def __init__(self):
        self.start, self.seconds = time.perf_counter(), None

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        if self.seconds is None:
            self.seconds = time.perf_counter() - self.start
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


def gguf_loader(path: Path, max_new_tokens: int, threads: int, ctx: int = 2048) -> Callable[[], Answerer]:
    """llama.cpp through serve.py's own path: the GGUF's chat template, its end-of-turn stop,
    temperature 0. What a mechanic gets at the bench is what is scored."""
    def load() -> Answerer:
        import serve

        model = serve.load_model(serve.Settings(model=path, ctx=ctx, threads=threads,
                                                max_tokens=max_new_tokens, temperature=0.0))

        def answer(messages: list[dict]) -> str:
            tokens = serve.prompt_tokens(model, messages, max_new_tokens)
            done = serve.generate(model, tokens, max_new_tokens, 0.0)
            answer.timing = {"first_token_s": done.first_token_s, "prompt_tokens": len(tokens)}
            return done.text.strip()
        return answer
    return load


# -----------------------------------------------------------------------------
# run: every model over every row, one model in memory at a time

def run_eval(rows: list[Row], candidates: list[Candidate], facts: list[spec_check.SpecFact] | None,
             show_progress: bool = True) -> dict:
    """Answers and scores: {"models": [...], "scores": {model: {task: {metric: mean, "n": n}}},
    "examples": [...]}. `facts` None: no unmatched-value score (no spec index)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    models, examples = [], []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), disable=not show_progress, transient=False) as progress:
        for c in candidates:
            bar = progress.add_task(f"{c.name}: loading", total=len(rows))
            started = time.perf_counter()
            answer = c.load()
            loaded = time.perf_counter()
            progress.update(bar, description=f"{c.name}: answering")
            spent: Counter = Counter()
            for row in rows:
                asked_at = time.perf_counter()
                if row.refused:   # serve.py answers this at once, the model is not asked
                    text, timing = NOT_COVERED, {}
                else:
                    text, timing = answer(row.messages), getattr(answer, "timing", {})
                    if row.found is not None:   # serve shows no value its best line does not print
                        text = checked_answer(text, row.found)
                spent[row.grounding] += time.perf_counter() - asked_at
                examples.append({
                    "model": column(c.name, row.grounding), "set": row.set, "task": row.task,
                    "question": row.messages[-1]["content"], "reference": row.reference, "answer": text,
                    "scores": score(row, text, facts), **timing, "refused_unasked": row.refused,
                    "source": {k: row.meta.get(k) for k in ("source_path", "page_label", "fact_id", "probe")},
                })
                progress.advance(bar)
            for mode in sorted({r.grounding for r in rows}, key=lambda g: g != "off"):   # plain first
                mine = [x for x in examples if x["model"] == column(c.name, mode)]
                timed = [x for x in mine if x.get("first_token_s") is not None]
                models.append({"name": column(c.name, mode), "kind": c.kind, "source": c.source,
                               "grounding": mode, "load_s": round(loaded - started, 2),
                               "answer_s": round(spent[mode], 2),
                               "first_token_s": round(sum(x["first_token_s"] for x in timed) / len(timed), 3)
                               if timed else None,
                               "prompt_tokens": round(sum(x["prompt_tokens"] for x in timed) / len(timed), 1)
                               if timed else None})
            del answer  # drop the model before the next one loads
    return {"models": models, "scores": mean_scores(examples), "examples": examples}


def column(name: str, grounding: str) -> str:
    return name + CONTEXT if grounding == "context" else name


def only_set(result: dict, set_name: str) -> dict:
    """The part of a run_eval result that answered one set's rows (val or recall)."""
    examples = [x for x in result["examples"] if x["set"] == set_name]
    answered = {x["model"] for x in examples}
    return {"models": [m for m in result["models"] if m["name"] in answered], "scores": mean_scores(examples),
            "examples": examples}


def mean_scores(examples: list[dict]) -> dict:
    out: dict = {}
    for ex in examples:
        cell = out.setdefault(ex["model"], {}).setdefault(ex["task"], {"n": 0})
        cell["n"] += 1
        for metric, value in ex["scores"].items():
            cell.setdefault("_sums", Counter())[metric] += value
            cell.setdefault("_counts", Counter())[metric] += 1
    for tasks in out.values():
        for cell in tasks.values():
            sums, counts = cell.pop("_sums", {}), cell.pop("_counts", {})
            for metric in METRICS:
                if metric in sums:
                    cell[metric] = round(sums[metric] / counts[metric], 2)
    return out


# -----------------------------------------------------------------------------
# the success criteria, and the two bars, from the run summary and the scores

# summary.json key and metrics.csv column of each set's eval loss (train_unsloth.py writes both)
LOSS_KEYS = {"val": ("eval_loss_per_eval", "eval_loss"), "recall": ("recall_loss_per_eval", "recall_loss")}


def eval_losses(summary_path: Path, set_name: str = "val") -> list[tuple[float, float]]:
    """(epoch, eval loss) of every evaluation in the run on one set: summary.json's
    eval_loss_per_eval (recall_loss_per_eval), else that column of metrics.csv beside it."""
    key, column = LOSS_KEYS[set_name]
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        if summary.get(key):
            return [(float(e), float(v)) for e, v in summary[key]]
    metrics = summary_path.parent / "metrics.csv"
    if metrics.is_file():
        import csv

        with open(metrics, newline="", encoding="utf-8") as f:
            return [(float(r.get("epoch") or 0), float(r[column]))
                    for r in csv.DictReader(f) if r.get(column)]
    return []


def set_tag(set_name: str) -> str:
    """What marks a criterion or bar of the recall set: val's read as the issue words them."""
    return "" if set_name == "val" else f" ({set_name})"


def success_criteria(result: dict, summary_path: Path | None, set_name: str = "val") -> list[dict]:
    """One line per criterion (and per tuned model): passed True/False, or None when it cannot be
    measured, with the numbers that decided it. For the recall set each criterion says so."""
    out = []
    tag = set_tag(set_name)
    if summary_path is not None:
        losses = eval_losses(summary_path, set_name)
        trail = " → ".join(f"{v:.3f}" for _, v in losses)
        name = "eval loss fell at every evaluation" + tag
        if len(losses) < 2:
            out.append({"criterion": name, "model": None, "passed": None,
                        "detail": f"{len(losses)} evaluation(s) in {summary_path}: nothing to compare"})
        else:
            fell = all(b < a for (_, a), (_, b) in zip(losses, losses[1:]))
            out.append({"criterion": name, "model": None, "passed": fell,
                        "detail": f"{trail} (epochs {', '.join(f'{e:.2f}' for e, _ in losses)})"})
    kinds = {m["name"]: m["kind"] for m in result["models"]}
    judged = [name for name, kind in kinds.items() if kind != "base"] or list(kinds)
    if set_name == "probes":
        return probe_criteria(result, judged)
    for name in judged:
        tasks = result["scores"][name]
        if "spec" in tasks:
            exact, n = tasks["spec"]["exact"], tasks["spec"]["n"]
            out.append({"criterion": f"SPEC exact match > {SPEC_BAR:.0f} %{tag}", "model": name,
                        "passed": exact > SPEC_BAR,
                        "detail": f"{exact:.1f} % ({round(exact * n / 100)}/{n})"})
            plain = name.removesuffix(CONTEXT)
            if name != plain and set_name == "val":
                out.append({"criterion": f"SPEC exact match with the manual's lines >= {GROUNDED_BAR:.0f} %",
                            "model": name, "passed": exact >= GROUNDED_BAR,
                            "detail": f"{exact:.1f} % ({round(exact * n / 100)}/{n})"})
            if name != plain and set_name == "recall" and "spec" in result["scores"].get(plain, {}):
                without = result["scores"][plain]["spec"]["exact"]
                out.append({"criterion": "SPEC exact match with the manual's lines not lower than without (recall)",
                            "model": name, "passed": exact >= without, "detail": f"{exact:.1f} vs {without:.1f} %"})
        shapes = {t: (round(c["shape"] * c["n"] / 100), c["n"]) for t, c in tasks.items()}
        out.append({"criterion": "every answer in its task's shape" + tag, "model": name,
                    "passed": all(k == n for k, n in shapes.values()),
                    "detail": ", ".join(f"{t} {k}/{n}" for t, (k, n) in shapes.items())})
    return out


def probe_criteria(result: dict, judged: list[str]) -> list[dict]:
    """With the manual's lines, no answer about a part the manual does not hold gives a
    number with a unit. Without lines the count is shown too (a model that recalls invents)."""
    out = []
    for name in judged:
        cell = result["scores"][name].get("spec")
        if not cell:
            continue
        invented, n = round(cell["invented"] * cell["n"] / 100), cell["n"]
        out.append({"criterion": "no value invented on the probes (parts the manual does not hold)", "model": name,
                    "passed": invented == 0 if name.endswith(CONTEXT) else None,
                    "detail": f"{invented}/{n} answers give a number with a unit; "
                              f"{round(cell['refused'] * n / 100)}/{n} say the lines do not cover it"})
    return out


def comparisons(result: dict, set_name: str = "val") -> list[dict]:
    """The issue's bars as plain numbers: each tuned model minus the base on SPEC exact match, and
    each GGUF minus the adapter on every metric (the largest gap named)."""
    tag = set_tag(set_name)
    scores = result["scores"]
    by_kind: dict[str, list[str]] = {}
    for m in result["models"]:
        by_kind.setdefault(m["kind"], []).append(m["name"])
    with_lines = lambda name: name.endswith(CONTEXT)  # noqa: E731  (only like is compared with like)
    out = []
    for name in [m["name"] for m in result["models"] if with_lines(m["name"])]:
        plain = name.removesuffix(CONTEXT)
        if "exact" in scores[name].get("spec", {}) and "exact" in scores.get(plain, {}).get("spec", {}):
            a, b = scores[name]["spec"]["exact"], scores[plain]["spec"]["exact"]
            out.append({"what": f"{name} − {plain}, SPEC exact match{tag}", "points": round(a - b, 2),
                        "detail": f"{a:.1f} vs {b:.1f}"})
    for base in by_kind.get("base", []):
        for tuned in by_kind.get("adapter", []) + by_kind.get("gguf", []):
            if with_lines(base) != with_lines(tuned):
                continue
            if "exact" in scores[base].get("spec", {}) and "exact" in scores[tuned].get("spec", {}):
                a, b = scores[tuned]["spec"]["exact"], scores[base]["spec"]["exact"]
                out.append({"what": f"{tuned} − {base}, SPEC exact match{tag}", "points": round(a - b, 2),
                            "detail": f"{a:.1f} vs {b:.1f}"})
    for adapter in by_kind.get("adapter", []):
        for gguf in by_kind.get("gguf", []):
            if with_lines(adapter) != with_lines(gguf):
                continue
            gaps = {(task, metric): scores[gguf][task][metric] - value
                    for task, cell in scores[adapter].items() for metric, value in cell.items()
                    if metric != "n" and metric in scores[gguf].get(task, {})}
            if not gaps:
                continue
            (task, metric), gap = max(gaps.items(), key=lambda kv: abs(kv[1]))
            spec = gaps.get(("spec", "exact"))
            out.append({"what": f"{gguf} − {adapter}, largest gap{tag}", "points": round(gap, 2),
                        "detail": f"{task} {METRICS[metric]}"
                                  + (f"; SPEC exact match {spec:+.1f}" if spec is not None else "")})
    return out


# -----------------------------------------------------------------------------
# the command

def plan(cfg, data: Path, base, adapter, gguf, grounding, search_index, spec_index, out) -> None:
    """--dry-run: which models would answer which rows, with which indexes; what is missing."""
    from cli import dry_run

    recall = data.parent / "hf_recall.jsonl"
    search = search_index or data.parent / "search_index.sqlite"
    specs = spec_index or data.parent / "spec_index.jsonl"
    count = lambda path: sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())  # noqa: E731
    missing = [f"--data {data}: no such file (build it with: python -m prep build SRC_DIR)"] if not data.is_file() else []
    if adapter and not (adapter_folder(adapter) / "adapter_config.json").is_file():
        missing.append(f"--adapter {adapter}: no adapter_config.json there (give the run folder train_unsloth.py wrote)")
    missing += [f"--gguf {p}: no such file" for p in gguf or [] if not p.is_file()]
    if not (base or adapter or gguf):
        missing.append("no model to evaluate: give --base (or --with-base), --adapter and/or --gguf")
    dry_run(cfg, {"stage": "evaluate",
                  "models": [*([f"base {base}"] if base else []), *([f"adapter {adapter}"] if adapter else []),
                             *(f"gguf {p}" for p in gguf or [])],
                  "data": f"{data} ({count(data)} rows)" if data.is_file() else str(data),
                  "recall": f"{recall} ({count(recall)} rows)" if recall.is_file() else "none",
                  "grounding": grounding or ("both" if search.is_file() else "off"),
                  "search_index": str(search) if search.is_file() else "none",
                  "spec_index": str(specs) if specs.is_file() else "none",
                  "out": str(out)}, missing)


@app.command(context_settings=EXTRA, epilog=OVERRIDES)
def main(
    ctx: typer.Context,
    config: Annotated[Optional[Path], typer.Option(
        help="Kit YAML [default: the --adapter run's resolved_config.yaml, else the kit's defaults].",
        show_default=False)] = None,
    data: Annotated[Optional[Path], typer.Option(
        help="Rows to answer: prep's validation split [default: DATA_DIR/hf_val.jsonl of the config].",
        show_default=False)] = None,
    base: Annotated[Optional[str], typer.Option(
        help="Base model as config model.base names it (embedded:smollm2-135m, an HF folder, a hub id).",
        show_default=False)] = None,
    with_base: Annotated[bool, typer.Option(
        help="Also evaluate the config's model.base, the model the run was trained from.")] = False,
    adapter: Annotated[Optional[Path], typer.Option(
        help="A training run folder (runs/X) or its adapter/ folder; the base comes from the run's config.",
        show_default=False)] = None,
    gguf: Annotated[Optional[list[Path]], typer.Option(
        help="A GGUF from export.py; repeat the option for more than one.", metavar="<path>",
        show_default=False)] = None,
    run_summary: Annotated[Optional[Path], typer.Option(
        help="summary.json of the training run, for the eval-loss criterion (default: the adapter's run).",
        show_default=False)] = None,
    spec_index: Annotated[Optional[Path], typer.Option(
        help="spec_index.jsonl for the unmatched-value score (default: beside --data).", show_default=False)] = None,
    out: Annotated[Path, typer.Option(help="Folder for eval.json, chart.png, report.html.")] = Path("eval"),
    limit: Annotated[Optional[int], typer.Option(
        help="At most N rows of each task (a quick look).", show_default=False)] = None,
    max_new_tokens: Annotated[int, typer.Option(
        help="Longest answer, the same for every model (a long procedure needs ~250).")] = 256,
    threads: Annotated[int, typer.Option(help="CPU threads for every model; 0 = the library's default.")] = 0,
    progress: Annotated[bool, typer.Option(help="Progress bar while the models answer.")] = True,
    recall: Annotated[bool, typer.Option(
        help="Also answer hf_recall.jsonl beside --data: the trained facts asked in wording never trained "
             "(val holds whole unseen pages, whose values no model can know).")] = True,
    grounding: Annotated[Optional[str], typer.Option(
        help="off: the question alone; context: the manual's lines the search index finds before it, as serve.py "
             "asks (plus the probes); both: each row both ways. [default: both where the index is, else off]",
        show_default=False)] = None,
    search_index: Annotated[Optional[Path], typer.Option(
        help="search_index.sqlite for --grounding (default: beside --data).", show_default=False)] = None,
    independent: Annotated[Optional[str], typer.Option(
        help="Also ask the independent questions (tests/truth/independent/, dev or test half) of the manual "
             "beside --data through serve's path, with each --gguf: lines shown, right / wrong / refused, "
             "probes answered (evaluate_independent.py); written to OUT/independent.json.",
        show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the resolved config and the plan, say what is missing, then exit.")] = False,
) -> None:
    """Answer every row with each model given, score per task, print the table and the success
    criteria, and write eval.json, chart.png and report.html to --out."""
    # ---------------------------------------------------------------- check everything before loading
    from cli import load

    if config is None and adapter is not None and (adapter_folder(adapter).parent / "resolved_config.yaml").is_file():
        config = adapter_folder(adapter).parent / "resolved_config.yaml"
    cfg = load(config, ctx.args)
    data = data or Path(cfg.data.dir) / "hf_val.jsonl"
    base = base or (cfg.model.base if with_base else None)
    if dry_run:
        return plan(cfg, data, base, adapter, gguf, grounding, search_index, spec_index, out)
    if not (base or adapter or gguf):
        raise fail("no model to evaluate: give --base (or --with-base), --adapter and/or --gguf")
    if limit is not None and limit < 1:
        raise fail(f"--limit {limit} must be at least 1")
    if max_new_tokens < 1:
        raise fail(f"--max-new-tokens {max_new_tokens} must be at least 1")
    if grounding not in (None, "off", "context", "both"):
        raise fail(f"--grounding {grounding}: choose one of off, context, both")
    if independent not in (None, "dev", "test"):
        raise fail(f"--independent {independent}: choose dev or test")
    if not data.is_file():
        raise fail(f"--data {data}: no such file (build it with: python -m prep build SRC_DIR)")
    recall_path = data.parent / "hf_recall.jsonl"
    recall = recall and recall_path.is_file() and recall_path.resolve() != data.resolve()
    main_set = "recall" if data.resolve() == recall_path.resolve() else "val"
    if recall and not data.read_text(encoding="utf-8").strip():
        typer.echo(f"note: {data} is empty (prep ran with data.val_fraction 0: every page trained); "
                   f"evaluating {recall_path}", err=True)
        data, main_set, recall = recall_path, "recall", False
    try:
        rows = read_rows(data, limit, set_name=main_set)
        recall_rows = read_rows(recall_path, limit, set_name="recall") if recall else []
    except ValueError as err:
        raise fail(str(err))
    candidates = []
    if base:
        from base_model import BaseModelError, resolve_base

        try:
            resolve_base(base)  # the embedded model's HF folder is built here once, then cached
        except BaseModelError as err:
            raise fail(f"--base: {err}")
        candidates.append(Candidate("base", "base", base, hf_loader(base, None, max_new_tokens, threads)))
    if adapter:
        folder = adapter_folder(adapter)
        if not (folder / "adapter_config.json").is_file():
            raise fail(f"--adapter {adapter}: no adapter_config.json there or in {adapter / 'adapter'} "
                       "(give the run folder train_unsloth.py wrote)")
        candidates.append(Candidate("adapter", "adapter", str(folder),
                                    hf_loader(adapter_base(folder), folder, max_new_tokens, threads)))
        if run_summary is None:
            run_summary = folder.parent / "summary.json"
    for path in gguf or []:
        if not path.is_file():
            raise fail(f"--gguf {path}: no such file (give the .gguf that export.py wrote)")
        try:
            gguf_header(path)
        except GgufError as e:
            raise fail(f"--gguf {path}: {e}")
        name = path.stem if path.stem not in {c.name for c in candidates} else str(path)
        candidates.append(Candidate(name, "gguf", str(path), gguf_loader(path, max_new_tokens, threads)))
    if run_summary is not None and not run_summary.is_file() and not (run_summary.parent / "metrics.csv").is_file():
        raise fail(f"--run-summary {run_summary}: no such file (train_unsloth.py writes RUN_DIR/summary.json)")
    index = spec_index or data.parent / "spec_index.jsonl"
    if spec_index is not None and not index.is_file():
        raise fail(f"--spec-index {index}: no such file")
    facts = spec_check.load_spec_index(index) if index.is_file() else None
    if facts is None:
        typer.echo(f"note: no spec index at {index}; the unmatched-value score is left out", err=True)
    lines_index, probes, held = None, [], []
    search_path = search_index or data.parent / "search_index.sqlite"
    if grounding is None:
        grounding = "both" if search_path.is_file() else "off"
        if grounding == "off":
            typer.echo(f"note: no search index at {search_path}; answers are scored without the manual's lines "
                       "(prep writes it: python -m prep dataset)", err=True)
    if grounding != "off":
        from prep.search_index import SearchIndexError, open_index

        try:
            lines_index = open_index(search_path)
        except SearchIndexError as err:
            raise fail(f"--grounding {grounding}: {err}")
        probes, held = probe_rows(lines_index)
        asked_rows = rows + recall_rows + probes
        grounded = with_lines(asked_rows, lines_index)
        plain = asked_rows if grounding == "both" else []
        rows, recall_rows, probes = ([r for r in plain + grounded if r.set == name] for name in (main_set, "recall", "probes"))

    # ---------------------------------------------------------------- answer, score, report
    full = run_eval(rows + recall_rows + probes, candidates, facts, show_progress=progress)
    result = only_set(full, main_set)
    criteria = success_criteria(result, run_summary, main_set)
    compared = comparisons(result, main_set)
    meta = {"command": " ".join(["python", "evaluate.py", *sys.argv[1:]]), "data": str(data),
            "rows": len(rows), "rows_per_task": dict(Counter(r.task for r in rows)),
            "max_new_tokens": max_new_tokens, "decoding": "greedy (temperature 0)",
            "spec_index": str(index) if facts is not None else None,
            "run_summary": str(run_summary) if run_summary else None,
            "grounding": grounding, "search_index": str(search_path) if lines_index else None,
            "threads": threads or "default"}
    timing = f"{threads} CPU threads" if threads else "the library's default threads"
    print_table(result, criteria, compared, title=f"{data.name}", timing=timing)
    recalled = None
    if recall_rows:
        part = only_set(full, "recall")
        recalled = {"data": str(recall_path), "rows": len(recall_rows), "result": part,
                    "criteria": success_criteria(part, run_summary, "recall"), "bars": comparisons(part, "recall")}
        print_table(part, recalled["criteria"], recalled["bars"],
                    title=f"{recall_path.name} (trained facts, unseen wording)")
    probed = None
    if probes:
        part = only_set(full, "probes")
        probed = {"rows": len({r.question for r in probes}), "held": held, "result": part,
                  "criteria": success_criteria(part, None, "probes")}
        print_table(part, probed["criteria"], [], title=f"probes ({probed['rows']} parts the manual does not hold"
                    + (f"; left out, the index holds them: {', '.join(held)}" if held else "") + ")")
    files = write_outputs(result, criteria, compared, meta, out, recall=recalled, probes=probed)
    typer.echo("wrote " + ", ".join(str(f) for f in files.values()))
    if independent:
        independent_questions(independent, search_path, [c for c in candidates if c.kind == "gguf"], threads, out)


def independent_questions(half: str, search_path: Path, ggufs: list, threads: int, out: Path) -> None:
    """--independent: the independent questions of the manual this search index holds, each GGUF
    asked through serve's engine (evaluate_independent.py); OUT/independent.json."""
    from prep.search_index import SearchIndexError, open_index

    try:
        index = open_index(search_path)
    except SearchIndexError as err:
        raise fail(f"--independent: {err}")
    manual = manual_of(index)
    if manual is None:
        raise fail(f"--independent: {search_path} holds none of the independent questions' pages "
                   "(they are on the sample manual and the E30 pages)")
    figures = {}
    for c in ggufs or [None]:
        name = c.name if c else "search only"
        figures[name] = measure(half, {manual: index}, ask_model(Path(c.source), threads or 2) if c else None)
        print_summary(f"{half} half, {manual} manual, {name}", figures[name])
    path = out / "independent.json"
    write_atomic(path, json.dumps({"half": half, "manual": manual, "figures": figures}, indent=2) + "\n")
    typer.echo(f"wrote {path}")


if __name__ == "__main__":
    app()
