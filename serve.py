"""Serve the fine-tuned GGUF at the workbench: offline, on a laptop CPU, through llama.cpp.

    python serve.py chat exports/model.gguf                      # interactive, streams tokens
    python serve.py ask exports/model.gguf "Cylinder head bolt torque?" --task spec [--json]
    python serve.py api exports/model.gguf --port 8000           # OpenAI-compatible, loopback only
    python serve.py api exports/model.gguf --host 0.0.0.0 --api-key "$KEY"   # shared on the LAN
    python serve.py chat runs/X/gguf/                   # the folder export.py wrote: model + indexes

Answers come from the manual (`--grounding context`, the default): each question is searched in
prep's search index (search_index.sqlite, by the manual's words and by meaning), the best vocab.cites.K
lines of the manual go in the prompt before it, and they are listed under the answer with their
pages; a value the answer gives must be printed on the best line (grounding.checked_answer). When
the lines do not clearly answer the question (grounding.find), the model is not asked: the answer
says so and the same lines are listed as the closest matches to check, never hidden.
`--grounding cite` lists the lines without putting them in the prompt; `off` is the model alone.

Every number with a unit in an answer is checked against the manual's spec tables
(`data/spec_index.jsonl` from prep, see spec_check.py): ✓ with section and page when the manual
lists that value for the part asked about, ⚠ otherwise. The API returns the same as `spec_check`.

Reads order: settings → model file checks → load → spec index → search index and grounding →
prompt (chat template from the GGUF) → generation → the three commands (ask, chat, api). Nothing here touches the network.
"""

from __future__ import annotations

import hmac
import io
import json
import math
import os
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from enum import Enum
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Annotated, Any, Callable, Optional
from urllib.parse import urlsplit

import typer

import grounding
import spec_check
from cli import EXTRA, OVERRIDES, fail
from config import TAG, TASKS, ServeConfig
from files import GgufError, gguf_header
from vocab.cites import grounded_turn

DEFAULTS = ServeConfig()   # one home for serve's defaults: config.py's `serve:` section

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Offline chat with the fine-tuned service-manual model (llama.cpp).")

# -----------------------------------------------------------------------------
# settings

@dataclass
class Settings:
    """What one serve.py run uses: the kit config's `serve:` section (config.py, --config) with
    the command's flags on top. The defaults are config.ServeConfig's."""
    model: Path
    ctx: int = DEFAULTS.ctx
    # prompt + answer must fit; 2048 holds a procedure and a few turns of history, and the KV
    # cache stays small on a laptop.
    threads: int = 0
    # 0 = the machine's physical cores: llama.cpp decode is memory-bound and hyper-threads slow it.
    max_tokens: int = DEFAULTS.max_tokens
    temperature: float = DEFAULTS.temperature
    # 0 = greedy: the same question gives the same answer at the bench, which a mechanic can trust.
    system: Optional[str] = None
    # None = the chat template's own default system turn: prep trains without a system message,
    # so the template's default is what the fine-tune saw.
    spec_index: Optional[Path] = None
    data_dir: Path = Path("data")
    # where prep wrote spec_index.jsonl (config data.dir): the index looked up after the model's folder
    grounding: str = DEFAULTS.grounding
    # context | cite | off (config serve.grounding): the manual's lines in the prompt and under the
    # answer, under the answer only, or neither
    search_index: Optional[Path] = None
    # search_index.sqlite from prep; None = beside the model, then data.dir
    folder: bool = False
    # the model was given as export.py's folder: the indexes are looked for there and nowhere else
    index: Any = None
    # the search index, opened once (prep.search_index.Index) and read under index_lock by every thread
    index_lock: threading.Lock = field(default_factory=threading.Lock)
    request_timeout: float = DEFAULTS.request_timeout
    # api: seconds a client has to send its whole request, and the longest one write to it may
    # block; an idle or half-sent connection then gets 408 and is closed, its thread freed.
    max_connections: int = DEFAULTS.max_connections
    # api: requests served at once (each waits for the model on its own thread); the next one gets
    # 503 at once. As many connections may be sending their requests; one more pushes out the one
    # that has been sending the longest. A workshop has a handful of clients; 1,500 idle sockets
    # made 1,500 threads.


def resolve_settings(model: Path, config_path: Path | None, ctx: int | None, threads: int,
                     max_tokens: int | None, temperature: float | None, system: str | None,
                     spec_index: Path | None, grounding_mode: Grounding | None = None,
                     search_index: Path | None = None, overrides: list[str] = ()) -> Settings:
    """The config (--config, else the export_config.yaml export.py wrote beside the model, else
    config.py's defaults) with the `--section.key value` overrides, then every flag that was given."""
    from cli import load

    folder = model.is_dir()
    if config_path is None and ((model if folder else model.parent) / "export_config.yaml").is_file():
        config_path = (model if folder else model.parent) / "export_config.yaml"
    kit = load(config_path, overrides)
    return Settings(
        model=model_in_folder(model) if folder else model, folder=folder, threads=threads,
        system=system, spec_index=spec_index, search_index=search_index, data_dir=kit.data.dir,
        request_timeout=kit.serve.request_timeout, max_connections=kit.serve.max_connections,
        grounding=kit.serve.grounding if grounding_mode is None else grounding_mode.value,
        ctx=kit.serve.ctx if ctx is None else ctx,
        max_tokens=kit.serve.max_tokens if max_tokens is None else max_tokens,
        temperature=kit.serve.temperature if temperature is None else temperature)


def model_in_folder(folder: Path) -> Path:
    """The GGUF in export.py's folder: the only one, else q4_k_m, else the smallest (and which)."""
    found = sorted(folder.glob("*.gguf"))
    if not found:
        raise fail(f"{folder}: no .gguf file in this folder (give the folder export.py wrote, or a .gguf)")
    if len(found) == 1:
        return found[0]
    chosen = next((p for p in found if p.stem.endswith("q4_k_m")), None) or min(found, key=lambda p: p.stat().st_size)
    typer.echo(f"note: {folder} holds {len(found)} GGUF files; using {chosen.name} "
               f"({'q4_k_m' if chosen.stem.endswith('q4_k_m') else 'the smallest'}; give a file to choose another)",
               err=True)
    return chosen


class Grounding(str, Enum):
    # config.ServeConfig.grounding, spelled out here so that `--help` needs no pydantic import
    context = "context"
    cite = "cite"
    off = "off"


Task = Enum("Task", {task: task for task in TASKS}, type=str)   # --task's choices: config.TASKS
TASK_PREFIX = {Task(task): tag for task, tag in TAG.items()}   # config.TAG: the training format


def user_turn(question: str, task: Task | None) -> str:
    return f"{TASK_PREFIX[task]} {question}" if task else question


def strip_task_prefix(text: str) -> str:
    for prefix in TASK_PREFIX.values():
        if text.startswith(prefix):
            return text[len(prefix):].lstrip()
    return text


def physical_cores() -> int:
    import psutil
    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


MAX_QUESTION_CHARS = 4000
# A question is searched before anything else, and the search's cost grows with its words (300 KB
# took 26 s before the answer "not covered"). 4,000 characters hold a long question with a pasted
# fault code listing; a whole pasted page is not a question the manual's lines can answer.


def question_problem(question: str) -> str | None:
    """Why a question is not asked (too long), or None."""
    if len(question) > MAX_QUESTION_CHARS:
        return (f"the question is {len(question):,} characters, over the {MAX_QUESTION_CHARS:,} a question "
                "may have: ask about one thing at a time")
    return None


