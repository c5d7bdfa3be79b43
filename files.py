"""The kit's files: written so that nothing is lost, read so that a bad line is named. Every stage's
one home for both.

A file is written under a temp name of its own beside the target (`hf_train.jsonl.k2x9a1.tmp`) and
renamed into place. A write that fails (a full disk, Ctrl-C) removes its temp file and leaves the
target as it was; two runs into one folder never write into, or rename away, each other's file (a
fixed `.tmp` name did). The file gets the mode any new file gets here (the umask), not mkstemp's 0600.

Read: a JSONL file line by line (read_jsonl: a line that is not UTF-8 or not JSON is named by file
and line), prep's chat rows checked for their shape (read_chat_rows, chat_example: as train,
evaluate and export read them), a GGUF file told by its magic bytes (is_gguf).
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


def is_gguf(path: Path) -> bool:
    """Whether the file starts with GGUF's magic bytes: llama.cpp is handed nothing else (it can
    abort the whole process on a file it cannot parse, rather than raise)."""
    with open(path, "rb") as f:
        return f.read(4) == b"GGUF"
