"""The whole chain on the kit's own sample manual, with the time each stage took.

    make demo                      # installs what is missing, then runs this
    python scripts/demo.py         # the same, in an installed environment

render sample pages → prep (OCR → blocks → dataset) → train (CPU LoRA) → export (GGUF q4_k_m,
verified) → two questions answered through serve.py. Each stage is the real command a user types.

The demo trains one epoch (about 6 minutes on 2 cores, 7 with every kernel held to AVX2; the whole
demo 7 and 8.3, docs/benchmarks.md) where the cpu-demo profile trains three: asked as serve asks,
the three-epoch model answers 61 % of the held-out pages' SPEC questions exactly (docs/evaluation.md;
the one-epoch model was 48 % before the rule that an answer's value stand on the best line found).
`python scripts/demo.py --epochs 3` trains the profile's own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
CONFIG = "configs/cpu-demo.yaml"
PAGES = "build/sample-pages"
RUN = "runs/cpu-demo"
GGUF = f"{RUN}/gguf/cpu-demo-q4_k_m.gguf"


def stage(name: str, command: list[str], timings: list) -> None:
    print(f"\n=== {name}: {' '.join(command)}", flush=True)
    started = time.time()
    done = subprocess.run(command, cwd=ROOT)
    timings.append((name, time.time() - started))
    if done.returncode != 0:
        print(f"demo: stage '{name}' failed (exit {done.returncode})", file=sys.stderr)
        report(timings)
        sys.exit(done.returncode)


def report(timings: list) -> None:
    print("\n=== time per stage")
    for name, seconds in timings:
        print(f"  {name:<28} {seconds:7.1f} s")
    print(f"  {'total':<28} {sum(s for _, s in timings):7.1f} s")


def questions() -> list[tuple[str, str, str]]:
    """Two recall probes: facts the model trained on, asked in words it never saw (a SPEC first)."""
    rows = [json.loads(line) for line in (ROOT / "data/hf_recall.jsonl").read_text().splitlines()]
    picked, seen = [], set()
    for row in rows:
        task = row["meta"]["task"]
        if task not in seen and (task == "spec" or len(seen) == 1):
            seen.add(task)
            question = row["messages"][0]["content"].split("] ", 1)[1]
            picked.append((task, question, row["messages"][1]["content"]))
        if len(picked) == 2:
            break
    return picked


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=1, help="Epochs to train (default 1; the profile's own: 3).")
    epochs = parser.parse_args().epochs
    timings: list = []
    stage("render sample pages", [PY, "scripts/render_sample.py", "--out", PAGES], timings)
    stage("prep: pages → dataset", [PY, "-m", "prep", "build", PAGES, "--config", CONFIG, "--jobs", "2"], timings)
    stage(f"train (CPU LoRA, {epochs:g} epoch{'s' if epochs != 1 else ''})",
          [PY, "train_unsloth.py", "--config", CONFIG, "--train.epochs", f"{epochs:g}"], timings)
    stage("export GGUF q4_k_m", [PY, "export.py", RUN, "--quant", "q4_k_m"], timings)
    for task, question, reference in questions():
        stage(f"ask [{task.upper()}]", [PY, "serve.py", "ask", GGUF, question, "--task", task], timings)
        print(f"(the manual says: {reference[:300]})")
    report(timings)


if __name__ == "__main__":
    main()
