"""A training run killed midway resumes from its last checkpoint: the step counter, the learning
rate schedule and the optimizer's moments continue."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT, run


def qa(i: int) -> str:
    return json.dumps({"messages": [{"role": "user", "content": f"[SPEC] What is the torque of bolt {i}?"},
                                    {"role": "assistant", "content": f"{10 + 3 * i} Nm"}], "meta": {"task": "spec"}})


def args(data: Path, out: Path) -> list[str]:
    return ["train_unsloth.py", "--config", "configs/cpu-demo.yaml", "--data.dir", str(data), "--train.output_dir",
            str(out), "--train.max_steps", "6", "--train.batch_size", "2", "--train.eval_steps", "2",
            "--train.early_stopping_patience", "0", "--model.max_seq", "128",
            "--lora.dropout", "0"]


def test_killed_run_resumes_where_it_stopped(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "hf_train.jsonl").write_text("".join(qa(i) + "\n" for i in range(8)))
    (data / "hf_val.jsonl").write_text(qa(50) + "\n")

    straight = tmp_path / "straight"
    run(*args(data, straight))

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
    assert steps[-2:] == [5, 6] and steps.count(1) == 1   # continued at 5, never restarted at 1
    # The learning-rate schedule continues exactly where the uninterrupted run has it.
    with (straight / "metrics.csv").open() as f:
        reference = {int(r["step"]): r["learning_rate"] for r in csv.DictReader(f) if r["loss"]}
    assert [r["learning_rate"] for r in rows[-2:]] == [reference[5], reference[6]]
    # Adam's own step count in the final checkpoint is 6, not 2: its moments were loaded, not reset.
    import torch

    state = torch.load(killed / "checkpoints" / "checkpoint-6" / "optimizer.pt", weights_only=False)["state"]
    assert {int(s["step"]) for s in state.values()} == {6}
