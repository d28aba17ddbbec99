"""The HTTP API on hostile requests: always a JSON answer with a 4xx status, never a text 500.

One ``jen1 serve --port 0`` (tiny random model) for the module: it must print the port it bound.
"""

from __future__ import annotations

import io
import json
import re
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
from reliability_helpers import env

httpx = pytest.importorskip("httpx")
UPLOAD_TIMEOUT = 2


@pytest.fixture(scope="module")
def server(tiny_model_dir, tmp_path_factory):
    pytest.importorskip("gradio", reason="the web UI needs gradio (pip install 'jen1[web]')")
    work = tmp_path_factory.mktemp("reliability-server")
    log = work / "server.log"
    cmd = [sys.executable, "-m", "jen1.cli", "--threads", "1", "serve", "--port", "0"]
    cmd += ["--model", str(tiny_model_dir), "--max-upload-mb", "1", "--max-seconds", "10"]
    cmd += ["--upload-timeout", str(UPLOAD_TIMEOUT)]
    e = env(GRADIO_ANALYTICS_ENABLED="False", GRADIO_TEMP_DIR=str(work / "gradio"))
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=work, env=e, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300  # gradio imports slowly on a busy machine
        while not (m := re.search(r"http://127\.0\.0\.1:(\d+)/", log.read_text())):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"jen1 serve did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        port = int(m.group(1))
        url = f"http://127.0.0.1:{port}"
        while True:
            try:
                if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"jen1 serve did not answer:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield {"url": url, "port": port, "log": log}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_port_0_prints_the_port_actually_bound(server):
    assert server["port"] != 0
    assert httpx.get(server["url"] + "/api/health").json()["status"] == "ok"


def _json_error(r, status: int = 400) -> str:
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers["content-type"] == "application/json", r.text[:300]
    message = r.json()["error"]
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    "body, words",
    [
        (b'{"prompt": "x", "seconds": 1' + b"0" * 400 + b"}", "finite"),  # beyond a float
        (b'{"prompt": "x", "seconds": 1e400}', "finite"),
        (b'{"prompt": "x", "seed": ' + b"7" * 5000 + b"}", "too many digits"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"prompt": "x", "seconds": true}', "must be a number, got true"),
        (b'{"prompt": "x", "steps": false}', "must be a number, got false"),
        (b'{"prompt": "x", "cfg": true}', "must be a number, got true"),
    ],
)
def test_generate_bad_json_is_a_json_400(server, body, words):
    r = httpx.post(
        server["url"] + "/api/generate",
        content=body,
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert words in _json_error(r).lower()


def _wav_bytes() -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.zeros((48000, 2), np.float32), 48000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _multipart(filename: bytes, data: bytes, fields: dict[str, str]) -> tuple[bytes, str]:
    """A multipart body written by hand, so the filename reaches the server byte for byte."""
    b = "jen1boundary"
    parts = [
        f'--{b}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{b}\r\nContent-Disposition: form-data; name="audio"; filename="'.encode()
        + filename
        + b'"\r\nContent-Type: audio/wav\r\n\r\n'
        + data
        + b"\r\n"
    )
    return b"".join(parts) + f"--{b}--\r\n".encode(), f"multipart/form-data; boundary={b}"


@pytest.mark.parametrize(
    "filename", [b"..", b".", b"a" * 300 + b".wav", b"x\x00y.wav", b"../../etc/passwd"]
)
def test_odd_upload_filenames_are_handled(server, filename):
    # the end is after the 1 s clip: answered once the upload is on disk and read
    body, ctype = _multipart(filename, _wav_bytes(), {"start": "5", "end": "6", "steps": "1"})
    r = httpx.post(
        server["url"] + "/api/inpaint", content=body, headers={"content-type": ctype}, timeout=60
    )
    message = _json_error(r)
    assert "after the end of the audio" in message


def _raw_request(port: int, path: str, headers: str, body: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=UPLOAD_TIMEOUT + 20)
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode() + body)
    return s


def test_stalled_upload_times_out_with_408(server):
    body, ctype = _multipart(b"song.wav", _wav_bytes(), {"start": "0", "end": "0.5"})
    headers = f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
    t0 = time.monotonic()
    s = _raw_request(server["port"], "/api/inpaint", headers, body[: len(body) // 2])
    try:
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    finally:
        s.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert "did not arrive within" in json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]
    assert time.monotonic() - t0 < UPLOAD_TIMEOUT + 15


@pytest.mark.parametrize("path", ["/api/inpaint", "/api/generate"])
def test_client_hanging_up_mid_upload_is_one_log_line(server, path):
    log = server["log"]
    before = log.read_text()
    body, ctype = _multipart(b"song.wav", _wav_bytes(), {"start": "0", "end": "0.5"})
    if path == "/api/generate":
        body, ctype = b'{"prompt": "x", "seconds": 1, "pad": "' + b" " * 50000, "application/json"
    headers = f"Content-Type: {ctype}\r\nContent-Length: {len(body) + 1000}\r\n"
    s = _raw_request(server["port"], path, headers, body[: len(body) // 2])
    time.sleep(0.3)
    s.close()
    deadline = time.monotonic() + 20
    while log.read_text() == before and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # anything else it would print
    new = log.read_text()[len(before) :]
    assert "Traceback" not in new, new[-3000:]
    lines = new.strip().splitlines()
    assert len(lines) == 1 and "hung up" in lines[0], new[-3000:]
    assert httpx.get(server["url"] + "/api/health").status_code == 200