def utf8_problem(text: str) -> str | None:
    """Where `text` stops being UTF-8, or None when it is text. Bytes that are not UTF-8 reach us
    from argv and stdin as lone surrogates (Python's surrogateescape), and from JSON as escapes
    such as \\ud800; the tokenizer's encode would crash on either."""
    try:
        text.encode("utf-8")
        return None
    except UnicodeEncodeError as e:
        code = ord(text[e.start])
        if 0xDC80 <= code <= 0xDCFF:
            return f"byte 0x{code - 0xDC00:02x} at character {e.start + 1}"
        return f"a lone surrogate, U+{code:04X}, at character {e.start + 1}"


def shown_path(path: Path) -> str:
    """A path as a line can print it: a byte that is not UTF-8 as \\xNN (the terminal would refuse it)."""
    return os.fsencode(path).decode("utf-8", errors="backslashreplace")


def check_settings(s: Settings) -> None:
    """Everything that can be wrong before the model is loaded."""
    if problem := utf8_problem(str(s.model)):
        # llama.cpp is handed the path as UTF-8 and has no other way to take it
        raise fail(f"{shown_path(s.model)}: the path is not valid UTF-8 ({problem}); rename the file or "
                   "its folder with UTF-8 characters (or ASCII) and give the new path")
    if not s.model.is_file():
        raise fail(f"{s.model}: no such file (give the .gguf that export.py wrote)")
    try:
        header = gguf_header(s.model)
    except GgufError as e:
        raise fail(f"{s.model}: {e}")
    except OSError as e:
        raise fail(f"{s.model}: cannot be read ({e.strerror})")
    check_export_folder(s)
    trained = header.get(f"{header.get('general.architecture')}.context_length")
    if s.ctx < 64:
        raise fail(f"--ctx {s.ctx} is too small (at least 64 tokens)")
    if isinstance(trained, int) and s.ctx > trained:
        # llama.cpp would try to allocate the cache for it (100M tokens: a bare ValueError), and past
        # the trained length the answers fall apart anyway
        raise fail(f"--ctx {s.ctx} is over the {trained} tokens {s.model.name} was trained for "
                   f"({header['general.architecture']}.context_length): give at most {trained}")
    if not 0 < s.max_tokens < s.ctx:
        raise fail(f"--max-tokens {s.max_tokens} must be between 1 and --ctx - 1 ({s.ctx - 1})")
    if s.threads < 0:
        raise fail(f"--threads {s.threads} must be >= 0 (0 = physical cores)")
    if not (math.isfinite(s.temperature) and s.temperature >= 0):
        raise fail(f"--temperature {s.temperature} must be a finite number >= 0")
    if s.spec_index is not None and not s.spec_index.is_file():
        raise fail(f"--spec-index {s.spec_index}: no such file")
    if s.grounding != "off" and s.search_index is not None and not s.search_index.is_file():
        raise fail(f"--search-index {s.search_index}: no such file (prep writes it: python -m prep dataset "
                   "work/blocks.jsonl; or leave the option out to look beside the model)")
    if s.system and (problem := utf8_problem(s.system)):
        raise fail(f"--system is not valid UTF-8 ({problem}): pass it as UTF-8 text")


def check_export_folder(s: Settings) -> None:
    """Beside export.py's SHA256SUMS the model must be one it lists: the indexes, manual.json and
    export_config.yaml there belong to that model, and another GGUF dropped in (another run, another
    manual) would be served with them without a word. Refused rather than noted: a grounded answer
    that cites one manual's lines under another manual's model looks as trustworthy as a right one.
    The file is hashed only when it is newer than SHA256SUMS (copied in after the export)."""
    sums = s.model.parent / "SHA256SUMS"
    if not sums.is_file():
        return
    listed = {}   # file name -> sha256, as `sha256sum` writes them: "DIGEST  NAME"
    try:
        for line in sums.read_text(encoding="utf-8").splitlines():
            digest, _, name = line.partition("  ")
            listed[name.strip()] = digest.strip()
    except (OSError, ValueError):
        return   # not export.py's: nothing to hold the model to
    ggufs = sorted(name for name in listed if name.endswith(".gguf"))
    if not ggufs:
        return
    advice = (f"this folder's indexes and export_config.yaml belong to {', '.join(ggufs)}: serve a model "
              "from its own export folder (export.py writes one per run)")
    if s.model.name not in listed:
        raise fail(f"{s.model}: not a model export.py wrote in this folder (its SHA256SUMS lists "
                   f"{', '.join(ggufs)}); {advice}")
    if s.model.stat().st_mtime > sums.stat().st_mtime:
        import hashlib

        digest = hashlib.sha256()
        with s.model.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        if digest.hexdigest() != listed[s.model.name]:
            raise fail(f"{s.model}: its checksum is not the one this folder's SHA256SUMS lists for it (the file "
                       f"was replaced after the export); {advice}")


# -----------------------------------------------------------------------------
# model: the GGUF, its chat template and its end-of-turn token

@dataclass
class Model:
    llm: Any                      # llama_cpp.Llama
    formatter: Any                # llama_cpp.llama_chat_format.Jinja2ChatFormatter
    name: str
    n_ctx: int
    threads: int
    load_s: float
    stop: list[str]               # the template's end-of-turn text ...
    stopping_criteria: Any        # ... and token id: the answer ends at end of turn
    # llama.cpp contexts are not thread-safe: the API's request threads take turns on this lock.
    lock: threading.Lock = field(default_factory=threading.Lock)


def load_model(s: Settings) -> Model:
    from llama_cpp import Llama, llama_chat_format

    threads = s.threads or physical_cores()
    start = time.perf_counter()
    # chat_format pinned to the GGUF's own template: llama-cpp-python would otherwise swap in a
    # built-in format it guesses from the template, and the answer must be formatted exactly as
    # in training and stop at the template's end-of-turn token.
    llm = Llama(model_path=str(s.model), n_ctx=s.ctx, n_threads=threads, n_threads_batch=threads,
                chat_format="chat_template.default", verbose=False)
    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        raise fail(f"{s.model}: no tokenizer.chat_template in the GGUF metadata; re-export it "
                   "with the tokenizer's chat template so answers stop at end of turn")
    eos_id = llm.token_eos()
    formatter = llama_chat_format.Jinja2ChatFormatter(
        template=template,
        eos_token=llm._model.token_get_text(eos_id) if eos_id != -1 else "",
        bos_token=llm._model.token_get_text(llm.token_bos()) if llm.token_bos() != -1 else "",
        stop_token_ids=[eos_id],
    )
    # The same stop string and stop-token check llama-cpp-python's chat handler uses.
    rendered = formatter(messages=[{"role": "user", "content": "ping"}])
    # llama.cpp pads the context up (to a multiple of 256) but llama-cpp-python sizes its token
    # buffer by the requested --ctx and crashes past it: the smaller of the two is the real limit.
    n_ctx = min(s.ctx, llm.n_ctx())
    return Model(llm=llm, formatter=formatter, name=s.model.stem, n_ctx=n_ctx,
                 threads=threads, load_s=time.perf_counter() - start, stop=rendered.stop,
                 stopping_criteria=rendered.stopping_criteria)


# -----------------------------------------------------------------------------
# spec index

