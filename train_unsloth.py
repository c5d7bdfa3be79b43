"""Fine-tune a LoRA on the manual's dataset: Unsloth 4-bit QLoRA on a CUDA GPU, transformers + PEFT on a CPU.

    python train_unsloth.py --config configs/colab-t4.yaml             # Colab T4: Unsloth QLoRA
    python train_unsloth.py --config configs/cpu-demo.yaml --dry-run   # print the resolved config and plan
    python train_unsloth.py --config configs/cpu-demo.yaml --train.max_steps 20 --resume

Both paths read the same data (data/hf_train.jsonl, data/hf_val.jsonl, and data/hf_recall.jsonl where prep
wrote it), train the same LoRA shape
(r, alpha, dropout, target modules from the config) with TRL's SFTTrainer, compute the loss on the
assistant's answer only (its end-of-turn token included), and write the same run folder:

    RUN_DIR/adapter/             PEFT adapter + tokenizer (the best checkpoint by eval loss, see train.select_on)
    RUN_DIR/checkpoints/         Trainer checkpoints, for --resume after a kill
    RUN_DIR/resolved_config.yaml RUN_DIR/metrics.csv  RUN_DIR/loss.png  RUN_DIR/summary.json

Exit codes: 2 a bad config, dataset line or output folder (the message names it); 3 out of GPU memory;
4 the output folder's disk is too small or filled up (the partial checkpoint is removed); 5 the loss
stopped being a finite number (training stops, the last good checkpoint is kept, no adapter written).
Nothing here touches the network unless model.base names a hub model (config.offline_unless_hub).
"""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
import random
import re
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from cli import EXTRA, OVERRIDES, fail
from config import TASKS, KitConfig, library_versions, offline_unless_hub, save_config
from files import RowError, read_chat_rows, write_atomic

app = typer.Typer(add_completion=False, help=__doc__, rich_markup_mode=None)


class DataError(Exception):
    """A dataset problem, worded for the user (file, line, what is wrong)."""


class NonFiniteLoss(Exception):
    """A logged loss is NaN or inf: the weights are lost, every later step and checkpoint would be too."""


SAVE_TOTAL_LIMIT = 2  # checkpoints kept; one more exists while the next is written


