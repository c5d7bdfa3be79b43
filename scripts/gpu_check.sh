#!/usr/bin/env bash
# The lent GPU's whole check in one run (docs/gpu.md): the `gpu` tests, then scripts/bench_gpu.py.
#   source .gpu/activate.sh && bash scripts/gpu_check.sh                 (device run, carry [".gpu"])
#   source .gpu/activate.sh && PARTS=tests bash scripts/gpu_check.sh     (one part per call: each needs ~5 min)
# Logs and bench.jsonl go to $OUT (the device tool returns it); each part has its own time limit so
# one that hangs leaves time for the next.
set -u
out=${OUT:-/tmp/gpu-check}
mkdir -p "$out"
nvidia-smi > "$out/nvidia-smi.txt" 2>&1
python -c "import torch, transformers, trl, peft, unsloth, bitsandbytes, llama_cpp; print('torch', torch.__version__, 'transformers', transformers.__version__, 'trl', trl.__version__, 'peft', peft.__version__, 'unsloth', unsloth.__version__, 'bnb', bitsandbytes.__version__, 'llama_cpp', llama_cpp.__version__)" 2>&1 | tail -1 | tee "$out/versions.txt"
date +%s > "$out/t0"
parts=${PARTS:-tests,bench}
if [[ $parts == *tests* ]]; then
timeout "${TESTS_S:-320}" python -m pytest -m gpu -q -p no:cacheprovider tests/test_gpu.py -rs 2>&1 | tail -40 > "$out/tests.log"
echo "tests exit ${PIPESTATUS[0]} after $(( $(date +%s) - $(cat "$out/t0") )) s" | tee -a "$out/tests.log"
tail -5 "$out/tests.log"
fi
if [[ $parts == *bench* ]]; then
timeout "${BENCH_S:-270}" python scripts/bench_gpu.py --data .gpu/data --paths "${PATHS:-unsloth,plain}" \
  --checkpointing "${CKPT:-unsloth,off}" --batch "${BATCH:-8,16}" --grad-accum "${ACCUM:-2,1}" \
  --steps "${STEPS:-12}" --warmup "${WARMUP:-3}" --out "$out/bench.jsonl" 2>&1 | tee "$out/bench.log" | grep -v "^\s*$" | tail -25
echo "bench exit ${PIPESTATUS[0]} after $(( $(date +%s) - $(cat "$out/t0") )) s"
fi