def places(s: Settings, name: str) -> list[Path]:
    """Where an index is looked for: beside the model, then data.dir; export.py's folder only."""
    return [s.model.parent / name] + ([] if s.folder else [s.data_dir / name])


def find_spec_index(s: Settings) -> Path | None:
    """--spec-index, else spec_index.jsonl beside the model, else data.dir/spec_index.jsonl."""
    if s.spec_index is not None:
        return s.spec_index
    return next((p for p in places(s, "spec_index.jsonl") if p.is_file()), None)


def start(s: Settings) -> tuple[list[spec_check.SpecFact] | None, Model]:
    """What every command does first: check the settings, read the spec and search indexes,
    load the model. The grounding mode in `s` is set to off when there is no usable index."""
    check_settings(s)
    facts = load_spec_facts(s)
    s.search_index = find_search_index(s)
    if s.search_index is not None:
        from prep.embed import EmbeddingError, load

        try:
            load()   # the embedding model now, not at the first question (about a second)
        except EmbeddingError as e:
            raise fail(f"search index {s.search_index}: {e}")
    return facts, load_model(s)


def load_spec_facts(s: Settings) -> list[spec_check.SpecFact] | None:
    """The facts, or None (and one line saying so) when there is no index to check against."""
    path = find_spec_index(s)
    if path is None:
        typer.echo(f"note: no spec index found (no --spec-index, none at "
                   f"{' or '.join(str(p) for p in places(s, 'spec_index.jsonl'))}); numbers in answers "
                   "are NOT checked", err=True)
        return None
    try:
        return spec_check.load_spec_index(path)
    except (ValueError, OSError) as e:
        raise fail(f"spec index {e}")


# -----------------------------------------------------------------------------
# search index and grounding: the manual's lines for each question (grounding.py lays them out)

SEARCH_INDEX = "search_index.sqlite"   # prep/search_index.py's INDEX_NAME, without importing prep for --help
MANIFEST = "manual.json"                # export.py: which manual the model beside it was exported with


def find_search_index(s: Settings) -> Path | None:
    """The search index to ground answers in, or None (one line saying why) when grounding is off
    or none is usable. A corrupt index is an error (exit 2): it must be rebuilt, not skipped."""
    if s.grounding == "off":
        return None
    from prep.search_index import SearchIndexError, open_index

    path = s.search_index or next((p for p in places(s, SEARCH_INDEX) if p.is_file()), None)
    if path is None or not path.is_file():
        where = path or " or ".join(str(p) for p in places(s, SEARCH_INDEX))
        typer.echo(f"note: no search index at {where}; answers are NOT grounded in the manual "
                   f"(--grounding {s.grounding} needs prep's {SEARCH_INDEX})", err=True)
        s.grounding = "off"
        return None
    try:
        index = open_index(path, shared=True)
    except SearchIndexError as e:
        raise fail(f"search index {e}")
    built_from = index.meta.get("blocks_sha256")
    manifest = s.model.parent / MANIFEST
    if manifest.is_file():
        try:
            exported_with = json.loads(manifest.read_text(encoding="utf-8"))["search_index"]["blocks_sha256"]
        except (ValueError, KeyError, TypeError, OSError):
            raise fail(f"{manifest}: not export.py's manifest (no search_index.blocks_sha256); export again")
        if exported_with != built_from:
            typer.echo(f"note: {path} is of another manual version (built from blocks {str(built_from)[:12]}, "
                       f"the model was exported with {str(exported_with)[:12]}, {manifest}); answers are NOT "
                       "grounded in the manual", err=True)
            index.close()
            s.grounding = "off"
            return None
    s.index = index
    return path


Found = grounding.Found


class SearchFailed(Exception):
    """The search index could not be read for a question (damaged, or its disk failed, after the
    checks at start); the message names the file and what to do."""


def search(s: Settings, question: str) -> Found | None:
    """grounding.find for the question: the top vocab.cites.K lines and whether they cover it; None
    when answers are not grounded. The index opened at start is kept for the process's life, so a
    file deleted or replaced under a running server goes on answering from the one it opened (a
    rebuilt index is read at the next start). One connection for every request thread, one question
    at a time (a search takes milliseconds; the model's turn is what requests wait for)."""
    if s.grounding == "off" or s.search_index is None:
        return None
    import sqlite3

    from prep.search_index import SearchIndexError, open_index

    with s.index_lock:
        try:
            if s.index is None:
                s.index = open_index(s.search_index, shared=True)
            return grounding.find(s.index, question)
        except SearchIndexError as e:
            raise SearchFailed(f"search index {e}") from None
        except sqlite3.Error as e:
            raise SearchFailed(f"search index {s.search_index}: could not be read ({e}); rebuild it with "
                               "python -m prep dataset (or answer without it: --grounding off)") from None


def grounded_user(mode: str, found: Found | None, user: str) -> str:
    """The newest user turn as the model gets it: the manual's lines before it in context mode.
    Earlier turns are kept without theirs: the context window holds the newest question's lines."""
    if mode == "context" and found is not None and found.covered:
        return grounded_turn(user, found.hits)
    return user


def refused(mode: str, found: Found | None) -> bool:
    """Context mode and the lines found do not cover the question: the model is not asked for a
    value (its number would sit where the manual's should); the closest lines are still listed."""
    return mode == "context" and found is not None and not found.covered


def value_grammar(mode: str, found: Found | None) -> str | None:
    """Context mode and a value question the lines cover: the model chooses among the values its
    best line prints (grounding.answer_grammar), so every number it says is the manual's."""
    return grounding.answer_grammar(found) if mode == "context" else None


def not_covered(found: Found) -> str:
    return grounding.NOT_COVERED if found.hits else grounding.NOTHING_FOUND


def source_lines(found: Found | None, mode: str) -> list[str]:
    """What the terminal shows under an answer about where it comes from: the lines it was read
    from, or, not covered, the closest lines marked as such (never hidden: the number may be there)."""
    if found is None:
        return []
    if not found.covered:
        head = [] if refused(mode, found) else [
            "(the manual's lines found do not clearly cover this question: the answer above is the model's "
            "alone, NOT the manual's)"]
        return head + [f"closest (check it): {x['line']}" for x in found.sources()]
    return [f"source: {x['line']}" for x in found.sources()]




# -----------------------------------------------------------------------------
# prompt and generation: one path for ask, chat and the API

class PromptTooLong(ValueError):
    def __init__(self, prompt_tokens: int, max_tokens: int, n_ctx: int):
        self.prompt_tokens, self.max_tokens, self.n_ctx = prompt_tokens, max_tokens, n_ctx
        super().__init__(
            f"prompt is {prompt_tokens} tokens; with max_tokens {max_tokens} that exceeds the "
            f"context window of {n_ctx} tokens (prompt must be at most {n_ctx - max_tokens}): "
            "shorten the conversation, lower max_tokens, or restart the server with a larger --ctx")


def prompt_tokens(model: Model, messages: list[dict], max_tokens: int) -> list[int]:
    """The chat-template prompt as tokens, refused when it leaves no room for max_tokens.

    Rendering and tokenising exactly as llama-cpp-python's chat handler does, once, gives both
    the count we need for the check and the tokens we hand to the model.
    """
    rendered = model.formatter(messages=messages)
    tokens = model.llm.tokenize(rendered.prompt.encode("utf-8"),
                                add_bos=not rendered.added_special, special=True)
    if len(tokens) + max_tokens > model.n_ctx:
        raise PromptTooLong(len(tokens), max_tokens, model.n_ctx)
    return tokens


