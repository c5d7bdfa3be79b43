"""What several test files share, imported as `from tests.helpers import ...` (pyproject.toml puts the
repository root on the path, as a user's `python -m pytest` from the root has it)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "samples" / "e30-m3"   # the real pages; tests that read them skip without


def run(*args: str, cwd: Path = ROOT, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return done


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def read_real_pages(paths, folder: Path) -> tuple[object, list[dict], dict[str, dict]]:
    """prep's blocks stage on these pages of SAMPLES (their paths under it), linked into `folder`
    (never copied: the pages are not ours) and read with an OCR cache of their own there:
    (the stage's result, blocks.jsonl's records, pages.jsonl's records by path)."""
    from prep.blocks import build_blocks

    for rel in paths:
        (folder / "pages" / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / "pages" / rel).symlink_to(SAMPLES / rel)
    result = build_blocks(folder / "pages", folder / "work", jobs=2, cache_dir=folder / "cache", progress=False)
    pages = {p["path"]: p for p in read_jsonl(folder / "work" / "pages.jsonl")}
    return result, read_jsonl(folder / "work" / "blocks.jsonl"), pages


def claim_free(monkeypatch, free: int) -> None:
    """The space checks read free space through shutil.disk_usage: make it read `free` bytes."""
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(free, 0, free))


# A random Llama small enough to train in seconds (tests/test_token_ids.py, test_bench_gpu.py, test_gpu.py);
# vocab_size 0 = the tokenizer's (scripts/bench_gpu.random_llama).
TINY_LLAMA = dict(vocab_size=0, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=True)


def truth_rows() -> list[dict]:
    """One [SPEC] chat row per hand-read E30 torque fact (tests/truth/e30_torque.json): the question names
    the part, type and screw; the answer gives every stage and cites the page."""
    truth = json.loads((ROOT / "tests/truth/e30_torque.json").read_text())
    rows = []
    for page in truth["pages"].values():
        for fact in page["facts"]:
            variant = ", ".join(v for v in (fact.get("type"), fact.get("screw")) if v)
            stages = "; ".join(f"{label or 'torque'} {value} {unit}".replace(" °", "°") for label, value, unit
                               in fact["values"] if value)
            question = f"[SPEC] What is the tightening torque for the {fact['component'].lower()}" + \
                       (f" ({variant})" if variant else "") + "?"
            rows.append({"messages": [{"role": "user", "content": question},
                                      {"role": "assistant", "content": f"{stages} [{page['label']}]"}],
                         "meta": {"task": "spec"}})
    return rows


def write_data(folder: Path, rows: list[dict], val_rows: int) -> Path:
    """hf_train.jsonl with every row and hf_val.jsonl with the first `val_rows`, as prep lays them out."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r) for r in rows]
    (folder / "hf_train.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "hf_val.jsonl").write_text("\n".join(lines[:val_rows]) + "\n")
    return folder
