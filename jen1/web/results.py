"""Result audio for the web: WAV files kept on disk (bounded) and WAV bytes for the API."""

from __future__ import annotations

import io
import threading
import uuid
from collections import deque
from pathlib import Path

import numpy as np

from jen1.audio import SAMPLE_RATE, save_audio


def wav_bytes(wav: np.ndarray, subtype: str = "PCM_24") -> bytes:
    """(2, L) float audio -> the bytes of a 48 kHz stereo WAV file (clipped to [-1, 1])."""
    import soundfile as sf

    arr = np.clip(np.asarray(wav, dtype=np.float32), -1.0, 1.0)
    buf = io.BytesIO()
    sf.write(buf, arr.T, SAMPLE_RATE, subtype=subtype, format="WAV")
    return buf.getvalue()


class ResultStore:
    """Writes result WAVs into one directory and deletes the oldest beyond ``keep`` files.

    Args:
        directory: where files go (created if missing).
        keep: how many files to keep; disk use stays bounded however long the server runs.
    """

    def __init__(self, directory: str | Path, keep: int):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.keep = keep
        self._files: deque[Path] = deque()
        self._lock = threading.Lock()

    def save(self, wav: np.ndarray, stem: str) -> Path:
        """Write (2, L) audio as ``<stem>-<id>.wav`` (24-bit PCM) and return its path."""
        path = self.directory / f"{stem}-{uuid.uuid4().hex[:8]}.wav"
        save_audio(path, wav)
        with self._lock:
            self._files.append(path)
            while len(self._files) > self.keep:
                self._files.popleft().unlink(missing_ok=True)
        return path