@dataclass
class Answer:
    text: str
    finish_reason: str            # "stop" (end of turn) or "length" (hit max_tokens)
    prompt_tokens: int
    completion_tokens: int
    first_token_s: float          # from the call to the first text piece
    total_s: float
    model_answer: str | None = None   # what the model said, where the shown text replaced it (grounding.checked_answer)


def guarded(found: Found | None, mode: str, answer: Answer, on_text: Callable[[str], None]) -> Answer:
    """The answer as shown: in context mode, grounding.checked_answer against the lines it read (a
    value the line it stands on does not print is not shown as the manual's). A replaced answer was
    already streamed: the replacement is said after it (`on_text`), and the Answer carries both."""
    if mode != "context" or found is None or not found.covered:
        return answer
    shown = grounding.checked_answer(answer.text, found)
    if shown == answer.text:
        return answer
    on_text(f"\n✗ {shown}")
    return Answer(shown, answer.finish_reason, answer.prompt_tokens, answer.completion_tokens,
                  answer.first_token_s, answer.total_s, model_answer=answer.text)


DEFAULT_TOP_P = 0.95  # llama-cpp-python's own default, which every answer has used (OpenAI's is 1)


def generate(model: Model, tokens: list[int], max_tokens: int, temperature: float,
             on_text: Callable[[str], None] = lambda piece: None, top_p: float = DEFAULT_TOP_P,
             stop: tuple[str, ...] | list[str] = (), grammar: str | None = None) -> Answer:
    """Stream one answer; `on_text` gets each piece as it comes (terminal, SSE, or nothing) and
    may raise to stop it. `stop`: more strings that end the answer (not included in it), besides
    the template's end of turn. `grammar`: GBNF the answer must follow (grounding.answer_grammar:
    a value question answered with one of the values its best line prints)."""
    start = time.perf_counter()
    first = None
    pieces, finish = [], "length"
    # Every answer from a fresh context: llama-cpp-python would evaluate only the part of the prompt
    # after what the last request shared with it, and a prompt evaluated in other batches gives
    # slightly other logits: the same question, asked twice through the API, got two greedy answers.
    # The same question must give the same answer at the bench; a re-read prompt costs ~0.4 s here.
    model.llm.reset()
    if grammar is not None:
        from llama_cpp import LlamaGrammar

        grammar = LlamaGrammar.from_string(grammar, verbose=False)
    chunks = model.llm.create_completion(
        prompt=tokens, max_tokens=max_tokens, temperature=temperature, top_p=top_p, stream=True,
        stop=model.stop + list(stop), stopping_criteria=model.stopping_criteria, grammar=grammar)
    try:
        for chunk in chunks:
            choice = chunk["choices"][0]
            if choice["text"]:
                if first is None:
                    first = time.perf_counter()
                pieces.append(choice["text"])
                on_text(choice["text"])
            if choice["finish_reason"]:
                finish = choice["finish_reason"]
    finally:
        # Decoding happens inside this generator: closing it here, when on_text raised (client
        # gone, Ctrl-C), ends it while the caller still holds the model's lock.
        chunks.close()
    end = time.perf_counter()
    text = "".join(pieces)
    return Answer(
        text=text, finish_reason=finish, prompt_tokens=len(tokens),
        # Stream chunks carry no usage; re-tokenising the answer counts it (EOS not included).
        completion_tokens=len(model.llm.tokenize(text.encode("utf-8"), add_bos=False)) if text else 0,
        first_token_s=(first or end) - start, total_s=end - start)


def build_messages(system: str | None, history: list[dict], user: str) -> list[dict]:
    return ([{"role": "system", "content": system}] if system else []) + history + [
        {"role": "user", "content": user}]


def fit_history(model: Model, system: str | None, history: list[dict], user: str,
                max_tokens: int) -> tuple[list[int], int]:
    """Prompt tokens for the newest question, dropping the oldest turns until it fits.
    Returns (tokens, turns dropped); raises PromptTooLong only if the question alone does not fit."""
    dropped = 0
    while True:
        try:
            return prompt_tokens(model, build_messages(system, history[2 * dropped:], user),
                                 max_tokens), dropped
        except PromptTooLong:
            if 2 * dropped >= len(history):
                raise
            dropped += 1


def check_answer(facts: list[spec_check.SpecFact] | None, question: str, answer: str,
                 found: Found | None = None) -> list[spec_check.Quantity] | None:
    """The spec check of an answer, against the facts and the manual's lines found for it; None
    when no spec index is loaded (not checked)."""
    if facts is None:
        return None
    return spec_check.check_answer(facts, question, answer, found.rows() if found else [])


def check_lines(facts: list[spec_check.SpecFact] | None, question: str, answer: str,
                found: Found | None = None) -> list[str]:
    return [q.line() for q in check_answer(facts, question, answer, found) or []]


# -----------------------------------------------------------------------------
# commands: options every command shares

ModelArg = Annotated[Path, typer.Argument(
    help="The GGUF written by export.py, or its folder (the model and both indexes are taken from there).",
    show_default=False)]
ConfigOpt = Annotated[Optional[Path], typer.Option(
    "--config", help="Kit YAML (configs/*.yaml; by default export_config.yaml beside the model, the config "
    "it was exported with): its serve: section sets the defaults of --ctx, --max-tokens, --temperature (and "
    "the api's request_timeout, max_connections); data.dir is where the spec and search indexes are looked "
    "for; serve.grounding the default of --grounding.")]
CtxOpt = Annotated[Optional[int], typer.Option(
    "--ctx", help="Context window in tokens, prompt + answer (default: serve.ctx of --config, 2048).", show_default=False)]
ThreadsOpt = Annotated[int, typer.Option("--threads", help="CPU threads; 0 = physical cores.")]
MaxTokensOpt = Annotated[Optional[int], typer.Option(
    "--max-tokens", help="Longest answer in tokens (default: serve.max_tokens, 256).", show_default=False)]
TemperatureOpt = Annotated[Optional[float], typer.Option(
    "--temperature", help="0 = same answer every time (default: serve.temperature, 0).", show_default=False)]
SpecIndexOpt = Annotated[Optional[Path], typer.Option(
    "--spec-index", help="spec_index.jsonl from prep; default: beside the model, then data.dir of --config (data/).")]
SystemOpt = Annotated[Optional[str], typer.Option(
    "--system", help="System prompt; default: the chat template's own. The API uses it when "
    "a request brings none.")]
TaskOpt = Annotated[Optional[Task], typer.Option("--task", help="Task tag for the question.")]
GroundingOpt = Annotated[Optional[Grounding], typer.Option(
    "--grounding", help="context: the manual's lines found for each question go in the prompt and "
    "under the answer; cite: under the answer only; off: the model alone (default: serve.grounding "
    "of --config, context).", show_default=False)]
SearchIndexOpt = Annotated[Optional[Path], typer.Option(
    "--search-index", help="search_index.sqlite from prep; default: beside the model, then data.dir "
    "of --config (data/).")]


