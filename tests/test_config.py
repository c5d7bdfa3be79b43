"""The typed config: profiles hold the issue's numbers, typos and bad values are named."""

from pathlib import Path

import pytest

from config import ConfigError, load_config

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