@app.command(context_settings=EXTRA, epilog=OVERRIDES)
def main(
    ctx: typer.Context,
    config: Annotated[Path, typer.Option(help="YAML config (see configs/).")] = Path("configs/cpu-demo.yaml"),
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the resolved config and the plan, say what is missing (no dataset yet), "
        "then exit.")] = False,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue from the last checkpoint in the run folder.")] = False,
) -> None:
    """Train a LoRA on prep's dataset (data.dir) into train.output_dir."""
    from cli import dry_run as show, load

    cfg = load(config, ctx.args)
    try:
        train_rows, val_rows, recall_rows = read_dataset(cfg.data.dir)
    except DataError as err:
        if dry_run:   # the plan is still worth seeing before the dataset exists
            return show(cfg, {"stage": "train", "data": str(cfg.data.dir), "run": str(cfg.train.output_dir),
                              "base": cfg.model.base}, [str(err)])
        raise fail(str(err)) from None

    # ---------------------------------------------------------------- network
    # Before torch/transformers/trl are imported: huggingface_hub reads its switches once, at import.
    offline_unless_hub(cfg)

    # ---------------------------------------------------------------- device and plan
    import torch

    on_cuda = torch.cuda.is_available()
    if cfg.model.load_in_4bit and not on_cuda:
        typer.echo("note: model.load_in_4bit needs CUDA (bitsandbytes); on this CPU the same LoRA trains "
                   "on float32 base weights instead.", err=True)
    if cfg.train.packing and not on_cuda:
        typer.echo("note: train.packing on a CPU: without flash attention, packed examples can attend to "
                   "each other (TRL's warning); measured 1.4x tokens/s (docs/benchmarks.md)", err=True)
    train_rows = weighted_rows(train_rows, cfg.train.task_weights, cfg.train.seed)
    steps_per_epoch = math.ceil(len(train_rows) / (cfg.train.batch_size * cfg.train.grad_accum))
    total_steps = cfg.train.max_steps if cfg.train.max_steps > 0 else math.ceil(steps_per_epoch * cfg.train.epochs)
    plan = {
        "device": torch.cuda.get_device_name(0) if on_cuda else "cpu",
        "path": f"unsloth {'4-bit QLoRA' if cfg.model.load_in_4bit else '16-bit LoRA'} ({cuda_precision(cfg.train.precision)}, "
                f"gradient checkpointing {cfg.train.gradient_checkpointing})" if on_cuda else
                f"transformers + PEFT LoRA ({'bf16 autocast' if cpu_bf16(cfg.train.cpu_bf16) else 'float32'})",
        "base": cfg.model.base,
        "train_examples": len(train_rows),
        "val_examples": len(val_rows),
        "recall_examples": len(recall_rows),
        "select_on": select_metric(cfg, val_rows, recall_rows),
        "tasks_in_train": {t: sum(r["task"] == t for r in train_rows) for t in TASKS},
        "steps_per_epoch": steps_per_epoch,
        "optimizer_steps": total_steps,
        "train_chars": sum(len(r["prompt"][0]["content"]) + len(r["completion"][0]["content"]) for r in train_rows),
    }
    if dry_run:
        return show(cfg, plan)

    # ---------------------------------------------------------------- run folder
    run_dir = cfg.train.output_dir
    checkpoints = run_dir / "checkpoints"
    resume_from, incomplete = None, []
    if resume:
        # A kill or a full disk during a save leaves checkpoint-N without its trainer_state.json; the
        # Trainer would pick it as the latest and stop ("Can't find a valid checkpoint"). Take the
        # last whole one instead.
        resume_from, incomplete = last_complete_checkpoint(checkpoints)
        if resume_from is None:
            why = "; ".join(f"{path.name}: {problem}" for path, problem in incomplete)
            raise fail(f"--resume: no complete checkpoint in {checkpoints}{f' ({why})' if why else ''}; "
                       "run without --resume to start over")
    made = first_missing(run_dir)  # removed again if the run stops before training; an existing folder is kept
    no_room = None
    try:
        check_writable(run_dir)
    except OSError as err:
        if err.errno not in NO_ROOM:
            remove_made(made)
            raise fail(f"train.output_dir {run_dir}: cannot write there ({os_reason(err)}); "
                       "choose another --train.output_dir")
        no_room = err  # a full disk: said below, with what training needs there, once the LoRA's size is known
    for path, problem in incomplete:
        shutil.rmtree(path)  # the Trainer would save into it again at that step, beside its stale temp files
        typer.echo(f"note: {path} is incomplete ({problem}: its save was cut short); removed it, resuming from "
                   f"{resume_from.name}", err=True)

    # ---------------------------------------------------------------- model
    try:
        model, tokenizer = load_unsloth(cfg) if on_cuda else load_peft_cpu(cfg)
    except BaseModelProblem as err:
        raise fail(str(err))

    # ---------------------------------------------------------------- disk space
    # Checked before the first step, not found out at the first save: a checkpoint holds the LoRA
    # weights, Adam's two moments and the tokenizer; up to SAVE_TOTAL_LIMIT + 1 exist at once.
    try:
        checkpoint_size = checkpoint_bytes(model, tokenizer, None if no_room else run_dir)
    except Exception as err:  # noqa: BLE001  not even the tokenizer's few MB fit there (tokenizers says so in Rust's words)
        no_room = room_error(err)
        if no_room is None:
            raise
        checkpoint_size = checkpoint_bytes(model, tokenizer, None)
    kept = len(list(checkpoints.glob("checkpoint-*"))) if checkpoints.is_dir() else 0
    need = max(1, SAVE_TOTAL_LIMIT + 1 - kept) * checkpoint_size + checkpoint_size // 3
    free = free_bytes(run_dir)
    if free < need or no_room:
        remove_made(made)
        if free < need:
            raise fail(f"{run_dir}: {mb(free)} MB free, training needs about {mb(need)} MB (checkpoints of "
                       f"{mb(checkpoint_size)} MB and the adapter): free {mb(need - free)} MB on that disk or "
                       "choose another --train.output_dir", 4)
        # Room by the disk's count, yet the write was refused: a quota or a file-size limit.
        raise fail(f"{run_dir}: writing there failed ({os_reason(no_room)}) with {mb(free)} MB free; training "
                   f"needs about {mb(need)} MB (checkpoints of {mb(checkpoint_size)} MB and the adapter): raise the "
                   "quota or file-size limit, or choose another --train.output_dir", 4)
    save_config(cfg, run_dir / "resolved_config.yaml")

    # ---------------------------------------------------------------- data and trainer
    resumed_step = checkpoint_step(resume_from) if resume_from else 0
    log = RunLog(run_dir, total_steps, resumed_step)
    trainer = build_trainer(cfg, model, tokenizer, train_rows, val_rows, on_cuda=on_cuda, total_steps=total_steps,
                            callbacks=[log], recall_rows=recall_rows)

    # ---------------------------------------------------------------- train
    started = time.time()
    try:
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    except torch.cuda.OutOfMemoryError:
        log.close()  # each message below first ends the progress bar's line
        raise fail(f"out of GPU memory at batch_size={cfg.train.batch_size}, max_seq={cfg.model.max_seq}: "
                   "lower --train.batch_size (raise --train.grad_accum to keep the effective batch) or "
                   "--model.max_seq", 3)
    except NonFiniteLoss as err:
        # Raised from on_log, before this step's evaluation or checkpoint: what is on disk is good.
        log.close()
        last, _ = last_complete_checkpoint(checkpoints)
        raise fail(f"{err}; training stopped, no adapter written, last good checkpoint: "
                   f"{last or 'none yet'}. Lower --train.lr (now {cfg.train.lr:g}) and train again", 5)
    except Exception as err:
        # A save cut short (full disk: torch.save says RuntimeError, open() OSError) leaves the step's
        # checkpoint without trainer_state.json. Remove it, so nothing looks resumable that is not.
        partial = checkpoints / f"checkpoint-{trainer.state.global_step}"
        if partial.is_dir() and checkpoint_problem(partial) is not None:
            log.close()
            shutil.rmtree(partial, ignore_errors=True)
            raise fail(f"saving {partial} failed ({first_line(err)}); removed it. {mb(free_bytes(run_dir))} MB "
                       f"free there, a checkpoint needs about {mb(checkpoint_size)} MB: free space on that disk (or "
                       f"choose another --train.output_dir), then {rerun(checkpoints)}", 4)
        if room_error(err) is not None:  # metrics.csv, or a file the Trainer writes
            log.close()
            raise fail(f"writing in {run_dir} failed at step {trainer.state.global_step} ({first_line(err)}); "
                       f"{mb(free_bytes(run_dir))} MB free there: free space on that disk (or choose another "
                       f"--train.output_dir), then {rerun(checkpoints)}", 4)
        raise
    finally:
        log.close()
    wall = time.time() - started

    # ---------------------------------------------------------------- save
    # load_best_model_at_end has put the best checkpoint's weights back into the model.
    adapter_dir = run_dir / "adapter"
    tmp = Path(tempfile.mkdtemp(dir=run_dir, prefix="adapter.", suffix=".tmp"))  # renamed when whole
    try:
        trainer.model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    except Exception as err:  # noqa: BLE001  safetensors, torch and open() each word a full disk their own way
        shutil.rmtree(tmp, ignore_errors=True)
        raise fail(f"writing {tmp} failed ({first_line(err)}); removed it. {mb(free_bytes(run_dir))} MB free "
                   f"there, the adapter needs about {mb(checkpoint_size // 3)} MB: free space, then "
                   f"{rerun(checkpoints)}", 4)
    if adapter_dir.exists():
        shutil.rmtree(adapter_dir)
    tmp.rename(adapter_dir)

    state = trainer.state
    summary = {
        "plan": plan,
        "global_step": state.global_step,
        "best_eval_loss": state.best_metric,
        "best_metric": plan["select_on"],
        "best_checkpoint": state.best_model_checkpoint,
        "loss_per_epoch": log.loss_per_epoch(),
        # The eval loss on hf_val (unseen pages), and on hf_recall (trained facts, unseen wording).
        "eval_loss_per_eval": [(e["epoch"], e["eval_loss"]) for e in log.evals if e["eval_loss"] is not None],
        "recall_loss_per_eval": [(e["epoch"], e["recall_loss"]) for e in log.evals if e["recall_loss"] is not None],
        "tokens_seen": int(state.num_input_tokens_seen),
        "tokens_per_s": round(state.num_input_tokens_seen / wall, 1) if wall else None,
        "wall_s": round(wall, 1),
        "padding_fraction": trainer.data_collator.padding_fraction(),
        "peak_ram_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_vram_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if on_cuda else None,
        "versions": library_versions(),
    }
    write_json(run_dir / "summary.json", summary)
    plot_losses(log.rows, run_dir / "loss.png")
    typer.echo(f"adapter: {adapter_dir}  best {plan['select_on']} loss {state.best_metric:.4f}  "
               f"{summary['tokens_per_s']} tokens/s  {wall:.0f} s")


