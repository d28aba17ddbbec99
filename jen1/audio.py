"""Audio I/O: everything in jen1 is float32 stereo at 48 kHz, shape (2, L), values in [-1, 1].

Channel policy (applied by :func:`load_audio`):
- mono is copied to both channels;
- stereo is kept;
- more than two channels are downmixed to stereo with the ITU-R BS.775 coefficients, assuming
  the SMPTE/WAV channel order L, R, C, LFE, Ls, Rs (5.1) and its prefixes/extensions::

      Lo = L + 0.7071 C + 0.7071 Ls        Ro = R + 0.7071 C + 0.7071 Rs

  (LFE is dropped, as BS.775 does); for 7.1 the back pair is added to the side pair with the
  same 0.7071 gain; 3 and 4 channel layouts use the same rule with the missing channels absent.
  The downmix is divided by its largest row gain sum only if that would clip.

Other sample rates are resampled with soxr (high quality). Integer PCM is scaled to [-1, 1] by
soundfile. Unreadable, empty or truncated files raise :class:`jen1.errors.AudioError` naming the
file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from jen1.errors import AudioError
from jen1.fsutil import atomic_write, check_writable, make_temp_beside

SAMPLE_RATE = 48000
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".opus")
_C = 0.70710678  # -3 dB


def _downmix(data: np.ndarray) -> np.ndarray:
    """(N, L) with N > 2 -> (2, L) by ITU-R BS.775 (see module docstring)."""
    n = data.shape[0]
    left = data[0].astype(np.float64).copy()
    right = data[1].astype(np.float64).copy()
    gain = 1.0
    if n >= 3:  # centre
        left += _C * data[2]
        right += _C * data[2]
        gain += _C
    if n == 4:  # L R C S (mono surround)
        left += _C * data[3]
        right += _C * data[3]
        gain += _C
    if n >= 6:  # LFE at 3 is dropped; surrounds at 4, 5
        left += _C * data[4]
        right += _C * data[5]
        gain += _C
    if n >= 8:  # back surrounds at 6, 7
        left += _C * data[6]
        right += _C * data[7]
        gain += _C
    out = np.stack([left, right])
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    if peak > 1.0:
        out /= gain
    return out.astype(np.float32)


def to_stereo(data: np.ndarray) -> np.ndarray:
    """Apply the channel policy to (N, L) audio -> (2, L)."""
    if data.ndim != 2:
        raise ValueError(f"expected (channels, samples), got shape {data.shape}")
    n = data.shape[0]
    if n == 1:
        return np.repeat(data, 2, axis=0).astype(np.float32)
    if n == 2:
        return data.astype(np.float32)
    return _downmix(data)


def resample(wav: np.ndarray, sr_in: int, sr_out: int = SAMPLE_RATE) -> np.ndarray:
    """Resample (N, L) float audio with soxr (high quality)."""
    if sr_in == sr_out:
        return wav
    import soxr

    out = soxr.resample(np.ascontiguousarray(wav.T), sr_in, sr_out, quality="HQ")
    return np.ascontiguousarray(out.T, dtype=np.float32)


def _read(path: Path) -> tuple[np.ndarray, int]:
    """Read any supported file -> ((N, L) float32, sample rate)."""
    import soundfile as sf

    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises LibsndfileError / RuntimeError / TypeError
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise AudioError(f"cannot read audio file {path}: {msg}") from None
    return np.ascontiguousarray(data.T), int(sr)


def check_wav_complete(path: Path) -> None:
    """Raise :class:`AudioError` when a RIFF/WAVE file holds less audio than its header says.

    libsndfile reads such a file without complaint, shortened (a download cut off, a disk that
    filled up). Sizes of 0 or 0xFFFFFFFF (written by programs that stream to a pipe) and RF64
    files are not checked.
    """
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        size = path.stat().st_size
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return  # no data chunk: soundfile reports that
            cid, n = chunk[:4], int.from_bytes(chunk[4:], "little")
            if cid == b"data":
                if n in (0, 0xFFFFFFFF):
                    return
                have = size - f.tell()
                if n > have:
                    raise AudioError(
                        f"audio file is truncated: {path} holds {have} of the {n} bytes of "
                        "audio its header promises"
                    )
                return
            f.seek(n + (n & 1), 1)  # chunks are padded to an even size
            if f.tell() > size:
                return


def load_audio(path: str | Path, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Load an audio file as float32 stereo (2, L) at ``sample_rate`` (default 48 kHz).

    Raises:
        AudioError: the file is missing, empty, zero-length, truncated or not audio.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(f"audio file not found: {path}")
    if path.is_dir():
        raise AudioError(f"expected an audio file, got a directory: {path}")
    if path.stat().st_size == 0:
        raise AudioError(f"audio file is empty (0 bytes): {path}")
    check_wav_complete(path)
    data, sr = _read(path)
    if data.shape[1] == 0:
        raise AudioError(f"audio file has no samples: {path}")
    if not np.all(np.isfinite(data)):
        raise AudioError(f"audio file contains NaN or infinite samples: {path}")
    wav = to_stereo(data)
    wav = resample(wav, sr, sample_rate)
    return np.ascontiguousarray(wav, dtype=np.float32)


def audio_info(path: str | Path) -> dict[str, Any]:
    """Sample rate, channels, frames and duration of a file without decoding it."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception as e:
        raise AudioError(
            f"cannot read audio file {path}: {str(e).strip() or type(e).__name__}"
        ) from None
    return {
        "sample_rate": info.samplerate,
        "channels": info.channels,
        "frames": info.frames,
        "seconds": info.frames / info.samplerate if info.samplerate else 0.0,
    }


