"""One way to call every stage (cli.py): `--config` and `--section.key value` overrides in every
`--help`, a `--dry-run` that prints the resolved config and the plan and says what is missing, and
the resolved config with the library versions beside every output."""

from __future__ import annotations

import pytest
import yaml

from config import load_config, save_config
from tests.helpers import ROOT, run

STAGES = [["-m", "prep", "dataset"], ["-m", "prep", "build"], ["train_unsloth.py"], ["export.py"], ["evaluate.py"],
          ["serve.py", "ask"], ["serve.py", "chat"], ["serve.py", "api"]]


@pytest.mark.parametrize("stage", STAGES, ids=" ".join)
def test_every_stage_takes_a_config_and_overrides(stage):
    shown = " ".join(run(*stage, "--help").stdout.split())   # rich wraps lines: compare words
    assert "--config" in shown and "--section.key value" in shown


def dry(*args, code: int) -> dict:
    done = run(*args, "--dry-run", check=False)
    assert done.returncode == code, done.stdout + done.stderr
    return yaml.safe_load(done.stdout)


def test_dry_runs_say_what_is_missing_before_any_data_exists(tmp_path):
    """Nothing built yet: every stage still prints its resolved config and plan, names what it
    lacks, exits 2, and writes nothing."""
    data, run_dir = tmp_path / "data", tmp_path / "run"
    train = dry("train_unsloth.py", "--data.dir", str(data), "--train.output_dir", str(run_dir), "--train.epochs", "2",
                code=2)
    assert train["config"]["train"]["epochs"] == 2 and train["plan"]["stage"] == "train"
    assert str(data / "hf_train.jsonl") in train["missing"][0]
    export = dry("export.py", str(run_dir), "--export.quants", "[q8_0, f16]", code=2)
    assert export["config"]["export"]["quants"] == ["q8_0", "f16"]
    assert export["plan"]["files"][:2] == ["run-q8_0.gguf", "run-f16.gguf"]
    assert "not a training run folder" in export["missing"][0]
    evaluate = dry("evaluate.py", "--data.dir", str(data), "--with-base", code=2)
    assert evaluate["plan"]["models"] == ["base embedded:smollm2-135m"]
    assert str(data / "hf_val.jsonl") in evaluate["missing"][0]
    assert not data.exists() and not run_dir.exists()


def test_prep_dry_run_counts_the_pages_it_would_read(tmp_path):
    pages = tmp_path / "pages"
    pages.mkdir()
    for name in ("11-4.png", "11-5.png", "sheet.html"):
        (pages / name).write_bytes(b"x")
    plan = dry("-m", "prep", "build", str(pages), "--out", str(tmp_path / "data"), "--work", str(tmp_path / "work"),
               "--data.seed", "7", code=0)
    assert plan["plan"]["files"] == {".html": 1, ".png": 2} and plan["config"]["data"]["seed"] == 7
    assert not (tmp_path / "data").exists() and not (tmp_path / "work").exists()


def test_a_saved_config_names_its_command_and_versions_and_reads_back(tmp_path):
    cfg = load_config(ROOT / "configs/cpu-demo.yaml", ["--train.epochs", "2"])
    save_config(cfg, tmp_path / "resolved_config.yaml")
    text = (tmp_path / "resolved_config.yaml").read_text()
    made, versions = text.splitlines()[:2]
    assert made.startswith("# made by: ") and versions.startswith("# versions: python ")
    assert "torch " in versions and "transformers " in versions
    assert load_config(tmp_path / "resolved_config.yaml") == cfg
