"""No stage reaches for the network unless the user asked for it (a hub model named in the config, a
hub push): prep, train, export and serve each run through their own command with every socket to a
non-loopback address refused.

The guard is a sitecustomize on PYTHONPATH, so it is in every Python process a stage starts (prep's
OCR workers included): an audit hook on `socket.getaddrinfo`, `socket.connect` and `socket.sendto`
that records the attempt with its stack, then refuses it. Each run starts with `CI` unset (TRL skips
its telemetry when CI is set, so CI alone would never see it) and with none of the hub's offline or
telemetry switches in the environment: the kit must set what it needs itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT, read_jsonl

pytestmark = pytest.mark.slow

GUARD = '''
import os, sys, traceback

LOG = os.environ["KIT_NET_GUARD_LOG"]


def _loopback(host):
    host = host.decode(errors="replace") if isinstance(host, bytes) else host
    return host in (None, "", "localhost", "::1", "0.0.0.0") or str(host).startswith("127.")


def _refuse_network(event, args):
    if event == "socket.getaddrinfo":
        host = args[0]
    elif event in ("socket.connect", "socket.sendto"):
        if not isinstance(args[1], tuple):  # an AF_UNIX path
            return
        host = args[1][0]
    else:
        return
    if _loopback(host):
        return
    with open(LOG, "a") as log:
        log.write(f"{event} {host!r} in {' '.join(sys.argv)[:160]}\\n")
        log.write("".join(traceback.format_stack(limit=14)[:-1]) + "\\n")
    raise OSError(f"network refused by the test's guard: {event} {host!r}")


sys.addaudithook(_refuse_network)
'''

# What would turn the network off from outside; the kit must not rely on any of them being set.
SWITCHES = ("CI", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY",
            "DISABLE_TELEMETRY", "DO_NOT_TRACK")


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    """run(*args) under the guard: fails on any attempt to reach a non-loopback address, then on the exit code."""
    folder = tmp_path_factory.mktemp("net-guard")
    (folder / "sitecustomize.py").write_text(GUARD)
    log = folder / "attempts.log"
    env = {k: v for k, v in os.environ.items() if k not in SWITCHES}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))
    env["KIT_NET_GUARD_LOG"] = str(log)

    def run(*args: str) -> subprocess.CompletedProcess:
        log.write_text("")
        done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        attempts = log.read_text()
        assert not attempts, f"{' '.join(args[:2])} reached for the network:\n{attempts[:4000]}"
        assert done.returncode == 0, f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}"
        return done

    # The guard works: a lookup of the hub's name is recorded and refused.
    with pytest.raises(AssertionError, match=r"socket.getaddrinfo 'huggingface.co'"):
        run("-c", "import socket\ntry:\n    socket.getaddrinfo('huggingface.co', 443)\nexcept OSError:\n    pass")
    return run


def test_prep_build_stays_offline(offline, sample_pages, tmp_path):
    out = tmp_path / "data"
    offline("-m", "prep", "build", str(sample_pages), "--config", "configs/cpu-demo.yaml", "--out", str(out),
            "--work", str(tmp_path / "work"), "--cache", str(tmp_path / "ocr-cache"), "--jobs", "2", "--quiet")
    assert read_jsonl(out / "hf_train.jsonl") and (out / "spec_index.jsonl").stat().st_size > 0


def test_train_stays_offline(offline, sample_dataset, tmp_path):
    """TRL's SFTTrainer sent its telemetry (and huggingface_hub fetched its agent registry) on every run.
    A slice of the sample dataset: two steps and one evaluation of a few rows say the same as all."""
    data = tmp_path / "data"
    data.mkdir()
    for name, rows in (("hf_train.jsonl", 8), ("hf_val.jsonl", 2), ("hf_recall.jsonl", 2)):
        lines = (sample_dataset / name).read_text(encoding="utf-8").splitlines(keepends=True)
        (data / name).write_text("".join(lines[:rows]), encoding="utf-8")
    out = tmp_path / "run"
    offline("train_unsloth.py", "--config", "configs/cpu-demo.yaml", "--data.dir", str(data),
            "--train.output_dir", str(out), "--train.max_steps", "2", "--train.batch_size", "2",
            "--train.eval_steps", "2", "--train.early_stopping_patience", "0", "--model.max_seq", "128")
    assert json.loads((out / "summary.json").read_text())["global_step"] == 2
    assert (out / "adapter" / "adapter_model.safetensors").is_file()


def test_export_stays_offline(offline, trained_run, tmp_path):
    out = tmp_path / "gguf"
    offline("export.py", str(trained_run), "--quant", "q4_k_m", "--out", str(out))
    assert (out / f"{trained_run.name}-q4_k_m.gguf").stat().st_size > 0


def test_serve_ask_stays_offline(offline, exported, sample_dataset):
    done = offline("serve.py", "ask", str(exported["q4_k_m"]), "What is the torque of the oil drain plug?",
                   "--task", "spec", "--json", "--max-tokens", "16",
                   "--spec-index", str(sample_dataset / "spec_index.jsonl"))
    assert json.loads(done.stdout.strip().splitlines()[-1])["answer"].strip()


def test_hub_model_named_keeps_downloads_but_not_telemetry(monkeypatch):
    """The one download the kit makes is a hub model the config names: then the hub stays reachable,
    the telemetry stays off; for the embedded model or a local folder the hub library is offline."""
    from config import load_config, names_hub_model, offline_unless_hub

    assert names_hub_model("unsloth/Llama-3.2-3B-Instruct")
    assert not names_hub_model("embedded:smollm2-135m") and not names_hub_model(str(ROOT))
    assert not names_hub_model("./runs/base") and not names_hub_model("just-a-name")
    for profile, offline_mode in (("colab-t4", None), ("cpu-demo", "1")):
        for name in ("HF_HUB_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
            monkeypatch.setenv(name, "sentinel")   # records the original, which the teardown puts back
            monkeypatch.delenv(name)
        offline_unless_hub(load_config(ROOT / f"configs/{profile}.yaml"))
        assert os.environ.get("HF_HUB_OFFLINE") == offline_mode and os.environ["HF_HUB_DISABLE_TELEMETRY"] == "1"
