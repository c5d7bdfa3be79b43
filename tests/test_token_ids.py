"""What the model really sees: a training example's token ids begin exactly as the chat template
renders them, with one BOS, and serve.py's prompt for the same turn is the same ids in llama.cpp.

Two templates. The embedded SmolLM2's ChatML, whose BOS is `<|im_start|>`, written by the template
itself, and whose tokenizer adds nothing. And a Llama-3-style one built here from SmolLM2's own
vocabulary (no download): its template renders `{{ bos_token }}` and its tokenizer also prepends
`<|begin_of_text|>` to any text it encodes, the combination that gives a double BOS when a trainer
renders the template and then tokenizes the text with special tokens on (Unsloth warns "We found
double BOS tokens" on such a model and removes one; tests/test_gpu.py checks that path).
The ids expected here are written out from the template by hand, not read from the trainer.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, TINY_LLAMA
from scripts.bench_gpu import llama3_style_tokenizer, random_llama

USER = "[SPEC] I need the tightening torque for the clutch housing to crankcase, M8 screw: what does the manual say?"
ANSWER = "M8: 27 Nm [21-1]"


def smollm2_folder() -> Path:
    from base_model import resolve_base

    return Path(resolve_base("embedded:smollm2-135m"))


def expected_ids(tokenizer, kind: str, with_answer: bool) -> list[int]:
    """The ids written out from the template by hand: special tokens by id, text pieces encoded
    without special tokens."""
    sp = tokenizer.convert_tokens_to_ids

    def text(s: str) -> list[int]:
        return tokenizer(s, add_special_tokens=False)["input_ids"]

    if kind == "smollm2":
        # SmolLM2's template adds its default system turn when there is none.
        system = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
        ids = [sp("<|im_start|>")] + text("system\n" + system) + [sp("<|im_end|>")] + text("\n")
        ids += [sp("<|im_start|>")] + text("user\n" + USER) + [sp("<|im_end|>")] + text("\n")
        ids += [sp("<|im_start|>")] + text("assistant\n")
        if with_answer:
            ids += text(ANSWER) + [sp("<|im_end|>")] + text("\n")
        return ids
    ids = [sp("<|begin_of_text|>"), sp("<|start_header_id|>")] + text("user") + [sp("<|end_header_id|>")]
    ids += text("\n\n" + USER) + [sp("<|eot_id|>"), sp("<|start_header_id|>")] + text("assistant")
    ids += [sp("<|end_header_id|>")] + text("\n\n")
    if with_answer:
        ids += text(ANSWER) + [sp("<|eot_id|>")]
    return ids


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("token-ids")
    llama3 = random_llama(root / "llama3-tiny", llama3_style_tokenizer(root / "llama3-tokenizer"), TINY_LLAMA)
    return {"smollm2": smollm2_folder(), "llama3": llama3}


def trainer_example(model_dir: Path, tmp_path: Path) -> tuple[list[int], list[int], object]:
    """The first training example as train_unsloth.build_trainer tokenises it (the CPU path): its ids,
    the positions the loss covers, and the tokenizer."""
    import yaml

    import train_unsloth
    from config import load_config

    data = tmp_path / "data"
    data.mkdir()
    line = json.dumps({"messages": [{"role": "user", "content": USER}, {"role": "assistant", "content": ANSWER}],
                       "meta": {"task": "spec"}})
    for name in ("hf_train.jsonl", "hf_val.jsonl"):
        (data / name).write_text(line + "\n")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"data": {"dir": str(data)}, "model": {"base": str(model_dir), "max_seq": 256},
                                      "train": {"output_dir": str(tmp_path / "run"), "packing": False}}))
    cfg = load_config(config, [])
    train, val, recall = train_unsloth.read_dataset(data)
    model, tokenizer = train_unsloth.load_peft_cpu(cfg)
    trainer = train_unsloth.build_trainer(cfg, model, tokenizer, train, val, on_cuda=False, total_steps=1, recall_rows=recall)
    row = trainer.train_dataset[0]
    # TRL marks the trained tokens with a completion_mask (1) or with labels (-100 where masked).
    trained = row["completion_mask"] if "completion_mask" in row else [label != -100 for label in row["labels"]]
    return row["input_ids"], [i for i, on in enumerate(trained) if on], tokenizer


@pytest.mark.parametrize("kind", ["smollm2", "llama3"])
def test_training_ids_are_the_template_with_one_bos(kind, models, tmp_path):
    ids, trained, tokenizer = trainer_example(models[kind], tmp_path)
    want = expected_ids(tokenizer, kind, with_answer=True)
    bos = tokenizer.bos_token_id
    assert ids[:len(want)] == want, tokenizer.decode(ids)
    assert ids[0] == bos and ids.count(bos) == (3 if kind == "smollm2" else 1)  # ChatML's BOS opens each turn
    # The loss covers the answer and its end-of-turn token, nothing of the prompt.
    prompt_len = len(expected_ids(tokenizer, kind, with_answer=False))
    answer_len = len(tokenizer(ANSWER, add_special_tokens=False)["input_ids"]) + 1
    assert trained[0] == prompt_len and trained[:answer_len] == list(range(prompt_len, prompt_len + answer_len))


def test_tokenizer_adds_a_bos_that_the_template_already_wrote(models):
    """The premise of the Llama-3 case: encode the rendered text with special tokens on and the BOS
    is doubled. A trainer must not do that; the test above shows ours does not."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(models["llama3"])
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": USER}], tokenize=False)
    ids = tokenizer(rendered)["input_ids"]
    assert ids[:2] == [tokenizer.bos_token_id] * 2


def convert_llama3(model_dir: Path, out: Path) -> Path:
    """llama.cpp's converter names a BPE pre-tokenizer by hashing how it splits a test text; this
    vocabulary with Llama 3's split is in no list, so it is told: `llama-bpe`, llama.cpp's Llama 3 split."""
    launch = ("import sys, conversion.base as b, convert_hf_to_gguf as c; "
              "b.TextModel.get_vocab_base_pre = lambda self, tokenizer: 'llama-bpe'; "
              "sys.argv = ['convert_hf_to_gguf', *sys.argv[1:]]; c.main()")
    done = subprocess.run([sys.executable, "-c", launch, str(model_dir), "--outfile", str(out), "--outtype", "f16"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


# smollm2 reads the GGUF export.py wrote from the session's trained run: it trains and exports
@pytest.mark.parametrize("kind", [pytest.param("smollm2", marks=pytest.mark.slow), "llama3"])
def test_serve_prompt_is_the_same_ids_in_llama_cpp(kind, models, request, tmp_path):
    """serve.py renders the GGUF's own template and tokenises it in llama.cpp: the ids must be the
    ones the model trained on, up to the start of the answer."""
    from transformers import AutoTokenizer

    import serve

    if kind == "smollm2":
        # the file export.py wrote from the trained run (conftest's session fixture)
        gguf, tokenizer = request.getfixturevalue("exported")["q8_0"], AutoTokenizer.from_pretrained(smollm2_folder())
    else:
        gguf, tokenizer = convert_llama3(models[kind], tmp_path / "llama3-tiny.gguf"), AutoTokenizer.from_pretrained(models[kind])
    model = serve.load_model(serve.Settings(model=gguf, ctx=512, threads=1))
    ids = serve.prompt_tokens(model, [{"role": "user", "content": USER}], max_tokens=16)
    assert ids == expected_ids(tokenizer, kind, with_answer=False), model.llm.detokenize(ids)
