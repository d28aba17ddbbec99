"""A real ``jen1 serve`` on a free loopback port with the tiny random model, one per session.

The server runs as a subprocess (so its memory can be measured and it is torn down for sure)
with small limits: 1 model slot, a queue of 2, uploads up to 1 MB, audio up to 10 s.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
MAX_QUEUE = 2
MAX_UPLOAD_MB = 1
MAX_SECONDS = 10


@dataclass(frozen=True)
class Server:
    url: str
    pid: int
    log: Path
    max_queue: int = MAX_QUEUE
    max_upload_mb: int = MAX_UPLOAD_MB
    max_seconds: int = MAX_SECONDS

    def rss_mb(self, field: str = "VmRSS") -> float:
        """Resident memory of the server process (``VmHWM`` = its peak so far), in MiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"{field} not in /proc/{self.pid}/status")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def web_server(tiny_model_dir, tmp_path_factory):
    pytest.importorskip("gradio", reason="the web UI needs gradio (pip install 'jen1[web]')")
    import httpx

    work = tmp_path_factory.mktemp("web-server")
    port = _free_port()
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        GRADIO_ANALYTICS_ENABLED="False",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        GRADIO_TEMP_DIR=str(work / "gradio"),
        PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    )
    main = "import sys; from jen1.cli import entry; sys.argv[0] = 'jen1'; entry()"
    cmd = [
        sys.executable,
        "-c",
        main,
        "--threads",
        "1",
        "serve",
        "--model",
        str(tiny_model_dir),
        "--port",
        str(port),
        "--max-queue",
        str(MAX_QUEUE),
        "--concurrency",
        "1",
        "--max-upload-mb",
        str(MAX_UPLOAD_MB),
        "--max-seconds",
        str(MAX_SECONDS),
    ]
    log = work / "server.log"
    with log.open("w") as out:  # cwd in tmp: nothing the server writes lands in the repo
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jen1 serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jen1 serve did not answer in 90 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield Server(url, proc.pid, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def song_wav_bytes() -> bytes:
    """Two seconds of a stereo chord as WAV bytes (16-bit, 44.1 kHz: resampled by the server)."""
    import soundfile as sf

    sr = 44100
    t = np.arange(2 * sr) / sr
    left = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 330 * t)
    right = 0.3 * np.sin(2 * np.pi * 277 * t)
    buf = io.BytesIO()
    sf.write(buf, np.stack([left, right], axis=1), sr, subtype="PCM_16", format="WAV")
    return buf.getvalue()
