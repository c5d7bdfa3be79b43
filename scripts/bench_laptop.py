"""The shop's model at the bench: Llama-3.2-3B and -1B shapes, quantized by export's own path and
timed through serve's own engine on a laptop's cores.

    python scripts/bench_laptop.py --sample build/sample                  # 3b and 1b, q4_k_m and q8_0, 2 threads
    .venv-avx2/bin/python scripts/bench_laptop.py --sample build/sample   # llama.cpp without AVX-512 (make test-avx2 builds it)
    python scripts/bench_laptop.py --sample build/sample --shapes 1b --quants q4_k_m --lines 2,4

Each shape is built once under --work (no download): a LlamaForCausalLM of the real model's exact
shape (Llama-3.2-3B: 3.21 B parameters with its 128,256-row vocabulary; -1B: 1.24 B) with random
weights, SmolLM2's tokenizer padded to that vocabulary, converted with convert-hf-to-gguf and
quantized with llama.cpp as export.py does. Random weights take the same time as trained ones: the
same matrices go through the same kernels; only the words they pick mean nothing (every answer is
made to run --max-tokens tokens). SmolLM2's tokenizer cuts English about as finely as Llama 3's, and
every prompt's token count is printed.

Timed, one model per process (its peak memory is that process's): time to first token for the
plain question and for the grounded one (the manual's lines the search finds for the question,
grounding.find and grounded_turn exactly as serve builds them), from the sample's independent
questions (tests/truth/independent, dev half); prompt tokens/s; decode tokens/s; the process's peak
resident memory. Medians over the questions. `--lines` times the grounded prompt with fewer lines
(the first k of the ones found). Results go to docs/benchmarks.md with the CPU named.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Llama-3.2 (their config.json files): the tied embedding is counted once.
SHAPES = {
    "3b": dict(vocab_size=128256, hidden_size=3072, intermediate_size=8192, num_hidden_layers=28,
               num_attention_heads=24, num_key_value_heads=8),
    "1b": dict(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
               num_attention_heads=32, num_key_value_heads=8),
}
COMMON = dict(max_position_embeddings=131072, rope_theta=500000.0, rms_norm_eps=1e-5, tie_word_embeddings=True,
              hidden_act="silu")


# -------------------------------------------------------------------- build once
def build(shape: str, quants: list[str], work: Path) -> dict[str, Path]:
    """{quant: GGUF path} of one shape, each file made only when missing (a kill leaves no half file:
    each is written beside and renamed)."""
    import export

    folder = work / shape
    folder.mkdir(parents=True, exist_ok=True)
    hf, f16 = folder / "hf", folder / "f16.gguf"
    if not (hf / "config.json").is_file():
        random_model(shape, hf)
    if not f16.is_file():
        print(f"{shape}: converting to GGUF f16 ...", flush=True)
        export.convert_to_gguf(hf, folder / "f16.gguf.part")
        os.replace(folder / "f16.gguf.part", f16)
    out = {}
    for quant in quants:
        target = folder / f"{quant}.gguf"
        if not target.is_file():
            print(f"{shape}: quantizing to {quant} ...", flush=True)
            export.quantize(f16, folder / f"{quant}.gguf.part", quant)
            os.replace(folder / f"{quant}.gguf.part", target)
        out[quant] = target
    return out


def random_model(shape: str, out: Path) -> None:
    """The shape with random weights, in bf16 (half the memory of float32 while it is made)."""
    import shutil

    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from base_model import resolve_base

    print(f"{shape}: building a random-weight model of the shape ...", flush=True)
    tokenizer = AutoTokenizer.from_pretrained(resolve_base("embedded:smollm2-135m"))
    config = LlamaConfig(**SHAPES[shape], **COMMON, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    model = LlamaForCausalLM(config)
    part = out.with_name(out.name + ".part")
    shutil.rmtree(part, ignore_errors=True)
    model.save_pretrained(part, safe_serialization=True)
    tokenizer.save_pretrained(part)
    os.replace(part, out)
    params = sum(p.numel() for p in model.parameters())
    print(f"{shape}: {params / 1e9:.2f} B parameters", flush=True)


# -------------------------------------------------------------------- prompts
def questions(sample: Path, count: int, lines: list[int]) -> list[dict]:
    """The sample's dev-half independent questions that search finds lines for: the plain user turn
    and the grounded one with each number of lines."""
    import grounding
    from prep.search_index import open_index
    from vocab.cites import grounded_turn

    index = open_index(sample / "search_index.sqlite")
    rows = [json.loads(l) for l in (ROOT / "tests/truth/independent/dev.jsonl").read_text().splitlines()]
    out = []
    for row in rows:
        if row["manual"] != "sample" or row["kind"] != "single":
            continue
        found = grounding.find(index, row["question"])
        if not found.covered or len(found.hits) < max(lines):
            continue
        out.append({"question": row["question"],
                    **{f"grounded{k}": grounded_turn(row["question"], found.hits[:k]) for k in lines}})
        if len(out) == count:
            break
    return out


# -------------------------------------------------------------------- timing, one model per process
def time_model(gguf: Path, prompts: list[dict], threads: int, max_tokens: int) -> dict:
    import llama_cpp

    import serve

    s = serve.Settings(model=gguf, ctx=2048, threads=threads)
    model = serve.load_model(s)
    kinds = [k for k in prompts[0] if k != "question"]
    tokens0 = serve.prompt_tokens(model, [{"role": "user", "content": "Warm-up."}], max_tokens)
    serve.generate(model, tokens0, 4, 0.0)                 # pages the weights in
    runs: dict[str, list[dict]] = {k: [] for k in ["plain"] + kinds}
    for p in prompts:
        for kind in ["plain"] + kinds:
            tokens = serve.prompt_tokens(model, [{"role": "user", "content": p["question" if kind == "plain" else kind]}],
                                         max_tokens)
            model.llm.reset()
            llama_cpp.llama_perf_context_reset(model.llm._ctx.ctx)
            answer = serve.generate(model, tokens, max_tokens, 0.0, stop=())
            # llama.cpp's own counters: a random model's tokens past SmolLM2's 49,152 print as
            # nothing, so the answer's text cannot count them
            perf = llama_cpp.llama_perf_context(model.llm._ctx.ctx)
            runs[kind].append({"prompt_tokens": len(tokens), "first_token_s": answer.first_token_s,
                               "prompt_tps": perf.n_p_eval / (perf.t_p_eval_ms / 1e3),
                               "decode_tps": perf.n_eval / (perf.t_eval_ms / 1e3) if perf.n_eval else 0.0,
                               "completion_tokens": perf.n_eval + 1})
    med = lambda xs: round(statistics.median(xs), 3)
    out = {"model": gguf.parent.name, "quant": gguf.stem, "threads": model.threads, "load_s": round(model.load_s, 2),
           "size_gib": round(gguf.stat().st_size / 2**30, 2),
           "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}
    for kind, rs in runs.items():
        out[kind] = {"prompt_tokens": med([r["prompt_tokens"] for r in rs]),
                     "first_token_s": med([r["first_token_s"] for r in rs]),
                     "prompt_tps": med([r["prompt_tps"] for r in rs]),
                     "decode_tps": med([r["decode_tps"] for r in rs if r["completion_tokens"] > 1] or [0.0]),
                     "answer_tokens": med([r["completion_tokens"] for r in rs])}
    return out


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=Path, default=ROOT / "data", help="prep output of the sample manual [data/]")
    parser.add_argument("--work", type=Path, default=ROOT / "runs/bench-laptop", help="built models [runs/bench-laptop]")
    parser.add_argument("--shapes", default="3b,1b")
    parser.add_argument("--quants", default="q4_k_m,q8_0")
    parser.add_argument("--threads", default="2", help="comma-separated thread counts")
    parser.add_argument("--lines", default="4", help="grounded prompts with these numbers of lines")
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--out", type=Path, help="append one JSON line per model and thread count")
    parser.add_argument("--one", help=argparse.SUPPRESS)   # internal: time one GGUF in this process
    args = parser.parse_args()
    lines = [int(x) for x in args.lines.split(",")]
    if args.one:
        job = json.loads(args.one)
        print(json.dumps(time_model(Path(job["gguf"]), job["prompts"], job["threads"], job["max_tokens"])))
        return 0
    if not (args.sample / "search_index.sqlite").is_file():
        print(f"error: no search index in {args.sample}: run python -m prep build on the sample first", file=sys.stderr)
        return 2
    prompts = questions(args.sample, args.questions, lines)
    import llama_cpp
    print(f"{cpu_name()}; llama.cpp {llama_cpp.llama_print_system_info().decode().strip()}")
    results = []
    for shape in args.shapes.split(","):
        for quant, gguf in build(shape, args.quants.split(","), args.work).items():
            for threads in [int(t) for t in args.threads.split(",")]:
                job = {"gguf": str(gguf), "prompts": prompts, "threads": threads, "max_tokens": args.max_tokens}
                done = subprocess.run([sys.executable, __file__, "--one", json.dumps(job)], capture_output=True,
                                      text=True, check=True)
                r = json.loads(done.stdout.strip().splitlines()[-1])
                results.append(r)
                print(json.dumps(r), flush=True)
                if args.out:
                    with args.out.open("a") as f:
                        f.write(json.dumps({**r, "cpu": cpu_name()}) + "\n")
    print()
    kinds = ["plain"] + [f"grounded{k}" for k in lines]
    print(f"{'model':6}{'quant':8}{'thr':>4}{'GiB':>6}{'peak':>6}" + "".join(f"{k + ' TTFT':>17}" for k in kinds)
          + f"{'prompt t/s':>11}{'decode t/s':>11}")
    for r in results:
        g = r[kinds[-1]]
        print(f"{r['model']:6}{r['quant']:8}{r['threads']:>4}{r['size_gib']:>6}{r['peak_rss_gib']:>6}"
              + "".join(f"{r[k]['first_token_s']:>9.2f}s ({r[k]['prompt_tokens']:>3.0f}t)" for k in kinds)
              + f"{g['prompt_tps']:>11.1f}{g['decode_tps']:>11.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
