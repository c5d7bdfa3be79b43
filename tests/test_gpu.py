"""The CUDA path, on a tiny random Llama: Unsloth trains it (bf16, and fp16 as on a T4), merges the
adapter into a 16-bit folder that llama.cpp's converter turns into a GGUF that loads, and feeds the
trainer the token ids the chat template renders, with one BOS.

Marked `gpu` and skipped without CUDA and unsloth (requirements-gpu.txt). On a lent GPU:
    python -m pytest -m gpu tests/test_gpu.py        (docs/gpu.md says how the bundle travels)
The training rows are the E30 torque truth (tests/truth/e30_torque.json), read by eye from the pages.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
from pathlib import Path

import pytest

from tests.helpers import ROOT, TINY_LLAMA, run, truth_rows, write_data
from scripts.bench_gpu import llama3_style_tokenizer, random_llama


def cuda_and_unsloth() -> bool:
    if importlib.util.find_spec("unsloth") is None or importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not cuda_and_unsloth(), reason="needs a CUDA GPU and unsloth (requirements-gpu.txt)")]

TINY = {**TINY_LLAMA, "hidden_size": 256, "intermediate_size": 512, "max_position_embeddings": 1024}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gpu-model")
    return random_llama(root / "llama3-tiny", llama3_style_tokenizer(root / "tokenizer"), TINY, device="cuda")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    rows = truth_rows()
    assert len(rows) >= 50
    return write_data(tmp_path_factory.mktemp("gpu-data"), rows, val_rows=8)


def train(tiny_model: Path, data: Path, out: Path, *overrides: str) -> dict:
    run("train_unsloth.py", "--config", "configs/colab-t4.yaml", "--model.base", str(tiny_model),
        "--data.dir", str(data), "--train.output_dir", str(out), "--train.max_steps", "40", "--train.batch_size", "8",
        "--train.grad_accum", "1", "--train.lr", "2e-3", "--train.eval_steps", "40", "--train.logging_steps", "1",
        "--train.early_stopping_patience", "0", *overrides)
    losses = [float(r["loss"]) for r in csv.DictReader((out / "metrics.csv").open()) if r.get("loss")]
    return {"summary": json.loads((out / "summary.json").read_text()), "losses": losses}


def falling(losses: list[float]) -> bool:
    return len(losses) >= 20 and sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5


@pytest.fixture(scope="module")
def bf16_run(tiny_model, data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gpu-run") / "bf16"
    result = train(tiny_model, data, out)
    result["dir"] = out
    return result


def test_unsloth_trains_bf16(bf16_run):
    summary, losses = bf16_run["summary"], bf16_run["losses"]
    assert summary["plan"]["path"].startswith("unsloth 4-bit QLoRA (bf16")
    assert all(math.isfinite(x) for x in losses) and falling(losses), losses
    assert (bf16_run["dir"] / "adapter" / "adapter_model.safetensors").is_file()
    assert summary["peak_vram_mb"] > 0 and summary["versions"].get("unsloth")


def test_unsloth_trains_fp16_as_on_a_t4(tiny_model, data, tmp_path):
    result = train(tiny_model, data, tmp_path / "fp16", "--train.precision", "fp16")
    assert result["summary"]["plan"]["path"].startswith("unsloth 4-bit QLoRA (fp16")
    assert all(math.isfinite(x) for x in result["losses"]) and falling(result["losses"]), result["losses"]
    assert (tmp_path / "fp16" / "adapter" / "adapter_model.safetensors").is_file()


def test_unsloth_merge_converts_to_a_gguf_llama_cpp_loads(bf16_run):
    """export.py on the GPU: Unsloth's merged_16bit save and llama.cpp's converter; the f16 file is read
    back by gguf's reader and, where llama-cpp-python is installed, loaded and run by llama.cpp. (The
    export's own teacher-forced verification is not asserted: a random model's near-flat logits tie.)"""
    done = run("export.py", str(bf16_run["dir"]), "--quant", "f16", "--no-verify", check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    files = sorted((bf16_run["dir"] / "gguf").glob("*.gguf"))
    assert [f.name for f in files] == ["bf16-f16.gguf"]
    from gguf import GGUFReader

    fields = GGUFReader(str(files[0])).fields
    assert bytes(fields["general.architecture"].parts[-1]).decode() == "llama"
    assert "<|begin_of_text|>" in bytes(fields["tokenizer.chat_template"].parts[-1]).decode()
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed here: the GGUF was written and read, not run")
    import numpy as np
    from llama_cpp import Llama

    llm = Llama(str(files[0]), n_ctx=256, logits_all=True, verbose=False)
    bos = llm.tokenize(b"<|begin_of_text|>", add_bos=False, special=True)
    assert bos == [llm.token_bos()]
    tokens = llm.tokenize("[SPEC] What is the tightening torque for the wheel bolts?".encode())
    llm.eval(tokens)
    logits = np.array(llm.scores[:len(tokens)])
    assert logits.shape[1] == llm.n_vocab() and np.isfinite(logits).all()


def test_unsloth_feeds_the_template_ids_with_one_bos(tiny_model, data, tmp_path):
    """Unsloth's SFTTrainer patch tokenises the same example to the ids the template renders: one
    <|begin_of_text|>, although the tokenizer adds one to any text it encodes."""
    code = f"""
import json, sys
from pathlib import Path
sys.path.insert(0, {str(ROOT)!r})
import unsloth
import yaml
import train_unsloth
from config import load_config
cfg_path = {str(tmp_path / 'c.yaml')!r}
open(cfg_path, 'w').write(yaml.safe_dump({{'data': {{'dir': {str(data)!r}}}, 'model': {{'base': {str(tiny_model)!r},
    'max_seq': 256}}, 'train': {{'output_dir': {str(tmp_path / 'run')!r}, 'packing': False}}}}))
cfg = load_config(Path(cfg_path), [])
train, val, recall = train_unsloth.read_dataset(cfg.data.dir)
model, tokenizer = train_unsloth.load_unsloth(cfg)
trainer = train_unsloth.build_trainer(cfg, model, tokenizer, train[:1], val[:1], on_cuda=True, total_steps=1)
row = trainer.train_dataset[0]
want = tokenizer.apply_chat_template(train[0]['prompt'] + train[0]['completion'], tokenize=True, return_dict=True)['input_ids']
print('IDS ' + json.dumps({{'ids': list(row['input_ids']), 'want': list(want), 'bos': tokenizer.bos_token_id}}))
"""
    done = run("-c", code)
    found = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("IDS "))[4:])
    ids, want, bos = found["ids"], found["want"], found["bos"]
    assert want.count(bos) == 1 and want[0] == bos
    assert ids[:len(want)] == want and ids.count(bos) == 1, (ids[:8], want[:8])
