"""export.py: real GGUF files that llama.cpp loads, with the fine-tune's template and stop token."""

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT, claim_free, run
from typer.testing import CliRunner

import export

SPARK = "[SPEC] I need the tightening torque for the spark plugs: what does the manual say?"


@pytest.fixture(scope="session", autouse=True)
def manual_index(sample_blocks, sample_dataset) -> Path:
    """prep's search index in the run's data dir (as `prep dataset` writes it), before any export:
    the export copies it beside the GGUF files."""
    from prep.search_index import INDEX_NAME, build_index

    if not (sample_dataset / INDEX_NAME).is_file():
        build_index(sample_blocks, sample_dataset / INDEX_NAME)
    return sample_dataset / INDEX_NAME


def test_gguf_files_load_and_carry_template_and_eot(exported):
    from llama_cpp import Llama

    for quant in ("q4_k_m", "q8_0"):
        path = exported[quant]
        assert path.is_file() and path.stat().st_size > 50 * 2**20
        llm = Llama(str(path), n_ctx=512, verbose=False)
        meta = llm.metadata
        assert "<|im_start|>assistant" in meta["tokenizer.chat_template"]
        assert int(meta["tokenizer.ggml.eos_token_id"]) == llm.tokenize(b"<|im_end|>", add_bos=False, special=True)[0]
        assert meta["tokenizer.ggml.model"] == "gpt2"  # byte-level BPE, as SmolLM2 is
        # no doubled BOS: the template carries its own <|im_start|>, the file must not add one
        assert meta.get("tokenizer.ggml.add_bos_token") == "false"
        reply = llm.create_chat_completion([{"role": "user", "content": "[SPEC] What is the tightening torque?"}],
                                           max_tokens=64, temperature=0)
        # the file answers; whether the 16-step model stops within 64 tokens varies between training runs
        # (the stop at end-of-turn is tested on fixed weights: test_serve.py)
        assert reply["choices"][0]["finish_reason"] in ("stop", "length")
        assert reply["choices"][0]["message"]["content"].strip()


def test_verification_passed_and_files_beside(exported):
    assert "pass" in exported["log"] and "FAIL" not in exported["log"]
    out = exported["dir"]
    sums = (out / "SHA256SUMS").read_text()
    assert exported["q4_k_m"].name in sums and exported["q8_0"].name in sums
    modelfile = (out / "Modelfile").read_text()
    assert modelfile.startswith(f"FROM ./{exported['q4_k_m'].name}") and 'PARAMETER stop "<|im_end|>"' in modelfile
    assert "Verification" in (out / "README.md").read_text()
    assert not list(out.glob(".export-*")), "no half-finished work folder left behind"


def test_corrupted_gguf_fails_verification(exported, tmp_path):
    broken = tmp_path / "broken-q8_0.gguf"
    shutil.copyfile(exported["q8_0"], broken)
    data = bytearray(broken.read_bytes())
    # Scramble the last third of the file: tensor data (the header and vocab sit at the start).
    start = len(data) * 2 // 3
    data[start:] = bytes((b * 131 + 7) % 256 for b in data[start:])
    broken.write_bytes(bytes(data))
    merged = tmp_path / "merged"
    run_dir = exported["dir"].parent
    from base_model import resolve_base
    from config import load_config

    cfg = load_config(run_dir / "resolved_config.yaml")
    export.merge_adapter(resolve_base(cfg.model.base), run_dir / "adapter", merged)
    report = export.verify_files(merged, {"q8_0": broken}, export.verify_prompts(cfg, 2))
    row = report[-1]
    assert not row["passed"] and row["agreement"] < export.MIN_AGREEMENT["q8_0"]


@pytest.mark.parametrize("args, message", [
    (["no/such/run"], "not a training run folder"),
])
def test_missing_run_dir_exits_2(args, message):
    result = CliRunner().invoke(export.app, args)
    assert result.exit_code == 2 and message in result.output


def test_unknown_quant_exits_2(trained_run):
    result = CliRunner().invoke(export.app, [str(trained_run), "--quant", "q3_weird"])
    assert result.exit_code == 2 and "unknown quant type 'q3_weird'" in result.output and "q4_k_m" in result.output