def save_audio(
    path: str | Path,
    wav: Any,
    *,
    sample_rate: int = SAMPLE_RATE,
    overwrite: bool = False,
    subtype: str = "PCM_24",
) -> Path:
    """Write (2, L) audio as a stereo WAV (24-bit PCM by default, ``subtype="FLOAT"`` for float32).

    The write is atomic (temporary file + rename) and parent directories are created.
    Values are clipped to [-1, 1] for PCM subtypes.

    Raises:
        Jen1Error: ``path`` exists and ``overwrite`` is False.
    """
    import soundfile as sf

    path = Path(path)
    check_writable(path, overwrite)
    if hasattr(wav, "detach"):
        wav = wav.detach().float().cpu().numpy()
    arr = np.asarray(wav, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2:
        raise AudioError(f"cannot save audio of shape {arr.shape} to {path}: expected (2, L)")
    arr = to_stereo(arr)
    if subtype.upper() != "FLOAT":
        arr = np.clip(arr, -1.0, 1.0)
    fmt = _sound_format(path)
    atomic_write(path, lambda p: sf.write(str(p), arr.T, sample_rate, subtype=subtype, format=fmt))
    return path


def _sound_format(path: Path) -> str:
    """soundfile's container name for an output path (WAV unless .flac / .ogg)."""
    return {".flac": "FLAC", ".ogg": "OGG"}.get(path.suffix.lower(), "WAV")


def save_audio_stream(
    paths: list[Path],
    pieces: Iterable[Any],
    *,
    sample_rate: int = SAMPLE_RATE,
    overwrite: bool = False,
    subtype: str = "PCM_24",
) -> int:
    """Write a batch of stereo WAVs piece by piece: memory holds one piece, not the whole audio.

    Args:
        paths: one output path per batch item.
        pieces: (B, 2, n) arrays or tensors in time order, B = len(paths).

    Each file is written to a temporary file beside its path and renamed there once every piece
    is written; on any error no output is left behind. PCM values are clipped to [-1, 1].

    Returns:
        samples written per file.

    Raises:
        Jen1Error: a path exists and ``overwrite`` is False.
    """
    import soundfile as sf

    paths = [Path(p) for p in paths]
    for p in paths:
        check_writable(p, overwrite)
    tmps: list[Path] = []
    files: list[Any] = []
    written = 0
    try:
        for p in paths:
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp = make_temp_beside(p)
            tmps.append(tmp)
            fmt = _sound_format(p)
            files.append(sf.SoundFile(str(tmp), "w", sample_rate, 2, subtype=subtype, format=fmt))
        for piece in pieces:
            if hasattr(piece, "detach"):
                piece = piece.detach().float().cpu().numpy()
            arr = np.asarray(piece, dtype=np.float32)
            if arr.ndim != 3 or arr.shape[0] != len(paths) or arr.shape[1] != 2:
                raise AudioError(f"expected pieces of shape ({len(paths)}, 2, n), got {arr.shape}")
            if subtype.upper() != "FLOAT":
                arr = np.clip(arr, -1.0, 1.0)
            for f, a in zip(files, arr):
                f.write(a.T)
            written += arr.shape[-1]
        for f in files:
            f.close()
        for tmp, p in zip(tmps, paths):
            os.replace(tmp, p)
    except BaseException:
        for f in files:
            f.close()
        for tmp in tmps:
            tmp.unlink(missing_ok=True)
        raise
    return written
