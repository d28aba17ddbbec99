"""Settings of one ``jen1 serve`` process (limits, queue, binding)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jen1.errors import Jen1Error


@dataclass(frozen=True)
class ServerSettings:
    """What the web UI and the HTTP API allow; every default lives here.

    Args:
        host: address to bind; the loopback address unless told otherwise.
        port: TCP port.
        max_queue: requests that may wait for the model (per door: the UI queue and the HTTP
            API each hold at most this many); more are refused with a "busy" message.
        concurrency: model calls that may run at the same time (1 on a CPU).
        max_upload_mb: largest accepted upload, in MiB.
        max_seconds: longest audio to generate, add or accept as input.
        history: how many recent results each browser tab lists.
        keep_results: result files kept on disk by the server (oldest are deleted first).
        results_dir: where result WAVs are written; ``None`` makes a temporary directory.
        upload_timeout: seconds an HTTP API request's body may take to arrive (a stalled
            upload is answered 408 and its connection freed).
    """

    host: str = "127.0.0.1"
    port: int = 7860
    max_queue: int = 16
    concurrency: int = 1
    max_upload_mb: float = 50.0
    max_seconds: float = 60.0
    history: int = 20
    keep_results: int = 200
    results_dir: Path | None = None
    upload_timeout: float = 60.0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise Jen1Error(f"--port must be between 0 and 65535, got {self.port}")
        if not 1 <= self.max_queue <= 1000:
            raise Jen1Error(f"--max-queue must be between 1 and 1000, got {self.max_queue}")
        if not 1 <= self.concurrency <= 64:
            raise Jen1Error(f"--concurrency must be between 1 and 64, got {self.concurrency}")
        if not 0 < self.max_upload_mb <= 4096:
            raise Jen1Error(f"--max-upload-mb must be between 0 and 4096, got {self.max_upload_mb}")
        if not 0 < self.max_seconds <= 3600:
            raise Jen1Error(f"--max-seconds must be between 0 and 3600, got {self.max_seconds}")
        if not 0 < self.upload_timeout <= 3600:
            raise Jen1Error(
                f"--upload-timeout must be between 0 and 3600 s, got {self.upload_timeout}"
            )
        if self.history < 1 or self.keep_results < 1:
            raise Jen1Error("history and keep_results must be at least 1")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)