# -------------------------------------------------------------------- data
def read_dataset(data_dir: Path) -> tuple[list[dict], list[dict], list[dict]]:
    """hf_train.jsonl, hf_val.jsonl and hf_recall.jsonl (optional: [] when absent) as prompt/completion
    rows; a bad line is named by file and line, never left to fail later inside TRL's templating."""
    splits = []
    for name in ("hf_train.jsonl", "hf_val.jsonl", "hf_recall.jsonl"):
        path = data_dir / name
        if name == "hf_recall.jsonl" and not path.is_file():
            splits.append([])
            continue
        if not path.is_file():
            hint = " (build it with: python -m prep build SRC_DIR)" if name == "hf_train.jsonl" else \
                   " (a validation split is required: prep writes it beside hf_train.jsonl)"
            raise DataError(f"{path}: not found{hint}")
        try:
            rows = [{"prompt": user, "completion": answer, "task": task}
                    for _, user, answer, task, _ in read_chat_rows(path, blank_lines=False)]
        except RowError as err:
            raise DataError(str(err)) from None
        if not rows and name != "hf_val.jsonl":
            raise DataError(f"{path}: no examples")
        splits.append(rows)
    if not splits[1] and not splits[2]:
        raise DataError(f"{data_dir / 'hf_val.jsonl'}: no examples, and no hf_recall.jsonl to evaluate on")
    return splits[0], splits[1], splits[2]


