"""export.py: real GGUF files that llama.cpp loads, with the fine-tune's template and stop token."""

import shutil

import pytest
from conftest import run
from typer.testing import CliRunner

import export


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
        assert reply["choices"][0]["finish_reason"] == "stop"  # stopped at end-of-turn, not at max_tokens
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
