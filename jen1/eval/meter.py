"""Meter adherence: is the audio's accent pattern duple or triple at the asked tempo?

With the asked tempo known, the onset envelope's autocorrelation (:mod:`jen1.eval.music`) at
two, three and four beats tells the bar's grouping: triple where the lag of three beats
outscores those of two and four. A meter is compared only where its grouping is plain: 2/x and
4/x are duple, 3/x and 9/x triple (6/8 and 12/8 are duple or triple by the beat one counts, so
they are not scored); chance is one half.
"""

from __future__ import annotations

import numpy as np

from jen1.eval.music import _mono


def meter_grouping(meter: str) -> str | None:
    """"duple", "triple" or None (not scored) for a time signature "N/D"."""
    num = meter.split("/")[0]
    if not num.isdigit():
        return None
    return {2: "duple", 4: "duple", 3: "triple", 9: "triple"}.get(int(num))


def accent_envelope(wav: np.ndarray, sr: int) -> tuple[np.ndarray, float]:
    """Rise of the frame energy (linear, so a loud downbeat stands out; the log-mel flux of
    the tempo estimator compresses accents away) at 125 frames per second -> (env, rate)."""
    x = _mono(wav, sr, 16000)
    hop, win = 128, 512
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(x, (0, win)), win)[::hop]
    energy = np.sqrt((frames**2).mean(axis=1))
    return np.maximum(np.diff(energy, prepend=energy[:1]), 0.0), 16000 / hop


def estimate_grouping(wav: np.ndarray, sr: int, bpm: float) -> str | None:
    """"duple" or "triple" accent grouping of ``wav`` at ``bpm``; None when the clip holds
    fewer than eight beats, or no onsets."""
    env, fr = accent_envelope(wav, sr)
    e = env - env.mean()
    period = 60.0 * fr / bpm  # frames per beat
    if len(e) < 8 * period or not np.any(e):
        return None
    grid = np.arange(len(e))

    def acf(lag: float) -> float:  # at a fractional lag, by linear interpolation
        return float(np.mean(e[: len(e) - int(np.ceil(lag))] * np.interp(
            grid[: len(e) - int(np.ceil(lag))] + lag, grid, e)))  # fmt: skip

    two, three, four = acf(2 * period), acf(3 * period), acf(4 * period)
    return "triple" if three > max(two, four) else "duple"
