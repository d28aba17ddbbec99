"""Music theory for the composer: keys, scales, roman-numeral chords and voice-led voicings."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

MAJOR_KEYS = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MINOR_KEYS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
PENTATONIC = {"major": (0, 2, 4, 7, 9), "minor": (0, 3, 5, 7, 10)}
BLUES = (0, 3, 5, 6, 7, 10)
_ROMAN = {"I": 0, "II": 1, "III": 2, "IV": 3, "V": 4, "VI": 5, "VII": 6}
_SUFFIX = {  # suffix -> (intervals for upper-case numeral, for lower-case numeral)
    "": ((0, 4, 7), (0, 3, 7)),
    "7": ((0, 4, 7, 10), (0, 3, 7, 10)),
    "maj7": ((0, 4, 7, 11), (0, 4, 7, 11)),
    "h7": ((0, 3, 6, 10), (0, 3, 6, 10)),
    "dim": ((0, 3, 6), (0, 3, 6)),
    "sus2": ((0, 2, 7), (0, 2, 7)),
    "sus4": ((0, 5, 7), (0, 5, 7)),
    "add9": ((0, 4, 7, 14), (0, 3, 7, 14)),
    "6": ((0, 4, 7, 9), (0, 3, 7, 9)),
    "9": ((0, 4, 7, 10, 14), (0, 3, 7, 10, 14)),
}


def key_name(tonic: int, mode: str) -> str:
    """Conventional spelling of the tonic: ``key_name(3, "major") == "Eb"``."""
    return (MAJOR_KEYS if mode == "major" else MINOR_KEYS)[tonic % 12]


@dataclass(frozen=True)
class Chord:
    """A chord: root pitch class and intervals above it (first three: root, third, fifth)."""

    root: int
    intervals: tuple[int, ...]

    @property
    def pcs(self) -> list[int]:
        return [(self.root + i) % 12 for i in self.intervals]


def parse_chord(token: str, tonic: int, mode: str) -> Chord:
    """Roman numeral (relative to the key's scale) -> :class:`Chord`; e.g. ``"bVII"``, ``"ii7"``."""
    m = re.fullmatch(r"([b#]?)([ivIV]+)(.*)", token)
    if not m or m.group(2).upper() not in _ROMAN or m.group(3) not in _SUFFIX:
        raise ValueError(f"bad chord symbol {token!r}")
    acc = {"b": -1, "#": 1, "": 0}[m.group(1)]
    degree = _ROMAN[m.group(2).upper()]
    upper = m.group(2).isupper()
    root = (tonic + SCALES[mode][degree] + acc) % 12
    return Chord(root, _SUFFIX[m.group(3)][0 if upper else 1])


def parse_progression(
    text: str, tonic: int, mode: str, bpb: int, bars_per_chord: int
) -> list[tuple[float, float, Chord]]:
    """``"ii7,V7 Imaj7"`` -> [(start beat, duration in beats, chord)] for one pass."""
    out: list[tuple[float, float, Chord]] = []
    t = 0.0
    for bar in text.split():
        names = bar.split(",")
        dur = bpb * bars_per_chord / len(names)
        for name in names:
            out.append((t, dur, parse_chord(name, tonic, mode)))
            t += dur
    return out


def voice_chord(
    chord: Chord,
    lo: int,
    hi: int,
    prev: list[int] | None,
    rng: np.random.Generator,
    max_notes: int = 4,
) -> list[int]:
    """Close voicing of ``chord`` inside [lo, hi], as near as possible to ``prev`` (voice-led)."""
    pcs = chord.pcs
    if len(pcs) > max_notes:  # drop the fifth first
        pcs = [p for i, p in enumerate(pcs) if chord.intervals[i] != 7][:max_notes]
    cands: list[list[int]] = []
    for k in range(len(pcs)):
        order = pcs[k:] + pcs[:k]
        for octave in range(lo // 12 - 1, hi // 12 + 1):
            notes = [octave * 12 + order[0]]
            for pc in order[1:]:
                notes.append(notes[-1] + ((pc - notes[-1]) % 12 or 12))
            if notes[0] >= lo and notes[-1] <= hi:
                cands.append(notes)
    if not cands:  # range too narrow: stack from lo
        return sorted(lo + (pc - lo) % 12 for pc in pcs)
    centre = (lo + hi) / 2
    scores = []
    for c in cands:
        if prev:
            s = sum(min(abs(n - p) for p in prev) for n in c) / len(c)
        else:
            s = abs(np.mean(c) - centre) / 2
        scores.append(s + rng.uniform(0, 1.0))
    return cands[int(np.argmin(scores))]


def nearest_note(pc: int, target: float, lo: int, hi: int) -> int:
    """The MIDI note of pitch class ``pc`` in [lo, hi] nearest to ``target``."""
    options = [n for n in range(lo, hi + 1) if n % 12 == pc % 12]
    return min(options, key=lambda n: abs(n - target)) if options else lo + (pc - lo) % 12
