"""The kit's files: written so that nothing is lost, read so that a bad line is named. Every stage's
one home for both.

A file is written under a temp name of its own beside the target (`hf_train.jsonl.k2x9a1.tmp`) and
renamed into place. A write that fails (a full disk, Ctrl-C) removes its temp file and leaves the
target as it was; two runs into one folder never write into, or rename away, each other's file (a
fixed `.tmp` name did). The file gets the mode any new file gets here (the umask), not mkstemp's 0600.

Read: a JSONL file line by line (read_jsonl: a line that is not UTF-8 or not JSON is named by file
and line), prep's chat rows checked for their shape (read_chat_rows, chat_example: as train,
evaluate and export read them), a GGUF file read as far as its header says it reaches (gguf_header:
a copy cut short is named before llama.cpp is handed it).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def temp_beside(path: Path) -> Path:
    """An empty file with a unique name in `path`'s folder, mode as the umask says, for a writer
    that needs a path rather than text (SQLite). The caller renames it into place or removes it."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
    os.close(fd)
    set_umask_mode(name)
    return Path(name)


def write_atomic(path: Path, text: str) -> None:
    """`text` (UTF-8) into `path`, whole or not at all."""
    write_together(path.parent, {path.name: text})


def write_together(folder: Path, texts: dict[str, str], staged_files: dict[str, Path] | None = None) -> None:
    """Several files of one folder: all written to temp names first, then all renamed. A failed write
    leaves the folder as it was, with no half file and no new blocks.jsonl beside an old pages.jsonl.
    `staged_files`: files already written whole under temp names in `folder` (temp_beside: a SQLite
    database), name -> temp path, renamed with the rest; the caller removes them if this fails."""
    folder.mkdir(parents=True, exist_ok=True)
    staged: list[Path] = []
    try:
        for name, text in texts.items():
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f"{name}.", suffix=".tmp")
            staged.append(Path(tmp))
            # backslashreplace: a lone surrogate (a broken PDF text layer) becomes `\udcXX`, which inside
            # a JSON string is that same character again, where strict UTF-8 would stop the whole run.
            with open(fd, "w", encoding="utf-8", errors="backslashreplace", newline="") as f:
                set_umask_mode(f.fileno())
                f.write(text)
    except BaseException:
        for tmp in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, name in [*zip(staged, texts), *((tmp, name) for name, tmp in (staged_files or {}).items())]:
        os.replace(tmp, folder / name)


def set_umask_mode(file: int | str) -> None:
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(file, 0o666 & ~umask)
    except OSError:  # a filesystem without modes (vfat, SMB) may refuse it; the text is what counts
        pass


# -------------------------------------------------------------------- reading


class RowError(ValueError):
    """A line of a data file that cannot be read, worded with the file and the line number."""


