"""prep on the faults a hostile probe found: a file name that is not UTF-8 among real pages,
an output folder that cannot be written, a disk that is full before the run or fills while it writes,
an HTML file with no table, a folder that cannot be listed, two runs writing into one folder.

    pytest tests/test_faults_prep.py -q

Real pages (one scan read by real OCR once per module, the HTML spec sheet), real filesystems: a
path under a regular file (runs everywhere), a read-only tmpfs and a 4 KiB tmpfs where `mount`
works (root in CI). Without mount, the full-disk checks fall back as the issue allows: the free
space the check reads is set in-process, and the failing write is a real one refused by a file-size
limit (RLIMIT_FSIZE) in a subprocess. KIT_TESTS_NO_MOUNT=1 runs the fallbacks where mount works.
"""

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from files import write_atomic
from prep.__main__ import app
from prep.blocks import build_blocks
from tests.helpers import ROOT, claim_free

SCAN = "17 - Cooling System/17-06.png"  # 3.4 KB of blocks: with the sheet, more than a 4 KiB disk holds
SHEET = "Kestrel-K2-techspec.html"       # read without OCR


@pytest.fixture(scope="module")
def ocr_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("ocr-cache")


@pytest.fixture
def src(sample_pages, tmp_path) -> Path:
    """Two real pages: a scan and the HTML spec sheet."""
    src = tmp_path / "src"
    (src / SCAN).parent.mkdir(parents=True)
    shutil.copy(sample_pages / SCAN, src / SCAN)
    shutil.copy(sample_pages / SHEET, src / SHEET)
    return src


def run_with_file_limit(args: list[str], limit: int) -> subprocess.CompletedProcess:
    """A prep command in a subprocess whose writes past `limit` bytes per file fail (EFBIG), as a
    full disk's would (ENOSPC); SIGXFSZ ignored so the write returns the error instead of killing."""
    def limit_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run([sys.executable, "-m", "prep", *args], cwd=ROOT, capture_output=True, text=True,
                          preexec_fn=limit_files)


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


def no_page_read(cache: Path) -> bool:
    return not cache.exists() or not any(cache.iterdir())


# ---------------------------------------------------------------------------------------------
# 4. A file name that is not UTF-8


