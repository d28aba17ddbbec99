"""Opus at a given bitrate (ffmpeg's libopus) as a reference codec for the autoencoder table."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np

from jen1.errors import Jen1Error

SAMPLE_RATE = 48000


def _ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise Jen1Error(
            "ffmpeg not found: the Opus reference rows need it "
            "(apt-get install ffmpeg, or drop --opus)"
        )
    return exe


def _run(cmd: list[str], data: bytes, what: str) -> bytes:
    try:
        r = subprocess.run(cmd, input=data, capture_output=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise Jen1Error(f"ffmpeg could not {what}: {e}") from None
    if r.returncode != 0 or not r.stdout:
        err = r.stderr.decode("utf-8", "replace").strip().splitlines()
        raise Jen1Error(f"ffmpeg could not {what}: {err[-1] if err else f'exit {r.returncode}'}")
    return r.stdout


def opus_roundtrip(wav: np.ndarray, kbps: float) -> np.ndarray:
    """Encode (2, L) float32 48 kHz audio as Opus at ``kbps`` kbit/s and decode it back.

    Returns:
        (2, L) float32, trimmed or zero-padded to the input's length (the Ogg container
        removes the encoder's pre-skip, so the two are aligned).
    """
    if not (kbps > 0):
        raise Jen1Error(f"Opus bitrate must be positive, got {kbps}")
    x = np.ascontiguousarray(np.asarray(wav, dtype=np.float32).T)  # (L, 2) interleaved
    exe = _ffmpeg()
    pcm = ["-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", "2"]
    ogg = _run(
        [exe, "-hide_banner", "-loglevel", "error", *pcm, "-i", "pipe:0", "-c:a", "libopus",
         "-b:a", f"{kbps:g}k", "-f", "ogg", "pipe:1"],
        x.tobytes(), f"encode Opus at {kbps:g} kbit/s",
    )
    raw = _run(
        [exe, "-hide_banner", "-loglevel", "error", "-i", "pipe:0", *pcm, "pipe:1"],
        ogg, "decode Opus",
    )
    y = np.frombuffer(raw, dtype=np.float32).reshape(-1, 2).T
    n = wav.shape[-1]
    if y.shape[-1] < n:
        y = np.pad(y, ((0, 0), (0, n - y.shape[-1])))
    return np.ascontiguousarray(y[:, :n])