def test_adapter_of_another_base_exits_2(trained_run, tmp_path):
    other = tmp_path / "run"
    shutil.copytree(trained_run / "adapter", other / "adapter")
    shutil.copyfile(trained_run / "resolved_config.yaml", other / "resolved_config.yaml")
    config = other / "adapter" / "adapter_config.json"
    config.write_text(config.read_text().replace('"base_model_name_or_path": "', '"base_model_name_or_path": "other/'))
    result = CliRunner().invoke(export.app, [str(other)])
    assert result.exit_code == 2 and "was trained on 'other/" in result.output


def test_push_dry_run_lists_files_offline(exported):
    done = run("export.py", "--help")
    assert "q4_k_m" in done.stdout and "q8_0" in done.stdout
    from io import StringIO
    from contextlib import redirect_stdout

    buffer = StringIO()
    with redirect_stdout(buffer):
        export.push(exported["dir"], "me/manual", dry_run=True)
    listed = buffer.getvalue()
    assert "would upload to me/manual" in listed and exported["q4_k_m"].name in listed and "Modelfile" in listed


# ---------------------------------------------------------------------------------------------
# A hostile probe's faults: a diverged adapter, an output folder that cannot take the files, a
# killed export's work folder. Real adapters of the session's run, real exports, real filesystems
# (a path under a regular file; a read-only and a small tmpfs where `mount` works, else the free
# space read in-process and a real write refused by a file-size limit in a subprocess;
# KIT_TESTS_NO_MOUNT=1 runs those fallbacks where mount works).

def run_copy(trained_run, tmp_path) -> Path:
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run / "adapter", run_dir / "adapter")
    shutil.copyfile(trained_run / "resolved_config.yaml", run_dir / "resolved_config.yaml")
    return run_dir


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


