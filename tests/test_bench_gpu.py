"""scripts/bench_gpu.py's worker, run on a CPU on a tiny random Llama: it trains each batch setting for
the steps asked and reports tokens/s over the steps after the warm-up. (The GPU comparison itself runs
on a lent GPU: docs/gpu.md.)"""

from __future__ import annotations

import json

from tests.helpers import ROOT
from scripts.bench_gpu import llama3_style_tokenizer, random_llama, worker

TINY = dict(vocab_size=0, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=True)


def test_worker_times_each_setting(tmp_path):
    truth = json.loads((ROOT / "tests/truth/e30_torque.json").read_text())
    rows = [json.dumps({"messages": [{"role": "user", "content": f"[SPEC] torque for the {f['component']}?"},
                                     {"role": "assistant", "content": f"{f['values'][0][1]} Nm [{p['label']}]"}],
                        "meta": {"task": "spec"}})
            for p in truth["pages"].values() for f in p["facts"]]
    data = tmp_path / "data"
    data.mkdir()
    (data / "hf_train.jsonl").write_text("\n".join(rows) + "\n")
    (data / "hf_val.jsonl").write_text("\n".join(rows[:4]) + "\n")
    model = random_llama(tmp_path / "tiny", llama3_style_tokenizer(tmp_path / "tok"), TINY)
    results = worker({"path": "plain", "checkpointing": "off", "model": str(model), "data": str(data), "seq": 128,
                      "settings": [[4, 1, False], [2, 2, True]], "steps": 5, "warmup": 2,
                      "output_dir": str(tmp_path / "run")})
    assert [(r["batch"], r["grad_accum"], r["packing"]) for r in results] == [(4, 1, False), (2, 2, True)]
    for r in results:
        assert r["steps"] == 5 and r["timed_steps"] == 3 and r["tokens_per_s"] > 0 and r["device"] == "cpu"
