"""Chord match per beat: does the audio play the asked chord on each beat?

Each beat of the asked grid (a steady tempo from the clip's start, as text-to-music places the
beats) gets a 12-bin chroma (:func:`beat_chroma`, as :func:`jen1.eval.music.chroma` but per
beat); the best of the 24 major and minor triad templates (cosine) names the beat's chord, and
the beat matches when that is the asked chord reduced to its triad (root and major/minor: a
7th chord counts as its triad, dim and m7b5 as minor, aug and sus as major). Chance is 1/24.
The metric of JASCO's chord evaluation, simplified to triads.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jen1.conditioning.controls import NO_CHORD, chord_pitch_classes, parse_chords
from jen1.eval.music import KEY_SR, PITCH_CLASSES, _mono, stft_mag

_TEMPLATES = np.array(
    [np.roll([1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0], r) for r in range(12)]
    + [np.roll([1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0], r) for r in range(12)],
    dtype=np.float64,
)  # (24, 12): C..B major, then C..B minor


def triad(symbol: str) -> int | None:
    """Template index (0-11 major, 12-23 minor) of a canonical chord symbol; None for "N"."""
    if symbol == NO_CHORD:
        return None
    name = symbol.split("/")[0]  # the bass note does not change the triad
    root = PITCH_CLASSES.index(name[:2] if name[1:2] == "#" else name[:1])  # sharps only
    pcs = set(chord_pitch_classes(name))
    minor = (root + 3) % 12 in pcs and (root + 4) % 12 not in pcs
    return root + 12 * minor


def beat_chroma(wav: np.ndarray, sr: int, beats: np.ndarray) -> np.ndarray:
    """(N, 12) chroma of each span between consecutive ``beats`` (seconds; N = len - 1)."""
    x = _mono(wav, sr, KEY_SR)
    n_fft, hop = 4096, 512
    mag = stft_mag(x, n_fft, hop)  # (frames, bins)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / KEY_SR)
    sel = (freqs >= 60.0) & (freqs <= 1000.0)
    pcs = np.round(69 + 12 * np.log2(freqs[sel] / 440.0)).astype(int) % 12
    frames = np.log1p(100.0 * mag[:, sel] / max(mag.max(), 1e-9))
    per_pc = np.zeros((frames.shape[0], 12))
    for pc in range(12):
        per_pc[:, pc] = frames[:, pcs == pc].sum(axis=1)
    times = np.arange(frames.shape[0]) * hop / KEY_SR
    out = np.zeros((len(beats) - 1, 12))
    for i, (a, e) in enumerate(zip(beats[:-1], beats[1:])):
        inside = (times >= a) & (times < e)
        if inside.any():
            out[i] = per_pc[inside].mean(axis=0)
    return out


def chord_match(
    wav: np.ndarray, sr: int, chords: Any, bpm: float, beats_per_bar: int = 4
) -> dict[str, Any]:
    """Share of beats whose estimated triad is the asked one.

    Args:
        chords: bars of chords (a string "Am F | C G" or bars of symbols), looped over the clip;
            the chords of a bar share its beats equally.
        bpm, beats_per_bar: the asked grid, beat 0 at the clip's start.

    Returns:
        ``{"beats": N, "matched": share}`` over the beats with a chord asked ("N" excluded).
    """
    bars = parse_chords(chords)
    seconds = np.asarray(wav).shape[-1] / sr
    period = 60.0 / bpm
    beats = np.arange(0.0, seconds + 1e-9, period)
    if len(beats) < 2:
        return {"beats": 0, "matched": None}
    chroma = beat_chroma(wav, sr, beats)
    hits = []
    for i, c in enumerate(chroma):
        bar = bars[(i // beats_per_bar) % len(bars)]
        asked = triad(bar[min(len(bar) - 1, (i % beats_per_bar) * len(bar) // beats_per_bar)])
        if asked is None or not c.any():
            continue
        score = _TEMPLATES @ (c / np.linalg.norm(c))
        hits.append(int(np.argmax(score)) == asked)
    return {"beats": len(hits), "matched": float(np.mean(hits)) if hits else None}