def read_jsonl(path: Path, blank_lines: bool = True) -> list[tuple[int, object]]:
    """(line number, the line's JSON value) of every line; blank lines skipped, or refused when
    `blank_lines` is False. Bytes are split on \\n and \\r only: a line is what an editor and
    `datasets` call a line (str.splitlines also splits at U+2028 inside a JSON string)."""
    rows = []
    for number, raw in enumerate(Path(path).read_bytes().splitlines(), 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise RowError(f"{path}:{number}: not UTF-8 (byte 0x{raw[err.start]:02x} at column {err.start + 1}); "
                           "save the file as UTF-8 or rebuild it with python -m prep build") from None
        if not line.strip():
            if blank_lines:
                continue
            raise RowError(f"{path}:{number}: empty line")
        try:
            rows.append((number, json.loads(line)))
        except json.JSONDecodeError as err:
            raise RowError(f"{path}:{number}: not JSON ({err.msg} at column {err.colno})") from None
    return rows


def read_chat_rows(path: Path, blank_lines: bool = True) -> list[tuple[int, list[dict], list[dict], str, dict]]:
    """(line number, user turn(s), the answer turn, task, the whole record) of every row of a
    dataset file prep wrote; RowError names the first line that is not one (chat_example)."""
    rows = []
    for number, record in read_jsonl(path, blank_lines):
        try:
            user, answer, task = chat_example(record)
        except (ValueError, TypeError) as err:
            raise RowError(f"{path}:{number}: malformed example ({err})") from None
        rows.append((number, user, answer, task, record))
    return rows


def chat_example(record) -> tuple[list[dict], list[dict], str]:
    """The user turn(s), the one assistant answer and the task of a dataset line
    {"messages": [{"role", "content"}, ...], "meta": {"task"}}; TypeError/ValueError saying what is wrong."""
    if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
        raise TypeError('expected an object with a "messages" list')
    messages = record["messages"]
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("system", "user", "assistant"):
            raise TypeError(f"messages[{i}]: expected an object whose role is system, user or assistant")
        if not isinstance(message.get("content"), str):
            raise TypeError(f"messages[{i}] ({message['role']}): content is {json_kind(message.get('content'))}, "
                            "expected text")
    answer = [{"role": m["role"], "content": m["content"]} for m in messages if m["role"] == "assistant"]
    user = [{"role": m["role"], "content": m["content"]} for m in messages if m["role"] != "assistant"]
    if (not any(m["role"] == "user" for m in user) or len(answer) != 1 or messages[-1]["role"] != "assistant"
            or not answer[0]["content"].strip()):
        raise ValueError("needs user turn(s) followed by one non-empty assistant turn")
    meta = record.get("meta") or {}
    if not isinstance(meta, dict) or not isinstance(meta.get("task", ""), str):
        raise TypeError('"meta" must be an object whose "task" is text')
    return user, answer, meta.get("task", "")


def json_kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return {int: "a number", float: "a number", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


class GgufError(ValueError):
    """A file that is not a whole GGUF model; the message says what is wrong, without the path."""


# GGUF's scalar value types (gguf.constants.GGUFValueType): type id -> struct format.
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9


def gguf_header(path: Path) -> dict:
    """The GGUF's scalar metadata (general.architecture, its context_length, ...), after checking
    that the file holds every tensor its header lists. GgufError otherwise. llama.cpp is handed
    nothing else: on a file cut short (a copy or download that stopped) it fails with a bare
    "Failed to load model" or aborts the whole process. Reads the header only (the tokenizer's
    lists are skipped over), not the tensors: well under a second on a 3B model."""
    import struct

    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    size = Path(path).stat().st_size
    with open(path, "rb") as f:
        def take(n: int) -> bytes:
            data = f.read(n)
            if len(data) < n:
                raise GgufError(f"cut short: the file ends ({size} bytes) inside its header")
            return data

        def number(fmt: str):
            return struct.unpack("<" + fmt, take(struct.calcsize(fmt)))[0]

        def string() -> str:
            n = number("Q")
            if n > size:
                raise GgufError(f"damaged header (a text of {n} bytes in a file of {size})")
            return take(n).decode("utf-8", errors="replace")

        def value(kind: int):
            if kind in _SCALARS:
                return number(_SCALARS[kind])
            if kind == _STRING:
                return string()
            if kind != _ARRAY:
                raise GgufError(f"damaged header (value type {kind})")
            item, n = number("I"), number("Q")
            if item in _SCALARS:   # numbers (token scores, types): skipped over whole
                width = struct.calcsize(_SCALARS[item])
                if n * width > size:
                    raise GgufError(f"damaged header (a list of {n} numbers in a file of {size} bytes)")
                f.seek(n * width, 1)
            else:
                for _ in range(n):
                    value(item)
            return None

        if f.read(4) != b"GGUF":
            raise GgufError("not a GGUF file (it does not start with b'GGUF')")
        version = number("I")
        if version not in (2, 3):
            raise GgufError(f"GGUF version {version}; llama.cpp reads versions 2 and 3")
        n_tensors, n_kv = number("Q"), number("Q")
        meta = {}
        for _ in range(n_kv):
            key, kind = string(), number("I")
            found = value(kind)
            if found is not None:
                meta[key] = found
        end = 0
        for _ in range(n_tensors):
            name, dims = string(), number("I")
            shape = [number("Q") for _ in range(dims)]
            kind, offset = number("I"), number("Q")
            try:
                block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(kind)]
            except (ValueError, KeyError):
                raise GgufError(f"tensor {name}: unknown type {kind} (a newer llama.cpp may read it)") from None
            count = 1
            for d in shape:
                count *= d
            end = max(end, offset + count // block * type_size)
        alignment = meta.get("general.alignment", 32) or 32
        data_start = -(-f.tell() // alignment) * alignment
    if data_start + end > size:
        raise GgufError(f"cut short: {size} bytes, but its {n_tensors} tensors need {data_start + end} "
                        f"({100 * size / (data_start + end):.0f} % there); copy or download it again")
    return meta

