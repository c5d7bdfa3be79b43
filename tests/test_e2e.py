"""The whole chain on the sample manual, each stage through its own command:
render → prep → train (a few real CPU steps) → export q4_k_m → serve.py ask."""

import json

import pytest

from tests.helpers import read_jsonl, run

pytestmark = pytest.mark.slow


def test_chain_from_pages_to_a_grounded_answer(sample_dataset, trained_run, exported):
    # the dataset loads with `datasets` (checked in test_dataset) and holds every task the sample has
    tasks = {r["meta"]["task"] for r in read_jsonl(sample_dataset / "hf_train.jsonl")}
    assert tasks == {"spec", "procedure", "explanation", "wiring", "troubleshooting"}

    # A single-value SPEC question: sixteen CPU steps teach the answer's shape and the stop, not yet
    # the multi-stage lists (those loop at this stage of training; accuracy is evaluate.py's job).
    rows = read_jsonl(sample_dataset / "hf_val.jsonl") + read_jsonl(sample_dataset / "hf_train.jsonl")
    question = next(r for r in rows if r["meta"]["task"] == "spec" and ";" not in r["messages"][1]["content"])
    text = question["messages"][0]["content"].split("] ", 1)[1]
    done = run("serve.py", "ask", str(exported["q4_k_m"]), text, "--task", "spec", "--json",
               "--max-tokens", "96", "--spec-index", str(sample_dataset / "spec_index.jsonl"))
    reply = json.loads(done.stdout.strip().splitlines()[-1])
    assert reply["answer"].strip()
    # Whether sixteen CPU steps already teach this answer's stop varies from one training run to the
    # next (CPU training is not bitwise repeatable: one fresh-clone run in six answered 96 tokens), so
    # it is not asserted here; the stop at end-of-turn is tested on fixed weights
    # (test_serve.py::test_generation_streams_and_stops_at_end_of_turn).
    assert reply["finish_reason"] in ("stop", "length")
    assert "<|im_end|>" not in reply["answer"] and "<|im_start|>" not in reply["answer"]
    # export.py put the search index beside the GGUF: the answer is grounded and says where from
    assert reply["grounding"] == "context" and reply["sources"], reply
    assert all(source["page"] and source["line"] for source in reply["sources"])
    # the manual's own number is under the answer: a source line of the question's page prints every
    # value of the manual's answer (prep's row), whatever the 16-step model made of it
    from vocab.units import find_quantities

    meta = question["meta"]
    own = [s["line"] for s in reply["sources"] if (s["file"], s["page_number"]) == (meta["source_path"], meta["page"])]
    values = [(value, unit) for _, value, unit, _ in find_quantities(question["messages"][1]["content"])]
    assert own and values and all(any((value, unit) in [(v, u) for _, v, u, _ in find_quantities(line)]
                                      for line in own) for value, unit in values), (values, own)
    # and the spec check ran on the answer (None would mean it was not checked)
    assert reply["spec_check"] is not None
    for check in reply.get("spec_check", []):     # a number is only ever "checked" with a source
        assert check["status"] in ("match", "unmatched", "differs")
        if check["status"] == "match":           # the spec index's fact, or the retrieved row that prints it
            assert check["source"] or any(m["value"] == check["value"] for m in check["manual"])
        elif check["status"] == "differs":       # shown beside the manual's own values for the part
            assert check["manual"] and all(m["value"] != check["value"] for m in check["manual"])
        else:
            assert not check["source"]
