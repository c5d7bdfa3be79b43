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


# ---------------------------------------------------------------------------------------------
# Native code: the audit hook above sees only Python's sockets. onnxruntime (under rapidocr, the
# second reading of every number) sends its telemetry from C++: seen only by strace.

STRACE_SCANS = ["17 - Cooling System/17-06.png", "34 - Brakes/34-15.png", "00 - Torque Specs/00-02.png"]
# CI services onnxruntime recognises (its environment detection): none set, as on a user's laptop.
CI_VARIABLES = ("TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI", "TRAVIS", "JENKINS_URL", "CODEBUILD_BUILD_ID",
                "BUILDKITE", "TEAMCITY_VERSION", "APPVEYOR", "BITBUCKET_BUILD_NUMBER")


def outside_sockets(trace: str) -> list[str]:
    """The strace lines (connect, sendto, sendmsg) that reach past this machine: an inet address that is
    not loopback, or a DNS server on any address (a look-up of an outside name, also through a local
    resolver such as systemd-resolved's 127.0.0.53)."""
    import re

    found = []
    for line in trace.splitlines():
        family = re.search(r"sa_family=(AF_INET6?)\b", line)
        if not family or not re.search(r"\b(connect|sendto|sendmsg|sendmmsg)\(", line):
            continue
        port = re.search(r"sin6?_port=htons\((\d+)\)", line)
        host = re.search(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"', line)
        address = (host.group(1) or host.group(2)) if host else ""
        loopback = address.startswith(("127.", "::ffff:127.")) or address == "::1"
        if not loopback or (port and port.group(1) == "53"):
            found.append(line.strip())
    return found


def test_prep_native_code_stays_offline(sample_pages, tmp_path):
    """`prep build` on real scans with an empty OCR cache, under `strace -f`: no process it starts
    connects or sends to anything past this machine. onnxruntime looked up
    mobile.events.data.microsoft.com 6-8 times a run (from 10 s after it loaded) and kept a device id
    and an event store in the user's cache folder; both are checked, the second because it shows the
    telemetry running even in a run too short for its first upload (a fast machine's)."""
    import shutil

    if shutil.which("strace") is None:
        pytest.skip("strace is not installed (apt-get install strace): the native code's sockets cannot be seen")
    probe = subprocess.run(["strace", "-f", "-qq", "-e", "trace=connect", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"strace cannot trace here (ptrace refused?): {probe.stderr.strip()[:200]}")
    src = tmp_path / "pages"
    for rel in STRACE_SCANS:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sample_pages / rel, src / rel)
    cache_home = tmp_path / "xdg-cache"  # where onnxruntime keeps its telemetry state (else ~/.cache)
    cache_home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in (*SWITCHES, *CI_VARIABLES, "ORT_DISABLE_TELEMETRY")}
    env["XDG_CACHE_HOME"] = str(cache_home)
    trace = tmp_path / "strace.txt"
    # --jobs 1: the process that loads onnxruntime goes on to build the dataset, living past the
    # telemetry's first upload; val_fraction 0: three pages need no val rows.
    done = subprocess.run(["strace", "-f", "-qq", "-e", "trace=connect,sendto,sendmsg,sendmmsg", "-e", "signal=none",
                           "-o", str(trace), sys.executable, "-m", "prep", "build", str(src),
                           "--config", "configs/cpu-demo.yaml", "--data.val_fraction", "0", "--out", str(tmp_path / "data"),
                           "--work", str(tmp_path / "work"), "--cache", str(tmp_path / "ocr-cache"), "--jobs", "1", "--quiet"],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "OCR runs, 0 pages from cache" in done.stdout, done.stdout  # every page read by the OCR, here
    reached = outside_sockets(trace.read_text(errors="replace"))
    assert not reached, "prep reached past this machine:\n" + "\n".join(reached[:12])
    state = sorted(str(p.relative_to(cache_home)) for p in cache_home.rglob("*"))
    assert not [p for p in state if "onnxruntime" in p.lower()], f"onnxruntime kept telemetry state: {state}"


def test_outside_sockets_tells_local_from_outside():
    """The strace reader above on the lines strace printed for onnxruntime's look-up, and local ones."""
    lookup = ('19028 connect(8, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.255.255.53")}, 16) = 0\n'
              '19028 sendto(8, "V\\365\\1\\0\\0\\1\\0\\0\\0\\0\\0\\0\\6mobile\\6events\\4data\\t"..., 50, MSG_NOSIGNAL, NULL, 0) = 50\n')
    local = ('7 connect(3, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT\n'
             '7 connect(5, {sa_family=AF_INET, sin_port=htons(8000), sin_addr=inet_addr("127.0.0.1")}, 16) = 0\n'
             '7 connect(5, {sa_family=AF_INET6, sin6_port=htons(8000), sin6_flowinfo=htonl(0), '
             'inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0\n')
    resolver = '7 connect(6, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("127.0.0.53")}, 16) = 0\n'
    assert len(outside_sockets(lookup)) == 1 and "10.255.255.53" in outside_sockets(lookup)[0]
    assert outside_sockets(local) == []
    assert len(outside_sockets(resolver)) == 1