def select_metric(cfg: KitConfig, val_rows: list[dict], recall_rows: list[dict]) -> str:
    """Which eval loss picks the best checkpoint and drives early stopping (train.select_on); the
    other set when one is empty (no recall probes in an older data/; data.val_fraction 0)."""
    if cfg.train.select_on == "recall" and recall_rows or not val_rows:
        return "recall"
    return "val"


def weighted_rows(rows: list[dict], weights: dict[str, float], seed: int) -> list[dict]:
    """Per-task sampling weights: weight 2.5 keeps each example twice and a seeded half of them a third time."""
    if not weights:
        return rows
    rng = random.Random(seed)
    out = []
    for row in rows:
        weight = weights.get(row["task"], 1.0)
        copies = int(weight) + (rng.random() < weight - int(weight))
        out.extend([row] * copies)
    return out


def build_trainer(cfg: KitConfig, model, tokenizer, train_rows, val_rows, *, on_cuda: bool, total_steps: int,
                  callbacks=(), recall_rows=()):
    """TRL's SFTTrainer over prompt/completion rows, the same on both paths. With recall rows, every
    evaluation scores both sets (eval_val_loss, eval_recall_loss); train.select_on picks the best."""
    from datasets import Dataset
    from transformers import EarlyStoppingCallback, PrinterCallback, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    def rows_to_ds(rows):
        return Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in rows])

    run_dir = cfg.train.output_dir
    by_steps = cfg.train.eval_steps > 0
    args = SFTConfig(
        output_dir=str(run_dir / "checkpoints"),
        num_train_epochs=cfg.train.epochs,
        max_steps=cfg.train.max_steps,
        per_device_train_batch_size=cfg.train.batch_size,
        per_device_eval_batch_size=cfg.train.batch_size,
        gradient_accumulation_steps=cfg.train.grad_accum,
        learning_rate=cfg.train.lr,
        warmup_steps=math.ceil(cfg.train.warmup_ratio * total_steps),
        weight_decay=cfg.train.weight_decay,
        lr_scheduler_type="linear",
        optim=cfg.train.optim if cfg.train.optim != "auto" else ("adamw_8bit" if on_cuda else "adamw_torch"),
        # T4 has no bf16: fp16 there, bf16 on Ampere and newer (train.precision). On a CPU, bf16 autocast
        # where the CPU has it natively (the LoRA weights and optimizer stay float32), float32 elsewhere.
        fp16=on_cuda and cuda_precision(cfg.train.precision) == "fp16",
        bf16=cuda_precision(cfg.train.precision) == "bf16" if on_cuda else cpu_bf16(cfg.train.cpu_bf16),
        use_cpu=not on_cuda,
        # TRL turns checkpointing on by default. Unsloth's own ("unsloth") is set up in load_unsloth and
        # needs the flag on; a CPU run of a small model has the memory to keep its activations.
        gradient_checkpointing=on_cuda and cfg.train.gradient_checkpointing != "off",
        train_sampling_strategy="group_by_length" if cfg.train.group_by_length and not cfg.train.packing else "random",
        max_length=cfg.model.max_seq,
        packing=cfg.train.packing,
        # Prompt/completion rows: TRL masks the prompt, so the loss covers the answer and its end-of-turn.
        completion_only_loss=True,
        eval_strategy="steps" if by_steps else "epoch",
        eval_steps=cfg.train.eval_steps if by_steps else None,
        save_strategy="steps" if by_steps else "epoch",
        save_steps=cfg.train.eval_steps if by_steps else None,
        save_total_limit=SAVE_TOTAL_LIMIT,
        load_best_model_at_end=True,
        metric_for_best_model=f"eval_{select_metric(cfg, val_rows, list(recall_rows))}_loss",
        greater_is_better=False,
        logging_steps=cfg.train.logging_steps,
        # True (the default) logs a NaN/inf step as the window's average loss: the run would look healthy.
        logging_nan_inf_filter=False,
        include_num_input_tokens_seen="non_padding",
        report_to="none",
        disable_tqdm=True,  # RunLog shows one bar with loss and tokens/s
        seed=cfg.train.seed,
        data_seed=cfg.train.seed,
        dataset_num_proc=1,
    )
    class StopOnNonFiniteLoss(TrainerCallback):
        """A NaN/inf loss (a huge lr, fp16 overflow) would train on, evaluate as inf, be saved and be
        exported as an adapter of NaNs. Stop at the first one: evaluation is logged before the step's
        checkpoint is saved, so weights that went bad are never saved."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            for key, name in (("loss", "train loss"), ("eval_loss", "eval loss"), ("eval_val_loss", "val loss"),
                              ("eval_recall_loss", "recall loss")):
                value = (logs or {}).get(key)
                if value is not None and not math.isfinite(value):
                    raise NonFiniteLoss(f"{name} is {value} at step {state.global_step}")

    callbacks = [*callbacks, StopOnNonFiniteLoss()]
    if cfg.train.early_stopping_patience > 0:
        class OneSetEarlyStopping(EarlyStoppingCallback):
            """Trainer evaluates each eval set in its own call: judge only the call with the chosen
            set's loss (the stock callback warns "early stopping is disabled" on the others)."""

            def on_evaluate(self, args, state, control, metrics, **kwargs):
                if args.metric_for_best_model in metrics:
                    super().on_evaluate(args, state, control, metrics, **kwargs)

        callbacks.append(OneSetEarlyStopping(early_stopping_patience=cfg.train.early_stopping_patience))
    evals = {}
    if val_rows:  # empty when prep ran with data.val_fraction 0 (every page trains)
        evals["val"] = rows_to_ds(val_rows)
    if recall_rows:
        evals["recall"] = rows_to_ds(recall_rows)
    trainer = SFTTrainer(model=model, args=args, train_dataset=rows_to_ds(train_rows),
                         eval_dataset=evals, processing_class=tokenizer, callbacks=callbacks)
    trainer.remove_callback(PrinterCallback)  # it prints every log dict; metrics.csv has them
    trainer.data_collator = PaddingCounter(trainer.data_collator, trainer.model)
    return trainer


