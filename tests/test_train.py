"""train_unsloth.py on the CPU path: loss masking, bad data, dry run, a real short run."""

import csv
import json
import math
import re
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, run
from typer.testing import CliRunner

import train_unsloth
from config import load_config


def write_rows(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def qa(q: str, a: str, task: str = "spec") -> dict:
    return {"messages": [{"role": "user", "content": f"[{task.upper()}] {q}"}, {"role": "assistant", "content": a}],
            "meta": {"task": task}}


@pytest.fixture()
def tiny_data(tmp_path) -> Path:
    write_rows(tmp_path / "hf_train.jsonl", [qa(f"Torque of bolt {i}?", f"{10 + i} Nm") for i in range(6)])
    write_rows(tmp_path / "hf_val.jsonl", [qa("Torque of bolt 99?", "45 Nm")])
    return tmp_path


def test_batch_masks_prompt_and_labels_end_of_turn(tiny_data, tmp_path):
    """The classic bug: a pad token equal to EOS masks the end-of-turn, and the export never stops."""
    cfg = load_config(ROOT / "configs/cpu-demo.yaml", ["--data.dir", str(tiny_data), "--train.output_dir", str(tmp_path / "r")])
    train_rows, val_rows, _ = train_unsloth.read_dataset(tiny_data)
    model, tokenizer = train_unsloth.load_peft_cpu(cfg)
    trainer = train_unsloth.build_trainer(cfg, model, tokenizer, train_rows, val_rows, on_cuda=False, total_steps=1)
    assert tokenizer.pad_token_id != tokenizer.eos_token_id

    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    answer_start = next(i for i, label in enumerate(labels) if label != -100)
    prompt_text = tokenizer.decode(ids[:answer_start])
    assert "[SPEC] Torque of bolt 0?" in prompt_text and "<|im_start|>assistant" in prompt_text
    assert all(label == -100 for label in labels[:answer_start])  # the question is never learned
    learned = [t for t in labels if t != -100]
    assert tokenizer.decode(learned).startswith("10 Nm")
    assert tokenizer.eos_token_id in learned                         # <|im_end|> is learned: the model stops

    # The padding share counts train batches only: eval batches come through the same collator.
    counter = trainer.data_collator
    examples = [trainer.train_dataset[i] for i in range(4)]
    counter.real = counter.total = 0
    model.eval()
    counter(examples)
    assert counter.total == 0 and counter.padding_fraction() is None
    model.train()
    batch = counter(examples)
    mask = batch["attention_mask"]
    assert counter.total == mask.numel() > 0
    assert counter.padding_fraction() == round(1 - int(mask.sum()) / mask.numel(), 4)


def test_bad_lines_are_named_by_file_and_line(tmp_path):
    write_rows(tmp_path / "hf_train.jsonl", [qa("a?", "1 Nm")])
    (tmp_path / "hf_train.jsonl").write_text((tmp_path / "hf_train.jsonl").read_text() + "{not json\n")
    write_rows(tmp_path / "hf_val.jsonl", [qa("b?", "2 Nm")])
    with pytest.raises(train_unsloth.DataError, match=r"hf_train.jsonl:2: not JSON"):
        train_unsloth.read_dataset(tmp_path)
    (tmp_path / "hf_train.jsonl").write_text(json.dumps(qa("a?", "1 Nm")) + "\n\n")
    with pytest.raises(train_unsloth.DataError, match=r"hf_train.jsonl:2: empty line"):
        train_unsloth.read_dataset(tmp_path)


@pytest.mark.slow
def test_recall_set_is_evaluated_and_picks_the_best_checkpoint(tiny_data, tmp_path):
    """hf_recall.jsonl beside the splits: every evaluation scores val and recall apart, and the best
    checkpoint is the one that knows the trained facts best, unless train.select_on says val."""
    write_rows(tiny_data / "hf_recall.jsonl", [qa("Bolt 3: what torque?", "13 Nm")])
    train_rows, val_rows, recall_rows = train_unsloth.read_dataset(tiny_data)
    assert [r["completion"][0]["content"] for r in recall_rows] == ["13 Nm"]
    cfg = load_config(ROOT / "configs/cpu-demo.yaml", ["--data.dir", str(tiny_data), "--train.output_dir", str(tmp_path / "r")])
    model, tokenizer = train_unsloth.load_peft_cpu(cfg)
    trainer = train_unsloth.build_trainer(cfg, model, tokenizer, train_rows, val_rows, on_cuda=False, total_steps=1,
                                          recall_rows=recall_rows)
    assert set(trainer.eval_dataset) == {"val", "recall"}
    assert trainer.args.metric_for_best_model == "eval_recall_loss"
    assert trainer.args.train_sampling_strategy == "group_by_length"
    metrics = trainer.evaluate()
    assert metrics["eval_val_loss"] > 0 and metrics["eval_recall_loss"] > 0
    # early stopping judges the recall evaluation only (each set is its own evaluate call)
    stopper = next(c for c in trainer.callback_handler.callbacks if type(c).__name__ == "OneSetEarlyStopping")
    state, control = trainer.state, trainer.control
    state.best_metric = 0.5
    stopper.on_evaluate(trainer.args, state, control, {"eval_val_loss": 9.0})
    assert stopper.early_stopping_patience_counter == 0
    for _ in range(cfg.train.early_stopping_patience):
        stopper.on_evaluate(trainer.args, state, control, {"eval_recall_loss": 0.9})
    assert stopper.early_stopping_patience_counter == 2 and control.should_training_stop

    cfg = load_config(ROOT / "configs/cpu-demo.yaml", ["--data.dir", str(tiny_data), "--train.select_on", "val"])
    trainer = train_unsloth.build_trainer(cfg, model, tokenizer, train_rows, val_rows, on_cuda=False, total_steps=1,
                                          recall_rows=recall_rows)
    assert trainer.args.metric_for_best_model == "eval_val_loss"
    (tiny_data / "hf_recall.jsonl").unlink()   # an older data/ without recall probes: val decides
    assert train_unsloth.read_dataset(tiny_data)[2] == []
    assert train_unsloth.select_metric(load_config(ROOT / "configs/cpu-demo.yaml", []), val_rows, []) == "val"

    # data.val_fraction 0 (every page trains): an empty hf_val.jsonl, recall alone evaluates
    (tiny_data / "hf_val.jsonl").write_text("")
    with pytest.raises(train_unsloth.DataError, match="no hf_recall.jsonl to evaluate on"):
        train_unsloth.read_dataset(tiny_data)
    write_rows(tiny_data / "hf_recall.jsonl", [qa("Bolt 3: what torque?", "13 Nm")])
    train_rows, val_rows, recall_rows = train_unsloth.read_dataset(tiny_data)
    assert val_rows == [] and len(recall_rows) == 1
    trainer = train_unsloth.build_trainer(cfg, model, tokenizer, train_rows, val_rows, on_cuda=False, total_steps=1,
                                          recall_rows=recall_rows)
    assert set(trainer.eval_dataset) == {"recall"} and trainer.args.metric_for_best_model == "eval_recall_loss"


@pytest.mark.slow
def test_cpu_bf16_and_grouping_reach_the_trainer(tiny_data, tmp_path):
    """The config's CPU precision and batching are what the Trainer runs with, and autocast is on
    only when asked: false keeps the whole step in float32."""
    import torch

    train_rows, val_rows, _ = train_unsloth.read_dataset(tiny_data)
    model, tokenizer = None, None
    for bf16, grouped in ((True, True), (False, False)):
        cfg = load_config(ROOT / "configs/cpu-demo.yaml", [
            "--data.dir", str(tiny_data), "--train.output_dir", str(tmp_path / "r"),
            "--train.cpu_bf16", str(bf16).lower(), "--train.group_by_length", str(grouped).lower()])
        if model is None:
            model, tokenizer = train_unsloth.load_peft_cpu(cfg)
        trainer = train_unsloth.build_trainer(cfg, model, tokenizer, train_rows, val_rows, on_cuda=False, total_steps=1)
        assert trainer.args.bf16 is bf16 and not trainer.args.fp16
        assert trainer.args.train_sampling_strategy == ("group_by_length" if grouped else "random")
        batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
        assert trainer.accelerator.mixed_precision == ("bf16" if bf16 else "no")
        with trainer.accelerator.autocast():   # what Trainer wraps every step's forward in
            logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
        assert logits.dtype == (torch.bfloat16 if bf16 else torch.float32)


def test_missing_val_split_exits_2_with_one_line(tmp_path):
    write_rows(tmp_path / "hf_train.jsonl", [qa("a?", "1 Nm")])
    result = CliRunner().invoke(train_unsloth.app, ["--config", str(ROOT / "configs/cpu-demo.yaml"),
                                                    "--data.dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "hf_val.jsonl: not found" in result.output and "validation split is required" in result.output


def test_config_typo_exits_2(tiny_data):
    result = CliRunner().invoke(train_unsloth.app, ["--config", str(ROOT / "configs/cpu-demo.yaml"),
                                                    "--data.dir", str(tiny_data), "--train.lr_typo", "1"])
    assert result.exit_code == 2 and "train.lr_typo" in result.output


def test_dry_run_prints_plan_and_writes_nothing(tiny_data, tmp_path):
    out = tmp_path / "run"
    done = run("train_unsloth.py", "--config", "configs/cpu-demo.yaml", "--data.dir", str(tiny_data),
               "--train.output_dir", str(out), "--dry-run")
    # 6 rows in batches of 4: 2 steps an epoch, 3 epochs
    assert "optimizer_steps: 6" in done.stdout and "train_examples: 6" in done.stdout
    assert "load_in_4bit needs CUDA" in done.stderr  # says what happens instead on a CPU
    assert not out.exists()


def test_short_run_changes_lora_weights_and_writes_run_folder(trained_run):
    import torch
    from safetensors.torch import load_file

    weights = load_file(trained_run / "adapter" / "adapter_model.safetensors")
    lora_b = [w for name, w in weights.items() if "lora_B" in name]
    # PEFT initialises every lora_B to zero: any non-zero value is a trained step.
    assert lora_b and all(torch.count_nonzero(w) > 0 for w in lora_b)
    summary = json.loads((trained_run / "summary.json").read_text())
    assert summary["global_step"] == 16 and summary["tokens_seen"] > 0 and 0 <= summary["padding_fraction"] < 1
    assert summary["plan"]["path"].startswith("transformers + PEFT")
    header = (trained_run / "metrics.csv").read_text().splitlines()[0]
    assert header.startswith("step,epoch,loss,eval_loss,recall_loss")
    # the sample dataset has recall probes: both losses logged, the recall loss chose the checkpoint
    assert summary["best_metric"] == "recall" and len(summary["recall_loss_per_eval"]) == 1
    assert summary["best_eval_loss"] == pytest.approx(summary["recall_loss_per_eval"][0][1])
    assert len(summary["eval_loss_per_eval"]) == 1
    assert (trained_run / "loss.png").stat().st_size > 1000
    assert (trained_run / "resolved_config.yaml").is_file()


# -------------------------------------------------------------------- bad input, non-finite, full disk
@pytest.fixture()
def hf_switches(monkeypatch):
    """main() sets the hub switches in os.environ (config.offline_unless_hub): give them back after
    an in-process run, so later tests' subprocesses see the environment they were given."""
    for name in ("HF_HUB_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
        monkeypatch.setenv(name, "sentinel")   # records the original, which the teardown puts back
        monkeypatch.delenv(name)


def cli(*args: str):
    return CliRunner().invoke(train_unsloth.app, ["--config", str(ROOT / "configs/cpu-demo.yaml"), *args])


def test_malformed_data_is_named_by_line_and_exits_2(tiny_data):
    """A number as the answer, and a byte that is not UTF-8, gave a traceback from deep inside TRL's
    templating or from read_text(): now file:line and what is wrong, exit 2, before any model loads."""
    train = tiny_data / "hf_train.jsonl"
    good = train.read_bytes()
    train.write_bytes(good + json.dumps(qa("Torque of bolt 7?", "x")).replace('"x"', "17").encode() + b"\n")
    result = cli("--data.dir", str(tiny_data))
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (f"error: {train}:7: malformed example (messages[1] (assistant): content is a "
                                     "number, expected text)")

    train.write_bytes(good + json.dumps(qa("Torque of bolt 7?", "17 Nm")).encode().replace(b"Nm", b"N\xb7m") + b"\n")
    result = cli("--data.dir", str(tiny_data))
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: {train}:7: not UTF-8 (byte 0xb7 at column ")
    assert len(result.output.strip().splitlines()) == 1

    # the same reading for the evaluation sets; a line separator inside a string is not a new line
    train.write_bytes(good)
    (tiny_data / "hf_recall.jsonl").write_text(json.dumps(qa("Bolt\u2028 3?", "13 Nm"), ensure_ascii=False) + "\n"
                                               + json.dumps({"messages": "Bolt 3?"}) + "\n", encoding="utf-8")
    with pytest.raises(train_unsloth.DataError, match=r"hf_recall.jsonl:2: malformed example \(expected an object "
                                                      r'with a "messages" list\)'):
        train_unsloth.read_dataset(tiny_data)


def test_non_finite_lr_is_refused_before_training(tiny_data, tmp_path):
    result = cli("--data.dir", str(tiny_data), "--train.output_dir", str(tmp_path / "r"), "--train.lr", "inf")
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {ROOT / 'configs/cpu-demo.yaml'}: train.lr: Input should be a finite number"
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tiny_data, tmp_path):
    """A finite but huge lr: step 1 is in warmup (lr 0) and saves a good checkpoint; step 2's update
    blows the weights up and its evaluation loss is NaN. Training stops there, before that step's
    checkpoint is saved, writes no adapter, and says so in one line."""
    out = tmp_path / "run"
    done = run("train_unsloth.py", "--config", "configs/cpu-demo.yaml", "--data.dir", str(tiny_data),
               "--train.output_dir", str(out), "--train.lr", "1e30", "--train.warmup_ratio", "0.5",
               "--train.max_steps", "3", "--train.batch_size", "2", "--train.eval_steps", "1",
               "--train.early_stopping_patience", "0", "--model.max_seq", "128", check=False)
    assert done.returncode == 5, done.stderr[-3000:]
    error = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and re.fullmatch(
        rf"error: val loss is (nan|inf) at step 2; training stopped, no adapter written, last good checkpoint: "
        rf"{re.escape(str(out / 'checkpoints' / 'checkpoint-1'))}. Lower --train.lr \(now 1e\+30\) and train again",
        error[0]), error
    assert "Traceback" not in done.stderr
    assert [p.name for p in (out / "checkpoints").glob("checkpoint-*")] == ["checkpoint-1"]
    assert not (out / "adapter").exists() and not (out / "summary.json").exists()

    import torch
    from safetensors.torch import load_file

    kept = load_file(out / "checkpoints" / "checkpoint-1" / "adapter_model.safetensors")
    assert kept and all(torch.isfinite(w).all() for w in kept.values())
    # metrics.csv keeps the evidence: a finite evaluation at step 1, the non-finite one at step 2
    evals = [r for r in csv.DictReader((out / "metrics.csv").open()) if r["eval_loss"]]
    assert [r["step"] for r in evals] == ["1", "2"]
    assert math.isfinite(float(evals[0]["eval_loss"])) and not math.isfinite(float(evals[1]["eval_loss"]))


def test_unwritable_output_folder_exits_2_before_loading_a_model(tiny_data, tmp_path, hf_switches):
    """Tests run as root, where chmod stops no write and os.access says yes: a folder under a plain
    file cannot be created by anyone."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the run folder's parent should be\n")
    result = cli("--data.dir", str(tiny_data), "--train.output_dir", str(blocker / "run"))
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines()[-1] == (f"error: train.output_dir {blocker / 'run'}: cannot write there (Not a directory: "
                                     f"{blocker / 'run'}); choose another --train.output_dir")
    assert blocker.read_text().startswith("a file")


def test_too_little_free_space_exits_before_training(tiny_data, tmp_path, trained_run, monkeypatch, hf_switches):
    """The free-space check runs after the model loads (the LoRA's size is known) and before the first
    step; the estimate covers a real checkpoint of the same LoRA (trained_run's) without wasting much."""
    import shutil

    real = max(sum(f.stat().st_size for f in ckpt.rglob("*") if f.is_file())
               for ckpt in (trained_run / "checkpoints").glob("checkpoint-*"))
    cfg = load_config(ROOT / "configs/cpu-demo.yaml", ["--data.dir", str(tiny_data)])
    model, tokenizer = train_unsloth.load_peft_cpu(cfg)
    estimate = train_unsloth.checkpoint_bytes(model, tokenizer, tmp_path)
    assert real <= estimate <= 1.2 * real

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=50_000_000))
    out = tmp_path / "run"
    result = cli("--data.dir", str(tiny_data), "--train.output_dir", str(out))
    assert result.exit_code == 4, result.output
    line = result.output.strip().splitlines()[-1]
    need = int(re.search(r"training needs about (\d+) MB", line)[1])
    assert line.startswith(f"error: {out}: 50 MB free, training needs about {need} MB (checkpoints of "
                           f"{round(estimate / 1e6)} MB and the adapter): free {need - 50} MB on that disk")
    assert need * 1e6 >= 3 * real   # up to three checkpoints exist at once (save_total_limit 2, plus the new one)
    assert not out.exists()   # the run folder it had just created is gone again


@pytest.mark.slow
def test_full_disk_during_a_save_removes_the_partial_checkpoint(tiny_data, tmp_path):
    """The kernel's /dev/full answers every write with ENOSPC, as a full disk does: planted where the
    second checkpoint's optimizer state goes, the save fails half-way (weights written, no optimizer,
    no trainer_state.json). The half-written checkpoint is removed, the first is kept, one line says
    what to free, exit 4. A real tmpfs needs mount rights CI lacks; /dev/full needs none."""
    out = tmp_path / "run"
    planted = out / "checkpoints" / "checkpoint-2"
    planted.mkdir(parents=True)
    (planted / "optimizer.pt").symlink_to("/dev/full")
    done = run("train_unsloth.py", "--config", "configs/cpu-demo.yaml", "--data.dir", str(tiny_data),
               "--train.output_dir", str(out), "--train.max_steps", "2", "--train.batch_size", "2",
               "--train.eval_steps", "1", "--train.early_stopping_patience", "0", "--model.max_seq", "128",
               check=False)
    assert done.returncode == 4, done.stderr[-3000:]
    error = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "Traceback" not in done.stderr
    assert error[0].startswith(f"error: saving {planted} failed (")
    assert "MB free there, a checkpoint needs about " in error[0] and error[0].endswith("then rerun with --resume")
    assert not planted.exists()
    assert train_unsloth.checkpoint_problem(out / "checkpoints" / "checkpoint-1") is None
    assert not (out / "adapter").exists() and not list(out.glob("adapter.*"))


@pytest.mark.slow
def test_one_openmp_thread_limit_trains_finite_losses(tiny_data, tmp_path, monkeypatch):
    """OMP_THREAD_LIMIT=1 (which prep's OCR used to leave in its process) made torch's bf16 autocast
    on this CPU compute a NaN loss from step 1, and the whole suite's later runs stopped with exit 5.
    Under that limit `cpu_bf16: auto` trains in float32: finite losses, an adapter."""
    monkeypatch.setenv("OMP_THREAD_LIMIT", "1")
    assert train_unsloth.cpu_bf16("auto") is False and train_unsloth.cpu_bf16(True) is True
    out = tmp_path / "run"
    run("train_unsloth.py", "--config", "configs/cpu-demo.yaml", "--data.dir", str(tiny_data),
        "--train.output_dir", str(out), "--train.max_steps", "2", "--train.batch_size", "2",
        "--train.eval_steps", "2", "--train.early_stopping_patience", "0", "--model.max_seq", "128")
    losses = [float(r["loss"]) for r in csv.DictReader((out / "metrics.csv").open()) if r["loss"]]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses), losses
    assert (out / "adapter" / "adapter_model.safetensors").is_file()


TRAIN = ["train_unsloth.py", "--config", "configs/cpu-demo.yaml", "--train.max_steps", "2", "--train.batch_size", "2",
         "--train.eval_steps", "1", "--train.early_stopping_patience", "0", "--model.max_seq", "128"]


def one_error(done) -> str:
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr[-3000:]
    return errors[0]


@pytest.mark.slow
def test_full_disk_before_training_exits_4_and_leaves_no_empty_run_folder(tiny_data, tmp_path, tmpfs):
    """A disk with room for the write probe but not for the tokenizer the space check saves to measure
    it: that save's `No space left on device` was a traceback (exit 1) and left the empty run folder.
    Now the documented line, exit 4; folders this run made are gone, a folder that held earlier work
    is kept as it was, also on a disk with no byte free."""
    small = tmpfs("small", "1m")
    if small is None:   # no mount: a real write refused all the same, by a 1 MB file-size limit
        def limit_files():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, 2**20))

        out = tmp_path / "new" / "run"
        done = subprocess.run([sys.executable, *TRAIN, "--data.dir", str(tiny_data), "--train.output_dir", str(out)],
                              cwd=ROOT, capture_output=True, text=True, preexec_fn=limit_files)
        assert done.returncode == 4, done.stderr[-3000:]
        assert one_error(done).startswith(f"error: {out}: writing there failed (File too large) with ")
        assert not (tmp_path / "new").exists()
        return

    out = small / "new" / "run"
    done = run(*TRAIN, "--data.dir", str(tiny_data), "--train.output_dir", str(out), check=False)
    assert done.returncode == 4, done.stderr[-3000:]
    line = one_error(done)
    assert re.fullmatch(rf"error: {re.escape(str(out))}: [01] MB free, training needs about (\d+) MB \(checkpoints of "
                        r"(\d+) MB and the adapter\): free \d+ MB on that disk or choose another --train.output_dir",
                        line), line
    assert list(small.iterdir()) == []   # new/ and new/run/ were this run's: removed

    earlier = small / "earlier"
    (earlier / "checkpoints").mkdir(parents=True)
    (earlier / "metrics.csv").write_text("step,epoch,loss\n1,0.5,2.0\n")
    with open(small / "filler", "wb", buffering=0) as filler:   # fill the disk to its last byte
        with pytest.raises(OSError):
            while True:
                filler.write(b"\0" * 4096)
    assert shutil.disk_usage(small).free == 0
    done = run(*TRAIN, "--data.dir", str(tiny_data), "--train.output_dir", str(earlier), check=False)
    assert done.returncode == 4, done.stderr[-3000:]
    assert one_error(done).startswith(f"error: {earlier}: 0 MB free, training needs about ")
    assert sorted(p.name for p in earlier.rglob("*")) == ["checkpoints", "metrics.csv"]
    assert (earlier / "metrics.csv").read_text() == "step,epoch,loss\n1,0.5,2.0\n"


@pytest.mark.slow
def test_failed_first_save_does_not_advise_resume(tiny_data, tmp_path):
    """The disk fills at the first checkpoint (/dev/full where its optimizer state goes): no whole
    checkpoint exists, so `--resume` would stop with "no complete checkpoint". The line says to run
    the same command again instead, and that command trains."""
    out = tmp_path / "run"
    planted = out / "checkpoints" / "checkpoint-1"
    planted.mkdir(parents=True)
    (planted / "optimizer.pt").symlink_to("/dev/full")
    args = [*TRAIN, "--data.dir", str(tiny_data), "--train.output_dir", str(out)]
    done = run(*args, check=False)
    assert done.returncode == 4, done.stderr[-3000:]
    line = one_error(done)
    assert line.startswith(f"error: saving {planted} failed (")
    assert line.endswith("then run the same command again, without --resume (no whole checkpoint was saved yet)")
    assert "--resume" not in line.replace("without --resume", "")
    assert not planted.exists()

    resumed = run(*args, "--resume", check=False)   # what the old advice led to
    assert resumed.returncode == 2 and "no complete checkpoint" in resumed.stderr
    run(*args)   # what the line says now
    assert json.loads((out / "summary.json").read_text())["global_step"] == 2
