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
    assert (cfg.train.batch_size, cfg.train.grad_accum, cfg.train.lr, cfg.train.epochs) == (8, 2, 2e-4, 3)


def test_cpu_profile_uses_embedded_model_and_same_lora():
    cfg = load_config(ROOT / "configs/cpu-demo.yaml")
    assert cfg.model.base == "embedded:smollm2-135m"
    assert (cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout) == (16, 32, 0.05)
    # whole epochs, the checkpoint picked by the recall probes (docs/evaluation.md)
    assert cfg.train.max_steps == -1 and cfg.train.epochs == 6 and cfg.train.select_on == "recall"


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