def cuda_precision(setting: str) -> str:
    """bf16 or fp16 for the CUDA path: `auto` takes bf16 where the GPU has it (not a T4)."""
    if setting != "auto":
        return setting
    import torch

    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp16"


def cpu_bf16(setting: bool | str) -> bool:
    """bf16 autocast on this CPU? `auto` asks oneDNN whether the CPU does bf16 natively, and says no
    under OMP_THREAD_LIMIT=1: there torch's CPU autocast computes a NaN loss from the first step
    (torch 2.13; measured: a limit of 2, or OMP_NUM_THREADS=1, train normally)."""
    if setting != "auto":
        return bool(setting)
    import os

    if os.environ.get("OMP_THREAD_LIMIT", "").strip() == "1":
        return False
    import torch

    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


# -------------------------------------------------------------------- run folder and checkpoints
def checkpoint_problem(path: Path) -> str | None:
    """Why a Trainer checkpoint cannot be resumed from, or None when it is whole. The Trainer writes the
    weights, optimizer and scheduler, then trainer_state.json last: a save cut short lacks it."""
    if not any((path / name).is_file() for name in ("adapter_model.safetensors", "adapter_model.bin")):
        return "no adapter weights"
    for name in ("optimizer.pt", "scheduler.pt"):
        if not (path / name).is_file():
            return f"no {name}"
    try:
        int(json.loads((path / "trainer_state.json").read_text())["global_step"])
    except FileNotFoundError:
        return "no trainer_state.json"
    except (ValueError, KeyError, TypeError):
        return "trainer_state.json cut short"
    return None


