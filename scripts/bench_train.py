"""CPU training throughput on the embedded model: float32 random batches (baseline) vs length-grouped
batches, bf16 autocast, and packed rows.

    python scripts/bench_train.py                 # 10 steps each, on data/ (run `make demo` or prep first)
    python scripts/bench_train.py --steps 20 --batch 8

Every run is the real train_unsloth.py with the CPU demo profile, the same data and seed; only the
settings in VARIANTS differ. Prints tokens/s (non-padding tokens), padding share and wall time, and each
variant's ratio to the baseline. Numbers go to docs/benchmarks.md.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


VARIANTS = {  # name -> overrides; the first is the baseline
    "fp32 random": {"train.cpu_bf16": "false", "train.group_by_length": "false", "train.packing": "false"},
    "fp32 grouped": {"train.cpu_bf16": "false", "train.group_by_length": "true", "train.packing": "false"},
    "bf16 grouped": {"train.cpu_bf16": "true", "train.group_by_length": "true", "train.packing": "false"},
    "fp32 packed": {"train.cpu_bf16": "false", "train.group_by_length": "false", "train.packing": "true"},
}


def one_run(overrides: dict, steps: int, batch: int, data: Path, out: Path) -> dict:
    command = [sys.executable, "train_unsloth.py", "--config", "configs/cpu-demo.yaml", "--data.dir", str(data),
               "--train.output_dir", str(out), "--train.max_steps", str(steps), "--train.batch_size", str(batch),
               "--train.eval_steps", "0", "--train.epochs", "100", "--train.early_stopping_patience", "0"]
    for key, value in overrides.items():
        command += [f"--{key}", value]
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
        for number, (name, overrides) in enumerate(VARIANTS.items()):
            results[name] = one_run(overrides, opts.steps, opts.batch, opts.data, Path(tmp) / f"v{number}")
    base = next(iter(results.values()))["tokens_per_s"]
    print(f"{'variant':<14}{'steps':>6}{'tokens':>9}{'tokens/s':>10}{'padding':>9}{'wall s':>8}{'peak RAM MB':>13}"
          f"{'vs base':>9}")
    for name, s in results.items():
        print(f"{name:<14}{s['global_step']:>6}{s['tokens_seen']:>9}{s['tokens_per_s']:>10}{s['padding_fraction']:>9}"
              f"{s['wall_s']:>8}{s['peak_ram_mb']:>13}{s['tokens_per_s'] / base:>8.2f}x")


if __name__ == "__main__":
    main()
