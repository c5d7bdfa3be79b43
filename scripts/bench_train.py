"""CPU training throughput on the embedded model: padded batches vs packed (padding-free) rows.

    python scripts/bench_train.py                 # 10 steps each, on data/ (run `make demo` or prep first)
    python scripts/bench_train.py --steps 20 --batch 8

Both runs are the real train_unsloth.py with the CPU demo profile, the same data and seed; only
`train.packing` differs. Prints tokens/s (non-padding tokens), padding share and wall time, and the
ratio packed / padded. Numbers go to docs/benchmarks.md.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one_run(packing: bool, steps: int, batch: int, data: Path, out: Path) -> dict:
    command = [sys.executable, "train_unsloth.py", "--config", "configs/cpu-demo.yaml", "--data.dir", str(data),
               "--train.output_dir", str(out), "--train.max_steps", str(steps), "--train.batch_size", str(batch),
               "--train.eval_steps", "0", "--train.epochs", "100", "--train.early_stopping_patience", "0",
               "--train.packing", str(packing).lower()]
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads((out / "summary.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--data", type=Path, default=ROOT / "data")
    opts = parser.parse_args()
    if not (opts.data / "hf_train.jsonl").is_file():
        sys.exit(f"{opts.data}/hf_train.jsonl missing: run `python -m prep build build/sample-pages` first")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for packing in (False, True):
            results[packing] = one_run(packing, opts.steps, opts.batch, opts.data, Path(tmp) / f"p{int(packing)}")
    print(f"{'mode':<10}{'steps':>6}{'tokens':>9}{'tokens/s':>10}{'padding':>9}{'wall s':>8}{'peak RAM MB':>13}")
    for packing, s in results.items():
        print(f"{'packed' if packing else 'padded':<10}{s['global_step']:>6}{s['tokens_seen']:>9}{s['tokens_per_s']:>10}"
              f"{s['padding_fraction']:>9}{s['wall_s']:>8}{s['peak_ram_mb']:>13}")
    ratio = results[True]["tokens_per_s"] / results[False]["tokens_per_s"]
    print(f"packed / padded tokens/s: {ratio:.2f}x")


if __name__ == "__main__":
    main()
