"""Benchmark of `prep blocks`: pages per minute with a cold OCR cache, and the cached re-run.

    python scripts/bench_prep.py                       # the 66 real sample files, --jobs 2
    python scripts/bench_prep.py SRC_DIR --jobs 4

Prints numbers; targets: >= 100 pages/min cold, re-run >= 20x faster. The cache is a fresh temp
folder, so the first run always OCRs everything.
"""

import json
import sys
import tempfile
import time
from pathlib import Path

import typer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_SRC = Path(__file__).resolve().parents[2] / "shared/samples/e30-m3"


def main(src_dir: Path = typer.Argument(DEFAULT_SRC), jobs: int = typer.Option(2, "--jobs")) -> None:
    from prep.blocks import build_blocks

    files = sum(1 for p in src_dir.rglob("*") if p.is_file())
    with tempfile.TemporaryDirectory() as tmp:
        cache, out = Path(tmp) / "cache", Path(tmp) / "work"
        t0 = time.perf_counter()
        cold = build_blocks(src_dir, out, jobs=jobs, cache_dir=cache, progress=False)
        cold_s = time.perf_counter() - t0
        # Every number read twice (prep/ocr.py): counts over the pages, and the seconds it took of
        # the pages' OCR seconds (both summed over the worker processes).
        pages = [json.loads(l) for l in (out / "pages.jsonl").read_text().splitlines()]
        numbers = {k: sum(p["numbers"][k] for p in pages) for k in ("read", "agreed", "corrected", "unsure")}
        scans = [json.loads(f.read_text()) for f in cache.glob("*.json")]
        ocr_s = sum(s["ocr_seconds"] for s in scans)
        twice_s = sum(s.get("read_twice_seconds", 0.0) for s in scans)
        t0 = time.perf_counter()
        warm = build_blocks(src_dir, out, jobs=jobs, cache_dir=cache, progress=False)
        warm_s = time.perf_counter() - t0
    print(f"input: {src_dir} ({files} files -> {cold.pages} pages, {cold.blocks} blocks, "
          f"{len(cold.errors)} errors), --jobs {jobs}")
    print(f"cold:  {cold_s:7.1f} s  {cold.ocr_runs} OCR runs  {60 * files / cold_s:6.1f} files/min  "
          f"{60 * cold.pages / cold_s:6.1f} pages/min")
    print(f"warm:  {warm_s:7.1f} s  {warm.ocr_runs} OCR runs  speed-up {cold_s / warm_s:5.1f}x")
    print(f"numbers read twice: {numbers['read']} (agreed {numbers['agreed']}, corrected {numbers['corrected']}, "
          f"unsure {numbers['unsure']}); second reading {twice_s:.1f} s of {ocr_s:.1f} s OCR (process seconds)")


if __name__ == "__main__":
    typer.run(main)
