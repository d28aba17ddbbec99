"""Musical-control labels of a corpus: written per clip, cut per segment and per training crop.

A manifest record may carry ``"labels"``: exact beat times, downbeats and chords of the clip
(the synthetic corpus knows them), all in seconds from the clip's start::

    "labels": {"beats": [0.0, 0.5, ...], "downbeats": [0.0, 2.0, ...],
               "chords": [[0.0, 2.0, "Am"], [2.0, 4.0, "F"], ...]}

Global labels come from ``attributes``: ``bpm``, ``key`` + ``mode`` and ``meter`` (exact for the
synthetic corpus) or, for a user's folder, ``attributes.estimated`` (tempo and key estimated by
``jen1 data caption``; no beat grid: its phase is unknown). Real music without either has no
labels: training then sees those controls as absent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from jen1.conditioning.control_tensors import Chord, frame_channels
from jen1.conditioning.controls import (
    CHORD_INTERVALS,
    METER_DENOMINATORS,
    MODES,
    ControlError,
    Controls,
)
from jen1.eval.music import PITCH_CLASSES

_DIGITS = 4  # label times are rounded to 0.1 ms
_QUALITY = {tuple(sorted(v)): k for k, v in reversed(list(CHORD_INTERVALS.items()))}


def chord_symbol(root: int, intervals: Sequence[int]) -> str:
    """A chord (root pitch class, intervals above it) as a canonical symbol ("A#m7"); a
    chord of no known quality drops its last extensions until it has one (a 7b9 is a 7)."""
    for n in range(len(intervals), 2, -1):
        quality = _QUALITY.get(tuple(sorted(i % 12 for i in intervals[:n])))
        if quality is not None:
            return PITCH_CLASSES[root % 12] + quality
    return PITCH_CLASSES[root % 12]


def steady_labels(
    bpm: float,
    beats_per_bar: int,
    start: float,
    seconds: float,
    chords: Sequence[tuple[float, float, str]] = (),
    bar_zero: float = 0.0,
) -> dict[str, Any]:
    """Labels of the window ``[start, start + seconds)`` of a piece at a steady tempo.

    Args:
        bpm: beats per minute; beat k of the piece is at ``bar_zero + k * 60 / bpm`` seconds.
        beats_per_bar: every this many beats from ``bar_zero`` is a downbeat.
        start: where the clip starts in the piece (seconds).
        chords: (start beat, length in beats, symbol) of the piece's chords.

    Returns:
        ``{"beats", "downbeats", "chords"}`` in seconds from the clip's start; the grids run
        from the last point at or before the start to the first at or after the end, so that
        the phase is defined over the whole clip.
    """
    period = 60.0 / bpm

    def grid(step: float) -> list[float]:
        k0 = math.floor((start - bar_zero) / step + 1e-9)
        k1 = math.ceil((start + seconds - bar_zero) / step - 1e-9)
        return [round(bar_zero + k * step - start, _DIGITS) for k in range(k0, k1 + 1)]

    spans = []
    for s, d, sym in chords:
        a, e = bar_zero + s * period - start, bar_zero + (s + d) * period - start
        if e > 0 and a < seconds:
            spans.append([round(max(a, 0.0), _DIGITS), round(min(e, seconds), _DIGITS), sym])
    return {"beats": grid(period), "downbeats": grid(period * beats_per_bar), "chords": spans}


def shift_labels(labels: dict[str, Any], offset: float, seconds: float) -> dict[str, Any]:
    """The labels of the segment ``[offset, offset + seconds)`` of a clip, in segment time.

    Beat grids keep one point beyond each end (phase outside needs it); chords are clipped.
    """

    def grid(times: list[float]) -> list[float]:
        t = np.asarray(times, dtype=np.float64) - offset
        if t.size == 0:
            return []
        lo = max(0, int(np.searchsorted(t, 0.0, side="right")) - 1)
        hi = min(t.size, int(np.searchsorted(t, seconds, side="left")) + 1)
        return [round(float(x), _DIGITS) for x in t[lo:hi]]

    chords = []
    for a, e, sym in labels.get("chords", []):
        a, e = a - offset, e - offset
        if e > 0 and a < seconds:
            chords.append([round(max(a, 0.0), _DIGITS), round(min(e, seconds), _DIGITS), sym])
    return {
        "beats": grid(labels.get("beats", [])),
        "downbeats": grid(labels.get("downbeats", [])),
        "chords": chords,
    }


def record_controls(rec: dict[str, Any]) -> dict[str, Any] | None:
    """The control labels of a manifest record for training (JSON-able), None when it has none.

    Global values that do not parse (an odd meter, a key spelled some other way) are left out
    rather than guessed.
    """
    attrs = rec.get("attributes", {})
    # true labels (the synth corpus) first, else what `jen1 data caption` estimated
    src = attrs if attrs.get("bpm") is not None else attrs.get("estimated") or {}
    out: dict[str, Any] = {}
    for name in ("bpm", "key", "mode", "meter"):
        value = src.get(name)
        if value is None:
            continue
        try:
            Controls.from_user(**{name: value})
        except (ControlError, TypeError):
            continue
        out[name] = value
    labels = rec.get("labels")
    if isinstance(labels, dict):
        out.update({k: labels[k] for k in ("beats", "downbeats", "chords") if k in labels})
    return out or None


def control_codes(entry: dict[str, Any] | None) -> tuple[float, int, int, int, int]:
    """(bpm, tonic, mode, meter numerator, meter denominator) codes of a record's controls
    (see :mod:`jen1.conditioning.control_tensors`; 0 = absent)."""
    if not entry:
        return 0.0, 0, 0, 0, 0
    key = entry.get("key")
    c = Controls.from_user(bpm=entry.get("bpm"), key=key, meter=entry.get("meter"))
    mode = entry.get("mode")
    mode = c.mode if mode is None else mode
    num, den = c.meter or (0, 0)
    return (
        c.bpm or 0.0,
        0 if c.key is None else 1 + PITCH_CLASSES.index(c.key),
        0 if mode not in MODES else 1 + MODES.index(mode),
        num,
        0 if c.meter is None else 1 + METER_DENOMINATORS.index(den),
    )


def crop_frames(
    entry: dict[str, Any] | None, offset: float, num_frames: int, frame_rate: float
) -> np.ndarray:
    """(K, num_frames) time-aligned channels of the crop starting ``offset`` seconds into the
    clip (:func:`jen1.conditioning.control_tensors.frame_channels`; zeros without labels)."""
    if not entry:
        return frame_channels(num_frames, frame_rate)
    seconds = num_frames / frame_rate
    lab = shift_labels(entry, offset, seconds)
    chords = [Chord(a, e, s) for a, e, s in lab["chords"]]
    beats = np.array(lab["beats"]) if lab["beats"] else None
    down = np.array(lab["downbeats"]) if lab["downbeats"] else None
    return frame_channels(num_frames, frame_rate, beats=beats, downbeats=down, chords=chords)