def checkpoint_step(path: Path) -> int:
    return int(path.name.rpartition("-")[2])


def last_complete_checkpoint(folder: Path) -> tuple[Path | None, list[tuple[Path, str]]]:
    """The newest whole checkpoint in `folder`, and the incomplete ones newer than it (with why)."""
    found = [p for p in folder.glob("checkpoint-*") if p.is_dir() and p.name.rpartition("-")[2].isdigit()]
    incomplete = []
    for path in sorted(found, key=checkpoint_step, reverse=True):
        problem = checkpoint_problem(path)
        if problem is None:
            return path, incomplete
        incomplete.append((path, problem))
    return None, incomplete


def rerun(checkpoints: Path) -> str:
    """What to run after a write failed: --resume only where a whole checkpoint is there to resume
    from (with none, --resume stops with "no complete checkpoint")."""
    last, _ = last_complete_checkpoint(checkpoints) if checkpoints.is_dir() else (None, [])
    if last is not None:
        return "rerun with --resume"
    return "run the same command again, without --resume (no whole checkpoint was saved yet)"


# The errors of a write the disk refused for want of room (a quota and a file-size limit alike).
NO_ROOM = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG}


def room_error(err: BaseException) -> OSError | None:
    """`err` as an OSError when it is a write refused for want of room, however it is worded: an
    OSError, or a Rust library's `... (os error 28)` (tokenizers, safetensors); else None."""
    if isinstance(err, OSError):
        return err if err.errno in NO_ROOM else None
    found = re.search(r"\(os error (\d+)\)|\[Errno (\d+)\]", str(err))
    code = int(found[1] or found[2]) if found else None
    return OSError(code, os.strerror(code)) if code in NO_ROOM else None


def first_missing(folder: Path) -> Path | None:
    """The topmost folder of `folder`'s path that does not exist yet (what a mkdir -p would create)."""
    missing = None
    for path in [folder, *folder.parents]:
        if path.exists():
            break
        missing = path
    return missing


def remove_made(made: Path | None) -> None:
    """Remove the folders this run created (first_missing's), when it stops before training; a
    folder that was there before is never touched."""
    if made is not None:
        shutil.rmtree(made, ignore_errors=True)


def check_writable(folder: Path) -> None:
    """Create the folder and write a file in it. os.access says yes to root on a folder root cannot
    write (a read-only mount, a path under a file is no folder at all); a real write does not lie."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder) as probe:
        probe.write(b"probe")
        probe.flush()


def checkpoint_bytes(model, tokenizer, folder: Path | None) -> int:
    """About what one checkpoint takes: the trainable (LoRA) weights as saved, Adam's two float32
    moments of each (adamw_8bit needs less: an over-estimate on CUDA), the tokenizer files as
    this tokenizer writes them in `folder`, and a margin for scheduler, RNG and trainer state.
    Folder None (the disk has no room to write them): the tokenizer files it was read from."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    weights = sum(p.numel() * p.element_size() for p in trainable)
    moments = 2 * 4 * sum(p.numel() for p in trainable)
    if folder is None:
        source = Path(tokenizer.name_or_path)
        tokenizer_files = sum(f.stat().st_size for f in source.glob("*") if f.is_file() and f.suffix != ".safetensors"
                              and not f.name.startswith(("model", "pytorch_model"))) if source.is_dir() else 0
    else:
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            tokenizer.save_pretrained(tmp)
            tokenizer_files = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file())
    return weights + moments + tokenizer_files + 2**20


def free_bytes(folder: Path) -> int:
    """Free space on the disk that holds `folder`, or would hold it (the nearest folder that exists)."""
    try:
        return shutil.disk_usage(next(p for p in [folder, *folder.absolute().parents] if p.exists())).free
    except OSError:
        return 0


