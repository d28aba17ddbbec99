"""Waveform and spectrogram pictures of a result (matplotlib, Agg; no pyplot, thread-safe)."""

from __future__ import annotations

import numpy as np

from jen1.audio import SAMPLE_RATE

MAX_COLUMNS = 1200  # spectrogram frames drawn, whatever the duration (bounded time and memory)
N_FFT = 2048


def _spectrogram_db(mono: np.ndarray) -> tuple[np.ndarray, int]:
    """(L,) -> (N_FFT // 2 + 1, frames) log power in dB (0 dB at the peak), and the hop used."""
    hop = max(N_FFT // 4, int(np.ceil(len(mono) / MAX_COLUMNS)))
    if len(mono) < N_FFT:
        mono = np.pad(mono, (0, N_FFT - len(mono)))
    n = 1 + (len(mono) - N_FFT) // hop
    idx = np.arange(N_FFT)[None, :] + hop * np.arange(n)[:, None]  # (frames, N_FFT)
    frames = mono[idx] * np.hanning(N_FFT).astype(np.float32)
    power = np.abs(np.fft.rfft(frames, axis=-1)) ** 2  # (frames, F)
    db = 10 * np.log10(power + 1e-10)
    db = np.maximum(db - db.max(), -90.0)
    return db.T, hop


def render_audio_image(
    wav: np.ndarray, region: tuple[float, float] | None = None, title: str = ""
) -> np.ndarray:
    """Draw the waveform above the spectrogram of (2, L) audio at 48 kHz.

    Args:
        wav: (2, L) float audio.
        region: (start, end) seconds shaded as "new" (the generated part), or None.
        title: a line above the picture.

    Returns:
        (H, W, 3) uint8 RGB image.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    wav = np.asarray(wav, dtype=np.float32)
    mono = wav.mean(axis=0)
    seconds = len(mono) / SAMPLE_RATE
    fig = Figure(figsize=(8, 3.6), dpi=100, layout="constrained")
    canvas = FigureCanvasAgg(fig)
    ax_w, ax_s = fig.subplots(2, 1, sharex=True, height_ratios=(1, 2.5))
    step = max(1, len(mono) // 4000)  # min/max envelope of at most ~4000 points
    n = len(mono) // step * step
    if n:
        env = mono[:n].reshape(-1, step)
        t = np.arange(env.shape[0]) * step / SAMPLE_RATE
        ax_w.fill_between(t, env.min(axis=1), env.max(axis=1), color="#3b6ea5", linewidth=0)
    ax_w.set_ylim(-1, 1)
    ax_w.set_yticks([-1, 0, 1])
    ax_w.set_ylabel("amp")
    db, _ = _spectrogram_db(mono)
    ax_s.imshow(
        db,
        origin="lower",
        aspect="auto",
        cmap="magma",
        vmin=-90,
        vmax=0,
        extent=(0, seconds, 0, SAMPLE_RATE / 2000),
    )
    ax_s.set_ylabel("kHz")
    ax_s.set_xlabel("seconds")
    ax_s.set_xlim(0, max(seconds, 1e-3))
    if region is not None and (region[0] > 0 or region[1] < seconds):
        ax_w.axvspan(region[0], region[1], color="#2ca02c", alpha=0.18, linewidth=0)
        for ax in (ax_w, ax_s):
            for x in region:
                if 0 < x < seconds:
                    ax.axvline(x, color="#2ca02c", linewidth=1.2)
    if title:
        fig.suptitle(title, fontsize=10)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return np.ascontiguousarray(rgba[..., :3])
