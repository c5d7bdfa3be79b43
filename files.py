"""Writing output files so that nothing is lost: every stage's one home for it.

A file is written under a temp name of its own beside the target (`hf_train.jsonl.k2x9a1.tmp`) and
renamed into place. A write that fails (a full disk, Ctrl-C) removes its temp file and leaves the
target as it was; two runs into one folder never write into, or rename away, each other's file (a
fixed `.tmp` name did). The file gets the mode any new file gets here (the umask), not mkstemp's 0600.
"""

from __future__ import annotations

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


def write_together(folder: Path, texts: dict[str, str]) -> None:
    """Several files of one folder: all written to temp names first, then all renamed. A failed write
    leaves the folder as it was, with no half file and no new blocks.jsonl beside an old pages.jsonl."""
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
    for tmp, name in zip(staged, texts):
        os.replace(tmp, folder / name)


def set_umask_mode(file: int | str) -> None:
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(file, 0o666 & ~umask)
    except OSError:  # a filesystem without modes (vfat, SMB) may refuse it; the text is what counts
        pass