@app.command(context_settings=EXTRA, epilog=OVERRIDES)
def ask(cli_ctx: typer.Context, model: ModelArg,
        question: Annotated[str, typer.Argument(help="The question.", show_default=False)],
        task: TaskOpt = None,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
        config: ConfigOpt = None, ctx: CtxOpt = None, threads: ThreadsOpt = 0,
        max_tokens: MaxTokensOpt = None, temperature: TemperatureOpt = None,
        spec_index: SpecIndexOpt = None, system: SystemOpt = None,
        grounding_mode: GroundingOpt = None, search_index: SearchIndexOpt = None) -> None:
    """One answer, for scripts: streamed to stdout, then its sources and the spec check."""
    if problem := utf8_problem(question):
        raise fail(f"the question is not valid UTF-8 ({problem}): pass it as UTF-8 text")
    if problem := question_problem(question):
        raise fail(problem)
    s = resolve_settings(model, config, ctx, threads, max_tokens, temperature, system,
                         spec_index, grounding_mode, search_index, cli_ctx.args)
    facts, m = start(s)
    try:
        found = search(s, question)
    except SearchFailed as e:
        raise fail(str(e), code=1)
    stream = (lambda piece: None) if as_json else (lambda piece: print(piece, end="", flush=True))
    if refused(s.grounding, found):
        stream(not_covered(found))
        answer = Answer(not_covered(found), "stop", 0, 0, 0.0, 0.0)
    else:
        user = grounded_user(s.grounding, found, user_turn(question, task))
        try:
            tokens = prompt_tokens(m, build_messages(s.system, [], user), s.max_tokens)
        except PromptTooLong as e:
            raise fail(str(e))
        answer = guarded(found, s.grounding, generate(m, tokens, s.max_tokens, s.temperature, stream,
                                                      grammar=value_grammar(s.grounding, found)), stream)
    checked = check_answer(facts, question, answer.text, found)
    if as_json:
        print(json.dumps({
            "model": m.name, "question": question, "task": task.value if task else None,
            "answer": answer.text, "finish_reason": answer.finish_reason,
            "usage": {"prompt_tokens": answer.prompt_tokens,
                      "completion_tokens": answer.completion_tokens},
            "grounding": s.grounding, "covered": None if found is None else found.covered,
            "model_answer": answer.model_answer,
            "sources": None if found is None else found.sources(),
            "spec_check": None if checked is None else [q.as_json() for q in checked],
            "seconds": {"load": round(m.load_s, 3), "first_token": round(answer.first_token_s, 3),
                        "total": round(answer.total_s, 3)},
        }, ensure_ascii=False))
        return
    print()
    for line in source_lines(found, s.grounding) + [q.line() for q in checked or []]:
        print(line)


CHAT_HELP = """\
commands:
  /spec /procedure /explain /wiring /trouble   tag the next questions with that task
                                               (add a question after it to ask at once)
  /plain            no task tag
  /reset            forget the conversation
  /system TEXT      set the system prompt (/system alone shows it; /system - clears it)
  /help             this text
  /quit             leave (also Ctrl-D, or Ctrl-C twice at the prompt)
multi-line input: end a line with \\ to continue it, or put \"\"\" alone on a line to open and
close a block. Ctrl-C stops an answer; the conversation keeps what came before."""

CHAT_TASKS = {"/spec": Task.spec, "/procedure": Task.procedure, "/explain": Task.explanation,
              "/wiring": Task.wiring, "/trouble": Task.troubleshooting}


def read_message(prompt: str) -> str:
    """One message from the terminal: `\\` at the end of a line continues it, a \"\"\" line opens
    a block closed by another. Raises EOFError at end of input."""
    line = input(prompt)
    if line.strip() == '"""':
        lines = []
        while (line := input("... ")).strip() != '"""':
            lines.append(line)
        return "\n".join(lines)
    lines = []
    while line.endswith("\\"):
        lines.append(line[:-1])
        line = input("... ")
    return "\n".join(lines + [line])


@app.command(context_settings=EXTRA, epilog=OVERRIDES)
def chat(cli_ctx: typer.Context, model: ModelArg, task: TaskOpt = None,
         config: ConfigOpt = None, ctx: CtxOpt = None, threads: ThreadsOpt = 0,
         max_tokens: MaxTokensOpt = None, temperature: TemperatureOpt = None,
         spec_index: SpecIndexOpt = None, system: SystemOpt = None,
         grounding_mode: GroundingOpt = None, search_index: SearchIndexOpt = None) -> None:
    """Interactive chat: answers stream, history stays within the context window."""
    s = resolve_settings(model, config, ctx, threads, max_tokens, temperature, system,
                         spec_index, grounding_mode, search_index, cli_ctx.args)
    facts, m = start(s)
    if sys.stdin.isatty():
        import readline  # noqa: F401  (line editing and arrow-key history for input())
    if hasattr(sys.stdin, "reconfigure"):
        # Bytes that are not UTF-8 (a Latin-1 terminal, a pasted binary) then arrive as lone
        # surrogates and are refused line by line below. A strict decoder raises out of input()
        # instead, and loses whatever else it had read with the bad line.
        sys.stdin.reconfigure(errors="surrogateescape")
    print(f"{m.name} · ctx {m.n_ctx} · threads {m.threads} · loaded in {m.load_s:.1f}s · "
          f"spec check {'on, ' + str(len(facts)) + ' facts' if facts is not None else 'off'} · "
          f"grounding {s.grounding} · /help for commands")
    history: list[dict] = []
    interrupted = False  # the last prompt ended in Ctrl-C
    while True:
        try:
            text = read_message(f"you{' [' + task.value + ']' if task else ''}> ").strip()
        except EOFError:
            print()
            return
        except KeyboardInterrupt:
            # A Ctrl-C meant to stop an answer that had just ended lands here, and leaving at once
            # lost the conversation: the first one asks, a second in a row leaves (as node's REPL).
            if interrupted:
                print()
                return
            interrupted = True
            print("\n(press Ctrl-C again or type /quit to leave; the conversation is kept)")
            continue
        interrupted = False
        if not text:
            continue
        if problem := utf8_problem(text):
            print(f"(not asked: not UTF-8, {problem}; set the terminal to UTF-8 and type it again)")
            continue
        if text.startswith("/"):
            command, _, rest = text.partition(" ")
            rest = rest.strip()
            if command in ("/quit", "/exit"):
                return
            if command == "/help":
                print(CHAT_HELP)
                continue
            if command == "/reset":
                history.clear()
                print("(conversation forgotten)")
                continue
            if command == "/system":
                if rest:
                    s.system = None if rest == "-" else rest
                print(f"(system prompt: {s.system or 'the chat template default'})")
                continue
            if command == "/plain" or command in CHAT_TASKS:
                task = CHAT_TASKS.get(command)
                print(f"(task: {task.value if task else 'none'})")
                if not rest:
                    continue
                text = rest
            else:
                print(f"(unknown command {command}; /help lists them)")
                continue
        if problem := question_problem(text):
            print(f"(not asked: {problem})")
            continue
        user = user_turn(text, task)
        try:
            found = search(s, text)
        except SearchFailed as e:
            print(f"(not asked: {e}; the conversation is kept)")
            continue
        if refused(s.grounding, found):
            print(f"bot> {not_covered(found)}")
            for line in source_lines(found, s.grounding):
                print(line)
            history += [{"role": "user", "content": user}, {"role": "assistant", "content": not_covered(found)}]
            continue
        try:
            # history keeps each question without its manual lines: only the newest carries them
            tokens, dropped = fit_history(m, s.system, history, grounded_user(s.grounding, found, user),
                                          s.max_tokens)
        except PromptTooLong as e:
            print(f"(not asked: {e})")
            continue
        if dropped:
            del history[:2 * dropped]
            print(f"(dropped the {dropped} oldest turn{'s' if dropped > 1 else ''} to fit the "
                  f"{m.n_ctx}-token context)")
        print("bot> ", end="", flush=True)
        try:
            answer = generate(m, tokens, s.max_tokens, s.temperature,
                              lambda piece: print(piece, end="", flush=True), grammar=value_grammar(s.grounding, found))
        except KeyboardInterrupt:
            # The half answer is not kept: the next prompt must not build on a cut-off turn.
            print("\n(stopped)")
            continue
        print()
        if answer.finish_reason == "length":
            print(f"(answer cut at --max-tokens {s.max_tokens})")
        answer = guarded(found, s.grounding, answer, lambda piece: print(piece.lstrip("\n")))
        for line in source_lines(found, s.grounding) + check_lines(facts, text, answer.text, found):
            print(line)
        history += [{"role": "user", "content": user}, {"role": "assistant", "content": answer.text}]