def test_adapter_with_nan_weights_refused_before_merge(trained_run, tmp_path):
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    run_dir = run_copy(trained_run, tmp_path)
    weights = run_dir / "adapter" / "adapter_model.safetensors"
    with safe_open(str(weights), "pt") as f:
        metadata = f.metadata()
    tensors = load_file(str(weights))
    spoilt = sorted(tensors)[len(tensors) // 2]
    tensors[spoilt][0, 0] = float("nan")  # one value of one tensor, as a diverging step leaves it
    save_file(tensors, str(weights), metadata=metadata)
    out = tmp_path / "gguf"
    result = CliRunner().invoke(export.app, [str(run_dir), "--quant", "q8_0", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert error_lines(result.output) == [
        f"error: {weights}: 1 of {len(tensors)} tensors hold NaN or inf values (first: {spoilt}); "
        "the training diverged: train again with a lower --train.lr"]
    assert not out.exists()  # before any merge work: no output folder, no work folder
    assert torch.isfinite(load_file(str(trained_run / "adapter" / "adapter_model.safetensors"))[spoilt]).all()


@pytest.mark.parametrize("how", ["under a regular file", "read-only mount"])
def test_unwritable_out_refused_before_merge(trained_run, tmp_path, tmpfs, how):
    if how == "under a regular file":
        (tmp_path / "notes.txt").write_text("a file, not a folder\n")
        out, reason = tmp_path / "notes.txt" / "gguf", "Not a directory"
    else:
        read_only = tmpfs("ro", "4g", read_only=True)  # roomy: only the write is refused
        if read_only is None:
            pytest.skip("mount is not permitted here; the regular-file case covers the check")
        out, reason = read_only / "gguf", "Read-only file system"
    result = CliRunner().invoke(export.app, [str(trained_run), "--quant", "q8_0", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert error_lines(result.output) == [f"error: {out}: cannot write there ({reason}); choose another --out"]


def test_full_disk_refused_before_merge(trained_run, tmp_path, tmpfs, monkeypatch):
    from base_model import resolve_base
    from config import EMBEDDED_BASE

    small = tmpfs("small", "64m")
    if small is None:
        small = tmp_path / "small"
        claim_free(monkeypatch, 64 * 2**20)
    out = small / "gguf"
    result = CliRunner().invoke(export.app, [str(trained_run), "--quant", "q4_k_m", "--quant", "q8_0", "--out", str(out)])
    assert result.exit_code == 2, result.output
    # float32 merge + f16 GGUF + both files of the 135M model's 134.5M weights, plus a tenth
    need = export.space_needed(resolve_base(EMBEDDED_BASE), ["q4_k_m", "q8_0"])
    assert export.base_weight_count(resolve_base(EMBEDDED_BASE)) == 134_515_008 and 1.0 < need / 2**30 < 1.2
    assert error_lines(result.output) == [
        f"error: {out}: 0.06 GiB free, the export needs about {need / 2**30:.2f} GiB (merged model, f16 GGUF, "
        f"q4_k_m, q8_0): free {(need - 64 * 2**20) / 2**30:.2f} GiB there or choose another --out"]
    assert not out.exists()


def test_disk_full_during_export_leaves_nothing(trained_run, tmp_path, tmpfs, monkeypatch):
    small = tmpfs("small", "200m")
    if small is not None:
        claim_free(monkeypatch, 2**40)  # the check passes; the 538 MB float32 merge then fills 200 MiB for real
        out = small / "gguf"
        result = CliRunner().invoke(export.app, [str(trained_run), "--quant", "q8_0", "--out", str(out)])
        code, output, reason = result.exit_code, result.output, "No space left on device"
    else:  # no mount: a real write refused all the same, by a 100 MiB file-size limit
        def limit_files():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (100 * 2**20, 100 * 2**20))

        out = tmp_path / "gguf"
        done = subprocess.run([sys.executable, "export.py", str(trained_run), "--quant", "q8_0", "--out", str(out)],
                              cwd=ROOT, capture_output=True, text=True, preexec_fn=limit_files)
        code, output, reason = done.returncode, done.stdout + done.stderr, "File too large"
    assert code == 1, output
    (line,) = error_lines(output)
    assert line.startswith(f"error: {out}: writing failed ({reason}); the unfinished files were removed: free about ")
    assert "Traceback" not in output
    assert list(out.iterdir()) == []  # no .export-* work folder, no half file


def test_killed_export_work_folder_removed_and_stray_files_reported(trained_run, tmp_path):
    out = tmp_path / "gguf"
    # A real export killed once its merge is on disk: SIGKILL to its process group (the converter it
    # may have started too), as a closed terminal or the OOM killer leaves it. No cleanup can run.
    killed = subprocess.Popen([sys.executable, "export.py", str(trained_run), "--quant", "q8_0", "--no-verify",
                               "--out", str(out)], cwd=ROOT, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not list(out.glob(".export-*/merged/tokenizer.json")):  # the tokenizer is saved after the weights
        assert killed.poll() is None and time.time() < deadline, "the export ended before its merge was written"
        time.sleep(0.1)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    (stale,) = out.glob(".export-*")
    stale_mib = sum(f.stat().st_size for f in stale.rglob("*") if f.is_file()) / 2**20
    assert stale_mib > 500  # the float32 merge of the 135M model, at least
    (out / "old-q5_k_m.gguf").write_bytes(b"GGUF" + bytes(1000))  # an earlier export's file
    done = run("export.py", str(trained_run), "--quant", "q8_0", "--no-verify", "--out", str(out))
    log = done.stdout + done.stderr
    assert f"removed 1 work folder(s) of an export that did not finish ({stale.name}): {stale_mib:.0f} MiB freed" in log
    assert not list(out.glob(".export-*"))
    assert (f"note: {out} also holds 1 file(s) this export did not write (not in its SHA256SUMS): old-q5_k_m.gguf"
            in " ".join(log.split()))
    sums = (out / "SHA256SUMS").read_text()
    assert f"{trained_run.name}-q8_0.gguf" in sums and "old-q5_k_m.gguf" not in sums


def test_running_exports_work_folder_is_kept(tmp_path):
    live = Path(tempfile.mkdtemp(prefix=".export-", dir=tmp_path))
    lock = export.hold(live)  # as a running export holds it
    dead = Path(tempfile.mkdtemp(prefix=".export-", dir=tmp_path))
    (dead / ".lock").write_text("12345\n")  # its export is gone: nobody holds the lock
    export.remove_stale_work(tmp_path)
    assert live.is_dir() and not dead.exists()
    lock.close()


# ---------------------------------------------------------------------------------------------
# One folder for the shop laptop: the manual's indexes beside the GGUF files, and
# serve.py run on the folder finds all it needs there and nowhere else.

def serve_ask(folder: Path, cwd: Path, *extra: str) -> tuple[dict, str]:
    done = subprocess.run([sys.executable, str(ROOT / "serve.py"), "ask", str(folder), SPARK, "--json",
                           "--max-tokens", "24", "--threads", "1", *extra], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr


def test_the_folder_carries_the_manual_and_serve_runs_from_it(exported, sample_dataset, sample_blocks, tmp_path):
    from prep.search_index import build_index, open_index

    out = exported["dir"]
    sums = (out / "SHA256SUMS").read_text()
    for name in ("search_index.sqlite", "spec_index.jsonl", "manual.json"):
        assert f"{export.sha256(out / name)}  {name}\n" in sums
    for name in ("search_index.sqlite", "spec_index.jsonl"):
        assert (out / name).read_bytes() == (sample_dataset / name).read_bytes()
    index = open_index(sample_dataset / "search_index.sqlite")
    assert json.loads((out / "manual.json").read_text())["search_index"]["blocks_sha256"] == index.meta["blocks_sha256"]
    index.close()
    assert "serve.py chat ." in (out / "README.md").read_text()

    answer, log = serve_ask(out, tmp_path)          # no data/ in tmp_path: all of it from the folder
    assert f"using {exported['q4_k_m'].name} (q4_k_m" in log
    assert answer["model"] == exported["q4_k_m"].stem and answer["grounding"] == "context"
    # page 00-3's row `Spark plugs | 25 (18)` under `Nm (ft. lbs.)`, as printed or as prep's one-line fact
    assert answer["sources"] and any(x["page_label"] == "00-3" and ("25 (18)" in x["line"] or "25 Nm (18 ft-lb)" in x["line"])
                                     for x in answer["sources"])
    assert isinstance(answer["spec_check"], list) and "no spec index" not in log and "search index" not in log

    # The folder and nowhere else: a copy without its spec index, next to a data/ that has one,
    # and with another manual version's search index (a swapped file) beside the model.
    copy = tmp_path / "copy"
    copy.mkdir()
    os.link(exported["q4_k_m"], copy / exported["q4_k_m"].name)
    shutil.copyfile(out / "manual.json", copy / "manual.json")
    other = tmp_path / "other-blocks.jsonl"
    other.write_text("\n".join(sample_blocks.read_text(encoding="utf-8").splitlines()[:-1]) + "\n", encoding="utf-8")
    build_index(other, copy / "search_index.sqlite")
    (tmp_path / "data").mkdir()
    shutil.copyfile(out / "spec_index.jsonl", tmp_path / "data" / "spec_index.jsonl")
    answer, log = serve_ask(copy, tmp_path)
    assert answer["answer"] and answer["sources"] is None and answer["spec_check"] is None
    notes = [line for line in log.splitlines() if line.startswith("note:")]
    assert notes[0] == (f"note: no spec index found (no --spec-index, none at {copy / 'spec_index.jsonl'}); "
                        "numbers in answers are NOT checked")
    assert notes[1].startswith(f"note: {copy / 'search_index.sqlite'} is of another manual version") and len(notes) == 2


# ---------------------------------------------------------------------------------------------
# An output folder that is the export's own input, and a disk that fills during the GGUF conversion.

def untrained_run(tmp_path) -> Path:
    """A run folder as train_unsloth.py lays it out, its adapter a real LoRA of the embedded base that
    was never trained (PEFT's own save: weights, config, model card, and the tokenizer beside them)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from base_model import resolve_base
    from config import EMBEDDED_BASE

    base = resolve_base(EMBEDDED_BASE)
    run_dir = tmp_path / "run"
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    get_peft_model(AutoModelForCausalLM.from_pretrained(base), lora).save_pretrained(run_dir / "adapter")
    AutoTokenizer.from_pretrained(base).save_pretrained(run_dir / "adapter")
    assert (run_dir / "adapter" / "README.md").is_file()
    (run_dir / "checkpoints" / "checkpoint-2").mkdir(parents=True)
    (run_dir / "checkpoints" / "checkpoint-2" / "trainer_state.json").write_text('{"global_step": 2}')
    shutil.copyfile(ROOT / "configs/cpu-demo.yaml", run_dir / "resolved_config.yaml")
    return run_dir


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"/" for p in sorted(folder.rglob("*"))}


def test_out_inside_the_input_is_refused_and_nothing_written(tmp_path):
    """`export.py RUN --out RUN/adapter` was accepted: it wrote its README.md over the adapter's and
    then called the adapter's weights an earlier export's stray file. An --out (or export.out_dir)
    that is the adapter folder or inside it, the run's checkpoints, or the run folder itself is one
    line, exit 2, before anything is written."""
    run_dir = untrained_run(tmp_path)
    before = tree(run_dir)
    adapter, checkpoints = run_dir / "adapter", run_dir / "checkpoints"
    for out, why in [(adapter, "is the adapter folder, the export's input"),
                     (adapter / "gguf", "is inside the adapter folder, the export's input"),
                     (checkpoints, "is the run's checkpoints"),
                     (checkpoints / "checkpoint-2", "is inside the run's checkpoints"),
                     (run_dir, "is the run folder itself (its adapter, checkpoints and metrics would sit among the "
                               "GGUF files)"),
                     (tmp_path / "elsewhere" / ".." / "run" / "adapter", "is the adapter folder, the export's input")]:
        done = run("export.py", str(run_dir), "--quant", "q8_0", "--out", str(out), check=False)
        assert done.returncode == 2, done.stdout + done.stderr
        assert error_lines(done.stderr) == [f"error: --out {out}: {why}; choose another --out (the default is "
                                            f"{run_dir / 'gguf'})"], done.stderr
        assert "Traceback" not in done.stderr
    done = run("export.py", str(run_dir), "--export.out_dir", str(adapter), check=False)
    assert done.returncode == 2 and error_lines(done.stderr) == [
        f"error: export.out_dir {adapter}: is the adapter folder, the export's input; choose another "
        f"export.out_dir (the default is {run_dir / 'gguf'})"]
    plan = run("export.py", str(run_dir), "--out", str(adapter), "--dry-run", check=False)
    import yaml

    assert plan.returncode == 2 and yaml.safe_load(plan.stdout)["missing"] == [
        f"--out {adapter}: is the adapter folder, the export's input"]
    assert tree(run_dir) == before   # no README.md over the adapter's, no work folder, no export.log


def test_disk_full_during_the_gguf_conversion_says_no_space_and_what_to_free(trained_run, tmp_path, tmpfs,
                                                                             monkeypatch):
    """The merge fits, the f16 GGUF does not: the converter (numpy's tofile) stopped with `OSError:
    331776 requested and 201648 written`, and that was the line the user got. Now: no space left,
    what the export needs, how much more to free; the output folder is left empty."""
    from base_model import resolve_base
    from config import EMBEDDED_BASE

    small = tmpfs("mid", "700m")   # the 538 MB float32 merge fits, its 270 MB f16 GGUF then does not
    if small is None:
        pytest.skip("mount is not permitted here; a file-size limit would stop the larger merge first")
    out = small / "gguf"
    real = shutil.disk_usage

    def usage(path):
        # The checks before and after the merge read room to spare (so the conversion is reached);
        # once the export has removed its work folder, the disk's real count.
        if out.is_dir() and not list(out.glob(".export-*")):
            return real(path)
        return real(path)._replace(free=2**40)

    monkeypatch.setattr(shutil, "disk_usage", usage)
    result = CliRunner().invoke(export.app, [str(trained_run), "--quant", "q8_0", "--no-verify", "--out", str(out)])
    assert result.exit_code == 1, result.output
    (line,) = error_lines(result.output)
    need = export.space_needed(resolve_base(EMBEDDED_BASE), ["q8_0"]) / 2**30
    free = real(small).free / 2**30
    assert free > 0.6 and need > free
    assert re.fullmatch(
        rf"error: {re.escape(str(out))}: writing failed \(No space left on device: the GGUF converter wrote only "
        rf"\d+ of \d+ bytes\); the unfinished files were removed: free about {need - free:.2f} GiB more on that disk "
        rf"\(the export needs about {need:.2f} GiB there, {free:.2f} GiB is free now\) or choose another --out, "
        r"and export again", line), line
    assert "requested and" not in result.output and "Traceback" not in result.output
    assert list(out.iterdir()) == []
