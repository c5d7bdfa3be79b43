"""Shared fixtures: the sample manual rendered once, read into blocks once, turned into a dataset,
a LoRA trained for a few real steps and exported to GGUF once per test session.

Each is a real run of the stage's own command or function; the session scope keeps `make test`
within its time budget on 2 cores. The OCR cache lives in the session's temp folder so every CI
run really OCRs.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT, run

# The session's training and export: a test that asks for either trains or exports for real.
TRAINS_OR_EXPORTS = {"trained_run", "exported"}


def pytest_collection_modifyitems(config, items) -> None:
    """`slow` on every test that asks for the trained run or its GGUF files, so that `pytest -m
    'not slow'` never trains or exports (the tests that train by themselves carry the mark)."""
    for item in items:
        if TRAINS_OR_EXPORTS & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def pytest_report_header(config) -> list[str]:
    """What this run's kernels really use: a result on an AVX2-only laptop (`make test-avx2`) and one with
    AVX-512 and bf16 are different claims, and the header of the log says which this was."""
    import torch
    from llama_cpp import llama_print_system_info

    flags = llama_print_system_info().decode()
    llama = "AVX-512" if "AVX512 = 1" in flags else "AVX2" if "AVX2 = 1" in flags else "no AVX2"
    bf16 = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    # MKL (torch's float32 matmuls) picks its own instructions; only this variable holds it back
    mkl = os.environ.get("MKL_ENABLE_INSTRUCTIONS", "the CPU's best")
    return [f"cpu kernels: torch {torch.backends.cpu.get_cpu_capability()} (bf16 {'native' if bf16 else 'none'}, "
            f"MKL {mkl}), llama.cpp {llama}"]

@pytest.fixture(scope="session")
def sample_pages(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample-pages")
    run("scripts/render_sample.py", "--out", str(out))
    return out


@pytest.fixture(scope="session")
def sample_blocks(sample_pages, tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("work")
    cache = tmp_path_factory.mktemp("ocr-cache")
    run("-m", "prep", "blocks", str(sample_pages), "--out", str(work), "--cache", str(cache), "--jobs", "2", "--quiet")
    assert (work / "blocks.jsonl").is_file()
    # truth.json lies beside the pages: every file in the folder is a page prep can read
    assert not (work / "errors.txt").is_file() or not (work / "errors.txt").read_text().strip()
    return work / "blocks.jsonl"


@pytest.fixture(scope="session")
def sample_dataset(sample_blocks, tmp_path_factory) -> Path:
    from config import DataConfig
    from prep.dataset import build_dataset

    from prep.search_index import INDEX_NAME, build_index

    out = tmp_path_factory.mktemp("data")
    build_dataset(sample_blocks, out, DataConfig(), tokenizer_name=None)
    # The search index beside it, as `prep dataset` writes it (export copies it, serve answers from
    # it). Built after the rows, not passed to build_dataset: the tests' rows stay plain questions
    # (tests/test_grounded_data.py builds the rows that carry the manual's lines).
    build_index(sample_blocks, out / INDEX_NAME)
    return out


@pytest.fixture(scope="session")
def tiny_config(sample_dataset, tmp_path_factory) -> Path:
    """The CPU demo profile cut to a few real optimizer steps."""
    import yaml

    run_dir = tmp_path_factory.mktemp("run") / "tiny"
    cfg = yaml.safe_load((ROOT / "configs/cpu-demo.yaml").read_text())
    cfg["data"]["dir"] = str(sample_dataset)
    cfg["model"]["max_seq"] = 384
    # 16 steps of 4 is what the 135M model needs to learn the answers' shape and to stop (4 steps
    # of 2 rambled to max_tokens): about 80 s on 2 cores. One evaluation, at the end, so the
    # "best" checkpoint is the trained one: the eval loss on unseen pages rises from the start.
    cfg["train"].update(output_dir=str(run_dir), max_steps=16, batch_size=4, eval_steps=16, lr=1e-3,
                        early_stopping_patience=0)
    # 8 answers: with 3 (a few dozen greedy tokens) one near-tie flip of this undertrained model put
    # q8_0 at 0.875 in one run of the suite and not in the run before it; with 8, 0.891 and 0.922 in
    # two runs (CPU training is not bitwise repeatable). export.MIN_AGREEMENT's q8_0 bar is 0.80.
    cfg["export"]["verify_prompts"] = 8
    path = run_dir.parent / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="session")
def trained_run(tiny_config) -> Path:
    import yaml

    run("train_unsloth.py", "--config", str(tiny_config))
    return Path(yaml.safe_load(tiny_config.read_text())["train"]["output_dir"])


@pytest.fixture(scope="session")
def exported(trained_run) -> dict:
    done = run("export.py", str(trained_run), "--quant", "q4_k_m", "--quant", "q8_0")
    out = trained_run / "gguf"
    return {"dir": out, "q4_k_m": out / f"{trained_run.name}-q4_k_m.gguf", "q8_0": out / f"{trained_run.name}-q8_0.gguf",
            "log": done.stdout + done.stderr}


@pytest.fixture
def tmpfs(tmp_path):
    """mount(name, size, read_only) -> a folder on a fresh tmpfs, or None where mount is refused
    (KIT_TESTS_NO_MOUNT=1 answers None where mount works, to run the tests' fallbacks)."""
    mounted = []

    def mount(name: str, size: str = "4k", read_only: bool = False) -> Path | None:
        where = tmp_path / name
        where.mkdir()
        if os.environ.get("KIT_TESTS_NO_MOUNT"):
            return None
        options = f"size={size}" + (",ro" if read_only else "")
        if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True).returncode:
            return None
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], check=False)