# -----------------------------------------------------------------------------
# api: OpenAI-compatible, on the standard library's threading HTTP server

# Why not llama_cpp.server: it needs fastapi, uvicorn, sse-starlette, starlette-context and
# pydantic-settings, formats prompts on its own path (the benchmark would measure a different
# generation loop), and adding the `spec_check` field and the oversize/lock rules means patching
# its routes. Two endpoints on http.server, with their checks, are ~300 lines we can read and
# test in full.

MAX_BODY_BYTES = 4 * 1024 * 1024  # far above any prompt that fits a context; stops a runaway upload
MAX_STOP = 4  # OpenAI's own limit on stop sequences: a client written for it sends no more


def api_key_problem(key: str) -> str | None:
    """Why no client could send this key, or None. It travels in an HTTP header, `Authorization:
    Bearer KEY`: headers are ASCII (the openai client refuses to send anything else, curl sends the
    bytes and the comparison fails), and the spaces around a value are dropped on the way."""
    if not key.strip():
        return "is blank: choose a key of letters and digits (e.g. python -c 'import secrets; print(secrets.token_urlsafe())')"
    if not all(" " <= c <= "~" for c in key):
        bad = next(c for c in key if not " " <= c <= "~")
        return (f"holds {ascii(bad)}, which an HTTP header cannot carry: use printable ASCII only "
                "(e.g. python -c 'import secrets; print(secrets.token_urlsafe())')")
    if key != key.strip():
        return "starts or ends with a space, which HTTP clients drop from the header: remove it"
    return None


def is_loopback(host: str) -> bool:
    import ipaddress
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere: treat as exposed


