"""Export time and file size per quant type for a trained run (default: the demo's runs/cpu-demo).

    python scripts/bench_export.py                       # q4_k_m, q5_k_m, q8_0, f16
    python scripts/bench_export.py runs/cpu-demo --quant q4_k_m --quant q8_0

Runs the real export.py once with every quant (merge and convert are shared), then prints the
seconds of each step and, per file, its size and verification figures. Numbers go to
docs/benchmarks.md.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, nargs="?", default=ROOT / "runs" / "cpu-demo")
    parser.add_argument("--quant", action="append", default=None)
    opts = parser.parse_args()
    quants = opts.quant or ["q4_k_m", "q5_k_m", "q8_0", "f16"]
    if not (opts.run_dir / "adapter").is_dir():
        sys.exit(f"{opts.run_dir}: no adapter; run `make demo` (or train_unsloth.py) first")

    import export

    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        started = time.time()
        out = export.export(opts.run_dir, quants, Path(tmp), verify=True, timings=timings)
        total = time.time() - started
        print(f"\nexport of {opts.run_dir} ({', '.join(quants)}): {total:.1f} s in all")
        for step in ("merge", "convert"):
            print(f"  {step:<8} {timings[step]:6.1f} s")
        print(f"  {'verify':<8} {timings.get('verify', 0):6.1f} s (all files)")
        print(f"{'quant':<8}{'seconds':>9}{'size MiB':>10}")
        for q in quants:
            size = (out / f"{opts.run_dir.resolve().name}-{q}.gguf").stat().st_size / 2**20
            print(f"{q:<8}{timings[q]:>9.1f}{size:>10.1f}")


if __name__ == "__main__":
    main()