def mb(size: int) -> int:
    return max(1, round(size / 1e6)) if size > 0 else 0  # a full disk is 0 MB free, not "1"


def os_reason(err: OSError) -> str:
    return f"{err.strerror or err}: {err.filename}" if err.filename else str(err.strerror or err)


def first_line(err: Exception) -> str:
    text = os_reason(err) if isinstance(err, OSError) else str(err)
    return (text.strip().splitlines() or [type(err).__name__])[0][:200]


# -------------------------------------------------------------------- models
class BaseModelProblem(Exception):
    pass


def load_unsloth(cfg: KitConfig):
    """CUDA: Unsloth's 4-bit loader and LoRA (imported first, before trl/transformers, as it asks)."""
    import unsloth  # noqa: F401  (patches transformers/trl on import)
    from unsloth import FastLanguageModel

    from base_model import BaseModelError, resolve_base

    try:
        name = resolve_base(cfg.model.base)
    except BaseModelError as err:
        raise BaseModelProblem(str(err)) from None
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[cuda_precision(cfg.train.precision)]
    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=name, max_seq_length=cfg.model.max_seq, dtype=dtype, load_in_4bit=cfg.model.load_in_4bit)
    model = FastLanguageModel.get_peft_model(
        model, r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
        target_modules=cfg.lora.target_modules, bias="none", random_state=cfg.train.seed,
        use_gradient_checkpointing={"unsloth": "unsloth", "on": True, "off": False}[cfg.train.gradient_checkpointing])
    return model, ensure_pad_token(tokenizer)