def openai_error(message: str, kind: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


class BadRequest(ValueError):
    """A request the API refuses: `param` is the field at fault (OpenAI's error.param)."""
    def __init__(self, message: str, param: str | None = None, status: int = 400):
        super().__init__(message)
        self.param, self.status = param, status


class RequestTimeout(Exception):
    # Not a TimeoutError: BaseHTTPRequestHandler swallows those without answering, and a client
    # that sent half a request should be told why it got nothing.
    def __init__(self, seconds: float):
        super().__init__(f"the request did not arrive whole within {seconds:g} s "
                         "(serve.request_timeout): send it at once")


class ClientLeft(Exception):
    """The API client closed its connection: its answer is stopped, the next request goes on."""


def shown(value: Any) -> str:
    """A request value as JSON spells it (NaN, Infinity, true), cut short, for error messages."""
    text = json.dumps(value)  # ASCII: a lone surrogate in the value must not break the reply
    return text if len(text) <= 40 else text[:37] + "..."


def request_messages(body: Any) -> list[dict]:
    """The request's messages as plain {role, content} strings; BadRequest names what is wrong.
    Content given as a list of parts (newer clients) keeps its text parts."""
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
        raise BadRequest("'messages' must be a non-empty list of {role, content}", "messages")
    out = []
    for i, msg in enumerate(body["messages"]):
        if not isinstance(msg, dict) or msg.get("role") not in ("system", "user", "assistant"):
            raise BadRequest(f"messages[{i}].role must be one of system, user, assistant", "messages")
        content = msg.get("content")
        if isinstance(content, list):
            for j, part in enumerate(content):
                kind = part.get("type") if isinstance(part, dict) else None
                if kind != "text" or not isinstance(part.get("text"), str):
                    # an image answered as if it were not there answers another question than the one sent
                    raise BadRequest(f"messages[{i}].content[{j}] is {shown(kind) if kind else 'not a text part'}: "
                                     "this model reads text only; send the question as text", "messages")
            content = "".join(part["text"] for part in content)
            if not content.strip():
                raise BadRequest(f"messages[{i}].content has no text: send the question as text", "messages")
        if not isinstance(content, str):
            raise BadRequest(f"messages[{i}].content must be a string", "messages")
        if problem := utf8_problem(content):
            raise BadRequest(f"messages[{i}].content is not valid UTF-8 ({problem})", "messages")
        out.append({"role": msg["role"], "content": content})
    return out


@dataclass
class Options:
    """What a request asks of the generation, checked against OpenAI's types and ranges."""
    max_tokens: int
    temperature: float
    top_p: float
    stop: list[str]
    stream: bool


def request_options(body: dict, s: Settings, n_ctx: int) -> Options:
    """The request's generation fields: each one serve.py applies (max_tokens, temperature,
    top_p, stop, stream) checked, and n, which it cannot apply above 1, refused; a wrong one is a
    BadRequest naming it. Taking a field and not applying it answers another request than the one
    sent, which the client cannot see."""
    def number(name: str, default: float, low: float, high: float) -> float:
        value = body.get(name)
        if value is None:
            return default
        # bool is an int to Python; NaN fails every comparison, so it is refused with the rest
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise BadRequest(f"{name} must be a number from {low:g} to {high:g}, got {shown(value)}", name)
        return float(value)

    max_tokens = s.max_tokens
    for name in ("max_completion_tokens", "max_tokens"):  # the older name wins when both are sent
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < n_ctx:
            raise BadRequest(f"{name} must be a whole number from 1 to {n_ctx - 1} (the context "
                             f"window is {n_ctx} tokens), got {shown(value)}", name)
        max_tokens = value

    n = body.get("n")
    if n is not None and (isinstance(n, bool) or n != 1):
        if isinstance(n, int) and not isinstance(n, bool) and n > 1:
            raise BadRequest(f"n is {n}, but this server returns 1 choice per request: send {n} "
                             "requests (with temperature above 0, or they are the same answer)", "n")
        raise BadRequest(f"n must be 1, got {shown(n)}", "n")

    stop = body.get("stop")
    stop = [] if stop is None else [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or len(stop) > MAX_STOP or not all(isinstance(x, str) and x for x in stop):
        raise BadRequest(f"stop must be a non-empty string or a list of up to {MAX_STOP} of them, "
                         f"got {shown(body['stop'])}", "stop")
    for x in stop:
        if problem := utf8_problem(x):
            raise BadRequest(f"stop is not valid UTF-8 ({problem})", "stop")

    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise BadRequest(f"stream must be true or false, got {shown(stream)}", "stream")
    return Options(max_tokens=max_tokens, temperature=number("temperature", s.temperature, 0, 2),
                   top_p=number("top_p", DEFAULT_TOP_P, 0, 1), stop=stop, stream=bool(stream))


class RequestReader(io.RawIOBase):
    """The connection's bytes while the request is read, all due within `seconds` of its
    opening. A timeout per read alone would let a client that sends a byte every few seconds
    hold its thread forever."""
    def __init__(self, sock: socket.socket, seconds: float):
        self.sock, self.seconds, self.deadline = sock, seconds, time.monotonic() + seconds

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise RequestTimeout(self.seconds)
        self.sock.settimeout(left)
        try:
            return self.sock.recv_into(buffer)
        except TimeoutError:
            raise RequestTimeout(self.seconds) from None
        finally:
            # writes: a client that takes nothing of its answer for this long is gone
            self.sock.settimeout(self.seconds)


def make_server(model: Model, s: Settings, facts: list[spec_check.SpecFact] | None,
                host: str, port: int, api_key: str | None) -> Server:
    """A ThreadingHTTPServer bound to host:port (port 0 = any free port), not yet serving."""
    return Server((host, port), model, s, facts, api_key)


class Server(ThreadingHTTPServer):
    """The API: a thread per connection, one model behind a lock. Connections are counted in two
    pools of serve.max_connections each. Arriving: the request not yet whole, its key not yet
    checked; when that pool is full a new connection pushes out the one that has been arriving the
    longest (it gets 408), so connections that send nothing, or send it slowly, cannot keep out a
    client that sends its request at once. Served: a request with its key, waiting for the model or
    getting its answer; one more gets 503."""
    daemon_threads = True
    request_queue_size = 64  # a burst of clients queues on the lock instead of being refused

    def __init__(self, address: tuple[str, int], model: Model, s: Settings,
                 facts: list[spec_check.SpecFact] | None, api_key: str | None):
        self.model, self.settings, self.facts, self.api_key = model, s, facts, api_key
        self.created = int(time.time())
        self.pools = threading.Lock()
        self.arriving: dict[socket.socket, None] = {}   # oldest first
        self.served = 0
        super().__init__(address, Handler)

    def process_request(self, request, client_address) -> None:
        with self.pools:
            if len(self.arriving) >= self.settings.max_connections:
                oldest = next(iter(self.arriving))
                del self.arriving[oldest]
                push_out(oldest, self.settings.max_connections)
            self.arriving[request] = None
        super().process_request(request, client_address)  # its own thread

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.pools:
                self.arriving.pop(request, None)

    def admit(self, request) -> bool | None:
        """The request arrived with its key: into the served pool (True), or False when that is
        full, or None when it was pushed out meanwhile (closed: no one to answer)."""
        with self.pools:
            if request not in self.arriving:
                return None
            del self.arriving[request]
            if self.served >= self.settings.max_connections:
                return False
            self.served += 1
            return True

    def leave(self) -> None:
        with self.pools:
            self.served -= 1


def push_out(request: socket.socket, max_connections: int) -> None:
    """Close a connection whose request has not arrived, to make room: a 408 if its buffer takes it
    (never waiting: this is the accept thread), then shut, which ends its thread's read at once."""
    body = json.dumps(openai_error(
        f"the request did not arrive before {max_connections} newer connections came (serve.max_connections "
        "connections may be arriving at once): send the request as soon as the connection is open",
        code="request_timeout")).encode()
    try:
        request.send(b"HTTP/1.0 408 Request Timeout\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                     b"\r\n%s" % (len(body), body), socket.MSG_DONTWAIT)
    except OSError:
        pass
    try:
        request.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sys.stderr.write(f"{time.strftime('%d/%b/%Y %H:%M:%S')} pushed out a connection whose request had not "
                     f"arrived: {max_connections} newer ones came (serve.max_connections)\n")


class Handler(BaseHTTPRequestHandler):
    """One API request (its own thread): the model, settings, spec facts and key are the Server's."""
    server_version = "serve.py"
    # what a reply needs when the request line itself never came whole (408)
    requestline, request_version = "", "HTTP/1.0"

    def setup(self) -> None:
        self.timeout = self.server.settings.request_timeout   # StreamRequestHandler puts it on the socket
        super().setup()
        # the request is read through RequestReader: one deadline for all of it to arrive
        self.rfile.close()
        self.rfile = io.BufferedReader(RequestReader(self.connection, self.timeout))

    admitted = False   # holds a place in the Server's served pool

    def admit(self) -> bool:
        """Take a place among the requests being served; False (503 sent, or pushed out) if none."""
        admitted = self.server.admit(self.request)
        if admitted is None:
            self.close_connection = True
            return False
        if not admitted:
            self.send_json(503, openai_error(
                f"server busy: {self.server.settings.max_connections} requests are being answered or wait for "
                "the model, the most serve.max_connections allows; try again shortly",
                kind="server_error", code="server_busy"), {"Retry-After": "1"})  # the openai client retries it
            self.log_message("refused: %d requests served (serve.max_connections)", self.server.settings.max_connections)
            return False
        self.admitted = True
        return True

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self.admitted:
                self.server.leave()

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except RequestTimeout as e:
            self.close_connection = True
            self.log_error("%s", e)
            try:
                self.send_json(408, openai_error(str(e), code="request_timeout"))
            except OSError:
                pass
        except ConnectionError:
            self.close_connection = True  # the client left mid-request: no one to answer

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own refusals (a malformed request line, an unknown method) in
        # OpenAI's error JSON like every other answer, not an HTML page
        self.close_connection = True
        self.send_json(code, openai_error(message or HTTPStatus(code).phrase))

    def send_json(self, status: int, obj: dict, headers: dict[str, str] = {}) -> None:
        data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorised(self) -> bool:
        api_key = self.server.api_key
        if api_key is None:
            return True
        given = self.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
            return True
        self.send_json(401, openai_error("missing or wrong API key: send 'Authorization: "
                                         "Bearer KEY'", code="invalid_api_key"))
        return False

    def client_left(self) -> bool:
        """Whether the client closed its end. While it waits for its answer an HTTP client
        sends nothing, so a socket that reads empty (or reset) means it has gone."""
        self.connection.settimeout(0)
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            return False  # nothing to read: still waiting
        except OSError:
            return True
        finally:
            self.connection.settimeout(self.timeout)

    def stop_if_client_left(self, piece: str = "") -> None:
        if self.client_left():
            raise ClientLeft

    def read_body(self) -> Any:
        if self.headers.get("Transfer-Encoding"):
            raise BadRequest("send the body with a Content-Length (Transfer-Encoding is not "
                             "supported)", status=411)
        length = self.headers.get("Content-Length", "0").strip()
        if not (length.isascii() and length.isdigit()):
            raise BadRequest(f"Content-Length must be a whole number of bytes, got {length[:40]!r}")
        if int(length) > MAX_BODY_BYTES:
            raise BadRequest(f"request body over {MAX_BODY_BYTES} bytes", status=413)
        data = self.rfile.read(int(length))
        if len(data) < int(length):
            raise BadRequest(f"the body ended after {len(data)} of its {length} bytes")
        try:
            return json.loads(data or b"null")
        except (ValueError, RecursionError) as e:  # RecursionError: [[[[… nested past Python's stack
            raise BadRequest(f"the body is not valid JSON ({e})") from None

    def do_GET(self) -> None:
        model = self.server.model
        path = urlsplit(self.path).path.rstrip("/")
        if path == "/health":
            # as llama.cpp's server: a monitor asks without a key; the model is loaded before the
            # server listens, so a server that answers is ready
            if self.admit():
                self.send_json(200, {"status": "ok"})
            return
        if not self.authorised() or not self.admit():
            return
        if path == "/v1/models":
            self.send_json(200, {"object": "list", "data": [
                {"id": model.name, "object": "model", "created": self.server.created, "owned_by": "local"}]})
        else:
            self.send_json(404, openai_error(f"no route GET {self.path}", code="not_found"))

    def do_POST(self) -> None:
        model, s = self.server.model, self.server.settings
        if not self.authorised() or not self.admit():
            return
        if urlsplit(self.path).path.rstrip("/") != "/v1/chat/completions":
            self.send_json(404, openai_error(f"no route POST {self.path}", code="not_found"))
            return
        try:
            body = self.read_body()
            messages = request_messages(body)
            options = request_options(body, s, model.n_ctx)
        except BadRequest as e:
            self.send_json(e.status, openai_error(str(e), param=e.param))
            return
        if s.system and messages[0]["role"] != "system":
            messages.insert(0, {"role": "system", "content": s.system})
        newest = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=None)
        question = strip_task_prefix(messages[newest]["content"]) if newest is not None else ""
        if problem := question_problem(question):
            self.send_json(400, openai_error(f"messages[{newest}].content: {problem}", param="messages"))
            return
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        try:
            found = search(s, question) if newest is not None else None
        except SearchFailed as e:
            self.log_error("%s", e)
            self.send_json(500, openai_error(str(e), kind="server_error", code="search_index_failed"))
            return
        extra = {"sources": None if found is None else found.sources(),
                 "covered": None if found is None else found.covered}
        if refused(s.grounding, found):
            # nothing in the manual on it: the model is not asked, nor its lock waited for
            def say(on_text: Callable[[str], None]) -> Answer:
                on_text(not_covered(found))
                return Answer(not_covered(found), "stop", 0, 0, 0.0, 0.0)
            if options.stream:
                self.stream_answer(completion_id, say, question, found, extra)
            else:
                self.send_answer(completion_id, say(lambda piece: None), question, found, extra)
            return
        if newest is not None:
            # only the newest question carries the manual's lines: a client sends its history
            # as it got it, without them
            messages[newest] = {"role": "user", "content": grounded_user(
                s.grounding, found, messages[newest]["content"])}
        with model.lock:
            if self.client_left():  # gave up while it waited its turn
                self.log_message("client left before its turn; nothing generated")
                return
            try:
                tokens = prompt_tokens(model, messages, options.max_tokens)
            except PromptTooLong as e:
                self.send_json(400, openai_error(str(e), code="context_length_exceeded",
                                                 param="messages"))
                return

            def answer_with(on_text: Callable[[str], None]) -> Answer:
                return guarded(found, s.grounding, generate(model, tokens, options.max_tokens, options.temperature,
                                                            on_text, options.top_p, options.stop,
                                                            value_grammar(s.grounding, found)), on_text)
            if options.stream:
                self.stream_answer(completion_id, answer_with, question, found, extra)
                return
            try:
                answer = answer_with(self.stop_if_client_left)
            except ClientLeft:
                self.log_message("client left; its answer was stopped")
                return
            except Exception as e:  # a llama.cpp failure must answer, not drop the connection
                self.send_json(500, openai_error(f"generation failed: {e}", kind="server_error"))
                return
        self.send_answer(completion_id, answer, question, found, extra)

    def send_answer(self, completion_id: str, answer: Answer, question: str,
                    found: Found | None, extra: dict) -> None:
        model = self.server.model
        self.send_json(200, {
            "id": completion_id, "object": "chat.completion", "created": int(time.time()),
            "model": model.name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text},
                         "logprobs": None, "finish_reason": answer.finish_reason}],
            "usage": {"prompt_tokens": answer.prompt_tokens,
                      "completion_tokens": answer.completion_tokens,
                      "total_tokens": answer.prompt_tokens + answer.completion_tokens},
            "spec_check": self.checked(question, answer.text, found), **extra,
            **({"model_answer": answer.model_answer} if answer.model_answer else {}),
        })

    def stream_answer(self, completion_id: str, produce: Callable[[Callable[[str], None]], Answer],
                      question: str, found: Found | None, extra: dict) -> None:
        """SSE: a role chunk, one chunk per piece, then the finish chunk which also carries
        `spec_check` and `sources` (the whole answer is needed to check it), then
        `data: [DONE]`. `produce` streams the answer's pieces to its argument."""
        model = self.server.model
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()  # HTTP/1.0: the body ends when the connection closes

        def event(delta: dict, finish: str | None = None, **fields: Any) -> None:
            chunk = {"id": completion_id, "object": "chat.completion.chunk",
                     "created": int(time.time()), "model": model.name,
                     "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                  "finish_reason": finish}], **fields}
            self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode("utf-8"))
            self.wfile.flush()

        def piece(text: str) -> None:
            self.stop_if_client_left()
            event({"content": text})

        try:
            event({"role": "assistant", "content": ""})
            answer = produce(piece)
            event({}, answer.finish_reason, spec_check=self.checked(question, answer.text, found), **extra)
            self.wfile.write(b"data: [DONE]\n\n")
        except (ClientLeft, OSError):
            # gone (closed, reset) or stuck (took nothing for request_timeout): raising out
            # of generate() already stopped the decode
            self.log_message("client left; its stream was stopped")

    def checked(self, question: str, answer: str, found: Found | None) -> list[dict] | None:
        # null = no index loaded (not checked); [] = checked, the answer has no numbers with units
        result = check_answer(self.server.facts, question, answer, found)
        return None if result is None else [q.as_json() for q in result]


