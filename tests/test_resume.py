"""A training run killed midway resumes from its last checkpoint: the step counter, the optimizer
and the data order continue, so the resumed losses equal those of a run never interrupted."""

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
            "--train.early_stopping_patience", "0", "--model.max_seq", "128"]


def losses(run_dir: Path) -> dict[int, float]:
    with (run_dir / "metrics.csv").open() as f:
        return {int(r["step"]): float(r["loss"]) for r in csv.DictReader(f) if r["loss"]}


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
    resumed, reference = losses(killed), losses(straight)
    assert set(resumed) >= {5, 6}
    # Steps 5 and 6 ran after the resume: same optimizer moments, schedule and batches as the
    # uninterrupted run, so the same losses (a fresh optimizer or a restarted data order differs).
    for step in (5, 6):
        assert abs(resumed[step] - reference[step]) < 1e-3, (step, resumed[step], reference[step])