def test_file_name_not_utf8_is_reported_and_every_other_page_written(src, sample_pages, ocr_cache, tmp_path):
    # A real scan under a Latin-1 name, as an old Windows share writes it: b"caf\xe9" is not UTF-8.
    from PIL import Image

    with Image.open(sample_pages / "34 - Brakes/34-15.png") as im, \
            open(os.fsencode(src) + b"/caf\xe9-latin1.jpg", "wb") as f:
        im.convert("RGB").save(f, "JPEG")
    out = tmp_path / "work"
    res = CliRunner().invoke(app, ["blocks", str(src), "--out", str(out), "--cache", str(ocr_cache), "--quiet"])
    assert res.exit_code == 0, res.output
    assert (out / "errors.txt").read_text(encoding="utf-8").splitlines() == [
        r"caf\xe9-latin1.jpg: file name is not UTF-8 (bytes shown as \xNN); rename the file to read this page"]
    assert r"error: caf\xe9-latin1.jpg: file name is not UTF-8" in res.output
    blocks = [json.loads(line) for line in (out / "blocks.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {b["source"]["path"] for b in blocks} == {SCAN, SHEET}
    assert any(b["kind"] == "heading" and b["fields"]["operation"] == "17 11 300" for b in blocks)
    assert any(b["kind"] == "table" and b["fields"]["title"] == "Engine" for b in blocks)
    assert {p.name for p in out.iterdir()} == {"blocks.jsonl", "pages.jsonl", "errors.txt"}  # no blocks.tmp


# ---------------------------------------------------------------------------------------------
# 8. Unwritable folders and full disks: refused before the OCR, or nothing half-written


@pytest.mark.parametrize("how", ["under a regular file", "read-only mount"])
def test_unwritable_out_refused_before_any_page_is_read(src, tmp_path, tmpfs, how):
    if how == "under a regular file":
        (tmp_path / "notes.txt").write_text("a file, not a folder\n")
        out, reason = tmp_path / "notes.txt" / "work", "Not a directory"
    else:
        read_only = tmpfs("ro", read_only=True)
        if read_only is None:
            pytest.skip("mount is not permitted here; the regular-file case covers the check")
        out, reason = read_only / "work", "Read-only file system"
    cache = tmp_path / "cache"
    res = CliRunner().invoke(app, ["blocks", str(src), "--out", str(out), "--cache", str(cache), "--quiet"])
    assert res.exit_code == 2, res.output
    assert error_lines(res.output) == [f"error: {out}: cannot write there ({reason}); choose another --out"]
    assert no_page_read(cache)


def test_build_refuses_an_unwritable_dataset_folder_before_any_page_is_read(src, tmp_path):
    (tmp_path / "notes.txt").write_text("a file, not a folder\n")
    out, cache = tmp_path / "notes.txt" / "data", tmp_path / "cache"
    res = CliRunner().invoke(app, ["build", str(src), "--config", str(ROOT / "configs/cpu-demo.yaml"), "--out", str(out),
                                   "--work", str(tmp_path / "work"), "--cache", str(cache), "--quiet"])
    assert res.exit_code == 2, res.output
    assert error_lines(res.output) == [f"error: {out}: cannot write there (Not a directory); choose another --out"]
    assert no_page_read(cache) and not (tmp_path / "work").exists()


def test_full_disk_refused_before_any_page_is_read(src, tmp_path, tmpfs, monkeypatch):
    small = tmpfs("small", size="4k")
    # 1 MiB + 32 KiB a page for the blocks, 1 MiB + 128 KiB a scan for the OCR cache: the cache lies
    # on another filesystem than the tmpfs; in the fallback on the same one, and the two add up.
    need = "1.1 MiB" if small else "2.2 MiB"
    if small is None:
        small = tmp_path / "small"
        claim_free(monkeypatch, 4096)
    out, cache = small / "work", tmp_path / "cache"
    res = CliRunner().invoke(app, ["blocks", str(src), "--out", str(out), "--cache", str(cache), "--quiet"])
    assert res.exit_code == 2, res.output
    (line,) = error_lines(res.output)
    assert line == f"error: {out}: 4 KiB free, prep needs about {need} there; free {need} or choose another --out"
    assert no_page_read(cache)
    assert not out.exists()  # the check takes back the folder it made


def test_disk_full_while_writing_blocks_leaves_no_half_file(src, ocr_cache, tmp_path, tmpfs, monkeypatch):
    first = build_blocks(src, tmp_path / "first", cache_dir=ocr_cache, progress=False)  # the OCR, kept in the cache
    written = sum(p.stat().st_size for p in (tmp_path / "first").iterdir())
    small = tmpfs("small", size="4k")
    if small is not None:
        claim_free(monkeypatch, 2**30)  # the check passes; the 4 KiB disk then fills for real
        out = small / "work"
        res = CliRunner().invoke(app, ["blocks", str(src), "--out", str(out), "--cache", str(ocr_cache), "--quiet"])
        code, output, reason = res.exit_code, res.output, "No space left on device"
    else:
        out = tmp_path / "work"
        done = run_with_file_limit(["blocks", str(src), "--out", str(out), "--cache", str(ocr_cache), "--quiet"], 4096)
        code, output, reason = done.returncode, done.stdout + done.stderr, "File too large"
    assert code == 1, output
    (line,) = error_lines(output)
    assert line.startswith(f"error: {out}: writing the blocks failed ({reason}); nothing was written there: "
                           f"free at least {written / 2**10:.0f} KiB on it (or choose another --out) and run again; what was read is "
                           f"kept in the OCR cache {ocr_cache}")
    assert list(out.iterdir()) == []  # no blocks.jsonl.tmp, no blocks.jsonl without its pages.jsonl
    again = build_blocks(src, tmp_path / "freed", cache_dir=ocr_cache, progress=False)
    assert again.ocr_runs == 0 and again.blocks == first.blocks


def test_disk_full_while_writing_the_dataset_leaves_no_half_file(src, ocr_cache, tmp_path, tmpfs, monkeypatch):
    build_blocks(src, tmp_path / "work", cache_dir=ocr_cache, progress=False)
    blocks = tmp_path / "work" / "blocks.jsonl"
    args = ["dataset", str(blocks), "--config", str(ROOT / "configs/cpu-demo.yaml"), "--data.val_fraction", "0"]
    small = tmpfs("small", size="4k")
    if small is not None:
        claim_free(monkeypatch, 2**30)
        out = small / "data"
        res = CliRunner().invoke(app, [*args, "--out", str(out)])
        code, output, reason = res.exit_code, res.output, "No space left on device"
    else:
        out = tmp_path / "data"
        done = run_with_file_limit([*args, "--out", str(out)], 4096)
        # The search index is the first file written, and SQLite words a refused write (EFBIG here)
        # as its own "disk I/O error"; a full disk it reports as full (the branch above).
        code, output, reason = done.returncode, done.stdout + done.stderr, "disk I/O error"
    assert code == 1, output
    assert error_lines(output)[-1].startswith(f"error: {out}: writing the dataset failed ({reason}); nothing there was "
                                             "replaced: free space there")
    assert "Traceback" not in output
    assert not list(out.glob("*.tmp"))


# ---------------------------------------------------------------------------------------------
# 11. What was skipped without a word, and two runs into one --out

BRAKES_SHEET = ("<html><head><title>Brakes</title></head><body><table>"
                "<tr><td><h2>Brakes</h2></td><td>K20</td></tr><tr><td>Pad thickness:</td><td>10 mm</td></tr>"
                "</table></body></html>")


@pytest.fixture
def sheet_only(sample_pages, tmp_path) -> Path:
    """The HTML spec sheet alone: read without OCR, so a run takes a fraction of a second."""
    src = tmp_path / "sheet"
    src.mkdir()
    shutil.copy(sample_pages / SHEET, src / SHEET)
    return src


def page_paths(out: Path) -> set[str]:
    return {json.loads(line)["path"] for line in (out / "pages.jsonl").read_text(encoding="utf-8").splitlines()}


def test_html_without_a_table_is_one_error_line_and_the_run_goes_on(sheet_only, tmp_path):
    # Until now it passed as a page with no blocks: in pages.jsonl, in no error, in no dataset row.
    (sheet_only / "notes.html").write_text("<html><head><title>Notes</title></head><body><p>Torque all bolts "
                                           "to spec.</p></body></html>", encoding="utf-8")
    out = tmp_path / "work"
    res = CliRunner().invoke(app, ["blocks", str(sheet_only), "--out", str(out), "--cache", str(tmp_path / "cache"), "--quiet"])
    assert res.exit_code == 0, res.output
    line = "notes.html: HTML file with no table; only spec tables (<table> with rows) are read from HTML"
    assert (out / "errors.txt").read_text(encoding="utf-8").splitlines() == [line]
    assert f"error: {line}\n" in res.output and "; 1 bad files;" in res.output
    assert page_paths(out) == {SHEET}
    assert {p.name for p in out.iterdir()} == {"blocks.jsonl", "pages.jsonl", "errors.txt"}


def drop_root_file_rights() -> None:
    """preexec_fn: the child loses root's right to read and search any folder (CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH, dropped from its bounding set, so the python it execs never holds them): a
    chmod 000 folder then refuses root's child as it refuses any user."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def listing_refused(folder: Path) -> bool:
    """Whether a child process (rights dropped when we are root) is refused the folder's listing."""
    try:
        done = subprocess.run([sys.executable, "-c", "import os, sys; os.listdir(sys.argv[1])", str(folder)],
                              capture_output=True, check=False,
                              preexec_fn=drop_root_file_rights if os.geteuid() == 0 else None)
    except (OSError, subprocess.SubprocessError):  # the capability cannot be dropped here
        return False
    return done.returncode != 0


def test_folder_that_cannot_be_listed_is_one_error_line_and_the_run_goes_on(sheet_only, sample_pages, tmp_path, monkeypatch):
    locked = sheet_only / "34 - Brakes"
    locked.mkdir()
    shutil.copy(sample_pages / "34 - Brakes/34-15.png", locked / "34-15.png")  # never read: the OCR is not run
    out, cache = tmp_path / "work", tmp_path / "cache"
    args = ["blocks", str(sheet_only), "--out", str(out), "--cache", str(cache), "--quiet"]
    locked.chmod(0)
    try:
        if listing_refused(locked):  # a real refusal: as any user, or as root without its file rights
            done = subprocess.run([sys.executable, "-m", "prep", *args], cwd=ROOT, capture_output=True, text=True,
                                  check=False, preexec_fn=drop_root_file_rights if os.geteuid() == 0 else None)
            code, output = done.returncode, done.stdout + done.stderr
        else:
            # Root that may not drop its rights (no CAP_SETPCAP) reads through any chmod, and no other
            # real way makes a listing fail for it: the refusal is made where the walk lists a folder.
            real_scandir = os.scandir

            def scandir(path="."):
                if Path(path) == locked:
                    raise PermissionError(13, "Permission denied", str(path))
                return real_scandir(path)

            monkeypatch.setattr(os, "scandir", scandir)
            res = CliRunner().invoke(app, args)
            code, output = res.exit_code, res.output
    finally:
        locked.chmod(0o755)
    assert code == 0, output
    line = ("34 - Brakes/: folder cannot be listed (Permission denied); the pages in it are not read; "
            "allow reading it (chmod u+rx) and run again")
    assert (out / "errors.txt").read_text(encoding="utf-8").splitlines() == [line]
    assert f"error: {line}\n" in output and "; 1 bad files;" in output
    assert page_paths(out) == {SHEET}
    assert {p.name for p in out.iterdir()} == {"blocks.jsonl", "pages.jsonl", "errors.txt"}
    assert no_page_read(cache)


def test_two_runs_into_one_out_keep_to_their_own_temp_files(sheet_only, tmp_path, monkeypatch):
    # The second run writes its files at the worst moment: the first has written all three under
    # temp names and is about to rename them. With one fixed temp name the second overwrote the
    # first's blocks.jsonl.tmp and renamed it away, and the first failed on a file gone.
    other = tmp_path / "other"
    other.mkdir()
    (other / "brakes.html").write_text(BRAKES_SHEET, encoding="utf-8")
    out, cache = tmp_path / "work", tmp_path / "cache"
    real_replace, second = os.replace, []

    def replace(src, dst):
        if Path(dst).name == "blocks.jsonl" and not second:
            second.append("running")  # its own renames go straight through
            second[0] = build_blocks(other, out, cache_dir=cache, progress=False)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    res = CliRunner().invoke(app, ["blocks", str(sheet_only), "--out", str(out), "--cache", str(cache), "--quiet"])
    assert res.exit_code == 0, res.output
    assert second[0].pages == 1 and second[0].errors == []
    # the first run renamed last: its three files, whole, none of the second's, no temp file left
    assert page_paths(out) == {SHEET}
    blocks = [json.loads(line) for line in (out / "blocks.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {b["source"]["path"] for b in blocks} == {SHEET}
    assert (out / "errors.txt").read_text() == ""
    assert {p.name for p in out.iterdir()} == {"blocks.jsonl", "pages.jsonl", "errors.txt"}
    umask = os.umask(0)
    os.umask(umask)
    assert (out / "blocks.jsonl").stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_two_dataset_writes_into_one_file_keep_to_their_own_temp_files(tmp_path, monkeypatch):
    # The same for the dataset's files (files.write_atomic): the second write lands between the first's
    # write and its rename; the first then renames its own whole file, last.
    path = tmp_path / "hf_train.jsonl"
    real_replace, second = os.replace, []

    def replace(src, dst):
        if not second:
            second.append("running")  # its own rename goes straight through
            write_atomic(path, '{"second": true}\n')
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    write_atomic(path, '{"first": true}\n')
    assert path.read_text() == '{"first": true}\n'
    assert list(tmp_path.iterdir()) == [path]


# ---------------------------------------------------------------------------------------------
# 12. A refused dataset, a refused build, a damaged OCR cache entry, a killed or stopped run

TEXT_PDF = "Gearbox K5:6 Rebuild (text layer).pdf"  # read from its text layer: no OCR


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_refused_dataset_leaves_the_one_there_whole(sample_pages, tmp_path):
    # A dataset of the PDF and the spec sheet (train and val rows), then one of the sheet alone into
    # the same folder: no val rows, refused. Each file used to replace its old one as it was written,
    # before the refusal: all 9 files of the good dataset were gone.
    big, small = tmp_path / "big", tmp_path / "small"
    for folder, names in ((big, [TEXT_PDF, SHEET]), (small, [SHEET])):
        folder.mkdir()
        for name in names:
            shutil.copy(sample_pages / name, folder / name)
    data, cache = tmp_path / "data", tmp_path / "cache"
    args = ["--config", str(ROOT / "configs/cpu-demo.yaml"), "--out", str(data), "--cache", str(cache), "--quiet"]
    res = CliRunner().invoke(app, ["build", str(big), "--work", str(tmp_path / "work-big"), *args])
    assert res.exit_code == 0, res.output
    before = folder_bytes(data)
    assert len(before) == 9 and "search_index.sqlite" in before and "resolved_config.yaml" in before
    res = CliRunner().invoke(app, ["build", str(small), "--work", str(tmp_path / "work-small"), *args])
    assert res.exit_code == 1, res.output
    assert folder_bytes(data) == before  # every file byte for byte, and no temp file beside them
    (line,) = [l for l in error_lines(res.output) if l.startswith("error:")]
    assert re.fullmatch(rf"error: {re.escape(str(data))}: the dataset would have \d+ train rows and no val rows: "
                        r"give more pages \(or --data.val_fraction 0 to train on every page\); "
                        r"the files there are left as they were", line), line
    assert not any(l.startswith("dataset:") for l in error_lines(res.output))  # no summary of a dataset not written


@pytest.mark.parametrize("src_kind", ["missing", "empty"])
def test_build_refused_for_its_pages_folder_makes_no_folder(tmp_path, src_kind):
    src = tmp_path / "pages"
    if src_kind == "empty":
        src.mkdir()
    data, work, cache = tmp_path / "out" / "data", tmp_path / "work", tmp_path / "cache"
    res = CliRunner().invoke(app, ["build", str(src), "--config", str(ROOT / "configs/cpu-demo.yaml"), "--out", str(data),
                                   "--work", str(work), "--cache", str(cache), "--quiet"])
    assert res.exit_code == 2, res.output
    assert error_lines(res.output) == [f"error: {src} is {'not a folder' if src_kind == 'missing' else 'empty'}; "
                                       "give a folder of page images, PDFs or HTML spec sheets"]
    assert not (tmp_path / "out").exists() and not work.exists() and not cache.exists()


@pytest.mark.parametrize("damage, problem", [(b"{}", "no 'width'"), (b'{"width": 1700, "height": 22', "not JSON")])
def test_damaged_ocr_cache_entry_is_read_again(src, ocr_cache, tmp_path, damage, problem):
    first = build_blocks(src, tmp_path / "first", cache_dir=ocr_cache, progress=False)
    cache = tmp_path / "cache"
    shutil.copytree(ocr_cache, cache)
    for entry in cache.glob("*.json"):  # the scan's entry among them: every one damaged
        entry.write_bytes(damage)
    out = tmp_path / "work"
    res = CliRunner().invoke(app, ["blocks", str(src), "--out", str(out), "--cache", str(cache), "--quiet"])
    assert res.exit_code == 0, res.output
    notes = [l for l in error_lines(res.output) if l.startswith("note:")]
    assert len(notes) == 1, res.output
    assert re.fullmatch(rf"note: {re.escape(SCAN)}: its OCR cache entry {re.escape(str(cache))}/\w+\.json is damaged "
                        rf"\({re.escape(problem)}.*\); reading the page again", notes[0]), notes[0]
    assert "1 OCR runs" in res.output and "; 0 bad files;" in res.output
    assert (out / "blocks.jsonl").read_bytes() == (tmp_path / "first" / "blocks.jsonl").read_bytes()
    again = build_blocks(src, tmp_path / "again", cache_dir=cache, progress=False)  # the entry was written anew
    assert again.ocr_runs == 0 and again.blocks == first.blocks


# The scans of the sample manual: read with --jobs 2 and an empty cache, a run takes some 10-30 s.
SCANS = ["00 - Torque Specs/00-02.png", "00 - Torque Specs/00-03.png", "00 - Torque Specs/11-04.png",
         "00 - Torque Specs/41-12.png", "17 - Cooling System/17-06.png", "34 - Brakes/34-15.png",
         "34 - Brakes/34-00-index-a.png", "Tecnoprova TP-40/05-02.png"]


@pytest.fixture
def scans(sample_pages, tmp_path) -> Path:
    src = tmp_path / "scans"
    for rel in SCANS:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sample_pages / rel, src / rel)
    return src


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc: psutil may not be installed)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    """Running: a zombie (dead, not yet reaped by an init that may never reap it) is not."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(condition, seconds: float, what: str):
    import time

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no {what} within {seconds:.0f} s")


def cache_entries(cache: Path) -> int:
    return len(list(cache.glob("*.json"))) if cache.is_dir() else 0


def start_blocks(src: Path, out: Path, cache: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "prep", "blocks", str(src), "--out", str(out), "--cache", str(cache),
                             "--jobs", "2", "--quiet"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads the process table from /proc (Linux)")
def test_workers_die_with_a_killed_prep(scans, tmp_path):
    # A worker waits for pages on a pipe it holds both ends of: it never saw prep go, and two
    # workers (~300 MB each) read on, or waited, forever under init.
    prep = start_blocks(scans, tmp_path / "work", tmp_path / "cache")
    workers = []
    try:
        workers = wait_for(lambda: (lambda c: c if len(c) == 2 else None)(children(prep.pid)), 120, "2 workers")
        wait_for(lambda: cache_entries(tmp_path / "cache") >= 1, 300, "page read")  # the workers are at work
        prep.kill()
        prep.wait()
        import time

        end = time.monotonic() + 5
        while time.monotonic() < end and any(alive(w) for w in workers):
            time.sleep(0.1)
        assert not [w for w in workers if alive(w)], "workers outlived the killed prep"
    finally:
        for w in workers:
            if alive(w):
                os.kill(w, signal.SIGKILL)
        prep.kill()
        prep.communicate()


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads the process table from /proc (Linux)")
def test_ctrl_c_stops_prep_promptly_and_keeps_the_pages_read(scans, tmp_path):
    # Ctrl-C reached prep, which then waited for the workers to read every page queued, exit 130 after
    # the whole run's OCR, and said nothing.
    import time

    out, cache = tmp_path / "work", tmp_path / "cache"
    prep = start_blocks(scans, out, cache)
    workers = []
    try:
        workers = wait_for(lambda: (lambda c: c if len(c) == 2 else None)(children(prep.pid)), 120, "2 workers")
        wait_for(lambda: cache_entries(cache) >= 1, 300, "page read")
        read = cache_entries(cache)
        sent = time.monotonic()
        prep.send_signal(signal.SIGINT)
        stdout, stderr = prep.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        prep.kill()
    assert prep.returncode == 130, stderr
    # What was read is kept; the pages still queued were not read (at most the two under way finished).
    assert read <= cache_entries(cache) <= read + 4 < len(SCANS)  # a page read twice (a wiring page) has 2
    assert took < 10, f"prep took {took:.1f} s to stop"
    (line,) = error_lines(stdout + stderr)
    assert re.fullmatch(rf"error: stopped \(Ctrl-C\) after \d of {len(SCANS)} pages; nothing was written to "
                        rf"{re.escape(str(out))}; the OCR of the pages read is kept in {re.escape(str(cache))}, "
                        r"so a re-run reads only the others", line), line
    assert not out.exists()
    assert not [w for w in workers if alive(w)], "workers outlived the stopped prep"
