#!/usr/bin/env bash
# Builds .gpu/ for a lent GPU machine (docs/gpu.md), from the project root:
#   bash scripts/make_gpu_bundle.sh [DATA_DIR]        # DATA_DIR: a prep output folder (default data/)
# ../shared/gpu/make-bundle.sh's packages (Unsloth, bitsandbytes for CUDA 13, trl, ...) plus what this
# project's commands and tests import there and the machine lacks (typer, pytest, matplotlib, ...),
# a llama-cpp-python built here for any x86-64 CPU with AVX2 (the device has no compiler network and
# the venv's build uses -march=native), SmolLM2's tokenizer.json (the Llama-3-style test tokenizer is
# built from its vocabulary) and DATA_DIR's hf_train/hf_val.jsonl for scripts/bench_gpu.py.
# In the device run: carry [".gpu"] and begin with `source .gpu/activate.sh && `.
set -euo pipefail
data=${1:-data}
root=$(pwd)
test -f "$data/hf_train.jsonl" || { echo "make_gpu_bundle: $data/hf_train.jsonl not found (python -m prep build SRC_DIR)"; exit 2; }
EXTRA_GPU_PKGS="typer click shellingham rich markdown-it-py mdurl pygments pytest pluggy iniconfig diskcache pyyaml pillow
  matplotlib contourpy cycler fonttools kiwisolver pyparsing python-dateutil six" bash ../shared/gpu/make-bundle.sh

# llama-cpp-python without -march=native: AVX2/FMA/F16C only, stripped (3 MB packed).
wheel=.cache/wheels/llama-portable
if ! ls $wheel/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "building a portable llama-cpp-python (about 5 minutes on 2 cores)"
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF" \
    .venv/bin/pip wheel -q --no-deps --no-cache-dir -w $wheel "$(grep '^llama-cpp-python' requirements.txt)"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m zipfile -e $wheel/llama_cpp_python-*.whl "$work"
for real in "$work"/llama_cpp/lib/lib*.so.*.*; do
  base=${real%%.so.*}; strip --strip-unneeded "$real"
  rm -f "$base.so" "$base.so.0"; ln -s "$(basename "$real")" "$base.so.0"; ln -s "$(basename "$base").so.0" "$base.so"
done
tar -C "$work" -czf .gpu/llama.tar.gz llama_cpp

.venv/bin/python -c "from scripts.bench_gpu import smollm2_tokenizer_json as t; import shutil; shutil.copy(t(), '.gpu/smollm2-tokenizer.json')"
mkdir -p .gpu/data && cp "$data/hf_train.jsonl" "$data/hf_val.jsonl" .gpu/data/
cat >> .gpu/activate.sh <<'SH'
tar -C /tmp/site -xzf .gpu/llama.tar.gz
export KIT_SMOLLM2_TOKENIZER=$PWD/.gpu/smollm2-tokenizer.json
SH
du -sh .gpu
