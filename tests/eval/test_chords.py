"""Chord match per beat on synthetic chord sequences with known answers."""

import numpy as np
import pytest

from jen1.eval.adherence import clip_attributes, summarize_attributes
from jen1.eval.chords import chord_match, triad
from tests.eval.eval_signals import _tone, midi_hz

SR, BPM = 48000, 120.0
NOTES = {"C": (60, 64, 67), "Am": (57, 60, 64), "F": (53, 57, 60), "G": (55, 59, 62)}


def _render(bars: list[str], seconds: float = 8.0, per_bar: int = 4) -> np.ndarray:
    """One chord a bar, each beat re-struck (a piano-like decaying tone per note)."""
    n, beat = round(seconds * SR), 60.0 / BPM
    out = np.zeros(n)
    for i, t in enumerate(np.arange(0, seconds, beat)):
        a = round(t * SR)
        m = min(round(beat * SR), n - a)
        for note in NOTES[bars[(i // per_bar) % len(bars)]]:
            out[a : a + m] += 0.2 * _tone(midi_hz(note), m, SR)[:m]
    return np.stack([out, out]).astype(np.float32)


@pytest.mark.parametrize(
    "symbol, index",
    [("C", 0), ("Am", 21), ("G7", 7), ("Bm7b5", 23), ("F#maj7", 6), ("A#m7/F", 22), ("N", None)],
)
def test_chords_reduce_to_triads(symbol, index):
    assert triad(symbol) == index


def test_the_played_progression_matches_and_others_do_not():
    wav = _render(["Am", "F", "C", "G"])
    assert chord_match(wav, SR, "Am F C G", BPM) == {"beats": 16, "matched": 1.0}
    assert chord_match(wav, SR, "F C G Am", BPM)["matched"] == 0.0  # one bar late
    half = chord_match(wav, SR, "Am F | C G", BPM, beats_per_bar=8)  # two chords a bar of 8
    assert half["matched"] == 1.0


def test_clip_attributes_report_chord_match_when_chords_and_tempo_are_known():
    wav = _render(["C", "G"])
    row = clip_attributes(wav, {"bpm": BPM, "chords": "C G", "meter": "4/4"}, SR)
    assert row["chord_match"] == 1.0 and row["chord_beats"] == 16
    rows = [row, clip_attributes(wav, {"bpm": BPM, "chords": "F Am"}, SR)]
    assert summarize_attributes(rows)["chords"]["beat_match"] == 0.5
    assert "chord_match" not in clip_attributes(wav, {"chords": "C G"}, SR)  # no grid to check
