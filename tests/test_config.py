"""The typed config: profiles hold the issue's numbers, typos and bad values are named."""

from pathlib import Path

import pytest

from config import ConfigError, load_config
from tests.helpers import run

ROOT = Path(__file__).resolve().parents[1]


def test_colab_profile_has_the_qlora_recipe():
    cfg = load_config(ROOT / "configs/colab-t4.yaml")
    assert cfg.model.base == "unsloth/Llama-3.2-3B-Instruct"
    assert cfg.model.load_in_4bit and cfg.model.max_seq == 512
    assert (cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout) == (16, 32, 0.05)
    # batch 16 x 1 and Unsloth's checkpointing: measured on a lent H100 (docs/gpu.md)
    assert (cfg.train.batch_size, cfg.train.grad_accum, cfg.train.lr, cfg.train.epochs) == (16, 1, 2e-4, 3)
    assert (cfg.train.gradient_checkpointing, cfg.train.precision, cfg.train.packing) == ("unsloth", "auto", True)


def test_yaml_on_and_off_are_checkpointing_modes(tmp_path):
    # YAML 1.1 reads a bare on/off as true/false
    path = tmp_path / "c.yaml"
    for text, mode in (("on", "on"), ("off", "off"), ("unsloth", "unsloth")):
        path.write_text(f"train:\n  gradient_checkpointing: {text}\n")
        assert load_config(path).train.gradient_checkpointing == mode
    path.write_text("train:\n  gradient_checkpointing: always\n")
    with pytest.raises(ConfigError, match="gradient_checkpointing"):
        load_config(path)


def test_cpu_profile_uses_embedded_model_and_same_lora():
    cfg = load_config(ROOT / "configs/cpu-demo.yaml")
    assert cfg.model.base == "embedded:smollm2-135m"
    assert (cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout) == (16, 32, 0.05)
    # whole epochs, the checkpoint picked by the recall probes (docs/evaluation.md)
    assert cfg.train.max_steps == -1 and cfg.train.epochs == 3 and cfg.train.select_on == "recall"


def test_unknown_key_is_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  learning_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"c.yaml: train.learning_rate: Extra inputs"):
        load_config(path)


def test_bad_value_is_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("lora:\n  dropout: 2\n")
    with pytest.raises(ConfigError, match=r"lora.dropout"):
        load_config(path)


def test_overrides_are_typed_and_checked():
    cfg = load_config(ROOT / "configs/cpu-demo.yaml", ["--train.lr", "1e-4", "--train.packing=true"])
    assert cfg.train.lr == 1e-4 and cfg.train.packing is True
    with pytest.raises(ConfigError, match="train.nope"):
        load_config(None, ["--train.nope", "1"])
    with pytest.raises(ConfigError, match="unknown task"):
        load_config(None, ["--train.task_weights", "{specs: 2}"])


def test_missing_file_is_one_line():
    with pytest.raises(ConfigError, match="config file not found"):
        load_config("no/such.yaml")


def test_non_finite_numbers_are_refused_with_the_key():
    """`--train.lr inf` passed `gt=0`, trained an adapter of 420 NaN tensors and exited 0. Every float
    field of every section refuses inf, -inf and NaN, in the YAML's spellings and as overrides."""
    from typing import get_args

    from config import KitConfig

    floats = [f"{section}.{key}" for section, field in KitConfig.model_fields.items()
              for key, sub in field.annotation.model_fields.items()
              if sub.annotation is float or float in get_args(sub.annotation) and str not in get_args(sub.annotation)]
    assert {"train.lr", "train.warmup_ratio", "train.weight_decay", "train.epochs", "lora.dropout",
            "data.val_fraction", "data.oversample_cap", "serve.temperature"} <= set(floats)
    for key in floats:
        for value in ("inf", ".inf", "-.inf", ".nan", "nan", "1e999"):
            with pytest.raises(ConfigError, match=rf"^defaults: {key}: Input should be a finite number$"):
                load_config(None, [f"--{key}", value])
    profile = ROOT / "configs/cpu-demo.yaml"
    with pytest.raises(ConfigError, match=r"cpu-demo.yaml: train.lr: Input should be a finite number"):
        load_config(profile, ["--train.lr", "inf"])
    with pytest.raises(ConfigError, match=r"train.task_weights.spec: Input should be a finite number"):
        load_config(profile, ["--train.task_weights", "{spec: .inf}"])
    assert load_config(profile, ["--train.lr", "1e-30"]).train.lr == 1e-30   # only non-finite is refused


# -------------------------------------------------------------------- mistakes a user makes in a config
# Each through a stage's own command line, in a subprocess: one line naming the file or key, exit 2.

