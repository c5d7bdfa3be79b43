"""A training run killed midway resumes from its last checkpoint: the step counter, the learning
rate schedule and the optimizer's moments continue; a checkpoint whose save was cut short is skipped."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT, run

pytestmark = pytest.mark.slow


def qa(i: int) -> str:
    return json.dumps({"messages": [{"role": "user", "content": f"[SPEC] What is the torque of bolt {i}?"},
                                    {"role": "assistant", "content": f"{10 + 3 * i} Nm"}], "meta": {"task": "spec"}})


def args(data: Path, out: Path) -> list[str]:
    return ["train_unsloth.py", "--config", "configs/cpu-demo.yaml", "--data.dir", str(data), "--train.output_dir",
            str(out), "--train.max_steps", "6", "--train.batch_size", "2", "--train.eval_steps", "2",
            "--train.early_stopping_patience", "0", "--model.max_seq", "128",
            "--lora.dropout", "0"]


def steps_and_rates(run_dir: Path) -> list[tuple[int, str]]:
    with (run_dir / "metrics.csv").open() as f:
        return [(int(r["step"]), r["learning_rate"]) for r in csv.DictReader(f) if r["loss"]]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("resume-data")
    (folder / "hf_train.jsonl").write_text("".join(qa(i) + "\n" for i in range(8)))
    (folder / "hf_val.jsonl").write_text(qa(50) + "\n")
    return folder


@pytest.fixture(scope="module")
def straight(data, tmp_path_factory) -> tuple[Path, dict[int, str]]:
    """One uninterrupted run, and its learning rate at each step (read now: a test resumes it later)."""
    out = tmp_path_factory.mktemp("straight") / "run"
    run(*args(data, out))
    return out, dict(steps_and_rates(out))


def test_killed_run_resumes_where_it_stopped(data, straight, tmp_path):
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, *args(data, killed)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    checkpoint = killed / "checkpoints" / "checkpoint-4"
    deadline = time.time() + 300
    while not (checkpoint / "trainer_state.json").is_file() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)  # let the checkpoint's last files land, then kill hard, as a crash would
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (checkpoint / "optimizer.pt").is_file() and not (killed / "summary.json").exists()

    run(*args(data, killed), "--resume")
    summary = json.loads((killed / "summary.json").read_text())
    assert summary["global_step"] == 6
    with (killed / "metrics.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["loss"]]
    steps = [int(r["step"]) for r in rows]
    assert steps == [1, 2, 3, 4, 5, 6]   # continued at 5, never restarted at 1; a step 5 logged before the kill is not kept twice
    # The learning-rate schedule continues exactly where the uninterrupted run has it.
    reference = straight[1]
    assert [r["learning_rate"] for r in rows[-2:]] == [reference[5], reference[6]]
    # Adam's own step count in the final checkpoint is 6, not 2: its moments were loaded, not reset.
    import torch

    state = torch.load(killed / "checkpoints" / "checkpoint-6" / "optimizer.pt", weights_only=False)["state"]
    assert {int(s["step"]) for s in state.values()} == {6}


def test_half_written_checkpoint_is_skipped_and_its_steps_are_not_logged_twice(data, straight):
    """A SIGKILL or a full disk during a save leaves checkpoint-N with README.md and the safetensors
    temp file only (what the probe found); the Trainer took it as the latest and stopped with "Can't
    find a valid checkpoint", exit 1. --resume now says it skips it, resumes from the last whole one,
    and metrics.csv holds each step once, with the schedule of the uninterrupted run."""
    out, reference = straight
    checkpoints = sorted((out / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    cut, whole = checkpoints[-1], checkpoints[-2]
    assert cut.name == "checkpoint-6"
    for path in cut.iterdir():
        if path.name != "README.md":
            path.unlink()
    (cut / "tmpk2x81q.safetensors").write_bytes(b"\x00" * 4096)

    done = run(*args(data, out), "--resume")
    notes = [line for line in done.stderr.splitlines() if "incomplete" in line]
    assert notes == [(f"note: {cut} is incomplete (no adapter weights: its save was cut short); removed it, "
                      f"resuming from {whole.name}")]
    assert json.loads((out / "summary.json").read_text())["global_step"] == 6
    assert steps_and_rates(out) == sorted(reference.items())   # replayed steps replace, never repeat
    assert (cut / "trainer_state.json").is_file() and not (cut / "tmpk2x81q.safetensors").exists()