@app.command(context_settings=EXTRA, epilog=OVERRIDES)
def api(cli_ctx: typer.Context, model: ModelArg,
        host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", help="Port to bind.")] = 8000,
        api_key: Annotated[Optional[str], typer.Option(
            "--api-key", envvar="SERVE_API_KEY", help="Required when --host is not loopback.")] = None,
        config: ConfigOpt = None, ctx: CtxOpt = None, threads: ThreadsOpt = 0,
        max_tokens: MaxTokensOpt = None, temperature: TemperatureOpt = None,
        spec_index: SpecIndexOpt = None, system: SystemOpt = None,
        grounding_mode: GroundingOpt = None, search_index: SearchIndexOpt = None) -> None:
    """OpenAI-compatible /v1/chat/completions (stream or not) and /v1/models."""
    if not 0 <= port <= 65535:
        raise fail(f"--port {port} is not a TCP port: give one from 1 to 65535 (0 = any free port)")
    api_key = api_key or None   # an empty SERVE_API_KEY is no key
    if api_key is not None and (problem := api_key_problem(api_key)):
        raise fail(f"--api-key (or SERVE_API_KEY) {problem}")
    if not is_loopback(host) and not api_key:
        raise fail(f"--host {host} is reachable from other machines: set --api-key (or "
                   "SERVE_API_KEY), or bind 127.0.0.1")
    s = resolve_settings(model, config, ctx, threads, max_tokens, temperature, system,
                         spec_index, grounding_mode, search_index, cli_ctx.args)
    facts, m = start(s)
    try:
        server = make_server(m, s, facts, host, port, api_key)
    except OSError as e:
        raise fail(f"cannot bind {host}:{port}: {e.strerror}")
    typer.echo(f"serving {m.name} on http://{host}:{server.server_address[1]}/v1 · ctx {m.n_ctx} · "
               f"threads {m.threads} · loaded in {m.load_s:.1f}s · spec check "
               f"{'on' if facts is not None else 'off'} · grounding {s.grounding} · Ctrl-C stops", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    app()