def refused(*args: str) -> str:
    done = run("train_unsloth.py", *args, "--dry-run", check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and not done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_config_file_mistakes_are_one_line_naming_the_file(tmp_path):
    """An empty section with an override (TypeError), a file that is not UTF-8 (UnicodeDecodeError),
    an override that is not YAML (ParserError) each gave a traceback; a key given twice kept the
    last one without a word."""
    empty = tmp_path / "empty-train.yaml"
    empty.write_text("data:\n  dir: nowhere\ntrain:\n")   # `train:` with nothing under it: its defaults
    assert load_config(empty, ["--train.lr", "1e-4"]).train.lr == 1e-4
    assert load_config(empty).train.epochs == 3
    done = run("train_unsloth.py", "--config", str(empty), "--train.lr", "1e-4", "--dry-run", check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr   # only the dataset is missing
    assert "lr: 0.0001" in done.stdout and "nowhere/hf_train.jsonl: not found" in done.stdout

    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("train: 5\n")
    assert refused("--config", str(scalar), "--train.lr", "1e-4") == \
        f"error: {scalar}: train: expected key: value lines under it, found 5"

    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("# Drehmoment für Zündkerzen\ntrain:\n  lr: 1e-4\n".encode("latin-1"))
    assert refused("--config", str(latin1)) == \
        f"error: {latin1}:1: not UTF-8 (byte 0xfc at column 15); save the file as UTF-8"

    assert refused("--train.lr", "[1e-4") == (
        "error: override --train.lr: '[1e-4' is not valid YAML (expected ',' or ']', but got '<stream end>' at "
        "line 1, column 6); quote a text value, close a list or mapping")

    twice = tmp_path / "twice.yaml"
    twice.write_text("train:\n  lr: 1e-4\n  epochs: 2\n  lr: 2e-4\n")
    assert refused("--config", str(twice)) == f"error: {twice}:4: key 'lr' given twice (lines 2 and 4); keep one"
    nested = tmp_path / "nested.yaml"
    nested.write_text("train:\n  lr: 1e-4\ntrain:\n  epochs: 2\n")   # the first section would vanish whole
    assert refused("--config", str(nested)) == f"error: {nested}:3: key 'train' given twice (lines 1 and 3); keep one"
    assert refused("--train.task_weights", "{spec: 2, spec: 3}") == \
        "error: override --train.task_weights: key 'spec' given twice (lines 1 and 1); keep one"

    bom = tmp_path / "bom.yaml"   # a byte-order mark (Windows editors) is not an error
    bom.write_bytes(b"\xef\xbb\xbftrain:\n  lr: 1e-4\n")
    assert load_config(bom).train.lr == 1e-4
    merged = tmp_path / "anchors.yaml"   # a merge key, then an override of one of its keys: by design
    merged.write_text("lora:\n  <<: {r: 8, alpha: 16}\n  alpha: 32\n")
    assert (load_config(merged).lora.r, load_config(merged).lora.alpha) == (8, 32)


# Every number that must be positive (or at least 0), with a value just outside, and the key named.
OUT_OF_RANGE = [
    ("lora.alpha", "-32", "greater than or equal to 1"), ("lora.alpha", "0", "greater than or equal to 1"),
    ("lora.r", "0", "greater than or equal to 1"), ("train.lr", "0", "greater than 0"),
    ("train.lr", "-1e-4", "greater than 0"), ("train.epochs", "0", "greater than 0"),
    ("train.batch_size", "0", "greater than or equal to 1"), ("train.grad_accum", "-2", "greater than or equal to 1"),
    ("model.max_seq", "0", "greater than or equal to 64"), ("train.logging_steps", "0", "greater than or equal to 1"),
    ("train.eval_steps", "-5", "greater than or equal to 0"), ("train.weight_decay", "-0.01", "greater than or equal to 0"),
    ("train.seed", "-1", "greater than or equal to 0"), ("data.seed", "-1", "greater than or equal to 0"),
    ("train.early_stopping_patience", "-1", "greater than or equal to 0"),
    ("train.max_steps", "0", "must be -1 (train the full epochs) or a number of steps from 1, got 0"),
    ("train.max_steps", "-5", "must be -1 (train the full epochs) or a number of steps from 1, got -5"),
    ("export.verify_prompts", "0", "greater than or equal to 1"), ("serve.ctx", "32", "greater than or equal to 64"),
    ("serve.max_tokens", "0", "greater than or equal to 1"), ("serve.temperature", "-0.5", "greater than or equal to 0"),
    ("serve.max_connections", "0", "greater than or equal to 1"), ("serve.request_timeout", "0", "greater than 0"),
]


@pytest.mark.parametrize("key, value, message", OUT_OF_RANGE, ids=[f"{k}={v}" for k, v, _ in OUT_OF_RANGE])
def test_numbers_that_must_be_positive_are_refused_with_the_key(key, value, message):
    """`--lora.alpha -32` passed and trained a LoRA whose update points the other way."""
    with pytest.raises(ConfigError) as err:
        load_config(ROOT / "configs/cpu-demo.yaml", [f"--{key}", value])
    assert str(err.value).startswith(f"{ROOT / 'configs/cpu-demo.yaml'}: {key}: ")
    assert message in str(err.value)


def test_task_weights_and_target_modules_are_checked():
    with pytest.raises(ConfigError, match=r"train.task_weights.spec: Input should be greater than or equal to 0"):
        load_config(None, ["--train.task_weights", "{spec: -1}"])
    assert load_config(None, ["--train.task_weights", "{wiring: 0}"]).train.task_weights == {"wiring": 0}
    with pytest.raises(ConfigError, match=r"lora.target_modules: List should have at least 1 item"):
        load_config(None, ["--lora.target_modules", "[]"])
    assert load_config(None, ["--train.max_steps", "-1"]).train.max_steps == -1


def test_negative_alpha_through_the_command_line_is_one_line_exit_2():
    assert refused("--lora.alpha", "-32") == \
        f"error: configs/cpu-demo.yaml: lora.alpha: Input should be greater than or equal to 1"
