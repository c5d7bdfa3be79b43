"""Refuse an environment that will fail later in a confusing way.

    python scripts/check_install.py      # run by `make install`; exit 1 with one line per problem

Measured on a CPU machine: installing unsloth there pulls a CUDA torchvision that fails against
the CPU torch (`operator torchvision::nms does not exist`), and from then on `import peft` fails.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from importlib.metadata import distributions


def problems() -> list[str]:
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
    done = subprocess.run([sys.executable, "-c", "import peft, trl, transformers, llama_cpp"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        found.append("import peft/trl/transformers/llama_cpp fails: " + done.stderr.strip().splitlines()[-1])
    return found


if __name__ == "__main__":
    issues = problems()
    for line in issues:
        print(f"install check: {line}", file=sys.stderr)
    if not issues:
        print("install check: ok")
    sys.exit(1 if issues else 0)