def load_peft_cpu(cfg: KitConfig):
    """CPU: the same LoRA through transformers + PEFT on float32 weights."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from base_model import BaseModelError, resolve_base

    try:
        name = resolve_base(cfg.model.base)
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = AutoModelForCausalLM.from_pretrained(name, dtype="float32")
    except BaseModelError as err:
        raise BaseModelProblem(str(err)) from None
    except OSError as err:
        raise BaseModelProblem(f"model.base {cfg.model.base!r}: {str(err).splitlines()[0]}") from None
    lora = LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=cfg.lora.target_modules, bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, lora), ensure_pad_token(tokenizer)


def ensure_pad_token(tokenizer):
    """A pad token equal to end-of-turn would be masked out of the labels and the model would never
    learn to stop: pick a distinct one (Llama 3.2 has reserved tokens; SmolLM2 has <|endoftext|>)."""
    eos = tokenizer.eos_token
    if tokenizer.pad_token is None or tokenizer.pad_token == eos:
        vocab = tokenizer.get_vocab()
        for candidate in ("<|finetune_right_pad_id|>", "<|reserved_special_token_0|>", "<|endoftext|>", "<pad>"):
            if candidate in vocab and candidate != eos:
                tokenizer.pad_token = candidate
                break
        else:
            raise BaseModelProblem(f"tokenizer: no pad token distinct from end-of-turn {eos!r}")
    return tokenizer


# -------------------------------------------------------------------- logging
class PaddingCounter:
    """Wraps the collator to measure the share of padding in the batches actually trained on.

    Trainer builds eval batches with the same collator, after `model.eval()`: those are skipped."""

    def __init__(self, collator, model):
        self.collator, self.model = collator, model
        self.real = self.total = 0

    def __call__(self, examples):
        batch = self.collator(examples)
        if not self.model.training:
            return batch
        mask = batch.get("attention_mask")
        ids = batch["input_ids"]
        self.total += ids.numel()
        self.real += int(mask.sum()) if mask is not None else ids.numel()
        return batch

    def padding_fraction(self) -> float | None:
        return round(1 - self.real / self.total, 4) if self.total else None


class RunLog:
    """Trainer callback: metrics.csv row per log, a progress bar with loss and tokens/s."""

    FIELDS = ["step", "epoch", "loss", "eval_loss", "recall_loss", "learning_rate", "tokens_seen", "tokens_per_s",
              "elapsed_s"]

    def __init__(self, run_dir: Path, total_steps: int, resumed_step: int = 0):
        from transformers import TrainerCallback

        # Built here so the module imports without transformers (fast --help).
        self.__class__ = type("RunLogCallback", (RunLog, TrainerCallback), {})
        self.started = time.time()
        self.path = run_dir / "metrics.csv"
        # A resumed run replays the steps after its checkpoint (a kill after step 5 of a run saved at 4
        # logs 5 again): keep the rows up to the checkpoint, so each step is in the file once and the
        # summary and plot cover the whole run. A fresh run (step 0) starts a new file.
        self.rows = [row for row in self.read_rows(self.path) if row["step"] <= resumed_step]
        self.evals = [row for row in self.rows if row["eval_loss"] is not None or row["recall_loss"] is not None]
        kept = io.StringIO(newline="")
        writer = csv.DictWriter(kept, fieldnames=self.FIELDS)
        writer.writeheader()
        writer.writerows(self.rows)
        write_atomic(self.path, kept.getvalue())
        self.file = self.path.open("a", newline="")
        self.writer = csv.DictWriter(self.file, fieldnames=self.FIELDS)
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total_steps, desc="train", unit="step", dynamic_ncols=True, file=sys.stderr)

    @classmethod
    def read_rows(cls, path: Path) -> list[dict]:
        """metrics.csv back as rows; a line the kill cut short is dropped (its step is replayed)."""
        if not path.is_file():
            return []
        rows = []
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                try:
                    rows.append({k: int(row[k]) if k == "step" else float(row[k]) if row.get(k) else None
                                 for k in cls.FIELDS})
                except (KeyError, TypeError, ValueError):
                    continue
        return rows

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        # Trainer only calls model.train() inside a step, after the step's batches are built: set it
        # here and after each evaluation so PaddingCounter sees train batches as train batches.
        if model is not None:
            model.train()
        self.bar.total = state.max_steps
        self.bar.n = state.global_step  # a resumed run starts its bar where it stopped
        self.first_tokens = state.num_input_tokens_seen
        self.started = time.time()

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        elapsed = time.time() - self.started
        tokens = state.num_input_tokens_seen
        row = {
            "step": state.global_step,
            "epoch": round(state.epoch or 0, 4),
            "loss": logs.get("loss"),
            "eval_loss": logs.get("eval_val_loss", logs.get("eval_loss")),  # hf_val: unseen pages
            "recall_loss": logs.get("eval_recall_loss"),  # hf_recall: trained facts, unseen wording
            "learning_rate": logs.get("learning_rate"),
            "tokens_seen": tokens,
            "tokens_per_s": round((tokens - self.first_tokens) / elapsed, 1) if elapsed > 0 else None,
            "elapsed_s": round(elapsed, 1),
        }
        if row["loss"] is None and row["eval_loss"] is None and row["recall_loss"] is None:
            return
        self.rows.append(row)
        if row["eval_loss"] is not None or row["recall_loss"] is not None:
            self.evals.append(row)
        self.writer.writerow(row)
        self.file.flush()
        shown = {k: row[k] for k in ("loss", "eval_loss", "recall_loss", "tokens_per_s") if row[k] is not None}
        self.bar.set_postfix({k: f"{v:.4g}" for k, v in shown.items()}, refresh=False)

    def on_evaluate(self, args, state, control, model=None, **kwargs):
        if model is not None:
            model.train()

    def on_step_end(self, args, state, control, **kwargs):
        self.bar.update(state.global_step - self.bar.n)

    def loss_per_epoch(self) -> dict[str, float]:
        per: dict[int, list[float]] = {}
        for row in self.rows:
            if row["loss"] is not None:
                per.setdefault(max(0, math.ceil(row["epoch"]) - 1), []).append(row["loss"])
        return {f"epoch_{e + 1}": round(sum(v) / len(v), 4) for e, v in sorted(per.items())}

    def close(self):  # twice is harmless: after a failure, and in main's finally
        self.bar.close()
        self.file.close()


def plot_losses(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    train = [(r["step"], r["loss"]) for r in rows if r["loss"] is not None]
    evals = [(r["step"], r["eval_loss"]) for r in rows if r["eval_loss"] is not None]
    recall = [(r["step"], r["recall_loss"]) for r in rows if r.get("recall_loss") is not None]
    if train:
        ax.plot(*zip(*train), label="train loss", lw=1.2)
    if evals:
        ax.plot(*zip(*evals), "o-", label="eval loss: hf_val (unseen pages)", lw=1.5)
    if recall:
        ax.plot(*zip(*recall), "s-", label="eval loss: hf_recall (trained facts, new wording)", lw=1.5)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (answer tokens)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_json(path: Path, data) -> None:
    write_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


if __name__ == "__main__":
    app()
