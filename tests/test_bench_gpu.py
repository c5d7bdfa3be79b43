"""scripts/bench_gpu.py's worker, run on a CPU on a tiny random Llama: it trains each batch setting for
the steps asked and reports tokens/s over the steps after the warm-up. (The GPU comparison itself runs
on a lent GPU: docs/gpu.md.)"""

from __future__ import annotations

import pytest

from scripts.bench_gpu import llama3_style_tokenizer, random_llama, worker
from tests.helpers import TINY_LLAMA, truth_rows, write_data


@pytest.mark.slow     # trains each setting
def test_worker_times_each_setting(tmp_path):
    data = write_data(tmp_path / "data", truth_rows(), val_rows=4)
    model = random_llama(tmp_path / "tiny", llama3_style_tokenizer(tmp_path / "tok"), TINY_LLAMA)
    results = worker({"path": "plain", "checkpointing": "off", "model": str(model), "data": str(data), "seq": 128,
                      "settings": [[4, 1, False], [2, 2, True]], "steps": 5, "warmup": 2,
                      "output_dir": str(tmp_path / "run")})
    assert [(r["batch"], r["grad_accum"], r["packing"]) for r in results] == [(4, 1, False), (2, 2, True)]
    for r in results:
        assert r["steps"] == 5 and r["timed_steps"] == 3 and r["tokens_per_s"] > 0 and r["device"] == "cpu"
